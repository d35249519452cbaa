//! Logging in and out, and the [`Authenticated`] extractor every protected route uses.
//!
//! Browsers get the session token in an `HttpOnly`, `SameSite=Strict` cookie that scripts cannot
//! read; API clients (the benchmark, the interop test, scripts) ask for a bearer token instead.
//! A cookie-authenticated write must come from this server's own origin.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{AppError, origin::origin_allowed};
use crate::{
    AppState,
    accounts::{Session, SessionToken, User, verify_password},
    audit::{self, Action, AuditEvent},
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "nimo_session";

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The browser's session cookie.
    Cookie,
    /// An `Authorization: Bearer` token.
    Bearer,
}

/// A request from a logged-in user.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The live session.
    pub session: Session,
    /// How it was presented.
    pub credential: Credential,
}

impl Authenticated {
    /// The session's user.
    pub fn user(&self) -> &User {
        &self.session.user
    }
}

pub(super) fn token_from(headers: &HeaderMap) -> Option<(SessionToken, Credential)> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((SessionToken::from_client(bearer.trim()), Credential::Bearer));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| (SessionToken::from_client(value), Credential::Cookie))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let auth = authenticate(parts, state).await?;
        if auth.session.user.must_change_password {
            return Err(AppError::PasswordChangeRequired);
        }
        Ok(auth)
    }
}

/// A logged-in user who may still have to change a one-time password: only the password change
/// itself takes this extractor; every other route refuses such a session.
#[derive(Clone, Debug)]
pub struct MayChangePassword(pub Authenticated);

impl FromRequestParts<AppState> for MayChangePassword {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        authenticate(parts, state).await.map(Self)
    }
}

/// CSRF protection for a cookie-authenticated write: its `Origin` must be ours (browsers send it
/// on every POST, PUT and DELETE; a missing one is refused), and when the browser also says
/// `Sec-Fetch-Site`, that must be `same-origin`. The cookie is `SameSite=Strict` besides, so a
/// cross-site request carries no cookie in current browsers at all.
pub fn same_origin_write(headers: &HeaderMap, config: &crate::Config) -> bool {
    let fetch_site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| site == "same-origin");
    fetch_site_ok && origin_allowed(headers, config) == Some(true)
}

/// Finds the live session a request presents; cookie-authenticated writes must come from our
/// own origin.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Authenticated, AppError> {
    let (token, credential) = token_from(&parts.headers).ok_or(AppError::Unauthenticated)?;
    let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if credential == Credential::Cookie
        && writes
        && !same_origin_write(&parts.headers, &state.config)
    {
        return Err(AppError::ForeignOrigin);
    }
    let session = state
        .db
        .call(move |conn| -> Result<_, AppError> { Ok(Session::find(conn, &token)?) })
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(Authenticated {
        session,
        credential,
    })
}

/// `GET /api/me`: who is logged in.
pub async fn me(auth: Authenticated) -> Json<User> {
    Json(auth.session.user)
}

/// `POST /api/logout`: ends this session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    auth: Authenticated,
) -> Result<Response, AppError> {
    if let Some((token, _)) = token_from(&headers) {
        state
            .db
            .call(move |conn| -> Result<_, AppError> { Ok(Session::end(conn, &token)?) })
            .await?;
    }
    state.sync.revoke(crate::sync::Revocation::Device(
        auth.session.device_id.clone(),
    ));
    audit::record_or_log(
        &state.db,
        AuditEvent::new(Action::Logout)
            .user(&auth.session.user.id)
            .device(&auth.session.device_id),
    )
    .await;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&clear).map_err(|_| AppError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// `POST /api/password` body.
#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/password`: changes the password after checking the current one.
pub async fn change_password(
    State(state): State<AppState>,
    MayChangePassword(auth): MayChangePassword,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let user_id = auth.session.user.id.clone();
    let device_id = auth.session.device_id.clone();
    let login = auth.session.user.login.clone();
    let changed = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let Some((_, hash)) = User::find_for_login(conn, &login)? else {
                return Ok(false);
            };
            if !verify_password(&change.current, &hash)? {
                return Ok(false);
            }
            User::set_password(conn, &user_id, &change.new)?;
            let event = AuditEvent::new(Action::PasswordChanged)
                .user(&user_id)
                .device(&device_id);
            audit::append(conn, &event)?;
            Ok(true)
        })
        .await?;
    if changed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::BadCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_wins_over_a_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; nimo_session=cookie"),
        );
        let (_, credential) = token_from(&headers).expect("cookie found");
        assert_eq!(credential, Credential::Cookie);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer token"),
        );
        let (token, credential) = token_from(&headers).expect("bearer found");
        assert_eq!(credential, Credential::Bearer);
        assert_eq!(token.reveal(), "token");
    }
}
