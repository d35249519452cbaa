//! Logging out of a device. Logging out removes this device's copy of the records, so it is
//! refused while any change exists only here (or is not yet on disk): the person is told to sync
//! first. It also needs the server, to end the session there; offline it is refused too.

use leptos::prelude::*;

use super::driver::with_driver;
use super::{KV, net, signals};
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
