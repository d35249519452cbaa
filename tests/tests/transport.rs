//! What the browser and the network see: security headers on real responses, HSTS and `Secure`
//! cookies behind a TLS proxy, CSRF refusals, body limits, compressed bodies, and no WebSocket
//! compression.

use nimo_server::accounts::Role;
use nimo_tests::{PASSWORD, TestServer};
use reqwest::{StatusCode, header};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

fn header_text(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_hsts_only_over_tls() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = reqwest::Client::new();
    for path in ["/", "/api/me", "/healthz", "/no-such-file.js"] {
        let response = client.get(server.url(path)).send().await?;
        let csp = header_text(&response, header::CONTENT_SECURITY_POLICY);
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_default();
        assert_eq!(
            script_src, "script-src 'self' 'wasm-unsafe-eval'",
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            header_text(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header_text(&response, header::REFERRER_POLICY),
            "no-referrer",
            "{path}"
        );
        assert!(
            response
                .headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none(),
            "{path}: no HSTS over plain HTTP"
        );
    }
    server.stop().await?;

    let proxied = TestServer::start_with(|config| config.behind_proxy = true).await?;
    proxied
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let response = client
        .post(proxied.url("/api/login"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "198.51.100.1")
        .json(&serde_json::json!({ "login": "hanako", "password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_text(&response, header::STRICT_TRANSPORT_SECURITY),
        "max-age=63072000; includeSubDomains"
    );
    assert!(header_text(&response, header::SET_COOKIE).contains("; Secure"));
    let plain = client
        .get(proxied.url("/"))
        .header("x-forwarded-proto", "http")
        .send()
        .await?;
    assert!(
        plain
            .headers()
            .get(header::STRICT_TRANSPORT_SECURITY)
            .is_none()
    );
    proxied.stop().await
}

#[tokio::test]
async fn cross_site_writes_and_logins_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let client = reqwest::Client::new();
    let own = server.url("");
    let foreign_login = client
        .post(server.url("/api/login"))
        .header(header::ORIGIN, "https://evil.example")
        .json(&serde_json::json!({ "login": "hanako", "password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(foreign_login.status(), StatusCode::FORBIDDEN, "login CSRF");
    let login = client
        .post(server.url("/api/login"))
        .header(header::ORIGIN, &own)
        .json(&serde_json::json!({ "login": "hanako", "password": PASSWORD }))
        .send()
        .await?;
    let cookie = header_text(&login, header::SET_COOKIE)
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    for (site, expected) in [
        ("cross-site", StatusCode::FORBIDDEN),
        ("same-site", StatusCode::FORBIDDEN),
        ("same-origin", StatusCode::OK),
    ] {
        let response = client
            .post(server.url("/api/sync/ticket"))
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, &own)
            .header("sec-fetch-site", site)
            .send()
            .await?;
        assert_eq!(response.status(), expected, "Sec-Fetch-Site: {site}");
    }
    server.stop().await
}

#[tokio::test]
async fn oversized_and_compressed_bodies_are_refused_and_websockets_are_not_compressed()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let api = server.api_client("hanako").await?;
    let huge = format!(
        "{{\"id\":\"{}\"}}",
        "x".repeat(nimo_server::http::MAX_BODY_BYTES)
    );
    let response = api
        .request(reqwest::Method::POST, "/api/docs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(huge)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A gzip body (here 10 bytes that would not even inflate) is refused before anyone reads it.
    let response = api
        .request(reqwest::Method::POST, "/api/docs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (ticket, _) = api.ticket().await?;
    let mut request = api.ws_url(&ticket).into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits".parse()?,
    );
    let (_socket, response) = tokio_tungstenite::connect_async(request).await?;
    assert!(
        response.headers().get("sec-websocket-extensions").is_none(),
        "no compressed frames, so every frame limit counts the bytes as sent"
    );
    assert_eq!(
        reqwest::get(server.url("/healthz")).await?.status(),
        StatusCode::OK
    );
    server.stop().await
}
