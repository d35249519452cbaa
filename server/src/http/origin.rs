//! Same-origin checks for cookie-authenticated writes and WebSocket upgrades.
//!
//! A browser sends `Origin` on every cross-origin request and on every POST and WebSocket
//! upgrade; requiring it to be this server's own origin (or one configured in
//! `allowed_origins`) stops another site from using the user's cookie (CSRF, and cross-site
//! WebSocket hijacking).

use axum::http::{HeaderMap, header};

use crate::Config;

/// Whether the request's `Origin` is this server's own or an allowed one. `None` when the request
/// carries no `Origin` at all.
pub fn origin_allowed(headers: &HeaderMap, config: &Config) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let own = host.is_some_and(|host| {
        origin == format!("http://{host}") || origin == format!("https://{host}")
    });
    Some(
        own || config
            .allowed_origins
            .iter()
            .any(|allowed| allowed == origin),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn the_servers_own_origin_is_allowed_and_others_are_not() {
        let config = Config {
            allowed_origins: vec!["https://nimo.example".to_owned()],
            ..Config::default()
        };
        assert_eq!(
            origin_allowed(&headers(Some("http://127.0.0.1:8080")), &config),
            Some(true)
        );
        assert_eq!(
            origin_allowed(&headers(Some("https://nimo.example")), &config),
            Some(true)
        );
        assert_eq!(
            origin_allowed(&headers(Some("https://evil.example")), &config),
            Some(false)
        );
        assert_eq!(
            origin_allowed(&headers(Some("http://127.0.0.1:9999")), &config),
            Some(false)
        );
        assert_eq!(origin_allowed(&headers(None), &config), None);
    }
}
