//! The wipe of a lost device: when the manifest says an admin asked for it, the device keeps
//! syncing until nothing it holds is unconfirmed (no change only here, no write still queued,
//! no document still to register), then empties its database (documents, session, wrapped key),
//! tells the server, which revokes it, and reloads to the login page. It never drops a note the
//! server has not confirmed stored.

use std::cell::Cell;

use leptos::prelude::*;

use super::driver::{self, log_warn, with_driver};
use super::{net, signals};
use crate::store::{self, idb};

thread_local! {
    static REQUESTED: Cell<bool> = const { Cell::new(false) };
    static WIPING: Cell<bool> = const { Cell::new(false) };
    static RETRY_SET: Cell<bool> = const { Cell::new(false) };
}

/// How often a requested wipe looks again whether everything is stored.
const RETRY_MS: u64 = 1_000;

/// The server asked for the wipe.
pub(super) fn requested() {
    REQUESTED.with(|r| r.set(true));
    try_now();
}

/// Wipes if it was asked for and nothing would be lost; otherwise looks again shortly.
pub(super) fn try_now() {
    if !REQUESTED.with(Cell::get) || WIPING.with(Cell::get) {
        return;
    }
    let safe = with_driver(|d| {
        d.client.unconfirmed_docs().is_empty() && d.unregistered.is_empty() && d.registering == 0
    })
    .unwrap_or(false)
        && signals().pending_writes.get_untracked() == 0;
    if !safe {
        // The last confirmation's own bookkeeping write may still be queued: look again soon.
        if !RETRY_SET.with(|r| r.replace(true)) {
            let _ = driver::set_timeout(RETRY_MS, || {
                RETRY_SET.with(|r| r.set(false));
                try_now();
            });
        }
        return;
    }
    WIPING.with(|w| w.set(true));
    wasm_bindgen_futures::spawn_local(async {
        with_driver(driver::Driver::drop_socket);
        if let Err(error) = empty_database().await {
            log_warn(&format!("wipe: cannot empty the database: {error}"));
            WIPING.with(|w| w.set(false));
            return;
        }
        if let Err(error) = net::post_json_unit("/api/device/wiped", &serde_json::json!({})).await {
            // The data is gone already; the admin can still revoke the device by hand.
            log_warn(&format!("wipe: the server was not told: {error}"));
        }
        if let Some(window) = web_sys::window() {
            let _ = window.location().replace("/login");
        }
    });
}

async fn empty_database() -> Result<(), idb::IdbError> {
    let db = idb::open(store::DATABASE).await?;
    for name in [idb::CHUNKS, idb::KV] {
        let tx = idb::write_strict(&db, name)?;
        tx.object_store(name)?.clear()?;
        idb::transaction_done(&tx).await?;
    }
    db.close();
    Ok(())
}
