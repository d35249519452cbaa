//! An automerge sync message (the payload of every `sync` and `request` frame) decoded, its
//! changes measured by `chunk_bounds` as the server's frame guard does, and, within bounds,
//! received into a document as samod on the server does. Decoding and receiving may fail or be
//! refused; they must not panic, and the document must stay usable.
//!
//! A received message is never encoded again: automerge's encoder asserts (in debug builds) that
//! hash lists are sorted, which the decoder does not check, so re-encoding a hostile message
//! panics in the harness only (regressions/sync_message/unsorted-hashes). What we send is what
//! automerge generates, and that is encoded and decoded here.
#![no_main]

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use libfuzzer_sys::fuzz_target;
use nimo_fuzz::tolerating_upstream;
use nimo_shared::sync::{ChunkBounds, bloom_guard, chunk_bounds};

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = Message::decode(bytes) else {
        return;
    };
    let changes: Vec<u8> = message.changes.iter().flatten().copied().collect();
    if chunk_bounds::check(&changes, &ChunkBounds::default()).is_err() {
        return;
    }
    // As the server's frame guard and the device do: filters automerge would probe without
    // bound are refused first (regressions/sync_message/bloom-huge-probes).
    if bloom_guard::check(&message).is_err() {
        return;
    }
    let mut doc = Automerge::new();
    doc.transact(|tx| tx.put(ROOT, "kind", "training_session").map(|_| ()))
        .expect("a put commits");
    let mut state = State::new();
    let _ = doc.generate_sync_message(&mut state);
    // Known panics inside automerge are tolerated (src/lib.rs); nothing else is.
    let received = tolerating_upstream(|| {
        let received = doc.receive_sync_message(&mut state, message);
        (received, doc.generate_sync_message(&mut state))
    });
    if let Some((Ok(()), answer)) = received {
        if let Some(answer) = answer {
            Message::decode(&answer.encode()).expect("a generated sync message decodes");
        }
        // The document still saves and loads back to the same heads.
        let saved = doc.save();
        let loaded = Automerge::load(&saved).expect("a saved document loads");
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }
});
