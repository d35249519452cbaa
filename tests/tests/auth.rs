//! Logging in over real HTTP: wrong credentials, the session cookie, same-origin writes, and the
//! password change a one-time password forces.

use nimo_server::accounts::{NewUser, Role, User};
use nimo_tests::{ApiClient, PASSWORD, TestServer};
use reqwest::{StatusCode, header};

async fn login(
    server: &TestServer,
    login: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&serde_json::json!({ "login": login, "password": password }))
        .send()
        .await?)
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii cookie");
    set_cookie.split(';').next().expect("name=value").to_owned()
}

#[tokio::test]
async fn wrong_passwords_and_unknown_logins_get_the_same_refusal() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    for (who, password) in [("hanako", "not the password"), ("nobody", PASSWORD)] {
        let response = login(&server, who, password).await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{who}");
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let body: serde_json::Value = response.json().await?;
        assert_eq!(body["code"], "bad_credentials");
        assert_eq!(body["error"], "ログイン名またはパスワードが違います。");
    }
    server.stop().await
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_writes_need_our_origin() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    let response = login(&server, "hanako", PASSWORD).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()[header::SET_COOKIE].to_str()?.to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let body: serde_json::Value = response.json().await?;
    assert!(
        body.get("token").is_none(),
        "a browser login never sees its token"
    );
    let cookie = session_cookie(
        &reqwest::Client::new()
            .post(server.url("/api/login"))
            .json(&serde_json::json!({ "login": "hanako", "password": PASSWORD }))
            .send()
            .await?,
    );

    let client = reqwest::Client::new();
    let me = client
        .get(server.url("/api/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::OK);
    let own_origin = server.url("");
    for (origin, expected) in [
        (Some("https://evil.example"), StatusCode::FORBIDDEN),
        (None, StatusCode::FORBIDDEN),
        (Some(own_origin.as_str()), StatusCode::OK),
    ] {
        let mut request = client
            .post(server.url("/api/sync/ticket"))
            .header(header::COOKIE, &cookie);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        assert_eq!(request.send().await?.status(), expected, "{origin:?}");
    }
    let logout = client
        .post(server.url("/api/logout"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &own_origin)
        .send()
        .await?;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = client
        .get(server.url("/api/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "logout ends the session"
    );
    server.stop().await
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() -> anyhow::Result<()> {
    // Like the bootstrap administrator: a one-time password, and a role that enrols a second
    // factor at its first login before the password change.
    let server = TestServer::start().await?;
    let new = NewUser {
        login: "taro".to_owned(),
        display_name: "太郎".to_owned(),
        role: Role::Admin,
        team: None,
        visit_access: false,
        must_change_password: true,
    };
    server
        .state
        .db
        .call(
            move |conn| -> Result<User, nimo_server::accounts::AccountsError> {
                User::create(conn, &new, "one-time password")
            },
        )
        .await?;
    let (client, enrolled) =
        ApiClient::login_with_second_factor(&server.url(""), "taro", "one-time password", None)
            .await?;
    assert!(enrolled.is_some(), "an admin enrols a second factor first");
    let me = client
        .request(reqwest::Method::GET, "/api/me")
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        me.json::<serde_json::Value>().await?["code"],
        "password_change_required"
    );
    let (status, _) = client
        .post(
            "/api/password",
            serde_json::json!({ "current": "one-time password", "new": "a new long passphrase" }),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let me = client
        .request(reqwest::Method::GET, "/api/me")
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::OK);
    server.stop().await
}

/// A device keeps one person's records, and the app names that person in its login: anyone
/// else is refused before a session starts, so no refused session's cookie replaces the
/// holder's, and an office user (second factor) is refused before their challenge too.
#[tokio::test]
async fn a_login_on_a_device_kept_by_another_person_starts_no_session() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let hanako = server
        .add_user("hanako", Role::Trainer, Some("仙南"), false)
        .await?;
    server
        .add_user("taro", Role::Trainer, Some("仙南"), false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let login_on_hanakos_device = |login: &'static str| {
        reqwest::Client::new()
            .post(server.url("/api/login"))
            .json(&serde_json::json!({
                "login": login,
                "password": PASSWORD,
                "device_holder": hanako.id,
            }))
            .send()
    };
    let sessions = || async {
        server
            .state
            .db
            .call(|conn| {
                conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0))
                    .map_err(nimo_server::db::DbError::from)
            })
            .await
    };
    for other in ["taro", "office"] {
        let refused = login_on_hanakos_device(other).await?;
        assert_eq!(refused.status(), StatusCode::CONFLICT, "{other}");
        assert!(refused.headers().get(header::SET_COOKIE).is_none());
        let body: serde_json::Value = refused.json().await?;
        assert_eq!(body["code"], "device_held");
        assert!(body.get("challenge").is_none(), "no second factor asked");
    }
    assert_eq!(sessions().await?, 0);

    let kept = login_on_hanakos_device("hanako").await?;
    assert_eq!(kept.status(), StatusCode::OK);
    assert!(kept.headers().get(header::SET_COOKIE).is_some());
    assert_eq!(sessions().await?, 1);
    server.stop().await
}
