//! Loading a whole document back from the database, for the confirm endpoint and the
//! projection.
//!
//! Both must see what is *on disk*, not what samod holds in memory: samod may answer a peer
//! before its storage write has finished, so only a document read back from SQLite proves that
//! a change is durable (DESIGN.md decision 5).

use std::collections::HashMap;

use automerge::{Automerge, LoadOptions, OnPartialLoad, ReadDoc as _};
use nimo_shared::storage::{INCREMENTAL, SNAPSHOT, StorageKey};
use rusqlite::params;

use super::{
    SqliteChunkStore, SqliteStoreError,
    sqlite::{parse_key, sql_error},
};

/// How many offered documents may wait for their reader ([`SqliteChunkStore::offer_loaded`]): a
/// loaded session takes ~37 KB, so at most ~9.5 MB. The projection takes each within its
/// coalescing window, but a burst of first pushes outruns it: with 64, W1's 200 documents were
/// mostly loaded a second time (12% of the server's CPU; BENCH-RESULTS.md, "Session 16").
pub const MAX_OFFERED: usize = 256;

/// Every chunk of one document (`?1`), found through the `doc_id` index.
pub(super) const SELECT_DOCUMENT: &str = "SELECT key, data FROM chunks WHERE doc_id = ?1";

impl SqliteChunkStore {
    /// Reads every chunk of `doc_id` from the database and loads them into one document:
    /// snapshots first, then incremental chunks, as samod does. `None` when the document has no
    /// chunk.
    ///
    /// The result contains exactly the changes that are on disk *and* applicable, which is what
    /// the confirm endpoint needs: a head counts as stored only if its change is in the loaded
    /// document. Two situations make a strict load fail without anything being wrong with what
    /// was confirmed, so they are tolerated and logged:
    /// - a hole: samod writes each change as its own chunk and the writes are not ordered, so a
    ///   SIGKILL can leave a change on disk without one it depends on (found by the kill loop in
    ///   `tests/tests/durability.rs`). That change waits in Automerge's queue, is not in the
    ///   document, and is reported missing until the device resends its dependency;
    /// - a damaged chunk: it contributes nothing, so nothing in it is reported stored.
    ///
    /// A document its writer offered ([`SqliteChunkStore::offer_loaded`]) is taken instead of
    /// loading, when what is on disk is one snapshot declaring exactly its heads: heads are
    /// hashes over every change, so it is the document on disk.
    pub async fn load_document(&self, doc_id: &str) -> Result<Option<Automerge>, SqliteStoreError> {
        let chunks = self.document_chunks(doc_id).await?;
        if chunks.is_empty() {
            return Ok(None);
        }
        if let Some(offered) = self.take_offered(doc_id, &chunks) {
            return Ok(Some(offered));
        }
        Ok(Some(chunks.load(doc_id)))
    }

    /// Offers `doc`, just stored as `doc_id`'s one snapshot by a writer that had it loaded, to
    /// the next [`SqliteChunkStore::load_document`] of it (the projection's, which each write
    /// wakes): loading a pushed record again was a fifth of the server's CPU in W1
    /// (BENCH-RESULTS, session 15). At most `MAX_OFFERED` wait; more are dropped.
    pub fn offer_loaded(&self, doc_id: &str, doc: Automerge) {
        let mut offered = self.offered();
        if offered.len() < MAX_OFFERED || offered.contains_key(doc_id) {
            offered.insert(doc_id.to_owned(), doc);
        }
    }

    /// The document offered for `doc_id`, if `chunks` (what is on disk) are one snapshot that
    /// declares its heads. Taken either way: an offer is for one reader.
    fn take_offered(&self, doc_id: &str, chunks: &StoredChunks) -> Option<Automerge> {
        let offered = self.offered().remove(doc_id)?;
        let ([snapshot], []) = (chunks.snapshots.as_slice(), chunks.incrementals.as_slice()) else {
            return None;
        };
        let mut declared = nimo_shared::sync::chunk_bounds::document_heads(snapshot)?;
        declared.sort_unstable();
        let mut heads = offered.get_heads();
        heads.sort_unstable();
        (declared == heads).then_some(offered)
    }

    fn offered(&self) -> std::sync::MutexGuard<'_, HashMap<String, Automerge>> {
        // Every critical section leaves the map consistent.
        self.offered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every chunk of `doc_id` as stored, not loaded.
    pub async fn document_chunks(&self, doc_id: &str) -> Result<StoredChunks, SqliteStoreError> {
        let doc_id = doc_id.to_owned();
        let rows = self
            .call(move |conn| {
                let mut statement = conn.prepare_cached(SELECT_DOCUMENT).map_err(sql_error)?;
                statement
                    .query_map(params![doc_id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                    })
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(sql_error)
            })
            .await?;

        let mut chunks = StoredChunks::default();
        for (joined, data) in rows {
            let key = parse_key(joined)?;
            match key.components().get(1).map(String::as_str) {
                Some(SNAPSHOT) if key.len() == 3 => chunks.snapshots.push(data),
                Some(INCREMENTAL) if key.len() == 3 => chunks.incrementals.push(data),
                _ => {
                    tracing::debug!(%key, "not a chunk key; ignored when loading a document");
                    continue;
                }
            }
            chunks.keys.push(key);
        }
        Ok(chunks)
    }
}

/// One document's chunks as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredChunks {
    /// Whole saved documents (samod's compactions).
    pub snapshots: Vec<Vec<u8>>,
    /// Changes saved since.
    pub incrementals: Vec<Vec<u8>>,
    /// The keys of all of them, in no particular order.
    pub keys: Vec<StorageKey>,
}

impl StoredChunks {
    /// Whether the document has no chunk at all.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty() && self.incrementals.is_empty()
    }

    /// Loads the chunks into one document: snapshots first, then incremental chunks, as samod
    /// does; see [`SqliteChunkStore::load_document`] for what is tolerated.
    pub fn load(self, doc_id: &str) -> Automerge {
        self.load_checked(doc_id).0
    }

    /// [`StoredChunks::load`], and whether every chunk loaded whole: `false` when a chunk is
    /// damaged or a change waits for a dependency, so the document lacks something stored.
    pub fn load_checked(self, doc_id: &str) -> (Automerge, bool) {
        let chunks: Vec<Vec<u8>> = self
            .snapshots
            .into_iter()
            .chain(self.incrementals)
            .collect();
        let joined: Vec<u8> = chunks.iter().flatten().copied().collect();
        let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
        match Automerge::load_with_options(&joined, strict) {
            Ok(doc) if doc.get_missing_deps(&[]).is_empty() => (doc, true),
            Ok(doc) => (doc, false),
            Err(error) => {
                tracing::warn!(doc = %doc_id, chunks = chunks.len(), %error,
                    "stored chunks do not load strictly; loading what is applicable");
                let mut doc = Automerge::new();
                for chunk in &chunks {
                    if let Err(error) = doc.load_incremental(chunk) {
                        tracing::error!(doc = %doc_id, %error, "a stored chunk is damaged; skipped");
                    }
                }
                (doc, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, ReadDoc as _, transaction::Transactable as _};
    use nimo_shared::storage::StorageKey;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteChunkStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("nimo.sqlite3")).expect("open");
        (dir, store)
    }

    async fn put(store: &SqliteChunkStore, key: StorageKey, bytes: Vec<u8>) {
        store.put(key, bytes).await.expect("put");
    }

    fn incremental_key(doc_id: &str, name: &str) -> StorageKey {
        StorageKey::incremental(doc_id, name).expect("valid")
    }

    async fn loaded(store: &SqliteChunkStore, doc_id: &str) -> Automerge {
        store
            .load_document(doc_id)
            .await
            .expect("load")
            .expect("present")
    }

    #[tokio::test]
    async fn a_document_without_chunks_loads_as_none() {
        let (_dir, store) = store();
        assert!(
            store
                .load_document("nothing")
                .await
                .expect("load")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_snapshot_and_later_incrementals_load_into_one_document() {
        let (_dir, store) = store();
        let mut doc = Automerge::new();
        doc.transact(|tx| tx.put(ROOT, "venue", "富谷市民センター"))
            .expect("first change");
        let snapshot = doc.save();
        let heads_at_snapshot = doc.get_heads();
        doc.transact(|tx| tx.put(ROOT, "capacity", 40_i64))
            .expect("second change");
        let incremental = doc.save_after(&heads_at_snapshot);

        put(
            &store,
            StorageKey::snapshot("doc1", "s").expect("valid"),
            snapshot,
        )
        .await;
        put(&store, incremental_key("doc1", "i"), incremental).await;
        // A neighbour whose id extends doc1's must not be mixed in.
        put(
            &store,
            StorageKey::snapshot("doc10", "x").expect("valid"),
            vec![1, 2, 3],
        )
        .await;

        let chunks = store.document_chunks("doc1").await.expect("read");
        assert_eq!(chunks.keys.len(), 2, "doc1's two chunks, not doc10's");
        assert!(chunks.load_checked("doc1").1, "loaded whole");
        let loaded = loaded(&store, "doc1").await;
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }

    /// An offered document is taken by the next load, once, and only while what is on disk is
    /// one snapshot with its very heads; its actor tells it from a document loaded from disk.
    #[tokio::test]
    async fn an_offered_document_is_taken_once_and_only_while_the_disk_holds_exactly_it() {
        let (_dir, store) = store();
        let offered_actor = automerge::ActorId::from([7; 16]);
        let mut doc = Automerge::new().with_actor(offered_actor.clone());
        doc.transact(|tx| tx.put(ROOT, "venue", "富谷市民センター"))
            .expect("first change");
        let first = doc.get_heads();
        put(
            &store,
            StorageKey::snapshot("doc1", "s").expect("valid"),
            doc.save(),
        )
        .await;
        store.offer_loaded("doc1", doc.clone());
        assert_eq!(loaded(&store, "doc1").await.get_actor(), &offered_actor);
        assert_ne!(
            loaded(&store, "doc1").await.get_actor(),
            &offered_actor,
            "an offer is for one reader"
        );

        // A change stored since: the disk no longer holds exactly the offered document.
        let older = doc.clone();
        doc.transact(|tx| tx.put(ROOT, "capacity", 40_i64))
            .expect("second change");
        put(&store, incremental_key("doc1", "i"), doc.save_after(&first)).await;
        store.offer_loaded("doc1", doc.clone());
        let from_disk = loaded(&store, "doc1").await;
        assert_ne!(from_disk.get_actor(), &offered_actor);
        assert_eq!(from_disk.get_heads(), doc.get_heads());

        // Other heads than the one snapshot's.
        put(
            &store,
            StorageKey::snapshot("doc2", "s").expect("valid"),
            doc.save(),
        )
        .await;
        store.offer_loaded("doc2", older);
        let from_disk = loaded(&store, "doc2").await;
        assert_ne!(from_disk.get_actor(), &offered_actor);
        assert_eq!(from_disk.get_heads(), doc.get_heads());
    }

    /// Whether a document loaded whole: only such a document may replace its chunks (the cold
    /// writes' compaction).
    async fn loads_whole(store: &SqliteChunkStore, doc_id: &str) -> bool {
        let chunks = store.document_chunks(doc_id).await.expect("read");
        chunks.load_checked(doc_id).1
    }

    #[tokio::test]
    async fn a_damaged_chunk_contributes_nothing_and_hides_nothing_that_is_intact() {
        let (_dir, store) = store();
        let mut doc = Automerge::new();
        doc.transact(|tx| tx.put(ROOT, "venue", "女川町"))
            .expect("change");
        put(&store, incremental_key("doc1", "good"), doc.save()).await;
        put(
            &store,
            incremental_key("doc1", "bad"),
            b"not automerge".to_vec(),
        )
        .await;
        let loaded = loaded(&store, "doc1").await;
        assert_eq!(loaded.get_heads(), doc.get_heads());
        assert!(!loads_whole(&store, "doc1").await);
    }

    #[tokio::test]
    async fn a_change_whose_dependency_is_not_stored_is_not_in_the_loaded_document() {
        let (_dir, store) = store();
        let mut doc = Automerge::new();
        doc.transact(|tx| tx.put(ROOT, "step", 1_i64))
            .expect("first");
        let first_heads = doc.get_heads();
        let first = doc.save();
        doc.transact(|tx| tx.put(ROOT, "step", 2_i64))
            .expect("second");
        let second = doc.save_after(&first_heads);
        // As after a SIGKILL between two unordered chunk writes: only the later one is on disk.
        put(&store, incremental_key("doc1", "second"), second).await;
        let partial = loaded(&store, "doc1").await;
        assert!(
            partial.get_change_by_hash(&doc.get_heads()[0]).is_none(),
            "the dependent change must not count as stored"
        );
        assert!(!loads_whole(&store, "doc1").await);
        put(&store, incremental_key("doc1", "first"), first).await;
        let whole = loaded(&store, "doc1").await;
        assert_eq!(whole.get_heads(), doc.get_heads());
        assert!(loads_whole(&store, "doc1").await);
    }
}
