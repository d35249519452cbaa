//! Logging out of a device, and handing it to another person. Both remove this device's copy of
//! the records, so both are refused while a change might exist only here. Logging out needs the
//! server, to end the session there; offline it is refused too. Handing over does not: it is
//! for a device whose person left without logging out (their session ended on the server), and
//! it asks more, every change confirmed stored on the server, since nobody can sync it after.

use std::collections::BTreeMap;

use leptos::prelude::*;
use nimo_shared::sync::DocStatus;

use super::driver::{log_warn, with_driver};
use super::{KV, lock, net, signals};
use crate::store;

/// Ends the session on the server, deletes this device's database and opens the login page.
pub async fn logout() -> Result<(), String> {
    let signals = signals();
    if signals.may_lose_changes() || signals.refused.with(|refused| !refused.is_empty()) {
        return Err(
            "この端末にしかない変更があります。同期が終わってからログアウトしてください。"
                .to_owned(),
        );
    }
    net::post_json_unit("/api/logout", &serde_json::json!({}))
        .await
        .map_err(|error| {
            format!(
                "ログアウトできませんでした（{}）。電波のある場所でもう一度お試しください。",
                error.message_ja()
            )
        })?;
    delete_local_copy().await
}

/// Gives this device to another person: deletes the records of the person whose session it
/// keeps and opens the login page. Refused while a sealing device is locked (what it holds
/// cannot be checked) and while any change is not confirmed stored on the server.
pub async fn hand_over() -> Result<(), String> {
    if lock::lock_state().get_untracked() != lock::LockState::Open {
        return Err(
            "この端末はロックされています。使っている人がロックを解除して同期してから、別の人に渡してください。"
                .to_owned(),
        );
    }
    let signals = signals();
    let all_stored = signals.pending_writes.get_untracked() == 0
        && signals.refused.with_untracked(BTreeMap::is_empty)
        && signals
            .doc_status
            .with_untracked(|statuses| statuses.values().all(|s| *s == DocStatus::Stored));
    if !all_stored {
        return Err(
            "サーバーに保存が確認されていない変更があります。使っている人がログインして同期してから、別の人に渡してください。"
                .to_owned(),
        );
    }
    // Ends the previous session if it still lives; one that ended answers 401, which is fine.
    if let Err(error) = net::post_json_unit("/api/logout", &serde_json::json!({})).await {
        log_warn(&format!(
            "hand over: the previous session was not ended: {error}"
        ));
    }
    delete_local_copy().await
}

/// Deletes this device's database and opens the login page (a fresh start: nothing of the
/// previous person stays in memory either).
async fn delete_local_copy() -> Result<(), String> {
    with_driver(|d| d.drop_socket());
    // One connection serves the chunks and the small values; deleting waits until it is closed.
    KV.with(|cell| cell.borrow().as_ref().map(store::Kv::close));
    store::idb::delete_database(store::DATABASE)
        .await
        .map_err(|error| format!("端末のデータを消せませんでした: {error}"))?;
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign("/login");
    }
    Ok(())
}
