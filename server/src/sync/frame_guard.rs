//! A check of each incoming sync frame before samod sees it: would decoding its automerge sync
//! message cost more than it may, or make automerge panic?
//!
//! automerge 0.12 trusts the sizes a chunk declares: a few bytes can ask it for gigabytes (a
//! run-length column of four billion values, a deflate bomb). The chunks of the message are
//! first measured by [`nimo_shared::sync::chunk_bounds`], which never allocates past its bounds;
//! a message over them is refused before anything decodes it, including the probe below.
//!
//! automerge 0.12 panics on some malformed sync messages instead of returning an error: an
//! `unwrap` in hexane's bundle decoder on a bad change chunk
//! (`fuzz/regressions/document_load/bundle-delta-eof`), and a division by zero when answering a
//! message whose bloom filter has no bits (`fuzz/regressions/sync_message/bloom-zero-bits`).
//! Its bloom filters are checked by [`nimo_shared::sync::bloom_guard`] first: answering trusts
//! the probes a filter declares (four billion took 18 s per change).
//! In samod such a panic kills the document's actor, and the document stops syncing for everyone
//! (`tests/tests/hostile_sync_message.rs`). So, under `catch_unwind`, every change the message
//! carries is decoded on its own, as receiving it would (each operation of each change), and the
//! message without its changes is answered by a document holding one change, as samod would; a
//! panic there rejects the frame and closes its connection.
//!
//! The changes are decoded, not applied: applying them to a throwaway document cost more than
//! samod's own handling of the message (finding 14 in BENCH-RESULTS.md), and it never
//! reproduced the document they are applied to (changes whose dependencies it lacked were only
//! queued), so it could not catch a panic that depends on the document. The one such panic
//! known (a change naming an actor the document does not know) is checked against the document
//! itself by `actor_guard`, with the changes decoded here; the rest of automerge's apply is
//! left to the fuzzer (`fuzz/fuzz_targets/sync_message.rs` applies every message it makes up).
//! A saved document is decoded by loading it, which is reconstructing it from its columns.
//!
//! Frames that do not decode are left to samod, which already closes their connection.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{self, ChunkList, SyncDoc as _};
use automerge::transaction::Transactable as _;
use automerge::{Automerge, Change, LoadOptions, OnPartialLoad, VerificationMode};
use nimo_shared::sync::chunk_bounds::{self, ChunkType};
use nimo_shared::sync::{BloomRefused, ChunkBounds, ChunkRefused, Message};

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameRejected {
    /// Receiving its sync message panics automerge.
    #[error("its automerge sync message makes automerge panic")]
    Panics,
    /// Decoding its changes would cost more than [`ChunkBounds::default`] allows.
    #[error("decoding its automerge sync message would cost too much: {0}")]
    TooCostly(#[from] ChunkRefused),
    /// Answering it would probe its bloom filters more than automerge's own filters ask, or
    /// divide by zero ([`nimo_shared::sync::bloom_guard`]).
    #[error("answering its automerge sync message would cost too much: {0}")]
    HostileFilter(#[from] BloomRefused),
    /// Applying its changes would make automerge look up an actor the document does not know
    /// ([`super::actor_guard`]).
    #[error("its changes name an actor the document does not know: {0}")]
    UnknownActor(#[from] super::actor_guard::watch::ActorRefused),
}

/// Accepts every frame except a `sync` or `request` whose automerge sync message costs too
/// much to decode or panics automerge when received.
pub fn check(frame: &[u8]) -> Result<(), FrameRejected> {
    check_message(Message::decode(frame).ok().as_ref()).map(drop)
}

/// The part of [`check_message`] every frame gets as it arrives, before anything decodes its
/// changes: refuses a `sync` or `request` whose changes would cost too much to decode or whose
/// bloom filters too much to answer. The rest, receiving it on a probe, is for frames bound for
/// samod ([`super::shard_gate`]); a cold exchange receives the message itself, where a panic
/// harms nothing but its own copy of the document ([`super::cold_read`]).
pub fn check_costs(message: Option<&Message>) -> Result<(), FrameRejected> {
    affordable(message).map(drop)
}

/// A `sync` or `request` message's automerge sync message and its changes' bytes, once they
/// passed the cost checks; `None` for other frames and for messages that do not decode.
fn affordable(
    message: Option<&Message>,
) -> Result<Option<(sync::Message, Vec<u8>)>, FrameRejected> {
    let data = match message {
        Some(Message::Sync { data, .. } | Message::Request { data, .. }) => data,
        _ => return Ok(None),
    };
    let decoded =
        catch_unwind(|| sync::Message::decode(data)).map_err(|_| FrameRejected::Panics)?;
    let Ok(message) = decoded else {
        return Ok(None);
    };
    // automerge loads the chunks of a message as one input (they are concatenated).
    let changes: Vec<u8> = message.changes.iter().flatten().copied().collect();
    chunk_bounds::check(&changes, &ChunkBounds::default())?;
    // Before the probe below, which would spend whatever probing a hostile filter asks for.
    nimo_shared::sync::bloom_guard::check(&message)?;
    Ok(Some((message, changes)))
}

/// [`check`] for a frame already decoded (`None`: it does not decode). Returns the changes the
/// message carries, decoded (those of a saved document in it included), for
/// [`super::actor_guard`], which needs the document they are for.
pub fn check_message(message: Option<&Message>) -> Result<Vec<Change>, FrameRejected> {
    let Some((message, changes)) = affordable(message)? else {
        return Ok(Vec::new());
    };
    let (chunks, rest) = chunk_bounds::split(&changes);
    let received = catch_unwind(AssertUnwindSafe(|| {
        let changes: Vec<Change> = chunks
            .iter()
            .flat_map(|(kind, chunk)| decode(*kind, chunk))
            .collect();
        if !rest.is_empty() {
            // What automerge makes of bytes that are not a whole chunk of a type it knows.
            let _ = automerge::Change::try_from(rest);
        }
        let mut message = message;
        message.changes = ChunkList::from(Vec::<Vec<u8>>::new());
        // A message without changes leaves the document as it was, so the probe is reused; a
        // panic drops it (it is put back only after answering).
        let mut doc = PROBE.take().unwrap_or_else(probe_document);
        let mut state = sync::State::new();
        let _ = doc.generate_sync_message(&mut state);
        let _ = doc.receive_sync_message(&mut state, message);
        let _ = doc.generate_sync_message(&mut state);
        PROBE.set(Some(doc));
        changes
    }));
    received.map_err(|_| FrameRejected::Panics)
}

thread_local! {
    /// This thread's probe document. Building one per frame (a transaction, a random actor)
    /// was ~7% of the server's CPU in the ingest bench, more than the rest of the check.
    static PROBE: Cell<Option<Automerge>> = const { Cell::new(None) };
}

/// A document holding one change of its own, so answering a message consults its bloom
/// filters as it does for a real document.
fn probe_document() -> Automerge {
    let mut doc = Automerge::new();
    let _ = doc.transact(|tx| tx.put(automerge::ROOT, "probe", 0_i64).map(|_| ()));
    doc
}

/// Decodes one received chunk as receiving it would, every operation included, into its
/// changes (none if automerge refuses it: the refusal is automerge's to report, a panic is
/// what the caller watches for).
fn decode(kind: ChunkType, chunk: &[u8]) -> Vec<Change> {
    match kind {
        // Decoding a saved document is reconstructing it: its columns hold the operations, and
        // the changes are rebuilt from them.
        ChunkType::Document => Automerge::load_with_options(
            chunk,
            LoadOptions::new()
                .on_partial_load(OnPartialLoad::Error)
                .verification_mode(VerificationMode::Check),
        )
        .map(|doc| doc.get_changes(&[]))
        .unwrap_or_default(),
        // Changes (bundles were refused by the bounds; a type automerge does not know ends the
        // split).
        _ => Change::try_from(chunk)
            .map(|change| vec![change])
            .unwrap_or_default(),
    }
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

    /// A V1 sync message with no heads, needs or haves, carrying one chunk (under 128 bytes).
    fn message_carrying(chunk: &[u8]) -> Vec<u8> {
        let mut data = vec![
            0x42,
            0,
            0,
            0,
            1,
            u8::try_from(chunk.len()).expect("a short chunk"),
        ];
        data.extend_from_slice(chunk);
        data
    }

    /// A document of one change.
    fn titled_document() -> Automerge {
        let mut doc = Automerge::new();
        doc.transact(|tx| tx.put(automerge::ROOT, "title", "研修").map(|_| ()))
            .expect("a put commits");
        doc
    }

    #[test]
    fn a_real_sync_message_passes() {
        let doc = titled_document();
        let message = doc
            .generate_sync_message(&mut sync::State::new())
            .expect("something to send");
        assert_eq!(check(&sync_frame(message.encode())), Ok(()));
    }

    /// A V2 message carrying a whole saved document of one change.
    fn whole_document_message() -> sync::Message {
        let doc = titled_document();
        sync::Message {
            heads: doc.get_heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: ChunkList::from(doc.save()),
            flags: None,
            version: sync::MessageVersion::V2,
        }
    }

    #[test]
    fn a_message_carrying_a_whole_saved_document_passes() {
        let message = whole_document_message();
        assert_eq!(check(&sync_frame(message.encode())), Ok(()));
    }

    #[test]
    fn the_probe_is_reused_unchanged_by_the_messages_it_answers() {
        let frame = sync_frame(whole_document_message().encode());
        assert_eq!(check(&frame), Ok(()));
        assert_eq!(check(&frame), Ok(()));
        let probe = PROBE
            .take()
            .expect("the probe is kept once a message is answered");
        assert_eq!(probe.get_changes(&[]).len(), 1);
        assert!(
            automerge::ReadDoc::get(&probe, automerge::ROOT, "title")
                .expect("a readable root")
                .is_none()
        );
    }

    #[test]
    fn a_change_whose_operations_do_not_decode_is_left_to_automerges_error() {
        let doc = titled_document();
        let mut change = doc.get_changes(&[])[0].raw_bytes().to_vec();
        let last = change.len() - 1;
        change[last] ^= 0xff;
        assert!(automerge::Change::try_from(change.as_slice()).is_err());
        assert_eq!(check(&sync_frame(message_carrying(&change))), Ok(()));
    }

    #[test]
    fn a_message_with_the_fuzzers_panicking_bundle_is_rejected() {
        // This bundle panics hexane's decoder; the bounds refuse bundles before the probe.
        let bundle = include_bytes!("../../../fuzz/regressions/document_load/bundle-delta-eof");
        assert_eq!(
            check(&sync_frame(message_carrying(bundle))),
            Err(FrameRejected::TooCostly(ChunkRefused::Bundle))
        );
    }

    #[test]
    fn a_message_with_an_empty_bloom_filter_is_rejected_before_it_panics_automerge() {
        let data = include_bytes!("../../../fuzz/regressions/sync_message/bloom-zero-bits");
        assert!(matches!(
            check(&sync_frame(data.to_vec())),
            Err(FrameRejected::HostileFilter(BloomRefused::NoBits { .. }))
        ));
    }

    #[test]
    fn a_message_carrying_the_fuzzers_huge_bundle_is_refused_before_anything_decodes_it() {
        let bundle = include_bytes!("../../../fuzz/regressions/document_load/bundle-huge-run");
        assert_eq!(
            check(&sync_frame(message_carrying(bundle))),
            Err(FrameRejected::TooCostly(ChunkRefused::Bundle))
        );
    }

    #[test]
    fn frames_that_are_not_sync_messages_are_left_to_samod() {
        assert_eq!(check(&[0xff, 0x00]), Ok(()));
    }

    #[test]
    fn a_message_whose_filter_asks_for_four_billion_probes_is_refused_unprobed() {
        let data = include_bytes!("../../../fuzz/regressions/sync_message/bloom-huge-probes");
        assert!(matches!(
            check(&sync_frame(data.to_vec())),
            Err(FrameRejected::HostileFilter(_))
        ));
    }
}
