//! The projection: after samod stores a change, the document is read back from SQLite, its heads
//! recorded in the registry, and its content hydrated (with `nimo_shared`'s schema) into the
//! report tables, all in one transaction. The tables are derived and [`rebuild`] recreates them.
//!
//! Changes arrive as document ids from the chunk store. Bursts are coalesced: while one batch is
//! projected, further writes to the same documents collapse into one more pass.

mod tables;

use std::collections::BTreeSet;

use automerge::Automerge;
use tokio::sync::{broadcast, mpsc};

use crate::{
    Db,
    accounts::now_ms,
    registry,
    storage::{SqliteChunkStore, SqliteStoreError},
    sync::policy::AccessChange,
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
    access_changed: broadcast::Sender<AccessChange>,
    max_document_bytes: u64,
) -> mpsc::UnboundedSender<String> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut batch = BTreeSet::from([first]);
            while let Ok(more) = receiver.try_recv() {
                batch.insert(more);
            }
            for doc_id in batch {
                if let Err(error) = project_one(&db, &store, &doc_id).await {
                    tracing::error!(doc = %doc_id, %error, "projection failed; the document is stored, its report rows are stale until it changes or is rebuilt");
                }
                let id = doc_id.clone();
                match db
                    .call(move |conn| -> Result<u64, ProjectionError> {
                        Ok(registry::stored_bytes(conn, &id)?)
                    })
                    .await
                {
                    Ok(bytes) if bytes > max_document_bytes => {
                        tracing::warn!(doc = %doc_id, bytes, limit = max_document_bytes, "document passed its size limit; it accepts no more changes");
                        let _ = access_changed.send(AccessChange::Document(doc_id.as_str().into()));
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(doc = %doc_id, %error, "cannot measure a document")
                    }
                }
            }
        }
    });
    sender
}

/// Reads `doc_id` back from the chunks and refreshes its registry heads and report rows.
pub async fn project_one(
    db: &Db,
    store: &SqliteChunkStore,
    doc_id: &str,
) -> Result<(), ProjectionError> {
    let Some(doc) = store.load_document(doc_id).await? else {
        return Ok(());
    };
    let doc_id = doc_id.to_owned();
    db.call(move |conn| -> Result<(), ProjectionError> {
        let tx = conn.transaction()?;
        write(&tx, &doc_id, &doc)?;
        tx.commit()?;
        Ok(())
    })
    .await
}

fn write(conn: &rusqlite::Connection, doc_id: &str, doc: &Automerge) -> rusqlite::Result<()> {
    let heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    if !registry::set_heads(conn, doc_id, &heads, now_ms())?
        && registry_kind(conn, doc_id)?.is_none()
    {
        // Not registered: nothing may see it, so nothing is projected.
        return Ok(());
    }
    tables::replace(conn, doc_id, doc)
}

fn registry_kind(conn: &rusqlite::Connection, doc_id: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension as _;
    conn.query_row("SELECT kind FROM documents WHERE id = ?1", [doc_id], |r| {
        r.get(0)
    })
    .optional()
}

/// Recreates every report row and registry head from the stored documents. Returns how many
/// documents were projected.
pub async fn rebuild(db: &Db, store: &SqliteChunkStore) -> Result<usize, ProjectionError> {
    let ids: Vec<String> = db
        .call(|conn| -> Result<Vec<String>, ProjectionError> {
            tables::clear(conn)?;
            let mut statement =
                conn.prepare("SELECT id FROM documents WHERE deleted_at IS NULL")?;
            let ids = statement
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .await?;
    for id in &ids {
        project_one(db, store, id).await?;
    }
    Ok(ids.len())
}
