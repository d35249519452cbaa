//! The audit log over the real server and the real binary: security events are chained, and
//! `nimo-server audit verify` finds a row edited behind the server's back.

use nimo_server::accounts::Role;
use nimo_tests::{TestServer, server_process::server_binary};
use reqwest::StatusCode;

async fn verify(data_dir: &std::path::Path) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(server_binary()?)
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env("NIMO_LOG", "warn")
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[tokio::test]
async fn a_tampered_audit_row_is_reported_by_verify() -> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let client = reqwest::Client::new();
    for password in ["wrong guess one", "wrong guess two"] {
        let refused = client
            .post(server.url("/api/login"))
            .json(&serde_json::json!({ "login": "hanako", "password": password }))
            .send()
            .await?;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let api = server.api_client("hanako").await?;
    let logout = api
        .request(reqwest::Method::POST, "/api/logout")
        .send()
        .await?;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    server.stop_serving().await?;

    let (intact, report) = verify(server.data_dir()).await?;
    assert!(intact, "{report}");
    assert!(report.contains("intact: 4 rows"), "{report}");

    let db = server.data_dir().join(nimo_server::Db::FILE_NAME);
    let conn = rusqlite::Connection::open(&db)?;
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit_log ORDER BY seq")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        actions,
        ["login_failed", "login_failed", "login_succeeded", "logout"]
    );
    // Someone with the database file hides the second failure: the trigger stops a plain
    // UPDATE, so they drop it first. The chain still shows the edit.
    assert!(
        conn.execute("UPDATE audit_log SET action = 'logout' WHERE seq = 2", [])
            .is_err(),
        "the table refuses updates"
    );
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update; \
         UPDATE audit_log SET action = 'login_succeeded' WHERE seq = 2;",
    )?;
    drop(conn);
    let (intact, report) = verify(server.data_dir()).await?;
    assert!(!intact, "{report}");
    assert!(report.contains("row 2"), "{report}");
    Ok(())
}
