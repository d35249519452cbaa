//! A check of each incoming sync frame before samod sees it: does its automerge sync message
//! make automerge panic?
//!
//! automerge 0.12 panics on some malformed sync messages instead of returning an error: an
//! `unwrap` in hexane's bundle decoder on a bad change chunk
//! (`fuzz/regressions/document_load/bundle-delta-eof`), and a division by zero when answering a
//! message whose bloom filter has no bits (`fuzz/regressions/sync_message/bloom-zero-bits`).
//! In samod such a panic kills the document's actor, and the document stops syncing for everyone
//! (`tests/tests/hostile_sync_message.rs`). So the message is first received into an empty
//! document holding one change, and answered, under `catch_unwind`, as samod would; a panic there rejects the frame
//! and closes its connection.
//! Frames that do not decode are left to samod, which already closes their connection.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use automerge::sync::{self, SyncDoc as _};
use automerge::transaction::Transactable as _;
use nimo_shared::sync::Message;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameRejected {
    /// Receiving its sync message panics automerge.
    #[error("its automerge sync message makes automerge panic")]
    Panics,
}

/// Accepts every frame except a `sync` or `request` whose automerge sync message panics
/// automerge when received.
pub fn check(frame: &[u8]) -> Result<(), FrameRejected> {
    let data = match Message::decode(frame) {
        Ok(Message::Sync { data, .. } | Message::Request { data, .. }) => data,
        _ => return Ok(()),
    };
    let received = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(message) = sync::Message::decode(&data) {
            // One change of its own, so answering consults the message's bloom filters as it
            // does for a real document.
            let mut doc = Automerge::new();
            let _ = doc.transact(|tx| tx.put(automerge::ROOT, "probe", 0_i64).map(|_| ()));
            let mut state = sync::State::new();
            let _ = doc.generate_sync_message(&mut state);
            let _ = doc.receive_sync_message(&mut state, message);
            let _ = doc.generate_sync_message(&mut state);
        }
    }));
    received.map_err(|_| FrameRejected::Panics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimo_shared::sync::{DocumentId, PeerId};

    fn sync_frame(data: Vec<u8>) -> Vec<u8> {
        Message::Sync {
            document_id: DocumentId::from_random_bytes([1; 16]),
            sender_id: PeerId::from("a".to_owned()),
            target_id: PeerId::from("b".to_owned()),
            data,
        }
        .encode()
    }

    #[test]
    fn a_real_sync_message_passes() {
        let mut doc = Automerge::new();
        doc.transact(|tx| tx.put(automerge::ROOT, "title", "研修").map(|_| ()))
            .expect("a put commits");
        let message = doc
            .generate_sync_message(&mut sync::State::new())
            .expect("something to send");
        assert_eq!(check(&sync_frame(message.encode())), Ok(()));
    }

    #[test]
    fn a_message_with_the_fuzzers_change_is_rejected() {
        let change = include_bytes!("../../../fuzz/regressions/document_load/bundle-delta-eof");
        let mut data = vec![0x42, 0, 0, 0, 1, change.len() as u8];
        data.extend_from_slice(change);
        assert_eq!(check(&sync_frame(data)), Err(FrameRejected::Panics));
    }

    #[test]
    fn a_message_with_an_empty_bloom_filter_is_rejected() {
        let data = include_bytes!("../../../fuzz/regressions/sync_message/bloom-zero-bits");
        assert_eq!(
            check(&sync_frame(data.to_vec())),
            Err(FrameRejected::Panics)
        );
    }

    #[test]
    fn frames_that_are_not_sync_messages_are_left_to_samod() {
        assert_eq!(check(&[0xff, 0x00]), Ok(()));
    }
}
