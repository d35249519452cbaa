//! `GET /healthz`: the server is up and its database answers.

use axum::{Json, extract::State};
use serde::Serialize;

use super::AppError;
use crate::AppState;

/// The health report.
#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    schema_version: i64,
}

/// Answers 200 with the schema version when a query on the database succeeds.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    let schema_version = state
        .db
        .call(|conn| -> Result<i64, AppError> {
            Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
        })
        .await?;
    Ok(Json(Health {
        status: "ok",
        schema_version,
    }))
}
