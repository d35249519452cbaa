//! The HTTP surface: routes, the app shell, and the headers every response carries.

pub mod admin;
mod app_shell;
pub mod auth;
pub mod client;
mod error;
mod health;
pub mod login;
pub mod origin;
mod security_headers;

use axum::{
    Router, middleware,
    routing::{get, post},
};

pub use error::AppError;

use crate::{AppState, reports, sync};

/// The largest JSON body accepted by the API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Builds the router for `state`: API routes first, the app shell for everything else.
pub fn router(state: AppState) -> Router {
    let shell = app_shell::service(&state.config.dist_dir);
    let api = Router::new()
        .route("/login", post(login::login))
        .route("/login/mfa", post(login::second_factor))
        .route("/login/mfa/enrol", post(login::enrol))
        .route("/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/devices", get(admin::devices))
        .route("/admin/users/{id}/disable", post(admin::disable_user))
        .route(
            "/admin/users/{id}/role",
            axum::routing::put(admin::set_role),
        )
        .route("/admin/users/{id}/mfa/reset", post(admin::reset_mfa))
        .route("/admin/devices/{id}/revoke", post(admin::revoke_device))
        .route("/password", post(auth::change_password))
        .route("/docs", post(sync::api::register))
        .route(
            "/docs/{id}/members",
            axum::routing::put(sync::api::set_members),
        )
        .route("/sync/ticket", post(sync::api::ticket))
        .route("/sync/ws", get(sync::ws::upgrade))
        .route("/sync/manifest", get(sync::api::manifest))
        .route("/sync/confirm", post(sync::api::confirm))
        .route("/reports", get(reports::list))
        .route("/reports/{name}", get(reports::report))
        .route(
            "/targets",
            get(reports::list_targets).put(reports::set_target),
        )
        .route("/openapi.json", get(reports::openapi::serve))
        .route("/visitors", get(crate::visits::colleagues))
        .route("/docs/{id}/erase", post(crate::visits::erasure::erase))
        .route(
            "/admin/devices/{id}/wipe",
            post(crate::visits::wipe::request_wipe),
        )
        .route("/device", get(crate::visits::wipe::status))
        .route("/device/wiped", post(crate::visits::wipe::wiped))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/api", api)
        .fallback_service(shell)
        .layer(middleware::from_fn(security_headers::add))
        .with_state(state)
}
