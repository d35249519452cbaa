//! The login throttle over real HTTP, behind a (simulated) reverse proxy that names each
//! client's address in `X-Forwarded-For`: a flood of wrong passwords from many addresses is
//! refused with 429 after at most 100 evaluations, while the real user, from an address they
//! logged in from before, still gets in.

use nimo_server::accounts::Role;
use nimo_tests::{PASSWORD, TestServer};
use reqwest::StatusCode;

async fn attempt(
    server: &TestServer,
    address: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<StatusCode> {
    Ok(reqwest::Client::new()
        .post(server.url("/api/login"))
        .header("x-forwarded-for", address)
        .json(&serde_json::json!({ "login": login, "password": password, "client": "api" }))
        .send()
        .await?
        .status())
}

async fn count(server: &TestServer, sql: &'static str) -> anyhow::Result<i64> {
    Ok(server
        .state
        .db
        .call(move |conn| -> Result<i64, nimo_server::db::DbError> {
            Ok(conn.query_row(sql, [], |r| r.get(0))?)
        })
        .await?)
}

#[tokio::test]
async fn a_password_flood_is_throttled_while_the_real_user_still_logs_in() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.behind_proxy = true).await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let home = "198.51.100.7";
    assert_eq!(
        attempt(&server, home, "hanako", PASSWORD).await?,
        StatusCode::OK
    );

    // 150 guesses from 30 addresses, 5 each: under every per-address limit, so only the
    // account's budget for unknown addresses stops them.
    let mut evaluated = 0;
    let mut throttled = 0;
    for n in 0..150 {
        let address = format!("203.0.113.{}", n / 5);
        match attempt(&server, &address, "hanako", "a wrong guess").await? {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    assert_eq!(evaluated, 90, "the budget of unknown addresses");
    assert_eq!(throttled, 60);
    // Even the right password from a new address waits now …
    assert_eq!(
        attempt(&server, "192.0.2.44", "hanako", PASSWORD).await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    // … but the real user at home is not locked out.
    assert_eq!(
        attempt(&server, home, "hanako", PASSWORD).await?,
        StatusCode::OK
    );

    let failures = count(
        &server,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed'",
    )
    .await?;
    assert_eq!(
        failures, 90,
        "every evaluated failure is audited, refusals are not"
    );
    let throttle_events = count(
        &server,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'login_throttled'",
    )
    .await?;
    assert_eq!(throttle_events, 1, "the budget running out is audited once");
    server.stop().await
}

#[tokio::test]
async fn one_address_gets_ten_tries_per_login_and_others_are_unaffected() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.behind_proxy = true).await?;
    server
        .add_user("taro", Role::Trainer, Some("仙南"), false)
        .await?;
    for _ in 0..10 {
        assert_eq!(
            attempt(&server, "203.0.113.99", "taro", "a wrong guess").await?,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(&server, "203.0.113.99", "taro", PASSWORD).await?,
        StatusCode::TOO_MANY_REQUESTS,
        "the 11th try from the same address is not evaluated"
    );
    assert_eq!(
        attempt(&server, "198.51.100.8", "taro", PASSWORD).await?,
        StatusCode::OK,
        "another address is not affected"
    );
    // Unknown logins are throttled alike, so the throttle says nothing about who exists.
    for _ in 0..10 {
        attempt(&server, "203.0.113.98", "nobody", "a wrong guess").await?;
    }
    assert_eq!(
        attempt(&server, "203.0.113.98", "nobody", "a wrong guess").await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    server.stop().await
}
