//! The HTTP surface: routes, the app shell, and the headers every response carries.

mod app_shell;
mod error;
mod health;
mod security_headers;

use axum::{Router, middleware, routing::get};

pub use error::AppError;

use crate::AppState;

/// Builds the router for `state`: API routes first, the app shell for everything else.
pub fn router(state: AppState) -> Router {
    let shell = app_shell::service(&state.config.dist_dir);
    Router::new()
        .route("/healthz", get(health::healthz))
        .fallback_service(shell)
        .layer(middleware::from_fn(security_headers::add))
        .with_state(state)
}
