//! The projection: after samod stores a change, the document is read back from SQLite, its heads
//! recorded in the registry, and its content hydrated (with `nimo_shared`'s schema) into the
//! report tables, all in one transaction. The tables are derived and [`rebuild`] recreates them.
//!
//! Changes arrive as document ids from the chunk store. Bursts are coalesced: the writes of
//! `COALESCE_WINDOW` after the first one, and those that arrive while a batch is projected,
//! collapse into one pass per document, in transactions of `BATCH_DOCUMENTS` documents. A pass that finds the heads it projected last
//! (`projected_heads`, migration 008: a compaction, or a write of chunks whose changes were
//! already on disk) writes nothing, so it costs a load but no transaction and no fsync.

mod tables;

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use automerge::Automerge;
use tokio::sync::mpsc;

use crate::{
    Db,
    accounts::now_ms,
    registry,
    storage::{SqliteChunkStore, SqliteStoreError},
    sync::{access_notifier::AccessNotifier, policy::AccessChange},
};

/// Why a document could not be projected.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Reading the document's chunks failed.
    #[error(transparent)]
    Store(#[from] SqliteStoreError),
    /// Writing the tables failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(crate::db::DbError::Sqlite(error))
    }
}

/// Starts the projection task; send it the ids of documents that were written. When a written
/// document has grown past `max_document_bytes`, a message on `access_changed` makes the share
/// policy turn its writers read-only.
pub fn spawn(
    db: Db,
    store: SqliteChunkStore,
    access_changed: AccessNotifier,
    max_document_bytes: u64,
) -> mpsc::UnboundedSender<String> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    let retries = sender.clone();
    tokio::spawn(async move {
        // Failed passes of each document in a row; a success forgets it.
        let mut failures: HashMap<String, u32> = HashMap::new();
        while let Some(first) = receiver.recv().await {
            // A document written many times in a burst (a device pushing one change per
            // message) needs one pass over its latest state, not one per change: each pass
            // loads the whole document from SQLite and commits (an fsync).
            tokio::time::sleep(COALESCE_WINDOW).await;
            let mut batch = BTreeSet::from([first]);
            while let Ok(more) = receiver.try_recv() {
                batch.insert(more);
            }
            let batch: Vec<String> = batch.into_iter().collect();
            let mut outcomes = Vec::with_capacity(batch.len());
            for part in batch.chunks(BATCH_DOCUMENTS) {
                outcomes.extend(project_batch(&db, &store, part).await);
            }
            for (doc_id, outcome) in outcomes {
                match outcome {
                    Ok(Projected { pass, stored_bytes }) => {
                        failures.remove(&doc_id);
                        tracing::debug!(doc = %doc_id, ?pass, "projection pass");
                        if stored_bytes > max_document_bytes {
                            tracing::warn!(doc = %doc_id, bytes = stored_bytes, limit = max_document_bytes, "document passed its size limit; it accepts no more changes");
                            access_changed.send(AccessChange::Document(doc_id.as_str().into()));
                        }
                    }
                    Err(error) => {
                        let failed = failures.entry(doc_id.clone()).or_default();
                        *failed += 1;
                        if let Some(delay) = retry_delay(*failed) {
                            // A write lock held past the busy timeout, a full disk: the stored
                            // document is still there to project once that has passed.
                            tracing::warn!(doc = %doc_id, ?error, ?delay, "projection failed; trying again");
                            let retries = retries.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                let _ = retries.send(doc_id);
                            });
                        } else {
                            failures.remove(&doc_id);
                            tracing::error!(doc = %doc_id, ?error, "projection failed again; the document is stored, its report rows are stale until it changes or is rebuilt");
                        }
                    }
                }
            }
        }
    });
    sender
}

/// How long the projection lets writes gather after the first one before it passes over them:
/// report rows and manifest heads trail the chunks by about this much. The confirm endpoint
/// reads the chunks, not the projection, so what a device is told is durable does not wait.
const COALESCE_WINDOW: Duration = Duration::from_millis(50);

/// How long to wait before projecting a document again after its `failures`-th failure in a
/// row; `None` once it has failed [`PROJECTION_ATTEMPTS`] times.
fn retry_delay(failures: u32) -> Option<Duration> {
    (failures < PROJECTION_ATTEMPTS).then(|| Duration::from_secs(1 << failures.min(6)))
}

/// Passes tried for one document before its failure is left to the next change or a rebuild.
const PROJECTION_ATTEMPTS: u32 = 6;

/// What one projection pass did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The document has no chunk.
    NotStored,
    /// The document is not registered: nothing may see it, so nothing is projected.
    NotRegistered,
    /// The stored heads are the ones projected last: nothing was written.
    Unchanged,
    /// Its registry heads and report rows were rewritten.
    Rewritten,
}

/// What a projection pass did to a document, and how many bytes the document now takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Projected {
    /// What the pass did.
    pub pass: Pass,
    /// The document's stored size, which its size limit is checked against.
    pub stored_bytes: u64,
}

/// Projects `doc_ids` in one transaction (one fsync for the whole batch; a batch is what
/// arrived while the previous one was written, in parts of [`BATCH_DOCUMENTS`]). If the batch fails as a whole, each document is
/// projected on its own, so one bad document cannot keep the others' rows stale.
async fn project_batch(
    db: &Db,
    store: &SqliteChunkStore,
    doc_ids: &[String],
) -> Vec<(String, Result<Projected, ProjectionError>)> {
    if doc_ids.len() > 1 {
        match project_many(db, store, doc_ids).await {
            Ok(projected) => {
                return doc_ids
                    .iter()
                    .cloned()
                    .zip(projected.into_iter().map(Ok))
                    .collect();
            }
            Err(error) => {
                tracing::warn!(
                    ?error,
                    documents = doc_ids.len(),
                    "a projection batch failed; projecting its documents one by one"
                );
            }
        }
    }
    let mut outcomes = Vec::new();
    for doc_id in doc_ids {
        let outcome = project_many(db, store, std::slice::from_ref(doc_id))
            .await
            .map(|mut projected| projected.remove(0));
        outcomes.push((doc_id.clone(), outcome));
    }
    outcomes
}

/// Reads `doc_id` back from the chunks and refreshes its registry heads and report rows, unless
/// they were projected from these very heads already.
pub async fn project_one(
    db: &Db,
    store: &SqliteChunkStore,
    doc_id: &str,
) -> Result<Pass, ProjectionError> {
    let mut projected = project_many(db, store, &[doc_id.to_owned()]).await?;
    Ok(projected.remove(0).pass)
}

/// [`project_one`] for several documents, in one transaction; one answer per document, in order.
pub async fn project_many(
    db: &Db,
    store: &SqliteChunkStore,
    doc_ids: &[String],
) -> Result<Vec<Projected>, ProjectionError> {
    let mut loaded = Vec::with_capacity(doc_ids.len());
    for doc_id in doc_ids {
        loaded.push((doc_id.clone(), store.load_document(doc_id).await?));
    }
    db.call(move |conn| -> Result<Vec<Projected>, ProjectionError> {
        // Deferred: a batch whose documents are all unchanged only reads, and its commit writes
        // nothing and syncs nothing.
        let tx = conn.transaction()?;
        let mut projected = Vec::with_capacity(loaded.len());
        for (doc_id, doc) in &loaded {
            let pass = match doc {
                None => Pass::NotStored,
                Some(doc) => project_in(&tx, doc_id, doc)?,
            };
            let stored_bytes = registry::stored_bytes(&tx, doc_id)?;
            projected.push(Projected { pass, stored_bytes });
        }
        tx.commit()?;
        Ok(projected)
    })
    .await
}

/// Within a transaction: refreshes `doc_id`'s registry heads and report rows from `doc`, unless
/// they were projected from these very heads already.
fn project_in(
    conn: &rusqlite::Connection,
    doc_id: &str,
    doc: &Automerge,
) -> Result<Pass, ProjectionError> {
    let heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    let heads_json = serde_json::to_string(&heads).unwrap_or_else(|_| "[]".to_owned());
    if projected_heads(conn, doc_id)?.as_deref() == Some(heads_json.as_str()) {
        return Ok(Pass::Unchanged);
    }
    Ok(write(conn, doc_id, doc, &heads, &heads_json)?)
}

/// The heads (as the registry's JSON) `doc_id`'s report rows were last projected from.
fn projected_heads(conn: &rusqlite::Connection, doc_id: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension as _;
    conn.prepare_cached("SELECT heads FROM projected_heads WHERE doc_id = ?1")?
        .query_row([doc_id], |r| r.get(0))
        .optional()
}

fn write(
    conn: &rusqlite::Connection,
    doc_id: &str,
    doc: &Automerge,
    heads: &[String],
    heads_json: &str,
) -> rusqlite::Result<Pass> {
    if !registry::set_heads(conn, doc_id, heads, now_ms())?
        && registry_kind(conn, doc_id)?.is_none()
    {
        return Ok(Pass::NotRegistered);
    }
    tables::replace(conn, doc_id, doc)?;
    conn.prepare_cached(
        "INSERT INTO projected_heads (doc_id, heads) VALUES (?1, ?2) \
         ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads",
    )?
    .execute(rusqlite::params![doc_id, heads_json])?;
    Ok(Pass::Rewritten)
}

fn registry_kind(conn: &rusqlite::Connection, doc_id: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension as _;
    conn.query_row("SELECT kind FROM documents WHERE id = ?1", [doc_id], |r| {
        r.get(0)
    })
    .optional()
}

/// Documents projected per transaction. [`project_many`] holds every document of its batch
/// loaded until it commits, and a loaded document takes ~10× its stored size (~37 KB for a
/// training session): the thousand written in W2's reconnect were ~37 MB of the server's peak
/// heap when they were one batch (heaptrack, BENCH-RESULTS.md "Session 13").
const BATCH_DOCUMENTS: usize = 32;

/// The shape of the report rows this build writes; bump it when `tables` writes new columns, so
/// a server started on an older database rebuilds the rows ([`rebuild_if_stale`]).
pub const VERSION: i64 = 2;

/// Rebuilds the report rows when the database holds rows of an older shape. Returns how many
/// documents were projected, `None` when the rows were current.
pub async fn rebuild_if_stale(
    db: &Db,
    store: &SqliteChunkStore,
) -> Result<Option<usize>, ProjectionError> {
    let stored: i64 = db
        .call(|conn| -> Result<i64, ProjectionError> {
            Ok(conn.query_row("SELECT version FROM projection_state", [], |r| r.get(0))?)
        })
        .await?;
    if stored >= VERSION {
        return Ok(None);
    }
    Ok(Some(rebuild(db, store).await?))
}

/// Recreates every report row and registry head from the stored documents, and records that the
/// rows have this build's shape. Returns how many
/// documents were projected.
pub async fn rebuild(db: &Db, store: &SqliteChunkStore) -> Result<usize, ProjectionError> {
    let ids: Vec<String> = db
        .call(|conn| -> Result<Vec<String>, ProjectionError> {
            tables::clear(conn)?;
            conn.execute("DELETE FROM projected_heads", [])?;
            let mut statement =
                conn.prepare("SELECT id FROM documents WHERE deleted_at IS NULL")?;
            let ids = statement
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .await?;
    for batch in ids.chunks(BATCH_DOCUMENTS) {
        project_many(db, store, batch).await?;
    }
    db.call(|conn| -> Result<(), ProjectionError> {
        conn.execute("UPDATE projection_state SET version = ?1", [VERSION])?;
        Ok(())
    })
    .await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable as _};
    use nimo_shared::{
        DeviceId, Timestamp, doc,
        records::training::{Audience, Host, TrainingKind, TrainingSession},
        storage::StorageKey,
    };

    use super::*;
    use crate::{access::DocKind, db::DbError};

    const DOC: &str = "2Ry5r1qC3HqXEYkmsn5D9tNTHZWm";

    fn session() -> Automerge {
        let at: Timestamp = "2025-06-01T10:00:00+09:00".parse().expect("time");
        let session = TrainingSession {
            course: TrainingKind::KokoroSupporter,
            audience: Some(Audience::Community),
            scope: None,
            host: Host::CoHosted("女川町".parse().expect("municipality")),
            date: "2025-06-01".parse().expect("date"),
            start: "10:00".parse().expect("start"),
            end: "12:00".parse().expect("end"),
            venue: "女川町まちなか交流館".into(),
            venue_municipality: "女川町".parse().expect("municipality"),
            trainers: ["講師 一郎".to_owned()].into(),
            capacity: 40,
            roster: Default::default(),
        };
        doc::create(
            &session,
            DeviceId::from_random_bytes([7; 16]).actor_id(),
            at,
        )
        .expect("session document")
    }

    async fn capacity(db: &Db) -> Option<i64> {
        db.call(|conn| -> Result<Option<i64>, DbError> {
            use rusqlite::OptionalExtension as _;
            Ok(conn
                .query_row("SELECT capacity FROM proj_sessions", [], |r| r.get(0))
                .optional()?)
        })
        .await
        .expect("capacity")
    }

    /// A fresh database and chunk store in which [`DOC`] is registered as a training session.
    async fn with_session_registered() -> (tempfile::TempDir, Db, SqliteChunkStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_in(dir.path()).expect("open");
        let store = SqliteChunkStore::open(db.path()).expect("store");
        db.call(|conn| -> Result<bool, DbError> {
            // Users are not these tests' subject.
            conn.pragma_update(None, "foreign_keys", "OFF")?;
            Ok(registry::register(
                conn,
                DOC,
                DocKind::TrainingSession,
                None,
                "u",
                &[],
                1,
            )?)
        })
        .await
        .expect("register");
        (dir, db, store)
    }

    /// The chunk store writes on a connection of its own; a pass that starts while it holds the
    /// write lock waits for it (a deferred transaction failed there at once with SQLITE_BUSY,
    /// and the document's rows stayed stale).
    #[tokio::test]
    async fn a_pass_waits_for_another_connections_write_instead_of_failing() {
        let (_dir, db, store) = with_session_registered().await;
        store
            .put(
                StorageKey::incremental(DOC, "first").expect("key"),
                session().save(),
            )
            .await
            .expect("put");
        let (locked, is_locked) = std::sync::mpsc::channel();
        let path = db.path().to_owned();
        let holder = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).expect("open");
            conn.execute_batch("BEGIN IMMEDIATE; CREATE TABLE held (x);")
                .expect("the write lock");
            locked.send(()).expect("send");
            std::thread::sleep(std::time::Duration::from_millis(300));
            conn.execute_batch("COMMIT").expect("commit");
        });
        is_locked.recv().expect("locked");
        let pass = project_one(&db, &store, DOC)
            .await
            .expect("the pass waits, then projects");
        assert_eq!(pass, Pass::Rewritten);
        assert_eq!(capacity(&db).await, Some(40));
        holder.join().expect("the holder finishes");
    }

    #[test]
    fn a_failed_pass_is_tried_again_later_a_few_times() {
        let delays: Vec<_> = (1..=PROJECTION_ATTEMPTS).map(retry_delay).collect();
        assert_eq!(delays[0], Some(Duration::from_secs(2)));
        assert!(delays.windows(2).all(|pair| match pair {
            [Some(earlier), Some(later)] => later > earlier,
            [Some(_), None] => true,
            _ => false,
        }));
        assert_eq!(delays.last(), Some(&None));
    }

    /// The rows are scribbled over after the first pass: only a pass that rewrites them brings
    /// the projected capacity back.
    #[tokio::test]
    async fn a_pass_over_the_heads_projected_last_writes_nothing_and_a_change_is_projected() {
        let (_dir, db, store) = with_session_registered().await;
        let mut document = session();
        let put = |key: StorageKey, bytes: Vec<u8>| {
            let store = store.clone();
            async move { store.put(key, bytes).await.expect("put") }
        };
        put(
            StorageKey::incremental(DOC, "first").expect("key"),
            document.save(),
        )
        .await;
        let scribble = || {
            db.call(|conn| -> Result<usize, DbError> {
                Ok(conn.execute("UPDATE proj_sessions SET capacity = -1", [])?)
            })
        };

        let first = project_one(&db, &store, DOC).await.expect("project");
        assert_eq!(first, Pass::Rewritten);
        assert_eq!(capacity(&db).await, Some(40));
        scribble().await.expect("scribble");

        // A compaction: the same changes again, under another key.
        put(
            StorageKey::snapshot(DOC, "compacted").expect("key"),
            document.save(),
        )
        .await;
        let again = project_one(&db, &store, DOC).await.expect("project");
        assert_eq!(again, Pass::Unchanged);
        assert_eq!(capacity(&db).await, Some(-1), "the rows were not rewritten");

        // A real change.
        let before = document.get_heads();
        document
            .transact(|tx| tx.put(ROOT, "venue", "女川町生涯学習センター"))
            .expect("change");
        put(
            StorageKey::incremental(DOC, "second").expect("key"),
            document.save_after(&before),
        )
        .await;
        let changed = project_one(&db, &store, DOC).await.expect("project");
        assert_eq!(changed, Pass::Rewritten);
        assert_eq!(capacity(&db).await, Some(40));

        // A rebuild forgets what was projected and writes every row again.
        scribble().await.expect("scribble");
        assert_eq!(rebuild(&db, &store).await.expect("rebuild"), 1);
        assert_eq!(capacity(&db).await, Some(40));
    }

    /// A burst of writes to one document, each told to the running projection as samod's
    /// storage tells it: however the passes are coalesced, the rows end up projected from the
    /// last write, and the recorded heads are the stored ones.
    #[tokio::test]
    async fn a_burst_of_writes_is_projected_up_to_its_last_write() {
        let (_dir, db, store) = with_session_registered().await;
        store.notify_writes_to(spawn(
            db.clone(),
            store.clone(),
            AccessNotifier::default(),
            u64::MAX,
        ));
        let mut document = session();
        let mut heads = Vec::new();
        for capacity in 41..=70_u64 {
            document
                .transact(|tx| tx.put(ROOT, "capacity", capacity))
                .expect("change");
            let key = samod::storage::StorageKey::from_parts([
                DOC.to_owned(),
                "incremental".to_owned(),
                format!("c{capacity}"),
            ])
            .expect("key");
            samod::storage::Storage::put(&store, key, document.save_after(&heads)).await;
            heads = document.get_heads();
        }
        let expected: Vec<String> = heads.iter().map(ToString::to_string).collect();
        let expected = serde_json::to_string(&expected).expect("json");
        // Waits for the projection; the bound is a hang guard for a lost pass (a pass takes
        // milliseconds), not a measure of speed.
        let caught_up = async {
            loop {
                let projected = db
                    .call(|conn| -> Result<Option<String>, DbError> {
                        Ok(projected_heads(conn, DOC)?)
                    })
                    .await
                    .expect("projected heads");
                if projected.as_deref() == Some(expected.as_str()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), caught_up)
            .await
            .expect("the last write was never projected");
        assert_eq!(capacity(&db).await, Some(70));
    }

    /// A burst over more documents than one transaction takes is projected in parts, and every
    /// document of it is projected.
    #[tokio::test]
    async fn a_burst_over_more_documents_than_a_batch_projects_each_of_them() {
        let (_dir, db, store) = with_session_registered().await;
        let ids: Vec<String> = (0..BATCH_DOCUMENTS + 3)
            .map(|n| format!("burst-{n:02}"))
            .collect();
        let registered = ids.clone();
        db.call(move |conn| -> Result<(), DbError> {
            for id in &registered {
                registry::register(conn, id, DocKind::TrainingSession, None, "u", &[], 1)?;
            }
            Ok(())
        })
        .await
        .expect("register");
        store.notify_writes_to(spawn(
            db.clone(),
            store.clone(),
            AccessNotifier::default(),
            u64::MAX,
        ));
        let saved = session().save();
        for id in &ids {
            let key = samod::storage::StorageKey::from_parts([
                id.clone(),
                "snapshot".to_owned(),
                "s".to_owned(),
            ])
            .expect("key");
            samod::storage::Storage::put(&store, key, saved.clone()).await;
        }
        // A hang guard for a lost pass, not a measure of speed.
        let all_projected = async {
            loop {
                let projected = db
                    .call(|conn| -> Result<i64, DbError> {
                        Ok(conn.query_row(
                            "SELECT COUNT(*) FROM projected_heads WHERE doc_id LIKE 'burst-%'",
                            [],
                            |row| row.get(0),
                        )?)
                    })
                    .await
                    .expect("count");
                if projected == i64::try_from(ids.len()).expect("small") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), all_projected)
            .await
            .expect("a document of the burst was never projected");
    }

    /// A batch answers for each of its documents, in order, from one transaction.
    #[tokio::test]
    async fn a_batch_answers_for_each_document_in_order() {
        let (_dir, db, store) = with_session_registered().await;
        let unregistered = "3Ry5r1qC3HqXEYkmsn5D9tNTHZWm";
        let saved = session().save();
        for doc_id in [DOC, unregistered] {
            store
                .put(
                    StorageKey::incremental(doc_id, "first").expect("key"),
                    saved.clone(),
                )
                .await
                .expect("put");
        }
        let ids = [DOC, unregistered, "4Ry5r1qC3HqXEYkmsn5D9tNTHZWm"].map(str::to_owned);

        let first = project_many(&db, &store, &ids).await.expect("project");
        let passes: Vec<Pass> = first.iter().map(|p| p.pass).collect();
        assert_eq!(
            passes,
            [Pass::Rewritten, Pass::NotRegistered, Pass::NotStored]
        );
        assert_eq!(first[0].stored_bytes, saved.len() as u64);
        assert_eq!(first[2].stored_bytes, 0);
        assert_eq!(capacity(&db).await, Some(40));

        let again = project_many(&db, &store, &ids).await.expect("project");
        assert_eq!(again[0].pass, Pass::Unchanged);
    }
}
