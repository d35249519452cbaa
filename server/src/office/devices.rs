//! Who synced when: each user's devices with their last connection, last confirm, and how many
//! documents the device holds changes of that the server had not stored at its last confirm.

use axum::{Json, extract::State};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::{AppState, accounts::now_ms, http::AppError, reports::OfficeStaff};

/// Notes that `device_id` asked for a sync ticket (it is connecting).
pub fn record_connect(conn: &Connection, device_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO device_sync (device_id, last_connect_at) VALUES (?1, ?2) \
         ON CONFLICT (device_id) DO UPDATE SET last_connect_at = excluded.last_connect_at",
        params![device_id, now_ms()],
    )?;
    Ok(())
}

/// Notes the outcome of a confirm call from `device_id`.
pub fn record_confirm(
    conn: &Connection,
    device_id: &str,
    confirmed: usize,
    unconfirmed: usize,
) -> rusqlite::Result<()> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO device_sync (device_id, last_confirm_at, documents_confirmed, \
         documents_unconfirmed) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (device_id) DO UPDATE SET last_confirm_at = excluded.last_confirm_at, \
           documents_confirmed = excluded.documents_confirmed, \
           documents_unconfirmed = excluded.documents_unconfirmed",
        params![device_id, now_ms(), count(confirmed), count(unconfirmed)],
    )?;
    Ok(())
}

/// One device of a user.
#[derive(Debug, Serialize)]
pub struct DeviceSync {
    id: String,
    label: String,
    /// Last request with this device's session (Unix ms).
    last_seen_at: i64,
    /// Last sync connection (ticket), if any.
    last_connect_at: Option<i64>,
    /// Last confirm call, if any.
    last_confirm_at: Option<i64>,
    /// Documents confirmed stored at the last confirm.
    documents_confirmed: i64,
    /// Documents whose changes the server did not hold at the last confirm.
    documents_unconfirmed: i64,
    revoked: bool,
}

/// A user and their devices.
#[derive(Debug, Serialize)]
pub struct UserSync {
    login: String,
    display_name: String,
    role: String,
    team: Option<String>,
    /// The latest connection or confirm of any of their devices.
    last_sync_at: Option<i64>,
    /// Sum over their devices of `documents_unconfirmed`.
    documents_unconfirmed: i64,
    devices: Vec<DeviceSync>,
}

fn list(conn: &Connection) -> rusqlite::Result<Vec<UserSync>> {
    let mut users = conn.prepare(
        "SELECT u.id, u.login, u.display_name, u.role, t.name FROM users u \
         LEFT JOIN teams t ON t.id = u.team_id WHERE u.disabled = 0 ORDER BY u.login",
    )?;
    let mut devices = conn.prepare(
        "SELECT d.id, d.label, d.last_seen_at, s.last_connect_at, s.last_confirm_at, \
                COALESCE(s.documents_confirmed, 0), COALESCE(s.documents_unconfirmed, 0), \
                d.revoked_at IS NOT NULL \
         FROM devices d LEFT JOIN device_sync s ON s.device_id = d.id \
         WHERE d.user_id = ?1 ORDER BY d.last_seen_at DESC",
    )?;
    let rows: Vec<(String, String, String, String, Option<String>)> = users
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, login, display_name, role, team)| {
            let devices: Vec<DeviceSync> = devices
                .query_map([&id], |r| {
                    Ok(DeviceSync {
                        id: r.get(0)?,
                        label: r.get(1)?,
                        last_seen_at: r.get(2)?,
                        last_connect_at: r.get(3)?,
                        last_confirm_at: r.get(4)?,
                        documents_confirmed: r.get(5)?,
                        documents_unconfirmed: r.get(6)?,
                        revoked: r.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(UserSync {
                login,
                display_name,
                role,
                team,
                last_sync_at: devices
                    .iter()
                    .flat_map(|d| [d.last_connect_at, d.last_confirm_at])
                    .flatten()
                    .max(),
                documents_unconfirmed: devices.iter().map(|d| d.documents_unconfirmed).sum(),
                devices,
            })
        })
        .collect()
}

/// `GET /api/office/devices`.
pub async fn devices(
    State(state): State<AppState>,
    _office: OfficeStaff,
) -> Result<Json<Vec<UserSync>>, AppError> {
    Ok(Json(
        state
            .db
            .call(|conn| -> Result<_, AppError> { Ok(list(conn)?) })
            .await?,
    ))
}
