//! The server as a whole, over real TCP: start-up with a fresh database, health, and how the app
//! shell and its headers are served.

use nimo_tests::TestServer;
use reqwest::header;

#[tokio::test]
async fn a_fresh_server_creates_its_database_and_reports_healthy() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    assert!(server.data_dir().join("nimo.sqlite3").exists());
    let health: serde_json::Value = reqwest::get(server.url("/healthz")).await?.json().await?;
    assert_eq!(health["status"], "ok");
    let latest = nimo_server::db::MIGRATIONS.last().map(|m| m.version);
    assert_eq!(health["schema_version"].as_i64(), latest);
    server.stop().await
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_the_shell_is_revalidated() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let asset = reqwest::get(server.url("/boot-0123456789abcdef.js")).await?;
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    for path in ["/", "/manifest.webmanifest", "/trainer/sessions/42"] {
        let response = reqwest::get(server.url(path)).await?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-cache",
            "{path}"
        );
    }
    server.stop().await
}

#[tokio::test]
async fn a_missing_file_is_404_and_not_the_shell() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for path in [
        "/missing-0123456789abcdef.js",
        "/api/unknown",
        "/icons/none.png",
    ] {
        let response = reqwest::get(server.url(path)).await?;
        assert_eq!(response.status(), 404, "{path}");
    }
    server.stop().await
}

#[tokio::test]
async fn every_response_carries_the_security_headers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for path in ["/", "/healthz", "/nothing.js"] {
        let response = reqwest::get(server.url(path)).await?;
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str()?;
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
    }
    server.stop().await
}

#[tokio::test]
async fn the_database_survives_a_restart_without_reapplying_migrations() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let path = server.state.db.path().to_owned();
    // Reopen the same file as a second server would after a restart.
    let reopened = nimo_server::Db::open(&path)?;
    let version: i64 = reopened
        .call(|conn| -> Result<i64, nimo_server::db::DbError> {
            Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
        })
        .await?;
    assert_eq!(
        Some(version),
        nimo_server::db::MIGRATIONS.last().map(|m| m.version)
    );
    server.stop().await
}
