//! The visitor flow's own API beside sync: who a visitor may pair with, and erasing a closed
//! case after its retention period ([`erasure`]), and wiping a lost device after its last
//! upload ([`wipe`]).

pub mod erasure;
pub mod wipe;

use axum::{Json, extract::State};
use serde::Serialize;

use crate::{
    AppState,
    accounts::{Role, User},
    http::{AppError, auth::Authenticated},
};

/// A visitor as a colleague sees them: id and name only.
#[derive(Debug, Serialize)]
pub struct Colleague {
    id: String,
    display_name: String,
}

/// `GET /api/visitors`: the enabled visitors, for choosing a case's pair. Visitors and office
/// staff with visit access only; it lists people, never cases.
pub async fn colleagues(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<Colleague>>, AppError> {
    let user = auth.user();
    let allowed = user.role == Role::Visitor || (user.role == Role::Office && user.visit_access);
    if !allowed {
        return Err(AppError::Forbidden);
    }
    let users = state
        .db
        .call(|conn| -> Result<_, AppError> { Ok(User::list(conn)?) })
        .await?;
    Ok(Json(
        users
            .into_iter()
            .filter(|u| u.role == Role::Visitor && !u.disabled)
            .map(|u| Colleague {
                id: u.id.to_string(),
                display_name: u.display_name,
            })
            .collect(),
    ))
}
