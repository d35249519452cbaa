//! Who is using this device: login, and the stored session that lets the app start offline.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use super::driver::{self, log_warn};
use super::{KV, net, signals};
use crate::store::{self, IdbChunkStore, Kv};

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
    if session.is_some() {
        driver::start(IdbChunkStore::new(store::DATABASE, db), kv).await;
    }
    signals.session.set(session);
    signals.ready.set(true);
}

/// Logs in, stores the session on the device, and starts sync.
pub async fn login(login: String, password: String) -> Result<(), net::NetError> {
    #[derive(Serialize)]
    struct Login {
        login: String,
        password: String,
    }
    let session: SessionInfo = net::post_json("/api/login", &Login { login, password }).await?;
    let kv = KV.with(|cell| cell.borrow().clone());
    let db = store::idb::open(store::DATABASE)
        .await
        .map_err(|e| net::NetError::BadAnswer(e.to_string()))?;
    let kv = kv.unwrap_or_else(|| Kv::new(db.clone()));
    kv.put(SESSION_KEY, &session)
        .await
        .map_err(|e| net::NetError::BadAnswer(e.to_string()))?;
    if !driver::started() {
        driver::start(IdbChunkStore::new(store::DATABASE, db), kv).await;
    }
    signals().session.set(Some(session));
    Ok(())
}
