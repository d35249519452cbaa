//! Account administration for the admin role: list users and their devices, revoke a device,
//! disable a user, change a role, reset a second factor. Each change ends the sessions it
//! concerns, closes their open sync connections, and is written to the audit log.
//!
//! ```text
//! GET  /api/admin/users                     [{id, login, display_name, role, team_id, visit_access, disabled, …}]
//! GET  /api/admin/users/{id}/devices        [{id, label, created_at, last_seen_at, revoked_at}]
//! POST /api/admin/devices/{id}/revoke       204
//! POST /api/admin/users/{id}/disable        204
//! PUT  /api/admin/users/{id}/role           {role, visit_access} → 204
//! POST /api/admin/users/{id}/mfa/reset      204 (the user enrols again at next login)
//! ```

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{AppError, auth::Authenticated};
use crate::{
    AppState,
    accounts::{Role, Session, User, mfa},
    audit::{self, Action, AuditEvent},
    sync::Revocation,
};

/// An authenticated admin.
fn require_admin(auth: &Authenticated) -> Result<(), AppError> {
    if auth.user().role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Runs `change` in one write transaction with the audit row it returns, written as by `auth`:
/// both are committed, or neither.
async fn audited_change<F>(
    state: &AppState,
    auth: &Authenticated,
    change: F,
) -> Result<(), AppError>
where
    F: FnOnce(&Connection) -> Result<AuditEvent, AppError> + Send + 'static,
{
    let user_id = auth.user().id.clone();
    let device_id = auth.session.device_id.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let event = AuditEvent {
                user_id: Some(user_id),
                device_id: Some(device_id),
                ..change(&tx)?
            };
            audit::append(&tx, &event)?;
            tx.commit()?;
            Ok(())
        })
        .await
}

/// `GET /api/admin/users`
pub async fn users(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<User>>, AppError> {
    require_admin(&auth)?;
    Ok(Json(
        state
            .db
            .call(|conn| -> Result<_, AppError> { Ok(User::list(conn)?) })
            .await?,
    ))
}

/// One device as an admin sees it.
#[derive(Debug, Serialize)]
pub struct DeviceInfo {
    id: String,
    label: String,
    created_at: i64,
    last_seen_at: i64,
    revoked_at: Option<i64>,
}

/// `GET /api/admin/users/{id}/devices`
pub async fn devices(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
) -> Result<Json<Vec<DeviceInfo>>, AppError> {
    require_admin(&auth)?;
    let devices = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let mut statement = conn.prepare(
                "SELECT id, label, created_at, last_seen_at, revoked_at FROM devices \
                 WHERE user_id = ?1 ORDER BY last_seen_at DESC",
            )?;
            let devices = statement
                .query_map([user_id], |r| {
                    Ok(DeviceInfo {
                        id: r.get(0)?,
                        label: r.get(1)?,
                        created_at: r.get(2)?,
                        last_seen_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(devices)
        })
        .await?;
    Ok(Json(devices))
}

/// `POST /api/admin/devices/{id}/revoke`
pub async fn revoke_device(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    require_admin(&auth)?;
    let id = device_id.clone();
    audited_change(&state, &auth, move |tx| {
        let owner = Session::revoke_device(tx, &id)?.ok_or(AppError::NotFound)?;
        Ok(AuditEvent::new(Action::DeviceRevoked).detail(format!("device {id} of user {owner}")))
    })
    .await?;
    state.sync.revoke(Revocation::Device(device_id));
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{id}/disable`
pub async fn disable_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AppError> {
    require_admin(&auth)?;
    if user_id == auth.user().id {
        return Err(AppError::BadRequest(
            "自分自身のアカウントは無効にできません。".to_owned(),
        ));
    }
    let id = user_id.clone();
    audited_change(&state, &auth, move |tx| {
        if !User::disable(tx, &id)? {
            return Err(AppError::NotFound);
        }
        Ok(AuditEvent::new(Action::UserDisabled).detail(format!("user {id}")))
    })
    .await?;
    state.sync.revoke(Revocation::User(user_id));
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/admin/users/{id}/role` body.
#[derive(Debug, Deserialize)]
pub struct RoleChange {
    role: Role,
    #[serde(default)]
    visit_access: bool,
}

/// `PUT /api/admin/users/{id}/role`
pub async fn set_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
    Json(change): Json<RoleChange>,
) -> Result<StatusCode, AppError> {
    require_admin(&auth)?;
    let id = user_id.clone();
    audited_change(&state, &auth, move |tx| {
        let before = User::get(tx, &id)?.ok_or(AppError::NotFound)?;
        User::set_role(tx, &id, change.role, change.visit_access)?;
        Ok(AuditEvent::new(Action::RoleChanged).detail(format!(
            "user {id}: {} (visit access {}) -> {} (visit access {})",
            before.role, before.visit_access, change.role, change.visit_access
        )))
    })
    .await?;
    state.sync.revoke(Revocation::User(user_id));
    // Access decisions of other open connections may depend on this user's role.
    state.sync.access_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{id}/mfa/reset`
pub async fn reset_mfa(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
) -> Result<StatusCode, AppError> {
    require_admin(&auth)?;
    audited_change(&state, &auth, move |tx| {
        User::get(tx, &user_id)?.ok_or(AppError::NotFound)?;
        mfa::reset(tx, &user_id)?;
        Ok(AuditEvent::new(Action::MfaReset).detail(format!("user {user_id}")))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
