//! The one error type handlers return: internals are logged, people get a plain message.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::db::DbError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database failed; the details go to the log, not to the client.
    #[error("database failure")]
    Db(#[from] DbError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::Db(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(source), "database failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "サーバーの保存領域が利用できません。しばらくしてからもう一度お試しください。",
                )
            }
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}
