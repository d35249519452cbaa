//! [`SqliteChunkStore`]: document chunks in the server's SQLite file (`chunks` table,
//! migration 002).
//!
//! The store opens its own connection with [`open_connection`], so WAL and
//! `synchronous = FULL` apply: when a write here returns, the chunk is on disk and survives a
//! power cut. The confirm endpoint relies on exactly that: it reads heads back from this table and
//! only then tells a device "stored" (DESIGN.md decision 5). Work runs on the connection's own
//! thread ([`SerialConnection`]) so an fsync never stalls the async workers, and that one
//! connection serialises the store's queries; SQLite allows one writer anyway, and in WAL mode the server's other connections keep
//! reading while this one writes.
//!
//! samod's puts and deletes are **group-committed**: a write joins a queue and asks for the
//! connection; whoever gets it next makes every queued write, in order, in one transaction,
//! commits (one fsync for all of them) and answers each. Writes that arrive while a commit is on
//! disk wait for the next one together, so many devices pushing at once share fsyncs instead of
//! queueing for one each, and no write is answered before its transaction committed. (samod
//! deletes the dozen chunks a compaction replaced at once: each in its own transaction, they were
//! half of the ingest bench's fsyncs.)

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use nimo_shared::storage::{ChunkStore, StorageKey, StoreError};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::SqliteStoreError;
use crate::db::{Db, SerialConnection, open_connection};

const BACKEND: &str = "sqlite";

/// The chunks under a prefix: the exact key (`?1`) and the joined range `[?2, ?3)`.
const SELECT_PREFIX: &str =
    "SELECT key, data FROM chunks WHERE key = ?1 OR (key >= ?2 AND key < ?3)";

pub(super) fn sql_error(error: rusqlite::Error) -> StoreError {
    StoreError::backend(BACKEND, error)
}

/// Document chunks in SQLite, cheap to clone (clones share the connection).
///
/// Implements both [`ChunkStore`] (errors returned, checked by the shared conformance suite)
/// and [`samod::storage::Storage`] (errors retried, see `samod_storage.rs`). The inherent
/// methods are the ones both delegate to; their futures are `Send`.
#[derive(Clone)]
pub struct SqliteChunkStore {
    conn: SerialConnection,
    /// Writes waiting for the next group commit.
    queued: Arc<Mutex<Vec<QueuedWrite>>>,
    path: Arc<PathBuf>,
    written: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// Documents their writers had loaded, for the next load of each
    /// ([`SqliteChunkStore::offer_loaded`]).
    pub(super) offered: Arc<Mutex<std::collections::HashMap<String, automerge::Automerge>>>,
}

impl fmt::Debug for SqliteChunkStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteChunkStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteChunkStore {
    /// Opens the store over the database file at `path`, creating it and applying pending
    /// migrations if needed (so the `chunks` table exists whoever opens the file first).
    pub fn open(path: &Path) -> Result<Self, SqliteStoreError> {
        // `Db::open` applies the migrations; its own connection is closed right away.
        drop(Db::open(path)?);
        let conn = open_connection(path)?;
        Ok(Self {
            conn: SerialConnection::new(conn),
            queued: Arc::default(),
            path: Arc::new(path.to_owned()),
            written: Arc::default(),
            offered: Arc::default(),
        })
    }

    /// After every chunk samod writes, sends the document's id to `listener` (the projection).
    /// Set once; later calls are ignored.
    pub fn notify_writes_to(&self, listener: tokio::sync::mpsc::UnboundedSender<String>) {
        let _ = self.written.set(listener);
    }

    /// Tells the listener, if any, that `key`'s document changed on disk.
    pub(super) fn written(&self, key: &StorageKey) {
        if let (Some(listener), Some(doc_id)) = (self.written.get(), key.document_id()) {
            // A closed listener means the server is shutting down; the chunk is stored anyway.
            let _ = listener.send(doc_id.to_owned());
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the store's connection on its thread, after the calls before it
    /// ([`SerialConnection`]).
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.conn
            .call(f)
            .await
            .map_err(|error| StoreError::backend(BACKEND, error))?
    }

    /// The bytes under exactly `key`.
    pub async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        let joined = key.joined();
        self.call(move |conn| {
            conn.query_row(
                "SELECT data FROM chunks WHERE key = ?1",
                params![joined],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql_error)
        })
        .await
    }

    /// Every chunk under `prefix` (whole components; the key equal to `prefix` included).
    ///
    /// The exact key plus the joined range `['p/', 'p0')` (see
    /// [`StorageKey::joined_range`]): both are searches of the primary-key index, and the range
    /// cannot reach `doc10/…` from `doc1`.
    pub async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        let exact = prefix.joined();
        let range = prefix.joined_range();
        self.call(move |conn| {
            let rows = match range {
                None => collect_rows(
                    conn.prepare("SELECT key, data FROM chunks")
                        .map_err(sql_error)?,
                    params![],
                ),
                Some((start, end)) => collect_rows(
                    conn.prepare(SELECT_PREFIX).map_err(sql_error)?,
                    params![exact, start, end],
                ),
            }?;
            rows.into_iter()
                .map(|(key, data)| Ok((parse_key(key)?, data)))
                .collect()
        })
        .await
    }

    /// Stores `bytes` under `key`, replacing what was there; durable when it returns.
    pub async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        self.call(move |conn| upsert(conn, &key, &bytes, now_ms()))
            .await
    }

    /// Stores `bytes` under `key` unless exactly these bytes are there already; returns whether
    /// it wrote. samod writes a document back whole when it loads one (its record of what is on
    /// disk starts empty), so a device *reading* a stored document would otherwise rewrite every
    /// chunk of it, with an fsync and a projection pass each. Keys are content addresses (a
    /// change hash, a hash of the snapshot's heads), so the same key almost always means the same
    /// bytes; the bytes are compared anyway, so a differing write is never skipped.
    ///
    /// Nor does it write a chunk of an erased document (a visit case past its retention,
    /// `visits::erasure`): samod may still hold the document in memory, and a later compaction
    /// of it must not bring back what was erased.
    pub async fn put_unless_stored(
        &self,
        key: StorageKey,
        bytes: Vec<u8>,
    ) -> Result<bool, StoreError> {
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        self.commit_in_group(key, Write::Put(bytes)).await
    }

    /// Queues `write` for the next group commit and waits until it is committed; whether it
    /// changed anything (always for a delete).
    async fn commit_in_group(&self, key: StorageKey, write: Write) -> Result<bool, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        lock(&self.queued).push(QueuedWrite { key, write, answer });
        let queued = Arc::clone(&self.queued);
        self.call(move |conn| {
            // Empty when an earlier caller's commit took this write along; it was answered then.
            let batch = std::mem::take(&mut *lock(&queued));
            if !batch.is_empty() {
                commit_group(conn, batch);
            }
            Ok(())
        })
        .await?;
        answered.await.map_err(|_| {
            StoreError::backend(
                BACKEND,
                "the group commit ended without answering this write",
            )
        })?
    }

    /// Removes the chunk under exactly `key`, in the next group commit; a missing key is not an
    /// error.
    pub async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        self.commit_in_group(key.clone(), Write::Delete)
            .await
            .map(drop)
    }

    /// Deletes then puts in one transaction: all of it is on disk, or none of it.
    pub async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            // IMMEDIATE takes the write lock up front: a deferred transaction that later needs
            // to write can fail with SQLITE_BUSY without waiting for the busy timeout.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            for key in &deletes {
                tx.execute("DELETE FROM chunks WHERE key = ?1", params![key.joined()])
                    .map_err(sql_error)?;
            }
            let now = now_ms();
            for (key, bytes) in &puts {
                if key.is_empty() {
                    // Returning drops `tx`, which rolls back what this batch already did.
                    return Err(StoreError::EmptyKey);
                }
                upsert(&tx, key, bytes, now)?;
            }
            tx.commit().map_err(sql_error)
        })
        .await
    }
}

/// A write waiting for the next group commit, and where its answer goes.
struct QueuedWrite {
    key: StorageKey,
    write: Write,
    answer: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

/// What a queued write does to its key.
enum Write {
    /// [`SqliteChunkStore::put_unless_stored`].
    Put(Vec<u8>),
    Delete,
}

/// Locks a mutex whose holder may have panicked: the data it guards (a connection SQLite has
/// rolled back, a queue of puts) is still sound.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the writes of `batch` in order in one transaction and answers each: whether it wrote,
/// or the error that rolled the whole group back (every write of it is then retried by its
/// caller).
fn commit_group(conn: &mut Connection, batch: Vec<QueuedWrite>) {
    let outcome = (|| {
        // One transaction, so an erasure committed by another connection cannot fall between a
        // check and its write.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_error)?;
        let now = now_ms();
        let wrote = batch
            .iter()
            .map(|queued| match &queued.write {
                Write::Put(bytes) => put_unless_stored_in(&tx, &queued.key, bytes, now),
                Write::Delete => tx
                    .prepare_cached("DELETE FROM chunks WHERE key = ?1")
                    .and_then(|mut statement| statement.execute([queued.key.joined()]))
                    .map(|_| true)
                    .map_err(sql_error),
            })
            .collect::<Result<Vec<bool>, StoreError>>()?;
        tx.commit().map_err(sql_error)?;
        Ok::<_, StoreError>(wrote)
    })();
    match outcome {
        Ok(wrote) => {
            for (queued, wrote) in batch.into_iter().zip(wrote) {
                // A caller that stopped waiting has nothing to be told.
                let _ = queued.answer.send(Ok(wrote));
            }
        }
        Err(error) => {
            let message = error.to_string();
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            for queued in batch {
                let detail = match &cause {
                    Some(cause) => format!("{message}: {cause}"),
                    None => message.clone(),
                };
                let _ = queued
                    .answer
                    .send(Err(StoreError::backend(BACKEND, detail)));
            }
        }
    }
}

/// Within a write transaction: stores `bytes` under `key` unless the document was erased or
/// exactly these bytes are there already; whether it wrote.
fn put_unless_stored_in(
    tx: &Connection,
    key: &StorageKey,
    bytes: &[u8],
    now: i64,
) -> Result<bool, StoreError> {
    let erased: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE id = ?1 AND deleted_at IS NOT NULL)",
        )
        .and_then(|mut statement| {
            statement.query_row([key.document_id().unwrap_or_default()], |row| row.get(0))
        })
        .map_err(sql_error)?;
    if erased {
        tracing::warn!(key = %key.joined(), "not writing a chunk of an erased document");
        return Ok(false);
    }
    let stored: Option<bool> = tx
        .prepare_cached("SELECT data = ?2 FROM chunks WHERE key = ?1")
        .and_then(|mut statement| {
            statement
                .query_row(params![key.joined(), bytes], |row| row.get(0))
                .optional()
        })
        .map_err(sql_error)?;
    if stored == Some(true) {
        return Ok(false);
    }
    upsert(tx, key, bytes, now)?;
    Ok(true)
}

fn upsert(conn: &Connection, key: &StorageKey, bytes: &[u8], now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO chunks (key, doc_id, data, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key) DO UPDATE SET doc_id = excluded.doc_id, data = excluded.data, \
         updated_at = excluded.updated_at",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            key.joined(),
            key.document_id().unwrap_or_default(),
            bytes,
            now
        ])
    })
    .map(drop)
    .map_err(sql_error)
}

fn collect_rows(
    mut statement: rusqlite::Statement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    statement
        .query_map(params, |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql_error)
}

pub(super) fn parse_key(key: String) -> Result<StorageKey, StoreError> {
    StorageKey::parse_joined(&key).map_err(|source| StoreError::CorruptKey { key, source })
}

/// Unix milliseconds (UTC), as every time in the database.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

impl ChunkStore for SqliteChunkStore {
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        SqliteChunkStore::load(self, key).await
    }

    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        SqliteChunkStore::load_range(self, prefix).await
    }

    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        SqliteChunkStore::put(self, key, bytes).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        SqliteChunkStore::delete(self, key).await
    }

    async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError> {
        SqliteChunkStore::put_and_delete(self, puts, deletes).await
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use nimo_shared::storage::conformance;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = Cell::new(0);
        let checks = conformance::run_all(|| {
            count.set(count.get() + 1);
            let path = dir.path().join(format!("check-{}.sqlite3", count.get()));
            SqliteChunkStore::open(&path).expect("open a fresh store")
        })
        .await;
        assert_eq!(checks, conformance::CHECK_COUNT);
    }

    /// Puts that arrive while the connection is busy are written together, in one transaction
    /// (one `updated_at` for all), and each is answered for itself: written, already stored, or
    /// refused for an erased document.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(
        clippy::await_holding_lock,
        reason = "the held connection stands for a commit on disk; the puts run on other tasks"
    )]
    async fn puts_that_queue_up_are_committed_as_one_group_and_each_is_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        store
            .call(|conn| {
                conn.execute_batch(
                    "INSERT INTO users (id, login, display_name, role, password_hash, created_at) \
                     VALUES ('u', 'u', 'u', 'visitor', 'x', 0); \
                     INSERT INTO documents (id, kind, created_by, created_at, updated_at, deleted_at) \
                     VALUES ('erased', 'visit_case', 'u', 0, 0, 1);",
                )
                .map_err(sql_error)
            })
            .await
            .expect("an erased document");
        let stored = StorageKey::incremental("doc", "stored").expect("valid");
        store.put(stored.clone(), vec![1]).await.expect("put");

        // Hold the connection, as a commit on disk would, while the puts queue up.
        let held = store.conn.hold().await;
        let mut puts = Vec::new();
        for n in 0..20 {
            let key = StorageKey::incremental("doc", &format!("c{n}")).expect("valid");
            let store = store.clone();
            puts.push(tokio::spawn(async move {
                store.put_unless_stored(key, vec![n; 10]).await
            }));
        }
        let again = tokio::spawn({
            let store = store.clone();
            async move { store.put_unless_stored(stored, vec![1]).await }
        });
        let erased = tokio::spawn({
            let store = store.clone();
            let key = StorageKey::incremental("erased", "c").expect("valid");
            async move { store.put_unless_stored(key, vec![2]).await }
        });
        while lock(&store.queued).len() < 22 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        drop(held);

        for put in puts {
            assert!(
                put.await.expect("joined").expect("stored"),
                "a new chunk is written"
            );
        }
        assert!(
            !again.await.expect("joined").expect("answered"),
            "identical bytes are skipped"
        );
        assert!(
            !erased.await.expect("joined").expect("answered"),
            "an erased document is refused"
        );
        let (rows, times): (i64, i64) = store
            .call(|conn| {
                conn.query_row(
                    "SELECT COUNT(*), COUNT(DISTINCT updated_at) FROM chunks \
                     WHERE doc_id = 'doc' AND key != 'doc/incremental/stored'",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(sql_error)
            })
            .await
            .expect("count");
        assert_eq!(
            (rows, times),
            (20, 1),
            "twenty chunks, written by one commit"
        );
    }

    /// samod deletes what a compaction replaced right after writing it: the deletes queue with
    /// the puts, and the group makes them in the order they were queued.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deletes_join_the_group_commit_and_its_writes_are_made_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        let key = |name: &str| StorageKey::incremental("doc", name).expect("valid");
        store.put(key("a"), vec![1]).await.expect("put");
        store.put(key("b"), vec![2]).await.expect("put");

        let held = store.conn.hold().await;
        let mut writes: Vec<tokio::task::JoinHandle<Result<(), StoreError>>> = Vec::new();
        for (name, bytes) in [("a", None), ("a", Some(3)), ("b", None), ("c", Some(4))] {
            let writer = store.clone();
            writes.push(tokio::spawn(async move {
                match bytes {
                    None => writer.delete(&key(name)).await,
                    Some(byte) => writer
                        .put_unless_stored(key(name), vec![byte])
                        .await
                        .map(drop),
                }
            }));
            // One at a time, so the queue's order is the order above.
            let queued = async {
                while lock(&store.queued).len() < writes.len() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), queued)
                .await
                .expect("the write joins the group commit's queue");
        }
        drop(held);

        for write in writes {
            write.await.expect("joined").expect("written");
        }
        assert_eq!(store.load(&key("a")).await.expect("load"), Some(vec![3]));
        assert_eq!(store.load(&key("b")).await.expect("load"), None);
        assert_eq!(store.load(&key("c")).await.expect("load"), Some(vec![4]));
    }

    #[tokio::test]
    async fn a_written_chunk_survives_closing_and_reopening_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nimo.sqlite3");
        let key = StorageKey::incremental("doc", "abc").expect("valid");
        {
            let store = SqliteChunkStore::open(&path).expect("open");
            store.put(key.clone(), vec![7; 100]).await.expect("put");
        }
        let reopened = SqliteChunkStore::open(&path).expect("reopen");
        assert_eq!(reopened.load(&key).await.expect("load"), Some(vec![7; 100]));
    }

    #[tokio::test]
    async fn the_document_id_column_holds_the_first_component() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        store
            .put(StorageKey::snapshot("docA", "h").expect("valid"), vec![1])
            .await
            .expect("put");
        let doc_id: String = store
            .call(|conn| {
                conn.query_row("SELECT doc_id FROM chunks", [], |row| row.get(0))
                    .map_err(sql_error)
            })
            .await
            .expect("select");
        assert_eq!(doc_id, "docA");
    }

    #[tokio::test]
    async fn prefix_and_document_loads_search_an_index_instead_of_scanning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteChunkStore::open(&dir.path().join("db")).expect("open");
        let plans = store
            .call(|conn| {
                let plan = |sql: &str, args: &[&dyn rusqlite::ToSql]| {
                    let mut statement = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .map_err(sql_error)?;
                    let details = statement
                        .query_map(args, |row| row.get::<_, String>(3))
                        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                        .map_err(sql_error)?;
                    Ok::<_, StoreError>(details.join("; "))
                };
                Ok([
                    plan(SELECT_PREFIX, params!["a", "a/", "a0"])?,
                    plan(crate::storage::document::SELECT_DOCUMENT, params!["a"])?,
                ])
            })
            .await
            .expect("plans");
        for plan in plans {
            assert!(plan.contains("SEARCH"), "{plan}");
            assert!(!plan.contains("SCAN"), "{plan}");
        }
    }
}
