//! Serving the built app shell from `dist/`.
//!
//! Caching follows from how `xtask` names files: a name carrying a content hash
//! (`nimo-app-0123456789abcdef.wasm`) never changes meaning, so it is cached for a year as
//! immutable; everything else (`index.html`, the service worker, the manifest) must be revalidated
//! on each load so that a new version is seen. A path without a file extension is a client-side
//! route and gets `index.html`.

use std::{convert::Infallible, path::Path};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::{ServiceExt, service_fn, util::BoxCloneSyncService};
use tower_http::services::ServeDir;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The service answering every path not claimed by an API route.
pub fn service(dist: &Path) -> BoxCloneSyncService<Request, Response, Infallible> {
    let index = dist.join("index.html");
    let files = ServeDir::new(dist)
        .precompressed_br()
        .append_index_html_on_directories(true)
        .fallback(service_fn(move |request: Request| {
            let index = index.clone();
            let path = request.uri().path().to_owned();
            async move { Ok::<_, Infallible>(client_route(&index, &path).await) }
        }));
    BoxCloneSyncService::new(service_fn(move |request: Request| {
        let files = files.clone();
        async move {
            let immutable = is_content_hashed(request.uri().path());
            let mut response = files
                .oneshot(request)
                .await
                .map(IntoResponse::into_response)?;
            if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
                let policy = if immutable { IMMUTABLE } else { REVALIDATE };
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
            }
            Ok(response)
        }
    }))
}

/// `index.html` for a client route, 404 for a missing file.
async fn client_route(index: &Path, path: &str) -> Response {
    let last_segment = path.rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') || path.starts_with("/api/") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match tokio::fs::read(index).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, REVALIDATE),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, path = %index.display(), "the app shell is missing; run `cargo xtask build`");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The app shell has not been built: run `cargo xtask build`.",
            )
                .into_response()
        }
    }
}

/// Whether the file name carries a 16-hex-digit content hash: `name-0123456789abcdef.ext`.
pub fn is_content_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((_, hash)) => hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_asset_names_are_recognised() {
        assert!(is_content_hashed("/nimo-app-0123456789abcdef.wasm"));
        assert!(is_content_hashed("/assets/boot-fedcba9876543210.js"));
        assert!(!is_content_hashed("/index.html"));
        assert!(!is_content_hashed("/sw.js"));
        assert!(!is_content_hashed("/nimo-app-0123.wasm"));
        assert!(!is_content_hashed("/icons/icon-192.png"));
    }
}
