//! The conformance suite: one set of checks that every [`ChunkStore`] backend must pass.
//!
//! A chunk store is a small contract with sharp edges (a prefix `doc1` must not match
//! `doc10`; a compaction must not half-apply), and each backend meets them differently: a
//! `BTreeMap` range, an SQL range over joined keys, an IndexedDB key range. Writing the checks
//! once and running them against every backend, as matrix-rust-sdk does with its store
//! integration tests, means a new backend (IndexedDB, PostgreSQL) is correct when it passes
//! this file, not when its author has thought of every case again.
//!
//! Every check takes an **empty** store and panics with a message naming the check and what
//! differed. Run them all with [`run_all`], giving it a function that makes a fresh store:
//!
//! ```
//! # use nimo_shared::storage::{conformance, MemoryChunkStore};
//! let checks = futures::executor::block_on(conformance::run_all(MemoryChunkStore::new));
//! assert_eq!(checks, conformance::CHECK_COUNT);
//! ```
//!
//! The suite has no dependencies beyond the trait, so it is compiled in (not behind a feature):
//! the app's IndexedDB backend runs it under `wasm-bindgen-test`, the server's SQLite backend
//! under tokio.

use std::collections::BTreeMap;

use super::{ChunkStore, StorageKey, StoreError};

/// How many checks [`run_all`] runs.
pub const CHECK_COUNT: usize = 15;

/// Runs every check, each on a fresh store from `make`, and returns how many ran.
pub async fn run_all<S: ChunkStore>(make: impl FnMut() -> S) -> usize {
    run_all_reporting(make, |_| ()).await
}

/// [`run_all`], telling `starting` each check's name before it runs. Where a panic cannot say
/// which check failed (the shipped browser build traps on a panic without its message), the
/// last name told does.
pub async fn run_all_reporting<S: ChunkStore>(
    mut make: impl FnMut() -> S,
    mut starting: impl FnMut(&'static str),
) -> usize {
    let mut ran = 0;
    macro_rules! run {
        ($($check:ident),* $(,)?) => {
            $( starting(stringify!($check)); $check(&make()).await; ran += 1; )*
        };
    }
    run!(
        a_missing_key_loads_as_none,
        a_put_chunk_loads_back_unchanged,
        a_second_put_overwrites_the_first,
        a_prefix_load_returns_only_that_prefix,
        the_empty_prefix_loads_every_chunk,
        a_prefix_without_chunks_loads_nothing,
        keys_with_sql_wildcards_and_unicode_are_literal,
        delete_removes_only_that_key,
        put_and_delete_replaces_incrementals_with_a_snapshot,
        put_and_delete_lets_a_put_win_over_a_delete_of_the_same_key,
        a_failed_put_and_delete_changes_nothing,
        the_empty_key_is_refused,
        a_large_value_round_trips,
        many_keys_load_document_by_document,
        an_empty_batch_changes_nothing,
    );
    ran
}

fn key(joined: &str) -> StorageKey {
    StorageKey::parse_joined(joined).expect("the suite's keys are valid")
}

fn keys_of(map: &BTreeMap<StorageKey, Vec<u8>>) -> Vec<String> {
    map.keys().map(StorageKey::joined).collect()
}

async fn put<S: ChunkStore>(store: &S, joined: &str, bytes: &[u8]) {
    store
        .put(key(joined), bytes.to_vec())
        .await
        .unwrap_or_else(|e| panic!("put {joined:?} failed: {e}"));
}

async fn load<S: ChunkStore>(store: &S, joined: &str) -> Option<Vec<u8>> {
    store
        .load(&key(joined))
        .await
        .unwrap_or_else(|e| panic!("load {joined:?} failed: {e}"))
}

async fn load_range<S: ChunkStore>(store: &S, prefix: &str) -> BTreeMap<StorageKey, Vec<u8>> {
    store
        .load_range(&key(prefix))
        .await
        .unwrap_or_else(|e| panic!("load_range {prefix:?} failed: {e}"))
}

/// Loading a key never written gives `None`, not an error.
pub async fn a_missing_key_loads_as_none<S: ChunkStore>(store: &S) {
    assert_eq!(
        load(store, "doc/incremental/missing").await,
        None,
        "a_missing_key_loads_as_none: an empty store returned bytes"
    );
}

/// What was put comes back byte for byte, including an empty chunk (which is not `None`).
pub async fn a_put_chunk_loads_back_unchanged<S: ChunkStore>(store: &S) {
    put(store, "doc/incremental/a", &[0, 1, 2, 255]).await;
    put(store, "doc/incremental/empty", &[]).await;
    assert_eq!(
        load(store, "doc/incremental/a").await,
        Some(vec![0, 1, 2, 255]),
        "a_put_chunk_loads_back_unchanged: the bytes differ"
    );
    assert_eq!(
        load(store, "doc/incremental/empty").await,
        Some(Vec::new()),
        "a_put_chunk_loads_back_unchanged: an empty chunk must load as Some(empty), not None"
    );
}

/// A second put under the same key replaces the first, leaving one chunk.
pub async fn a_second_put_overwrites_the_first<S: ChunkStore>(store: &S) {
    put(store, "doc/snapshot/s", b"first").await;
    put(store, "doc/snapshot/s", b"second").await;
    assert_eq!(
        load(store, "doc/snapshot/s").await.as_deref(),
        Some(&b"second"[..]),
        "a_second_put_overwrites_the_first: the old bytes survived"
    );
    assert_eq!(
        load_range(store, "doc").await.len(),
        1,
        "a_second_put_overwrites_the_first: an overwrite must not add a second chunk"
    );
}

/// A prefix matches whole components: `doc1` loads `doc1/…` and `doc1` itself, never `doc10/…`
/// or `doc1-x/…`; `doc1/incremental` does not load snapshots.
pub async fn a_prefix_load_returns_only_that_prefix<S: ChunkStore>(store: &S) {
    for joined in [
        "doc1",
        "doc1/incremental/a",
        "doc1/incremental/b",
        "doc1/snapshot/c",
        "doc1/snapshot/c/deeper",
        "doc10/incremental/a",
        "doc1-x/incremental/a",
        "doc0/incremental/a",
        "doc/incremental/a",
    ] {
        put(store, joined, joined.as_bytes()).await;
    }
    let doc1 = load_range(store, "doc1").await;
    assert_eq!(
        keys_of(&doc1),
        [
            "doc1",
            "doc1/incremental/a",
            "doc1/incremental/b",
            "doc1/snapshot/c",
            "doc1/snapshot/c/deeper",
        ],
        "a_prefix_load_returns_only_that_prefix: wrong keys under doc1"
    );
    for (k, bytes) in &doc1 {
        assert_eq!(
            bytes,
            k.joined().as_bytes(),
            "a_prefix_load_returns_only_that_prefix: {k} carries another chunk's bytes"
        );
    }
    assert_eq!(
        keys_of(&load_range(store, "doc1/incremental").await),
        ["doc1/incremental/a", "doc1/incremental/b"],
        "a_prefix_load_returns_only_that_prefix: wrong keys under doc1/incremental"
    );
    assert_eq!(
        keys_of(&load_range(store, "doc10").await),
        ["doc10/incremental/a"],
        "a_prefix_load_returns_only_that_prefix: wrong keys under doc10"
    );
    assert_eq!(
        keys_of(&load_range(store, "doc1/snapshot/c").await),
        ["doc1/snapshot/c", "doc1/snapshot/c/deeper"],
        "a_prefix_load_returns_only_that_prefix: a full key is a prefix of itself"
    );
}

/// The empty prefix loads every chunk.
pub async fn the_empty_prefix_loads_every_chunk<S: ChunkStore>(store: &S) {
    put(store, "storage-adapter-id", b"id").await;
    put(store, "a/incremental/1", b"1").await;
    put(store, "b/snapshot/2", b"2").await;
    let all = store
        .load_range(&StorageKey::empty())
        .await
        .expect("the_empty_prefix_loads_every_chunk: load_range failed");
    assert_eq!(
        keys_of(&all),
        ["a/incremental/1", "b/snapshot/2", "storage-adapter-id"],
        "the_empty_prefix_loads_every_chunk: wrong keys"
    );
}

/// A prefix with nothing below it loads an empty map, not an error.
pub async fn a_prefix_without_chunks_loads_nothing<S: ChunkStore>(store: &S) {
    put(store, "doc1/incremental/a", b"a").await;
    assert!(
        load_range(store, "doc2").await.is_empty(),
        "a_prefix_without_chunks_loads_nothing: doc2 has no chunks"
    );
    assert!(
        load_range(store, "doc1/snapshot").await.is_empty(),
        "a_prefix_without_chunks_loads_nothing: doc1 has no snapshot"
    );
}

/// `%`, `_`, `*`, quotes and non-ASCII text are ordinary characters in keys (a backend built on
/// SQL `LIKE` or glob patterns would get this wrong).
pub async fn keys_with_sql_wildcards_and_unicode_are_literal<S: ChunkStore>(store: &S) {
    for joined in [
        "d%/incremental/1",
        "d_/incremental/1",
        "dx/incremental/1",
        "d*/incremental/1",
        "d'\"/incremental/1",
        "宮城/snapshot/心",
        "宮城県/snapshot/心",
    ] {
        put(store, joined, joined.as_bytes()).await;
    }
    for (prefix, expected) in [
        ("d%", "d%/incremental/1"),
        ("d_", "d_/incremental/1"),
        ("d*", "d*/incremental/1"),
        ("d'\"", "d'\"/incremental/1"),
        ("宮城", "宮城/snapshot/心"),
    ] {
        assert_eq!(
            keys_of(&load_range(store, prefix).await),
            [expected],
            "keys_with_sql_wildcards_and_unicode_are_literal: wrong keys under {prefix:?}"
        );
        assert_eq!(
            load(store, expected).await.as_deref(),
            Some(expected.as_bytes()),
            "keys_with_sql_wildcards_and_unicode_are_literal: {expected:?} did not round-trip"
        );
    }
}

/// Delete removes exactly one key: not its neighbours, not the keys below it. Deleting a
/// missing key succeeds.
pub async fn delete_removes_only_that_key<S: ChunkStore>(store: &S) {
    put(store, "doc", b"parent").await;
    put(store, "doc/incremental/a", b"a").await;
    put(store, "doc/incremental/b", b"b").await;
    store
        .delete(&key("doc/incremental/a"))
        .await
        .expect("delete_removes_only_that_key: delete failed");
    store
        .delete(&key("doc"))
        .await
        .expect("delete_removes_only_that_key: deleting the parent failed");
    store
        .delete(&key("doc/incremental/never-written"))
        .await
        .expect("delete_removes_only_that_key: deleting a missing key must succeed");
    assert_eq!(
        load(store, "doc/incremental/a").await,
        None,
        "delete_removes_only_that_key: the deleted chunk is still there"
    );
    assert_eq!(
        keys_of(&load_range(store, "doc").await),
        ["doc/incremental/b"],
        "delete_removes_only_that_key: delete touched other keys"
    );
}

/// A compaction: the snapshot appears and the incrementals it replaces disappear together.
pub async fn put_and_delete_replaces_incrementals_with_a_snapshot<S: ChunkStore>(store: &S) {
    put(store, "doc/incremental/a", b"a").await;
    put(store, "doc/incremental/b", b"b").await;
    put(store, "doc/incremental/c", b"c").await;
    put(store, "other/incremental/a", b"other").await;
    store
        .put_and_delete(
            vec![(key("doc/snapshot/s"), b"a+b".to_vec())],
            vec![key("doc/incremental/a"), key("doc/incremental/b")],
        )
        .await
        .expect("put_and_delete_replaces_incrementals_with_a_snapshot: the batch failed");
    assert_eq!(
        keys_of(&load_range(store, "doc").await),
        ["doc/incremental/c", "doc/snapshot/s"],
        "put_and_delete_replaces_incrementals_with_a_snapshot: wrong chunks after compaction"
    );
    assert_eq!(
        load(store, "doc/snapshot/s").await.as_deref(),
        Some(&b"a+b"[..]),
        "put_and_delete_replaces_incrementals_with_a_snapshot: wrong snapshot bytes"
    );
    assert_eq!(
        load(store, "other/incremental/a").await.as_deref(),
        Some(&b"other"[..]),
        "put_and_delete_replaces_incrementals_with_a_snapshot: another document changed"
    );
}

/// Deletes apply before puts: a key both deleted and put holds the put's bytes.
pub async fn put_and_delete_lets_a_put_win_over_a_delete_of_the_same_key<S: ChunkStore>(store: &S) {
    put(store, "doc/snapshot/s", b"old").await;
    store
        .put_and_delete(
            vec![(key("doc/snapshot/s"), b"new".to_vec())],
            vec![key("doc/snapshot/s")],
        )
        .await
        .expect("put_and_delete_lets_a_put_win_over_a_delete_of_the_same_key: batch failed");
    assert_eq!(
        load(store, "doc/snapshot/s").await.as_deref(),
        Some(&b"new"[..]),
        "put_and_delete_lets_a_put_win_over_a_delete_of_the_same_key: the put was lost"
    );
}

/// A batch that fails (here: its last put is under the empty key) leaves the store exactly as
/// it was: no delete and no earlier put of the batch is visible.
pub async fn a_failed_put_and_delete_changes_nothing<S: ChunkStore>(store: &S) {
    put(store, "doc/incremental/a", b"a").await;
    let result = store
        .put_and_delete(
            vec![
                (key("doc/snapshot/s"), b"snapshot".to_vec()),
                (key("doc/incremental/a"), b"overwritten".to_vec()),
                (StorageKey::empty(), b"refused".to_vec()),
            ],
            vec![key("doc/incremental/a")],
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::EmptyKey)),
        "a_failed_put_and_delete_changes_nothing: expected EmptyKey, got {result:?}"
    );
    assert_eq!(
        keys_of(&load_range(store, "").await),
        ["doc/incremental/a"],
        "a_failed_put_and_delete_changes_nothing: part of a failed batch was applied"
    );
    assert_eq!(
        load(store, "doc/incremental/a").await.as_deref(),
        Some(&b"a"[..]),
        "a_failed_put_and_delete_changes_nothing: a failed batch overwrote a chunk"
    );
}

/// No chunk is stored under the empty key.
pub async fn the_empty_key_is_refused<S: ChunkStore>(store: &S) {
    let result = store.put(StorageKey::empty(), b"x".to_vec()).await;
    assert!(
        matches!(result, Err(StoreError::EmptyKey)),
        "the_empty_key_is_refused: expected EmptyKey, got {result:?}"
    );
    assert!(
        load_range(store, "").await.is_empty(),
        "the_empty_key_is_refused: something was stored"
    );
}

/// A chunk of several megabytes (far above the ~10 KB documents nimo expects, the size of a
/// document that grew for years) round-trips intact.
pub async fn a_large_value_round_trips<S: ChunkStore>(store: &S) {
    // Not all zeros, so a truncation or a shifted copy shows; a fixed sequence, so it replays.
    let mut state: u32 = 0x9E37_79B9;
    let bytes: Vec<u8> = (0..3 * 1024 * 1024 + 7)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    put(store, "big/snapshot/s", &bytes).await;
    let loaded = load(store, "big/snapshot/s")
        .await
        .expect("a_large_value_round_trips: the large chunk is missing");
    assert_eq!(
        loaded.len(),
        bytes.len(),
        "a_large_value_round_trips: wrong length"
    );
    assert!(
        loaded == bytes,
        "a_large_value_round_trips: the bytes differ"
    );
}

/// A thousand chunks over forty documents: each document's prefix loads exactly its own.
pub async fn many_keys_load_document_by_document<S: ChunkStore>(store: &S) {
    const DOCS: usize = 40;
    const CHUNKS: usize = 25;
    let puts: Vec<_> = (0..DOCS)
        .flat_map(|doc| {
            (0..CHUNKS).map(move |chunk| {
                let joined = format!("doc{doc}/incremental/{chunk:04}");
                (key(&joined), joined.into_bytes())
            })
        })
        .collect();
    store
        .put_and_delete(puts, Vec::new())
        .await
        .expect("many_keys_load_document_by_document: the batch failed");
    // A few single puts too, so the individual path sees a populated store.
    put(store, "doc3/snapshot/s", b"s").await;
    for doc in 0..DOCS {
        let chunks = load_range(store, &format!("doc{doc}/incremental")).await;
        assert_eq!(
            chunks.len(),
            CHUNKS,
            "many_keys_load_document_by_document: doc{doc} has the wrong number of chunks"
        );
        for (k, bytes) in &chunks {
            assert_eq!(
                bytes,
                k.joined().as_bytes(),
                "many_keys_load_document_by_document: {k} has another chunk's bytes"
            );
        }
    }
    assert_eq!(
        load_range(store, "doc3").await.len(),
        CHUNKS + 1,
        "many_keys_load_document_by_document: doc3 has its chunks and one snapshot"
    );
    assert_eq!(
        load_range(store, "").await.len(),
        DOCS * CHUNKS + 1,
        "many_keys_load_document_by_document: wrong total"
    );
}

/// A batch with nothing in it succeeds and changes nothing.
pub async fn an_empty_batch_changes_nothing<S: ChunkStore>(store: &S) {
    put(store, "doc/incremental/a", b"a").await;
    store
        .put_and_delete(Vec::new(), Vec::new())
        .await
        .expect("an_empty_batch_changes_nothing: the empty batch failed");
    assert_eq!(
        keys_of(&load_range(store, "").await),
        ["doc/incremental/a"],
        "an_empty_batch_changes_nothing: the store changed"
    );
}
