//! samod's [`Storage`] on [`SqliteChunkStore`]: what the sync server's repo writes through.
//!
//! samod's trait cannot report an error: `put` and `delete` return `()`, loads return `None` or an
//! empty map. Dropping a failed write would lose a field worker's changes while samod believes
//! them stored, so a failed write is **retried until it succeeds**, with exponential backoff
//! (50 ms doubling to 30 s) and an `error!` log on every failure; an operator sees the log and a
//! confirm call keeps saying "not stored" meanwhile. (A full disk or a locked file is transient;
//! waiting is right.) The one exception is an error retrying cannot fix (a key the store refuses),
//! which is logged and given up at once. A failed load is retried a few times, then logged and
//! answered as "nothing stored": samod then asks peers for the document, which is safe, since
//! a device never drops changes the server has not confirmed (DESIGN.md decision 5).
//!
//! The impl is on the concrete type, not on every [`ChunkStore`](nimo_shared::storage::ChunkStore),
//! because samod needs `Send` futures and the shared trait deliberately does not promise them.

use std::{collections::HashMap, future::Future, time::Duration};

use nimo_shared::storage::{StorageKey, StoreError};
use samod::storage::{Storage, StorageKey as SamodKey};

use super::SqliteChunkStore;

/// The first wait after a failure.
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// The longest wait between two attempts at a write.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// How often a load is tried before it is answered as empty.
const LOAD_ATTEMPTS: u32 = 3;

/// Converts samod's key; both forbid empty components and `/`, so this fails only if samod
/// changed its rules.
fn from_samod(key: &SamodKey) -> Option<StorageKey> {
    match StorageKey::from_parts(key) {
        Ok(key) => Some(key),
        Err(error) => {
            tracing::error!(%key, %error, "samod used a storage key nimo cannot store");
            None
        }
    }
}

fn to_samod(key: &StorageKey) -> Option<SamodKey> {
    match SamodKey::from_parts(key.components()) {
        Ok(key) => Some(key),
        Err(error) => {
            tracing::error!(%key, %error, "a stored key is not a valid samod key; skipped");
            None
        }
    }
}

/// Whether trying again could help: backend failures are transient, a refused key is not.
fn is_transient(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend { .. })
}

fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(MAX_DELAY)
}

/// Runs a write until it succeeds (or fails in a way retrying cannot fix, then `None`).
async fn write_until_stored<T, F, Fut>(
    operation: &'static str,
    key: &StorageKey,
    mut write: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut delay = FIRST_DELAY;
    for attempt in 1_u64.. {
        match write().await {
            Ok(done) => {
                if attempt > 1 {
                    tracing::warn!(%key, operation, attempt, "chunk write succeeded after retrying");
                }
                return Some(done);
            }
            Err(error) if !is_transient(&error) => {
                tracing::error!(%key, operation, %error, "chunk write refused; not retrying");
                return None;
            }
            Err(error) => {
                tracing::error!(
                    %key,
                    operation,
                    attempt,
                    %error,
                    cause = ?std::error::Error::source(&error),
                    retry_in = ?delay,
                    "cannot write a document chunk to SQLite; retrying until it succeeds"
                );
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
        }
    }
    None
}

/// Runs a load a few times; after the last failure logs it and answers `None`.
async fn load_with_retries<T, F, Fut>(
    operation: &'static str,
    key: &StorageKey,
    mut load: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut delay = FIRST_DELAY;
    for attempt in 1..=LOAD_ATTEMPTS {
        match load().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::error!(
                    %key,
                    operation,
                    attempt,
                    %error,
                    cause = ?std::error::Error::source(&error),
                    "cannot load document chunks from SQLite"
                );
                if attempt < LOAD_ATTEMPTS && is_transient(&error) {
                    tokio::time::sleep(delay).await;
                    delay = next_delay(delay);
                } else {
                    break;
                }
            }
        }
    }
    tracing::error!(%key, operation, "giving up; answering samod as if nothing were stored");
    None
}

impl Storage for SqliteChunkStore {
    fn load(&self, key: SamodKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let store = self.clone();
        async move {
            let key = from_samod(&key)?;
            load_with_retries("load", &key, || SqliteChunkStore::load(&store, &key))
                .await
                .flatten()
        }
    }

    fn load_range(
        &self,
        prefix: SamodKey,
    ) -> impl Future<Output = HashMap<SamodKey, Vec<u8>>> + Send {
        let store = self.clone();
        async move {
            let Some(prefix) = from_samod(&prefix) else {
                return HashMap::new();
            };
            load_with_retries("load_range", &prefix, || {
                SqliteChunkStore::load_range(&store, &prefix)
            })
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, data)| Some((to_samod(&key)?, data)))
            .collect()
        }
    }

    fn put(&self, key: SamodKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let store = self.clone();
        async move {
            let Some(key) = from_samod(&key) else { return };
            // samod puts what it loaded back when it loads a document; bytes already stored
            // under the key are neither written again nor projected again.
            let wrote = write_until_stored("put", &key, || {
                SqliteChunkStore::put_unless_stored(&store, key.clone(), data.clone())
            })
            .await;
            if wrote == Some(true) {
                store.written(&key);
            }
        }
    }

    fn delete(&self, key: SamodKey) -> impl Future<Output = ()> + Send {
        let store = self.clone();
        async move {
            let Some(key) = from_samod(&key) else { return };
            let _deleted =
                write_until_stored("delete", &key, || SqliteChunkStore::delete(&store, &key)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use automerge::{Automerge, ROOT, transaction::Transactable as _};
    use samod::Repo;

    use super::*;
    use crate::storage::sqlite::sql_error;

    fn samod_key(parts: &[&str]) -> SamodKey {
        SamodKey::from_parts(parts).expect("valid samod key")
    }

    #[tokio::test]
    async fn samod_keys_round_trip_through_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        let key = samod_key(&["doc1", "incremental", "abc"]);
        Storage::put(&store, key.clone(), vec![1, 2]).await;
        Storage::put(&store, samod_key(&["doc10", "incremental", "x"]), vec![3]).await;
        assert_eq!(Storage::load(&store, key.clone()).await, Some(vec![1, 2]));
        let range = Storage::load_range(&store, samod_key(&["doc1"])).await;
        assert_eq!(range, HashMap::from([(key.clone(), vec![1, 2])]));
        Storage::delete(&store, key.clone()).await;
        assert_eq!(Storage::load(&store, key).await, None);
    }

    #[tokio::test]
    async fn putting_the_bytes_already_stored_writes_nothing_and_tells_nobody() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        let (listener, mut written) = tokio::sync::mpsc::unbounded_channel();
        store.notify_writes_to(listener);
        let key = samod_key(&["doc1", "snapshot", "h"]);
        let stored_at = || {
            store.call(|conn| {
                conn.query_row("SELECT rowid, updated_at FROM chunks", [], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(sql_error)
            })
        };

        Storage::put(&store, key.clone(), vec![1, 2, 3]).await;
        assert_eq!(written.try_recv().ok().as_deref(), Some("doc1"));
        let first = stored_at().await.expect("stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
        Storage::put(&store, key.clone(), vec![1, 2, 3]).await;
        assert!(
            written.try_recv().is_err(),
            "the same bytes again are not news"
        );
        assert_eq!(stored_at().await.expect("stored"), first, "not rewritten");

        Storage::put(&store, key.clone(), vec![4]).await;
        assert_eq!(written.try_recv().ok().as_deref(), Some("doc1"));
        assert_eq!(Storage::load(&store, key).await, Some(vec![4]));
        assert_ne!(stored_at().await.expect("stored"), first);
    }

    #[tokio::test]
    async fn a_chunk_of_an_erased_document_is_never_written_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        let (listener, mut written) = tokio::sync::mpsc::unbounded_channel();
        store.notify_writes_to(listener);
        store
            .call(|conn| {
                conn.execute_batch(
                    "INSERT INTO users (id, login, display_name, role, password_hash, created_at) \
                     VALUES ('u', 'u', 'u', 'visitor', 'x', 0); \
                     INSERT INTO documents (id, kind, created_by, created_at, updated_at, deleted_at) \
                     VALUES ('erased', 'visit_case', 'u', 0, 0, 1), \
                            ('kept', 'visit_case', 'u', 0, 0, NULL);",
                )
                .map_err(sql_error)
            })
            .await
            .expect("registry rows");

        // What samod would write when it compacts the copy it still holds in memory.
        Storage::put(&store, samod_key(&["erased", "snapshot", "h"]), vec![1]).await;
        Storage::put(&store, samod_key(&["kept", "snapshot", "h"]), vec![2]).await;
        assert_eq!(written.try_recv().ok().as_deref(), Some("kept"));
        assert!(
            written.try_recv().is_err(),
            "the erased document is not news"
        );
        assert_eq!(
            Storage::load(&store, samod_key(&["erased", "snapshot", "h"])).await,
            None
        );
        assert_eq!(
            Storage::load(&store, samod_key(&["kept", "snapshot", "h"])).await,
            Some(vec![2])
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_blocked_by_a_locked_database_is_retried_until_it_lands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let store = SqliteChunkStore::open(&path).expect("open");
        // Fail fast instead of waiting out the usual five-second busy timeout.
        store
            .call(|conn| {
                conn.busy_timeout(Duration::from_millis(5))
                    .map_err(sql_error)
            })
            .await
            .expect("busy timeout");
        let blocker = crate::db::open_connection(&path).expect("second connection");
        blocker
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");

        let key = samod_key(&["doc", "incremental", "h"]);
        let write = tokio::spawn({
            let store = store.clone();
            let key = key.clone();
            async move { Storage::put(&store, key, vec![9]).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !write.is_finished(),
            "the write cannot land while the lock is held"
        );
        blocker.execute_batch("COMMIT").expect("release the lock");
        tokio::time::timeout(Duration::from_secs(10), write)
            .await
            .expect("the retried write finishes once the lock is gone")
            .expect("the write task did not panic");
        assert_eq!(Storage::load(&store, key).await, Some(vec![9]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_written_through_samod_is_found_with_the_same_heads_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nimo.sqlite3");

        let store = SqliteChunkStore::open(&path).expect("open");
        let repo = Repo::build_tokio().with_storage(store).load().await;
        let handle = repo.create(Automerge::new()).await.expect("create");
        handle.with_document(|doc| {
            doc.transact(|tx| {
                tx.put(ROOT, "venue", "富谷市民センター")?;
                tx.put(ROOT, "capacity", 40_i64)
            })
            .expect("change");
        });
        let heads = handle.with_document(|doc| doc.get_heads());
        let doc_id = handle.document_id().clone();
        repo.stop().await;

        // What the confirm endpoint sees: the document read back from the file.
        let store = SqliteChunkStore::open(&path).expect("reopen");
        let on_disk = store
            .load_document(&doc_id.to_string())
            .await
            .expect("load from the database")
            .expect("the document is on disk");
        assert_eq!(on_disk.get_heads(), heads);

        // What a restarted server sees.
        let repo = Repo::build_tokio().with_storage(store).load().await;
        let found = repo
            .find(doc_id)
            .await
            .expect("the repo is running")
            .expect("the document is found in storage");
        assert_eq!(found.with_document(|doc| doc.get_heads()), heads);
        repo.stop().await;
    }
}
