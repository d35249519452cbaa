//! Who is using this device: login, and the stored session that lets the app start offline.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use super::driver::{self, log_warn};
use super::lock;
use super::{KV, net, signals};
use crate::store::{self, Kv};

/// The logged-in user, as `POST /api/login` returned them; kept in IndexedDB so a reload
/// offline still knows who is using the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The user.
    pub user: UserInfo,
    /// The server's id for this device's session.
    pub device_id: String,
}

/// The fields of the server's user the app uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Random id.
    pub id: String,
    /// Login name.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// `trainer`, `visitor`, `office`, `admin`.
    pub role: String,
    /// Their team, if any.
    #[serde(default)]
    pub team_id: Option<String>,
}

impl UserInfo {
    /// Whose device this is, as the login page and a refused login say it.
    pub fn as_device_holder(&self) -> String {
        format!(
            "この端末は{}さん（{}）が使っています。",
            self.display_name, self.login
        )
    }
}

const SESSION_KEY: &str = "session";

/// Opens the local database and reads the stored session; starts sync if someone is logged in.
pub async fn boot() {
    let signals = signals();
    let db = match store::idb::open(store::DATABASE).await {
        Ok(db) => db,
        Err(error) => {
            web_sys::console::error_1(&JsValue::from_str(&error.to_string()));
            signals.ready.set(true);
            return;
        }
    };
    let kv = Kv::new(db.clone());
    KV.with(|cell| *cell.borrow_mut() = Some(kv.clone()));
    let session: Option<SessionInfo> = kv.get(SESSION_KEY).await.unwrap_or_else(|error| {
        log_warn(&error.to_string());
        None
    });
    if let Some(session) = &session {
        lock::open_for(&session.user.role, &session.user.id, db, kv).await;
    }
    signals.session.set(session);
    signals.ready.set(true);
}

/// Where a login stands after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Logged in.
    Done,
    /// The server asks for the second factor (visitor, office, admin).
    SecondFactor {
        /// The pending login's challenge.
        challenge: String,
        /// No authenticator enrolled yet: enrol first.
        enrol: bool,
        /// The server's Japanese instruction.
        message: String,
    },
}

/// What an authenticator app needs to enrol.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

#[derive(Deserialize)]
struct SecondFactorNeeded {
    code: String,
    #[serde(default)]
    error: String,
    challenge: String,
}

/// The refusal of a login on a device that keeps `holder`'s records.
fn held_by(holder: &SessionInfo) -> net::NetError {
    net::NetError::Refused(format!(
        "{}「別の人が使う」で引き継ぐか、{}さんがログインして同期し、ログアウトしてから使ってください。",
        holder.user.as_device_holder(),
        holder.user.display_name
    ))
}

/// Logs in with the password; either done, or the second factor is asked for.
pub async fn login(login: String, password: String) -> Result<LoginStep, net::NetError> {
    #[derive(Serialize)]
    struct Login {
        login: String,
        password: String,
        /// The server refuses anyone else before starting a session, so the holder's session
        /// cookie is not replaced by a refused one.
        #[serde(skip_serializing_if = "Option::is_none")]
        device_holder: Option<String>,
    }
    let holder = signals().session.get_untracked();
    let request = Login {
        login,
        password,
        device_holder: holder.as_ref().map(|kept| kept.user.id.clone()),
    };
    match net::post_json::<_, SessionInfo>("/api/login", &request).await {
        Ok(session) => {
            keep_session(session).await?;
            Ok(LoginStep::Done)
        }
        Err(error) if error.code().as_deref() == Some("device_held") => {
            Err(holder.as_ref().map_or(error, held_by))
        }
        Err(net::NetError::Status(401, body)) => {
            match serde_json::from_str::<SecondFactorNeeded>(&body) {
                Ok(needed)
                    if needed.code == "mfa_required" || needed.code == "mfa_enrolment_required" =>
                {
                    Ok(LoginStep::SecondFactor {
                        enrol: needed.code == "mfa_enrolment_required",
                        challenge: needed.challenge,
                        message: needed.error,
                    })
                }
                _ => Err(net::NetError::Status(401, body)),
            }
        }
        Err(error) => Err(error),
    }
}

/// Starts enrolling an authenticator app for a pending login.
pub async fn enrol_second_factor(challenge: String) -> Result<Enrolment, net::NetError> {
    net::post_json(
        "/api/login/mfa/enrol",
        &serde_json::json!({ "challenge": challenge }),
    )
    .await
}

/// Finishes a pending login with a 6-digit code (or a recovery code); returns the recovery
/// codes when this code confirmed a new enrolment.
pub async fn finish_second_factor(
    challenge: String,
    code: String,
) -> Result<Vec<String>, net::NetError> {
    #[derive(Deserialize)]
    struct Started {
        #[serde(flatten)]
        session: SessionInfo,
        #[serde(default)]
        recovery_codes: Vec<String>,
    }
    let code = code.trim().replace(' ', "");
    let body = if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        serde_json::json!({ "challenge": challenge, "code": code })
    } else {
        serde_json::json!({ "challenge": challenge, "recovery_code": code })
    };
    let started: Started = net::post_json("/api/login/mfa", &body).await?;
    keep_session(started.session).await?;
    Ok(started.recovery_codes)
}

/// Stores the session on the device and starts sync (after the PIN on a sealing device).
///
/// Refused (and the new server session ended) when the device holds another person's session:
/// their records, and perhaps changes only here, are in this device's database, which one
/// person uses at a time. They log in, sync and log out first (logging out deletes the local
/// copy), or, once everything is stored on the server, the device is handed over
/// ([`super::hand_over`]).
async fn keep_session(session: SessionInfo) -> Result<(), net::NetError> {
    if let Some(holder) = signals()
        .session
        .get_untracked()
        .filter(|kept| kept.user.id != session.user.id)
    {
        if let Err(error) = net::post_json_unit("/api/logout", &serde_json::json!({})).await {
            log_warn(&format!(
                "login: the refused session was not ended: {error}"
            ));
        }
        return Err(held_by(&holder));
    }
    // The page's one connection, opened at boot; a second one would keep the database from
    // being deleted at logout until the page closed.
    let kv = match KV.with(|cell| cell.borrow().clone()) {
        Some(kv) => kv,
        None => Kv::new(
            store::idb::open(store::DATABASE)
                .await
                .map_err(|e| net::NetError::BadAnswer(e.to_string()))?,
        ),
    };
    let db = kv.database();
    kv.put(SESSION_KEY, &session)
        .await
        .map_err(|e| net::NetError::BadAnswer(e.to_string()))?;
    if !driver::started() {
        lock::open_for(&session.user.role, &session.user.id, db, kv).await;
    }
    signals().session.set(Some(session));
    signals().session_expired.set(false);
    Ok(())
}
