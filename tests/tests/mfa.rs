//! The second factor over real HTTP: visitor, office and admin logins get no session without a
//! right TOTP code or an unused recovery code; enrolment shows a QR code; long passphrases work.

use nimo_server::accounts::{NewUser, Role, User, totp};
use nimo_tests::{Authenticator, PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(server: &TestServer, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let cookie = response.headers().get(reqwest::header::SET_COOKIE).cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        assert!(cookie.is_none(), "a refused step sets no cookie: {body}");
    }
    Ok((status, body))
}

/// Logs in with the password and returns the challenge the server answers with.
async fn challenge(
    server: &TestServer,
    login: &str,
    expected_code: &str,
) -> anyhow::Result<String> {
    let (status, body) = post(
        server,
        "/api/login",
        json!({ "login": login, "password": PASSWORD, "client": "api" }),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], expected_code, "{body}");
    assert!(
        body.get("token").is_none(),
        "no session before the second factor"
    );
    Ok(body["challenge"].as_str().expect("challenge").to_owned())
}

async fn me_status(server: &TestServer, token: &str) -> anyhow::Result<StatusCode> {
    Ok(reqwest::Client::new()
        .get(server.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await?
        .status())
}

#[tokio::test]
async fn a_visitor_gets_a_session_only_with_the_right_second_factor() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("visitor1", Role::Visitor, None, false)
        .await?;

    // First login: enrolment with a QR code, confirmed by a first code.
    let pending = challenge(&server, "visitor1", "mfa_enrolment_required").await?;
    assert_eq!(
        me_status(&server, &pending).await?,
        StatusCode::UNAUTHORIZED,
        "a challenge is not a session"
    );
    let (status, enrolment) = post(
        &server,
        "/api/login/mfa/enrol",
        json!({ "challenge": pending }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/nimo:visitor1?secret="),
        "{uri}"
    );
    assert!(enrolment["qr_svg"].as_str().expect("svg").contains("<svg"));
    let app = Authenticator::from_base32(enrolment["secret"].as_str().expect("secret"))?;
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": app.wrong_code() }),
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_mfa_code"))
    );
    let (status, confirmed) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": app.next_code().await }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(
        confirmed["recovery_codes"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(
        me_status(&server, confirmed["token"].as_str().expect("token")).await?,
        StatusCode::OK
    );
    // Recovery codes stand in for "a right factor" below, so no test waits for the next step.
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "recovery_code": recovery[0] }),
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("login_expired")),
        "a finished challenge is spent"
    );

    // Later logins: no code, a wrong code, a replayed code: no session.
    let pending = challenge(&server, "visitor1", "mfa_required").await?;
    let (status, body) = post(&server, "/api/login/mfa", json!({ "challenge": pending })).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_mfa_code"))
    );
    let (status, _) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": app.wrong_code() }),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, enrol_again) = post(
        &server,
        "/api/login/mfa/enrol",
        json!({ "challenge": pending }),
    )
    .await?;
    assert_eq!(
        (status, enrol_again["code"].as_str()),
        (StatusCode::CONFLICT, Some("mfa_already_enrolled")),
        "a password alone cannot replace an enrolled factor"
    );
    let code = app.next_code().await;
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": code }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("recovery_codes").is_none(),
        "recovery codes are shown once"
    );
    let pending = challenge(&server, "visitor1", "mfa_required").await?;
    let (status, _) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": code }),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code is accepted once");

    // Five wrong codes wear a challenge out, even for a right code after them.
    let pending = challenge(&server, "visitor1", "mfa_required").await?;
    for _ in 0..5 {
        post(
            &server,
            "/api/login/mfa",
            json!({ "challenge": pending, "code": app.wrong_code() }),
        )
        .await?;
    }
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "recovery_code": recovery[1] }),
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("login_expired"))
    );
    server.stop().await
}

#[tokio::test]
async fn a_recovery_code_replaces_the_app_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("office", Role::Office, None, false).await?;
    let pending = challenge(&server, "office", "mfa_enrolment_required").await?;
    let (_, enrolment) = post(
        &server,
        "/api/login/mfa/enrol",
        json!({ "challenge": pending }),
    )
    .await?;
    let app = Authenticator::from_base32(enrolment["secret"].as_str().expect("secret"))?;
    let (_, confirmed) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "code": app.next_code().await }),
    )
    .await?;
    let recovery = confirmed["recovery_codes"][3]
        .as_str()
        .expect("codes")
        .to_owned();

    let pending = challenge(&server, "office", "mfa_required").await?;
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "recovery_code": recovery.to_uppercase() }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me_status(&server, body["token"].as_str().expect("token")).await?,
        StatusCode::OK
    );
    let pending = challenge(&server, "office", "mfa_required").await?;
    let (status, body) = post(
        &server,
        "/api/login/mfa",
        json!({ "challenge": pending, "recovery_code": recovery }),
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_mfa_code"))
    );

    let audited: Vec<String> = server
        .state
        .db
        .call(|conn| -> Result<Vec<String>, nimo_server::db::DbError> {
            let mut statement = conn.prepare("SELECT action FROM audit_log ORDER BY seq")?;
            let actions = statement
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(actions)
        })
        .await?;
    for action in [
        "mfa_enrolled",
        "mfa_recovery_code_used",
        "mfa_failed",
        "login_succeeded",
    ] {
        assert!(
            audited.iter().any(|a| a == action),
            "{action} in {audited:?}"
        );
    }
    server.stop().await
}

#[tokio::test]
async fn trainers_log_in_with_a_password_and_passphrases_up_to_1024_bytes_work()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let passphrase = "とても長い合言葉で、覚えやすいけれど推測されにくいもの。".repeat(12);
    assert!(
        passphrase.chars().count() >= 64 && passphrase.len() <= 1024,
        "{}",
        passphrase.len()
    );
    let new = NewUser {
        login: "hanako".to_owned(),
        display_name: "花子".to_owned(),
        role: Role::Trainer,
        team: Some("仙南".to_owned()),
        visit_access: false,
        must_change_password: false,
    };
    let stored = passphrase.clone();
    server
        .state
        .db
        .call(
            move |conn| -> Result<User, nimo_server::accounts::AccountsError> {
                User::create(conn, &new, &stored)
            },
        )
        .await?;
    let (status, body) = post(
        &server,
        "/api/login",
        json!({ "login": "hanako", "password": passphrase, "client": "api" }),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].is_string());
    let too_long = "x".repeat(1025);
    let (status, _) = post(
        &server,
        "/api/login",
        json!({ "login": "hanako", "password": too_long }),
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The step size the app counts down with.
    assert_eq!(totp::STEP_MS, 30_000);
    server.stop().await
}

#[tokio::test]
async fn the_command_line_resets_a_lost_second_factor_and_the_user_enrols_again()
-> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    server.add_user("admin2", Role::Admin, None, false).await?;
    server.api_client("admin2").await?;
    challenge(&server, "admin2", "mfa_required").await?;
    server.stop_serving().await?;
    let output = tokio::process::Command::new(nimo_tests::server_process::server_binary()?)
        .args(["user", "reset-mfa", "--login", "admin2", "--data-dir"])
        .arg(server.data_dir())
        .env("NIMO_LOG", "warn")
        .output()
        .await?;
    assert!(output.status.success(), "{output:?}");
    server.serve_again().await?;
    challenge(&server, "admin2", "mfa_enrolment_required").await?;
    server.stop().await
}
