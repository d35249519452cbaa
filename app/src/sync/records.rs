//! Creating and changing a record's document on this device, whatever its kind: the steps every
//! record module (training sessions, visit cases) shares.

use leptos::prelude::*;
use nimo_shared::doc::{self, Record};
use nimo_shared::sync::DocumentId;
use nimo_shared::{Timestamp, UserId};

use super::driver::{REGISTER_PREFIX, now_ms, run, run_local, with_driver};
use super::{connection, signals, writes};

/// The clock for the state machine and for the record's own timestamps.
pub(super) fn at_now() -> (u64, Timestamp) {
    let now = now_ms();
    (
        now,
        Timestamp::from_unix_millis(i64::try_from(now).unwrap_or(i64::MAX)),
    )
}

/// The logged-in user's id.
pub(super) fn me() -> Option<UserId> {
    signals()
        .session
        .get_untracked()
        .and_then(|s| s.user.id.parse().ok())
}

/// Creates a record's document. Its first frames are held until the server knows it: it is
/// registered (`POST /api/docs`) before it syncs, now if online, else at the next connection.
pub(super) fn create_record<R: Record>(record: &R) -> Result<DocumentId, String> {
    record.validate().map_err(|e| e.to_string())?;
    let (now, at) = at_now();
    let kind = R::KIND.code();
    let created = with_driver(|d| {
        let actor = d.config.actor.clone();
        let (doc_id, result, effects) = d.client.create(now, &mut d.rng, |document| {
            doc::create(record, actor, at)
                .map(|created| *document = created)
                .map_err(|e| e.message_ja())
        });
        if result.is_ok() {
            d.registering += 1;
            d.unregistered.insert(doc_id, kind.to_owned());
        }
        (doc_id, result, effects)
    });
    let Some((doc_id, result, effects)) = created else {
        return Err("同期の準備ができていません。".to_owned());
    };
    if result.is_ok() {
        // Queued before the first chunk, so a reload finds the registration still to do.
        writes::enqueue_value(format!("{REGISTER_PREFIX}{doc_id}"), &kind.to_owned());
    }
    run(effects);
    result?;
    wasm_bindgen_futures::spawn_local(connection::register_new(doc_id, kind));
    Ok(doc_id)
}

/// Changes a document on this device with `edit` (one Automerge change) and carries out what
/// the state machine answers (persist, sync).
pub(super) fn change_record(
    doc_id: DocumentId,
    edit: impl FnOnce(&mut automerge::Automerge, Timestamp) -> Result<(), String>,
) -> Result<(), String> {
    let (now, at) = at_now();
    let changed = with_driver(|d| d.client.change(now, doc_id, |document| edit(document, at)))
        .ok_or_else(|| "同期の準備ができていません。".to_owned())?;
    let (result, effects) = changed.map_err(|e| e.to_string())?;
    run_local(effects);
    result
}
