//! Wiping a lost field device without losing what it has not sent.
//!
//! ```text
//! POST /api/admin/devices/{id}/wipe   admin: ask for the wipe (the device stays able to sync)
//! GET  /api/device                    the device: {wipe: bool}; the manifest says it as well
//! POST /api/device/wiped              the device, after every change it holds is confirmed
//!                                     stored and its local database is deleted: revokes it
//! ```
//!
//! The server cannot know what a device has not sent, so the device decides when it is safe:
//! it wipes only once its sync client has no unconfirmed document. A plain revocation
//! (`/api/admin/devices/{id}/revoke`) still cuts a device off at once, for when a thief is
//! believed to be using it.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use crate::{
    AppState,
    accounts::{Role, Session, now_ms},
    audit::{self, Action, AuditEvent},
    http::{AppError, auth::Authenticated},
    sync::Revocation,
};

/// Whether a wipe was asked for `device_id` and not yet done.
pub fn wipe_requested(conn: &Connection, device_id: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT wipe_requested_at IS NOT NULL AND wiped_at IS NULL FROM devices WHERE id = ?1",
            [device_id],
            |r| r.get::<_, bool>(0),
        )
        .optional()?
        .unwrap_or(false))
}

/// `POST /api/admin/devices/{id}/wipe`
pub async fn request_wipe(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    if auth.user().role != Role::Admin {
        return Err(AppError::Forbidden);
    }
    let admin = auth.user().id.clone();
    let admin_device = auth.session.device_id.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE devices SET wipe_requested_at = COALESCE(wipe_requested_at, ?2) \
                 WHERE id = ?1 AND revoked_at IS NULL",
                params![device_id, now_ms()],
            )?;
            if changed == 0 {
                return Err(AppError::NotFound);
            }
            audit::append(
                &tx,
                &AuditEvent::new(Action::DeviceRevoked)
                    .user(&admin)
                    .device(&admin_device)
                    .detail(format!(
                        "wipe requested for device {device_id}; it uploads first"
                    )),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/device` answer.
#[derive(Debug, Serialize)]
pub struct DeviceStatus {
    /// Wipe this device once everything on it is confirmed stored.
    pub wipe: bool,
}

/// `GET /api/device`
pub async fn status(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<DeviceStatus>, AppError> {
    let device = auth.session.device_id.clone();
    let wipe = state
        .db
        .call(move |conn| -> Result<bool, AppError> { Ok(wipe_requested(conn, &device)?) })
        .await?;
    Ok(Json(DeviceStatus { wipe }))
}

/// `POST /api/device/wiped`: the device deleted its data after its last upload; it is revoked.
pub async fn wiped(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, AppError> {
    let device = auth.session.device_id.clone();
    let user = auth.user().id.clone();
    let id = device.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if !wipe_requested(&tx, &id)? {
                return Err(AppError::BadRequest(
                    "この端末の消去は求められていません。".to_owned(),
                ));
            }
            tx.execute(
                "UPDATE devices SET wiped_at = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            Session::revoke_device(&tx, &id)?;
            audit::append(
                &tx,
                &AuditEvent::new(Action::DeviceRevoked)
                    .user(&user)
                    .device(&id)
                    .detail("device wiped after its last upload"),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.sync.revoke(Revocation::Device(device));
    Ok(StatusCode::NO_CONTENT)
}
