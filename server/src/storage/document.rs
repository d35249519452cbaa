//! Loading a whole document back from the database, for the confirm endpoint and the
//! projection.
//!
//! Both must see what is *on disk*, not what samod holds in memory: samod may answer a peer
//! before its storage write has finished, so only a document read back from SQLite proves that
//! a change is durable (DESIGN.md decision 5).

use automerge::{Automerge, LoadOptions, OnPartialLoad};
use nimo_shared::storage::{INCREMENTAL, SNAPSHOT};
use rusqlite::params;

use super::{
    SqliteChunkStore, SqliteStoreError,
    sqlite::{parse_key, sql_error},
};

/// Every chunk of one document (`?1`), found through the `doc_id` index.
pub(super) const SELECT_DOCUMENT: &str = "SELECT key, data FROM chunks WHERE doc_id = ?1";

impl SqliteChunkStore {
    /// Reads every chunk of `doc_id` from the database and loads them into one document:
    /// snapshots first, then incremental chunks, as samod does. `None` when the document has no
    /// chunk. A chunk that is not valid Automerge is an error, not skipped: a confirm must not
    /// say "stored" about a document it could only partly read.
    pub async fn load_document(&self, doc_id: &str) -> Result<Option<Automerge>, SqliteStoreError> {
        let doc_id_for_error = doc_id.to_owned();
        let doc_id = doc_id.to_owned();
        let rows = self
            .call(move |conn| {
                let mut statement = conn.prepare(SELECT_DOCUMENT).map_err(sql_error)?;
                statement
                    .query_map(params![doc_id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                    })
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(sql_error)
            })
            .await?;

        let mut snapshots = Vec::new();
        let mut incrementals = Vec::new();
        for (joined, data) in rows {
            let key = parse_key(joined)?;
            match key.components().get(1).map(String::as_str) {
                Some(SNAPSHOT) if key.len() == 3 => snapshots.push(data),
                Some(INCREMENTAL) if key.len() == 3 => incrementals.push(data),
                _ => tracing::debug!(%key, "not a chunk key; ignored when loading a document"),
            }
        }
        if snapshots.is_empty() && incrementals.is_empty() {
            return Ok(None);
        }

        // Snapshots first, then incrementals, as samod loads them, but strictly: samod's
        // `load_incremental` skips a chunk it cannot parse with a warning, while a confirm must
        // not say "stored" about a document it could only partly read. With a snapshot first,
        // a change whose dependencies are missing waits in the queue; without one it is an error.
        let chunk_count = snapshots.len() + incrementals.len();
        let bytes: Vec<u8> = snapshots
            .into_iter()
            .chain(incrementals)
            .flatten()
            .collect();
        let options = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
        Automerge::load_with_options(&bytes, options)
            .map(Some)
            .map_err(|source| SqliteStoreError::CorruptDocument {
                doc_id: doc_id_for_error,
                chunk_count,
                source: Box::new(source),
            })
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable as _};
    use nimo_shared::storage::StorageKey;

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteChunkStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("nimo.sqlite3")).expect("open");
        (dir, store)
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

        store
            .put(StorageKey::snapshot("doc1", "s").expect("valid"), snapshot)
            .await
            .expect("put snapshot");
        store
            .put(
                StorageKey::incremental("doc1", "i").expect("valid"),
                incremental,
            )
            .await
            .expect("put incremental");
        // A neighbour whose id extends doc1's must not be mixed in.
        store
            .put(
                StorageKey::snapshot("doc10", "x").expect("valid"),
                vec![1, 2, 3],
            )
            .await
            .expect("put neighbour");

        let loaded = store
            .load_document("doc1")
            .await
            .expect("load")
            .expect("present");
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }

    #[tokio::test]
    async fn a_corrupt_chunk_is_an_error_naming_the_document() {
        let (_dir, store) = store();
        store
            .put(
                StorageKey::incremental("doc1", "bad").expect("valid"),
                b"not automerge".to_vec(),
            )
            .await
            .expect("put");
        let error = store.load_document("doc1").await.expect_err("corrupt");
        assert!(
            matches!(&error, SqliteStoreError::CorruptDocument { doc_id, chunk_count: 1, .. } if doc_id == "doc1"),
            "{error:?}"
        );
    }
}
