//! A check of each incoming sync frame before samod sees it: does its automerge sync message
//! make automerge panic?
//!
//! automerge 0.12 panics (an `unwrap` in hexane's bundle decoder) on some malformed change
//! chunks inside a sync message, instead of returning an error. In samod that panic kills the
//! document's actor, and the document stops syncing for everyone (found by the `document_load`
//! fuzz target; `fuzz/regressions/document_load/bundle-delta-eof`,
//! `tests/tests/hostile_sync_message.rs`). So the message is first received into an empty
//! document under `catch_unwind`; a panic there rejects the frame and closes its connection.
//! Frames that do not decode are left to samod, which already closes their connection.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use automerge::sync::{self, SyncDoc as _};
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
            let mut doc = Automerge::new();
            let mut state = sync::State::new();
            let _ = doc.receive_sync_message(&mut state, message);
        }
    }));
    received.map_err(|_| FrameRejected::Panics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable as _;
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
    fn frames_that_are_not_sync_messages_are_left_to_samod() {
        assert_eq!(check(&[0xff, 0x00]), Ok(()));
    }
}
