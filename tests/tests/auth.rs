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
