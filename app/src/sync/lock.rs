//! The lock of visitor and office devices: their chunks are sealed
//! ([`SealedChunkStore`](crate::store::SealedChunkStore)) under a data key that is stored only
//! wrapped under the person's PIN ([`nimo_shared::crypto`]). After login the person sets a PIN;
//! after that every app start, an idle spell or the 「ロック」 button asks for it, offline too.
//!
//! The unwrapped key and the opened documents live only in this page's memory. Locking waits
//! until every queued write is on disk (a change is never dropped), then reloads the page,
//! which is the one sure way to drop them from memory.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use nimo_shared::crypto::{self, DataKey, KdfParams, WrappedKey};
use wasm_bindgen::{JsCast as _, closure::Closure};
use web_sys::IdbDatabase;

use super::driver::{self, log_warn};
use super::{rng, signals};
use crate::store::{self, DeviceChunks, IdbChunkStore, Kv, SealedChunkStore};

/// Where the device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Nothing to unlock (trainer device, or nobody logged in), or unlocked.
    Open,
    /// A sealing role logged in for the first time here: a PIN must be chosen.
    NeedsPin,
    /// The PIN is needed to open the documents.
    Locked,
    /// Waiting for the last writes before dropping the key.
    Locking,
}

/// The kv key of the wrapped data key.
const WRAPPED_KEY: &str = "data-key";
/// Idle time after which a sealing device locks itself.
pub const IDLE_LOCK_MS: f64 = 5.0 * 60.0 * 1000.0;
/// How often idleness is checked.
const IDLE_CHECK_MS: i32 = 10_000;

struct Pending {
    db: IdbDatabase,
    kv: Kv,
    user_id: String,
}

thread_local! {
    // Not owned by any component: created lazily inside one, an owned signal would be disposed
    // with it.
    static STATE: ArcRwSignal<LockState> = ArcRwSignal::new(LockState::Open);
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
    static LAST_ACTIVITY: Cell<f64> = const { Cell::new(0.0) };
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

/// The lock state the pages follow.
pub fn lock_state() -> ArcRwSignal<LockState> {
    STATE.with(Clone::clone)
}

/// Whether a role's device keeps its documents sealed (visit data may be on it).
pub fn role_seals(role: &str) -> bool {
    matches!(role, "visitor" | "office" | "admin")
}

/// Starts sync for a logged-in user: at once on a plain device; after the PIN on a sealing one.
pub(super) async fn open_for(role: &str, user_id: &str, db: IdbDatabase, kv: Kv) {
    if !role_seals(role) {
        driver::start(
            DeviceChunks::Plain(IdbChunkStore::new(store::DATABASE, db)),
            kv,
        )
        .await;
        return;
    }
    let wrapped = kv
        .get::<WrappedKey>(WRAPPED_KEY)
        .await
        .unwrap_or_else(|error| {
            log_warn(&format!("lock: cannot read the wrapped key: {error}"));
            None
        });
    PENDING.with(|cell| {
        *cell.borrow_mut() = Some(Pending {
            db,
            kv,
            user_id: user_id.to_owned(),
        })
    });
    lock_state().set(if wrapped.is_some() {
        LockState::Locked
    } else {
        LockState::NeedsPin
    });
}

fn pending() -> Result<(IdbDatabase, Kv, String), String> {
    PENDING
        .with(|cell| {
            cell.borrow()
                .as_ref()
                .map(|p| (p.db.clone(), p.kv.clone(), p.user_id.clone()))
        })
        .ok_or_else(|| "ログインしてください。".to_owned())
}

/// Chooses the PIN on this device: a fresh data key, stored only wrapped under it.
pub async fn set_pin(pin: String) -> Result<(), String> {
    crypto::check_new_pin(&pin).map_err(|e| e.message_ja())?;
    let (db, kv, user_id) = pending()?;
    // Let the page show that work is under way: the derivation holds the thread ~1 s.
    driver::sleep(30).await;
    let key = DataKey::from_random_bytes(rng::random_bytes());
    let wrapped = crypto::wrap_key(
        &key,
        &pin,
        &user_id,
        KdfParams::DEVICE,
        rng::random_bytes(),
        rng::random_bytes(),
    )
    .map_err(|e| e.message_ja())?;
    kv.put(WRAPPED_KEY, &wrapped)
        .await
        .map_err(|e| format!("PINを保存できません: {e}"))?;
    open_with(db, kv, key).await;
    Ok(())
}

/// Unlocks with the PIN.
pub async fn unlock(pin: String) -> Result<(), String> {
    let (db, kv, user_id) = pending()?;
    let wrapped: WrappedKey = kv
        .get(WRAPPED_KEY)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "この端末にはPINが設定されていません。".to_owned())?;
    driver::sleep(30).await;
    let key = crypto::unwrap_key(&wrapped, &pin, &user_id).map_err(|e| e.message_ja())?;
    open_with(db, kv, key).await;
    Ok(())
}

async fn open_with(db: IdbDatabase, kv: Kv, key: DataKey) {
    let chunks = SealedChunkStore::new(IdbChunkStore::new(store::DATABASE, db), key);
    if !driver::started() {
        driver::start(DeviceChunks::Sealed(chunks), kv).await;
    }
    touch();
    watch_idle();
    lock_state().set(LockState::Open);
}

/// Locks now: waits for queued writes, then drops the key and the documents with the page.
pub fn lock_now() {
    if lock_state().get_untracked() != LockState::Open || !driver::started() {
        return;
    }
    lock_state().set(LockState::Locking);
    wasm_bindgen_futures::spawn_local(async {
        while signals().pending_writes.get_untracked() > 0 {
            driver::sleep(100).await;
        }
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    });
}

fn touch() {
    LAST_ACTIVITY.with(|c| c.set(js_sys::Date::now()));
}

/// Locks a sealing device after [`IDLE_LOCK_MS`] without a tap or key press.
fn watch_idle() {
    if WATCHING.with(|w| w.replace(true)) {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let activity = Closure::<dyn FnMut()>::new(touch);
    for event in ["pointerdown", "keydown", "input"] {
        let _ = window.add_event_listener_with_callback(event, activity.as_ref().unchecked_ref());
    }
    activity.forget();
    let check = Closure::<dyn FnMut()>::new(|| {
        let idle = js_sys::Date::now() - LAST_ACTIVITY.with(Cell::get);
        if idle > IDLE_LOCK_MS {
            lock_now();
        }
    });
    let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
        check.as_ref().unchecked_ref(),
        IDLE_CHECK_MS,
    );
    check.forget();
}
