//! Sessions end, and their open sync sockets close, when they should: logout, a revoked device,
//! a disabled user, a changed role; office sessions end after 30 idle minutes, and the server's
//! sweep closes the socket of a session that lapsed while nobody presented it.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use nimo_server::accounts::Role;
use nimo_tests::{ApiClient, TestServer};
use reqwest::{Method, StatusCode};

type Socket = nimo_tests::ClientSocket;

async fn open_socket(client: &ApiClient) -> anyhow::Result<Socket> {
    let (ticket, _) = client.ticket().await?;
    let (socket, _) = tokio_tungstenite::connect_async(client.ws_url(&ticket).as_str()).await?;
    Ok(socket)
}

/// Waits (generously, five seconds) for the server to close `socket` and says how long it took;
/// `None` if it stayed open. The requirement is one second; the figure is printed, not asserted,
/// because tests do not measure speed.
async fn time_to_close(socket: &mut Socket, since: Instant) -> Option<Duration> {
    nimo_tests::time_to_close(socket, since, Duration::from_secs(5)).await
}

/// Both users' sessions were last seen 31 minutes ago (past the office's idle limit).
async fn last_seen_31_minutes_ago(server: &TestServer) -> anyhow::Result<()> {
    server
        .state
        .db
        .call(|conn| -> Result<usize, nimo_server::db::DbError> {
            let earlier = nimo_server::accounts::now_ms() - 31 * 60 * 1000;
            Ok(conn.execute("UPDATE sessions SET last_seen_at = ?1", [earlier])?)
        })
        .await?;
    Ok(())
}

async fn still_open(socket: &mut Socket) -> bool {
    tokio::time::timeout(Duration::from_millis(300), socket.next())
        .await
        .is_err()
}

async fn device_of(admin: &ApiClient, user_id: &str) -> anyhow::Result<String> {
    let devices = admin
        .get(&format!("/api/admin/users/{user_id}/devices"))
        .await?;
    Ok(devices[0]["id"].as_str().expect("a device").to_owned())
}

async fn status(client: &ApiClient, method: Method, path: &str) -> anyhow::Result<StatusCode> {
    Ok(client.request(method, path).send().await?.status())
}

#[tokio::test]
async fn ending_a_session_closes_its_open_sync_socket() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (visitor1, visitor2) = server.add_visiting_pair().await?;
    let office = server.add_user("office", Role::Office, None, false).await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server
        .add_user("bystander", Role::Trainer, Some("仙南"), false)
        .await?;
    server.add_user("admin2", Role::Admin, None, false).await?;
    let admin = server.api_client("admin2").await?;
    let clients = [
        server.api_client("visitor1").await?,
        server.api_client("visitor2").await?,
        server.api_client("office").await?,
        server.api_client("trainer").await?,
    ];
    let bystander = server.api_client("bystander").await?;
    let mut bystander_socket = open_socket(&bystander).await?;

    let mut timings = Vec::new();
    for (n, client) in clients.iter().enumerate() {
        let mut socket = open_socket(client).await?;
        assert!(still_open(&mut socket).await, "connection {n} opened");
        let since = Instant::now();
        let (what, answer) = match n {
            0 => {
                let device = device_of(&admin, &visitor1.id).await?;
                let path = format!("/api/admin/devices/{device}/revoke");
                ("revoked device", status(&admin, Method::POST, &path).await?)
            }
            1 => {
                let path = format!("/api/admin/users/{}/disable", visitor2.id);
                ("disabled user", status(&admin, Method::POST, &path).await?)
            }
            2 => {
                let path = format!("/api/admin/users/{}/role", office.id);
                let answer = admin
                    .request(Method::PUT, &path)
                    .json(&serde_json::json!({ "role": "office", "visit_access": true }))
                    .send()
                    .await?
                    .status();
                ("changed role", answer)
            }
            _ => ("logout", status(client, Method::POST, "/api/logout").await?),
        };
        assert_eq!(answer, StatusCode::NO_CONTENT, "{what}");
        let took = time_to_close(&mut socket, since).await;
        assert!(took.is_some(), "the socket of the {what} stayed open");
        timings.push((what, took));
        assert_eq!(
            status(client, Method::GET, "/api/me").await?,
            StatusCode::UNAUTHORIZED,
            "the session of the {what} ended"
        );
        assert!(client.ticket().await.is_err(), "no new ticket after {what}");
    }
    println!("socket closed after: {timings:?}");
    assert!(
        still_open(&mut bystander_socket).await,
        "others stay connected"
    );

    let actions: Vec<String> = server
        .state
        .db
        .call(|conn| -> Result<Vec<String>, nimo_server::db::DbError> {
            let mut statement = conn.prepare("SELECT action FROM audit_log ORDER BY seq")?;
            Ok(statement
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await?;
    for action in ["device_revoked", "user_disabled", "role_changed", "logout"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    // Only admins administer.
    let path = format!("/api/admin/users/{}/disable", office.id);
    assert_eq!(
        status(&bystander, Method::POST, &path).await?,
        StatusCode::FORBIDDEN
    );
    server.stop().await
}

#[tokio::test]
async fn a_ticket_taken_before_a_revocation_opens_nothing_after_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let trainer = server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server.add_user("admin2", Role::Admin, None, false).await?;
    let admin = server.api_client("admin2").await?;
    let client = server.api_client("trainer").await?;
    let (ticket, _) = client.ticket().await?;
    let device = device_of(&admin, &trainer.id).await?;
    let path = format!("/api/admin/devices/{device}/revoke");
    assert_eq!(
        status(&admin, Method::POST, &path).await?,
        StatusCode::NO_CONTENT
    );
    let upgrade = tokio_tungstenite::connect_async(client.ws_url(&ticket).as_str()).await;
    assert!(upgrade.is_err(), "the upgrade is refused");
    server.stop().await
}

#[tokio::test]
async fn office_sessions_end_after_30_idle_minutes_and_field_sessions_do_not() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    server.add_user("office", Role::Office, None, false).await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let office = server.api_client("office").await?;
    let trainer = server.api_client("trainer").await?;
    assert_eq!(
        status(&office, Method::GET, "/api/me").await?,
        StatusCode::OK
    );
    last_seen_31_minutes_ago(&server).await?;
    assert_eq!(
        status(&office, Method::GET, "/api/me").await?,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&trainer, Method::GET, "/api/me").await?,
        StatusCode::OK
    );
    server.stop().await
}

#[tokio::test]
async fn an_office_session_that_lapses_unused_closes_its_open_sync_socket() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("office", Role::Office, None, false).await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let office = server.api_client("office").await?;
    let trainer = server.api_client("trainer").await?;
    let mut office_socket = open_socket(&office).await?;
    let mut trainer_socket = open_socket(&trainer).await?;
    // Nobody presents either token again.
    last_seen_31_minutes_ago(&server).await?;
    // The server's own sweep, not a request, ends the office session.
    let sweep = nimo_server::session_expiry::SWEEP_EVERY;
    let closed = nimo_tests::time_to_close(
        &mut office_socket,
        Instant::now(),
        sweep + Duration::from_secs(5),
    )
    .await;
    assert!(
        closed.is_some(),
        "the lapsed office session's socket stayed open"
    );
    println!("a lapsed session's socket closed after {closed:?} (sweep every {sweep:?})");
    assert!(
        still_open(&mut trainer_socket).await,
        "the field session's socket closed"
    );
    assert_eq!(
        status(&trainer, Method::GET, "/api/me").await?,
        StatusCode::OK
    );
    server.stop().await
}
