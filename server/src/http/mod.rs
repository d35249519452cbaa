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

use crate::{AppState, office, reports, sync};

/// The largest JSON body accepted by the API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Refuses request bodies sent compressed (`Content-Encoding` other than `identity`) with 415.
/// Nothing in nimo sends them, and not decompressing at all is the surest bound on what a
/// decompression bomb could expand to: every body limit applies to the bytes as received.
async fn refuse_encoded_bodies(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let encoded = request
        .headers()
        .get_all(axum::http::header::CONTENT_ENCODING)
        .iter()
        .any(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return AppError::EncodedBody.into_response();
    }
    next.run(request).await
}

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
        .route("/docs", post(sync::registration::register))
        .route("/docs/batch", post(sync::registration::register_batch))
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
        .route(
            "/sessions/{id}/roster-import",
            post(office::roster_import::import),
        )
        .route("/office/devices", get(office::devices::devices))
        .route("/office/conflicts", get(office::conflicts::list))
        .route(
            "/office/conflicts/resolve",
            post(office::conflicts::resolve),
        )
        .route("/office/duplicates", get(office::duplicates::list))
        .route("/office/duplicates/merge", post(office::duplicates::merge))
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
        .layer(middleware::from_fn(refuse_encoded_bodies))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers::add,
        ))
        .with_state(state)
}
