//! Logging out of a device, and handing it to another person. Both remove this device's copy of
//! the records, so both are refused until every change is confirmed stored on the server: a
//! change the server acknowledged but has not confirmed may still be only in its memory, and a
//! device never drops what the server has not confirmed. Logging out needs the server, to end
//! the session there; offline it is refused too, and it waits a little for a confirmation on its
//! way. Handing over does not need the server: it is for a device whose person left without
//! logging out (their session ended on the server), so nobody could sync its changes after.

use std::collections::BTreeMap;

use leptos::prelude::*;
use nimo_shared::sync::DocStatus;

use super::driver::{log_warn, with_driver};
use super::{KV, lock, net, signals};
use crate::store;

/// How long logging out waits for the server to confirm changes it already acknowledged
/// (the confirmation follows the acknowledgement within a second or two when connected).
const CONFIRMATION_WAIT_MS: u64 = 10_000;

/// Ends the session on the server, deletes this device's database and opens the login page.
pub async fn logout() -> Result<(), String> {
    let signals = signals();
    if signals.may_lose_changes() || signals.refused.with(|refused| !refused.is_empty()) {
        return Err(
            "この端末にしかない変更があります。同期が終わってからログアウトしてください。"
                .to_owned(),
        );
    }
    let mut waited = 0;
    while !all_confirmed() {
        if waited % 2_000 == 0 {
            // Asks now, and again if the answer was lost (a failed round is not retried).
            super::driver::schedule_confirm(0);
        }
        if waited >= CONFIRMATION_WAIT_MS {
            return Err(
                "サーバーへの保存がまだ確認できていません。電波のある場所で少し待ってから、もう一度ログアウトしてください。"
                    .to_owned(),
            );
        }
        super::driver::sleep(200).await;
        waited += 200;
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
    if !all_confirmed() {
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

/// Whether every change on this device is confirmed stored on the server: nothing waiting for
/// this device's disk, nothing refused, every record's status "stored".
fn all_confirmed() -> bool {
    let signals = signals();
    signals.pending_writes.get_untracked() == 0
        && signals.refused.with_untracked(BTreeMap::is_empty)
        && signals
            .doc_status
            .with_untracked(|statuses| statuses.values().all(|s| *s == DocStatus::Stored))
}

/// Deletes this device's database and opens the login page (a fresh start: nothing of the
/// previous person stays in memory either).
async fn delete_local_copy() -> Result<(), String> {
    with_driver(|d| {
        d.drop_socket();
        d.chunks.close();
    });
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
