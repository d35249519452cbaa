//! The app as an installed PWA: the service worker's registration and updates, and persistent
//! storage.
//!
//! A new version's worker installs in the background and then waits. The page shows "update
//! ready" and lets the person apply it only when [`may_lose_changes`] is false; applying sends
//! `skip-waiting` to the waiting worker and reloads once it has taken over.
//!
//! [`may_lose_changes`]: crate::sync::Signals::may_lose_changes

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RegistrationOptions, ServiceWorkerRegistration, ServiceWorkerState};

use crate::sync;

/// What the UI shows about the installed app.
#[derive(Debug, Clone, Copy)]
pub struct PwaSignals {
    /// A new version is installed and waiting.
    pub update_ready: RwSignal<bool>,
    /// Whether the browser granted persistent storage (`None` until it answered).
    pub persisted: RwSignal<Option<bool>>,
}

thread_local! {
    static SIGNALS: PwaSignals = PwaSignals {
        update_ready: RwSignal::new(false),
        persisted: RwSignal::new(None),
    };
    static REGISTRATION: RefCell<Option<ServiceWorkerRegistration>> = const { RefCell::new(None) };
    static RELOAD_ON_TAKEOVER: Cell<bool> = const { Cell::new(false) };
}

/// The UI's signals.
pub fn signals() -> PwaSignals {
    SIGNALS.with(|s| *s)
}

fn warn(context: &str, error: &JsValue) {
    web_sys::console::warn_1(&JsValue::from_str(&format!(
        "pwa: {context}: {}",
        crate::store::idb::describe(error)
    )));
}

/// Registers the service worker and asks for persistent storage (call once).
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(error) = register().await {
            warn("service worker", &error);
        }
    });
    wasm_bindgen_futures::spawn_local(async {
        if let Err(error) = request_persistence().await {
            warn("persistent storage", &error);
        }
    });
}

async fn register() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    // Absent outside a secure context (plain http to another host).
    if !js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker"))? {
        return Ok(());
    }
    let container = navigator.service_worker();
    let options = RegistrationOptions::new();
    options.set_type("module");
    let registration: ServiceWorkerRegistration =
        JsFuture::from(container.register_with_options("/sw.js", &options))
            .await?
            .dyn_into()?;
    let controlled = container.controller().is_some();
    if controlled && registration.waiting().is_some() {
        signals().update_ready.set(true);
    }
    let watched = registration.clone();
    let on_update_found = Closure::<dyn FnMut()>::new(move || {
        let Some(installing) = watched.installing() else {
            return;
        };
        let worker = installing.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            let has_controller = web_sys::window()
                .map(|w| w.navigator().service_worker().controller().is_some())
                .unwrap_or(false);
            // Without a controller this is the first install, which takes over by itself.
            if worker.state() == ServiceWorkerState::Installed && has_controller {
                signals().update_ready.set(true);
            }
        });
        installing.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
        on_state.forget();
    });
    registration.set_onupdatefound(Some(on_update_found.as_ref().unchecked_ref()));
    on_update_found.forget();
    let on_takeover = Closure::<dyn FnMut()>::new(|| {
        if RELOAD_ON_TAKEOVER.with(Cell::get)
            && let Some(window) = web_sys::window()
        {
            let _ = window.location().reload();
        }
    });
    container.set_oncontrollerchange(Some(on_takeover.as_ref().unchecked_ref()));
    on_takeover.forget();
    REGISTRATION.with(|cell| *cell.borrow_mut() = Some(registration));
    Ok(())
}

async fn request_persistence() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let storage = window.navigator().storage();
    let already = JsFuture::from(storage.persisted()?).await?.as_bool() == Some(true);
    let granted = already || JsFuture::from(storage.persist()?).await?.as_bool() == Some(true);
    signals().persisted.set(Some(granted));
    Ok(())
}

/// Lets the waiting version take over, then reloads into it. Refused while a change could be
/// lost by the reload.
pub fn apply_update() -> Result<(), String> {
    if sync::signals().may_lose_changes() {
        return Err("未送信の変更があります。同期が終わってから更新してください。".to_owned());
    }
    let waiting = REGISTRATION
        .with(|cell| {
            cell.borrow()
                .as_ref()
                .and_then(ServiceWorkerRegistration::waiting)
        })
        .ok_or_else(|| "更新が見つかりません。".to_owned())?;
    RELOAD_ON_TAKEOVER.with(|flag| flag.set(true));
    waiting
        .post_message(&JsValue::from_str("skip-waiting"))
        .map_err(|e| crate::store::idb::describe(&e))
}
