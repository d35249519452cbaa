//! Storage keys agree with automerge-repo's: the same chunk bytes and heads get the same key
//! hashes that the JavaScript implementation computes, so IndexedDB written by this client has
//! exactly the keys the JS automerge-repo would write.
//!
//! Expected values were computed once by `sync_fixtures/generate_js_fixtures.mjs` with
//! automerge-repo 2.5.6's `storage/keyHash.js` (`keyHash`, `headsHash`) over documents saved by
//! @automerge/automerge 3.5.0 (actor `aa…aa`, timestamps 0).

use automerge::{Automerge, ChangeHash};
use nimo_shared::sync::storage_key::{heads_hash, key_hash, samod_compaction_hash};
use nimo_shared::sync::{ChunkKind, DocumentId, StorageKey};

/// `A.save(doc)` after one change `{ name: "Sendai" }`.
const SAVE_1: &str = "856f4a8335a1c738009c010110aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01656e1d751f93681db5825959f7e984227da2c2ef60eaf501f66938289bc02df90701020302130223023502400256020c010402041104130715082102230234024204560457068001027f007f017f077f007f007f007f0700010600000106010002050000017e000204017f046e616d6500060700070101067f0406017f00061653656e646169070000";
/// `keyHash(SAVE_1)`.
const SAVE_1_KEY: &str = "33479b1995edd0db5f9276a0b51bb9b84aff560fbfe254db659bb5c3ca1fb002";
/// `A.getHeads(doc)` after the first change.
const HEADS_1: &str = "656e1d751f93681db5825959f7e984227da2c2ef60eaf501f66938289bc02df9";
/// `headsHash(heads1)`: the snapshot key of SAVE_1.
const HEADS_1_HASH: &str = "880b5027a70246f588f30cc89c8c78f6037ad4001e660961683edb22f9c18779";
/// `A.saveSince(doc, heads1)` after a second change `{ count: 3 }`.
const SINCE: &str = "856f4a83a747758d015301656e1d751f93681db5825959f7e984227da2c2ef60eaf501f66938289bc02df910aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0208000000061507340142025602570170027f05636f756e74017f017f14037f00";
/// `keyHash(SINCE)`: the incremental key of that chunk.
const SINCE_KEY: &str = "5824017a01c640c61109b1c4e1af1d1516c4a8e6a392f03adc440711142d7e1a";
/// `A.getHeads(doc)` after the second change.
const HEADS_2: &str = "a747758d069c8a115450d5a66c1a50669f030f1a89cf219c7ee00733a697b4dd";
/// `headsHash(heads2)`.
const HEADS_2_HASH: &str = "75b88d840acafa7f66a05278eec097912285a9613ec5d27e06574cec1b039881";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture is hex"))
        .collect()
}

fn head(hex: &str) -> ChangeHash {
    hex.parse().expect("fixture is a change hash")
}

#[test]
fn an_incremental_chunk_is_named_by_the_sha256_of_its_bytes_like_automerge_repo() {
    assert_eq!(key_hash(&unhex(SAVE_1)), SAVE_1_KEY);
    assert_eq!(key_hash(&unhex(SINCE)), SINCE_KEY);
}

#[test]
fn a_snapshot_is_named_by_the_hash_of_its_heads_like_automerge_repo() {
    assert_eq!(heads_hash(&[head(HEADS_1)]), HEADS_1_HASH);
    assert_eq!(heads_hash(&[head(HEADS_2)]), HEADS_2_HASH);
}

#[test]
fn chunks_written_by_js_load_in_rust_to_the_same_heads() {
    let mut doc = Automerge::new();
    doc.load_incremental(&unhex(SAVE_1))
        .expect("snapshot loads");
    assert_eq!(doc.get_heads(), vec![head(HEADS_1)]);
    doc.load_incremental(&unhex(SINCE))
        .expect("incremental chunk loads");
    assert_eq!(doc.get_heads(), vec![head(HEADS_2)]);
    // And Rust's own incremental save of that change is byte-for-byte what JS wrote.
    assert_eq!(doc.save_after(&[head(HEADS_1)]), unhex(SINCE));
}

#[test]
fn keys_have_automerge_repos_three_parts_and_read_back() {
    let doc_id = DocumentId::from_bytes([3; 16]);
    let key = StorageKey::incremental(doc_id, &unhex(SINCE));
    let parts = key.to_parts();
    assert_eq!(parts[0], doc_id.to_string());
    assert_eq!(parts[1], "incremental");
    assert_eq!(parts[2], SINCE_KEY);
    assert_eq!(StorageKey::from_parts(&parts), Ok(key.clone()));
    assert_eq!(key.to_string(), format!("{doc_id}/incremental/{SINCE_KEY}"));

    let snapshot = StorageKey::snapshot(doc_id, &[head(HEADS_2)]);
    assert_eq!(snapshot.kind, ChunkKind::Snapshot);
    assert_eq!(snapshot.hash, HEADS_2_HASH);
    assert!(StorageKey::from_parts(&["x", "snapshot", "y"]).is_err());
    assert!(StorageKey::from_parts(&[parts[0].as_str(), "sync-state", "y"]).is_err());
}

#[test]
fn samods_snapshot_name_hashes_the_raw_head_bytes_instead() {
    // samod-core 0.16.0 CompactionHash: sha256 over the 32-byte hashes, hex-encoded.
    let heads = [head(HEADS_2)];
    let expected = key_hash(&unhex(HEADS_2));
    assert_eq!(samod_compaction_hash(&heads), expected);
    assert_ne!(samod_compaction_hash(&heads), heads_hash(&heads));
}
