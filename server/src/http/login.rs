//! Logging in: the password, then (for visitor, office and admin) the second factor, and only
//! then a session.
//!
//! ```text
//! POST /api/login {login, password, device_label?, client?}
//!   ├─ 200 {user, device_id, token?}                        trainer: session started
//!   ├─ 401 {code: "mfa_required", challenge, expires_in_ms}  enrolled: send a code
//!   ├─ 401 {code: "mfa_enrolment_required", challenge, …}   not enrolled yet: enrol first
//!   ├─ 401 {code: "bad_credentials"}                        wrong login or password
//!   └─ 429 {code: "too_many_attempts"}                      throttled (accounts/throttle.rs)
//! POST /api/login/mfa/enrol {challenge}
//!   └─ 200 {secret, otpauth_uri, qr_svg}                     scan, then confirm with a code
//! POST /api/login/mfa {challenge, code | recovery_code}
//!   ├─ 200 {user, device_id, token?, recovery_codes?}        session started (codes only once,
//!   │                                                        when this code confirmed enrolment)
//!   ├─ 401 {code: "bad_mfa_code"}                            wrong code; 5 per challenge
//!   └─ 401 {code: "login_expired"}                           challenge unknown, used or worn out
//! ```
//!
//! Every failure, throttling, enrolment and recovery-code use goes to the audit log.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{AppError, auth::SESSION_COOKIE, client::ClientAddress, client::over_tls};
use crate::{
    AppState,
    accounts::{
        Session, SessionToken, User,
        challenge::{self, CHALLENGE_LIFETIME_MS, Challenge},
        mfa::{self, MfaOutcome, MfaState},
        now_ms, throttle, totp, verify_password,
    },
    audit::{self, Action, AuditEvent},
};

/// `POST /api/login` body.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    login: String,
    password: String,
    /// A name for the device, shown to admins ("花子のiPhone").
    #[serde(default)]
    device_label: Option<String>,
    /// `"api"` returns a bearer token in the body instead of setting a cookie.
    #[serde(default)]
    client: Option<String>,
    /// The user whose records the device keeps (one person per device): anyone else's login
    /// is refused before a session starts, so the device's cookie stays that person's.
    #[serde(default)]
    device_holder: Option<String>,
}

/// A started session's answer.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    user: User,
    device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Shown once, right after the enrolment they belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// The answer asking for the second factor.
#[derive(Debug, Serialize)]
struct SecondFactorNeeded<'a> {
    code: &'a str,
    error: &'a str,
    challenge: String,
    expires_in_ms: i64,
}

enum PasswordOutcome {
    Throttled,
    Failed,
    SecondFactor {
        challenge: String,
        enrol: bool,
    },
    Started(SessionToken, Session),
    /// The right password, on a device that keeps another person's records.
    HeldByAnother,
}

fn audit(conn: &Connection, event: AuditEvent) -> Result<(), AppError> {
    audit::append(conn, &event)?;
    Ok(())
}

/// Records a failure and, when it used up a budget, says so once in the audit log (not on
/// every refused attempt after it, so a flood cannot grow the log without bound).
fn record_failure(
    conn: &Connection,
    login: &str,
    address: &str,
    now: i64,
    event: AuditEvent,
) -> Result<(), AppError> {
    throttle::record_failure(conn, login, address, now)?;
    let user_id = event.user_id.clone();
    audit(conn, event)?;
    if let Err(refusal) = throttle::check(conn, login, address, now)? {
        let mut throttled = AuditEvent::new(Action::LoginThrottled)
            .detail(format!("budget {}; address {address}", refusal.as_str()));
        throttled.user_id = user_id;
        audit(conn, throttled)?;
    }
    Ok(())
}

/// Login CSRF: a page elsewhere must not log the browser in (as the attacker, say). Browsers
/// send `Origin` on these POSTs; one that is not ours is refused. API clients send none.
fn refuse_cross_site(headers: &HeaderMap, state: &AppState) -> Result<(), AppError> {
    if super::origin::origin_allowed(headers, &state.config) == Some(false) {
        return Err(AppError::ForeignOrigin);
    }
    Ok(())
}

/// Checks the password; starts a session, or a challenge for the second factor.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<Response, AppError> {
    refuse_cross_site(&headers, &state)?;
    let api = request.client.as_deref() == Some("api");
    let label = request
        .device_label
        .unwrap_or_else(|| if api { "API" } else { "ブラウザ" }.to_owned());
    let now = now_ms();
    let outcome = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            if throttle::check(conn, &request.login, &address, now)?.is_err() {
                return Ok(PasswordOutcome::Throttled);
            }
            let found = User::find_for_login(conn, &request.login)?;
            let Some((user, hash)) = found else {
                // Spend the same time as a real check so logins cannot be probed by timing.
                let _ = verify_password(&request.password, DUMMY_HASH);
                let event = AuditEvent::new(Action::LoginFailed)
                    .detail(format!("unknown login; address {address}"));
                record_failure(conn, &request.login, &address, now, event)?;
                return Ok(PasswordOutcome::Failed);
            };
            let right = verify_password(&request.password, &hash)?;
            if user.disabled || !right {
                let why = if right {
                    "disabled user"
                } else {
                    "wrong password"
                };
                let event = AuditEvent::new(Action::LoginFailed)
                    .user(&user.id)
                    .detail(format!("{why}; address {address}"));
                record_failure(conn, &request.login, &address, now, event)?;
                return Ok(PasswordOutcome::Failed);
            }
            if request
                .device_holder
                .as_deref()
                .is_some_and(|holder| holder != user.id)
            {
                audit(
                    conn,
                    AuditEvent::new(Action::LoginFailed)
                        .user(&user.id)
                        .detail(format!(
                            "the device keeps another person's records; address {address}"
                        )),
                )?;
                return Ok(PasswordOutcome::HeldByAnother);
            }
            if user.role.requires_second_factor() {
                let enrol = mfa::state(conn, &user.id)? == MfaState::NotEnrolled;
                let pending = Challenge {
                    user_id: user.id.clone(),
                    device_label: label,
                    api_client: api,
                    client_address: address,
                };
                let challenge = challenge::create(conn, &pending, now)?;
                return Ok(PasswordOutcome::SecondFactor { challenge, enrol });
            }
            throttle::remember_address(conn, &user.id, &address, now)?;
            let (token, session) = Session::start(conn, &user, &label)?;
            audit(
                conn,
                AuditEvent::new(Action::LoginSucceeded)
                    .user(&user.id)
                    .device(&session.device_id)
                    .detail(format!("password; address {address}")),
            )?;
            Ok(PasswordOutcome::Started(token, session))
        })
        .await?;
    match outcome {
        PasswordOutcome::Throttled => {
            tracing::info!("login throttled");
            Err(AppError::TooManyAttempts)
        }
        PasswordOutcome::Failed => {
            tracing::info!("login refused");
            Err(AppError::BadCredentials)
        }
        PasswordOutcome::HeldByAnother => {
            tracing::info!("login refused: the device keeps another person's records");
            Err(AppError::DeviceHeld)
        }
        PasswordOutcome::SecondFactor { challenge, enrol } => {
            let (code, error) = if enrol {
                (
                    "mfa_enrolment_required",
                    "二段階認証の設定が必要です。認証アプリでQRコードを読み取ってください。",
                )
            } else {
                (
                    "mfa_required",
                    "認証アプリに表示される6桁の確認コードを入力してください。",
                )
            };
            let body = SecondFactorNeeded {
                code,
                error,
                challenge,
                expires_in_ms: CHALLENGE_LIFETIME_MS,
            };
            Ok((StatusCode::UNAUTHORIZED, Json(body)).into_response())
        }
        PasswordOutcome::Started(token, session) => {
            session_response(&state, &headers, &token, session, api, None)
        }
    }
}

/// The answer that hands a new session to the client: a cookie for a browser, the token in the
/// body for an API client.
fn session_response(
    state: &AppState,
    headers: &HeaderMap,
    token: &SessionToken,
    session: Session,
    api: bool,
    recovery_codes: Option<Vec<String>>,
) -> Result<Response, AppError> {
    tracing::info!(user = %session.user.id, device = %session.device_id, "logged in");
    let max_age = crate::accounts::SessionLimits::for_role(session.user.role).absolute_ms / 1000;
    let body = LoginResponse {
        user: session.user,
        device_id: session.device_id,
        token: api.then(|| token.reveal().to_owned()),
        recovery_codes,
    };
    let mut response = Json(body).into_response();
    if !api {
        let secure = if over_tls(headers, &state.config) {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            token.reveal(),
            max_age
        );
        let value = HeaderValue::from_str(&cookie).map_err(|_| AppError::Internal)?;
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A valid argon2id hash of a random password, verified against when the login is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZqWrZmtLuRNqUVlVQoYUEbQdbMYH5JtG8a2NgzBf0Sg";

/// `POST /api/login/mfa/enrol` body.
#[derive(Debug, Deserialize)]
pub struct EnrolRequest {
    challenge: String,
}

/// `POST /api/login/mfa/enrol` answer: what the authenticator app needs.
#[derive(Debug, Serialize)]
pub struct EnrolResponse {
    /// The secret in base32, for typing in by hand.
    secret: String,
    /// The `otpauth://` URI the QR code holds.
    otpauth_uri: String,
    /// The QR code as an SVG document (show it as an `<img>` with a `data:` URL: the content
    /// security policy allows `data:` images).
    qr_svg: String,
}

/// Issuer shown in authenticator apps.
const ISSUER: &str = "nimo";

/// Starts the enrolment of a pending login whose user has no second factor yet.
pub async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<EnrolResponse>, AppError> {
    refuse_cross_site(&headers, &state)?;
    let now = now_ms();
    let (login, secret) = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let Some(pending) = challenge::find(conn, &request.challenge, now)? else {
                return Err(AppError::LoginExpired);
            };
            let Some(user) = User::get(conn, &pending.user_id)?.filter(|u| !u.disabled) else {
                return Err(AppError::LoginExpired);
            };
            let secret =
                mfa::begin_enrolment(conn, &user.id, now)?.ok_or(AppError::AlreadyEnrolled)?;
            Ok((user.login, secret))
        })
        .await?;
    let otpauth_uri = totp::otpauth_uri(ISSUER, &login, &secret);
    let qr_svg = totp::qr_svg(&otpauth_uri).map_err(|error| {
        tracing::error!(%error, "cannot draw the enrolment QR code");
        AppError::Internal
    })?;
    Ok(Json(EnrolResponse {
        secret: totp::base32(&secret),
        otpauth_uri,
        qr_svg,
    }))
}

/// `POST /api/login/mfa` body: the challenge and either a TOTP code or a recovery code.
#[derive(Debug, Deserialize)]
pub struct SecondFactorRequest {
    challenge: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

enum SecondFactorOutcome {
    Throttled,
    Wrong,
    Started {
        token: SessionToken,
        session: Session,
        api: bool,
        recovery_codes: Option<Vec<String>>,
    },
}

/// Finishes a pending login with its second factor.
pub async fn second_factor(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Json(request): Json<SecondFactorRequest>,
) -> Result<Response, AppError> {
    refuse_cross_site(&headers, &state)?;
    let now = now_ms();
    let outcome = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let Some(pending) = challenge::find(conn, &request.challenge, now)? else {
                return Err(AppError::LoginExpired);
            };
            let Some(user) = User::get(conn, &pending.user_id)?.filter(|u| !u.disabled) else {
                return Err(AppError::LoginExpired);
            };
            if throttle::check(conn, &user.login, &address, now)?.is_err() {
                return Ok(SecondFactorOutcome::Throttled);
            }
            let outcome = match (&request.code, &request.recovery_code) {
                (Some(code), _) => mfa::check_code(conn, &user.id, code, now)?,
                (None, Some(recovery)) => mfa::use_recovery_code(conn, &user.id, recovery, now)?,
                (None, None) => MfaOutcome::Refused,
            };
            let (how, recovery_codes) = match outcome {
                MfaOutcome::Refused => {
                    challenge::fail(conn, &request.challenge)?;
                    let event = AuditEvent::new(Action::MfaFailed)
                        .user(&user.id)
                        .detail(format!("address {address}"));
                    record_failure(conn, &user.login, &address, now, event)?;
                    return Ok(SecondFactorOutcome::Wrong);
                }
                MfaOutcome::Accepted => ("totp", None),
                MfaOutcome::RecoveryCodeUsed => ("recovery code", None),
                MfaOutcome::Enrolled { recovery_codes } => ("totp enrolment", Some(recovery_codes)),
            };
            challenge::finish(conn, &request.challenge)?;
            throttle::remember_address(conn, &user.id, &address, now)?;
            let (token, session) = Session::start(conn, &user, &pending.device_label)?;
            let event = |action| {
                AuditEvent::new(action)
                    .user(&user.id)
                    .device(&session.device_id)
                    .detail(format!("{how}; address {address}"))
            };
            if recovery_codes.is_some() {
                audit(conn, event(Action::MfaEnrolled))?;
            }
            if how == "recovery code" {
                audit(conn, event(Action::MfaRecoveryCodeUsed))?;
            }
            audit(conn, event(Action::LoginSucceeded))?;
            Ok(SecondFactorOutcome::Started {
                token,
                session,
                api: pending.api_client,
                recovery_codes,
            })
        })
        .await?;
    match outcome {
        SecondFactorOutcome::Throttled => Err(AppError::TooManyAttempts),
        SecondFactorOutcome::Wrong => Err(AppError::BadSecondFactor),
        SecondFactorOutcome::Started {
            token,
            session,
            api,
            recovery_codes,
        } => session_response(&state, &headers, &token, session, api, recovery_codes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash_so_unknown_logins_cost_a_full_check() {
        // If it did not parse, an unknown login would answer faster than a wrong password and
        // leak which logins exist.
        assert!(matches!(verify_password("anything", DUMMY_HASH), Ok(false)));
    }
}
