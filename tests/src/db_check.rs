//! Looking into the database a dead (or living) server left behind: is everything it confirmed
//! there, and is the file sound? Shared by the SIGKILL loop and the disk-full test.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use automerge::{Automerge, ReadDoc as _};
use nimo_shared::{
    storage::{SNAPSHOT, StorageKey},
    sync::DocumentId,
};

use crate::native_client::Confirmation;

/// What one look at the database found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Confirmed heads found (all of them, or the check failed).
    pub heads: usize,
    /// Documents those heads belong to.
    pub documents: usize,
    /// Of those, documents that `load_document` (which confirm and the projection use) refuses
    /// because a chunk's changes depend on changes that never reached the disk. samod writes
    /// each change as its own chunk, in no guaranteed order, so a kill can leave such a hole in
    /// the *unconfirmed* tail; it closes when a device syncs the missing changes again.
    pub with_holes: usize,
}

/// Opens the database of a dead server and checks it: `integrity_check` is ok and every
/// confirmed head is there, with its whole history.
pub async fn check_database(data: &Path, confirmed: &[Confirmation]) -> anyhow::Result<Checked> {
    let db = nimo_server::Db::open_in(data)?;
    let integrity: Vec<String> = db
        .call(|conn| -> Result<Vec<String>, nimo_server::db::DbError> {
            let mut statement = conn.prepare("PRAGMA integrity_check")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await?;
    anyhow::ensure!(integrity == ["ok"], "PRAGMA integrity_check: {integrity:?}");
    let store = nimo_server::storage::SqliteChunkStore::open(db.path())?;
    let mut loaded: BTreeMap<DocumentId, Automerge> = BTreeMap::new();
    let mut checked = Checked::default();
    for Confirmation { doc_id, heads } in confirmed {
        if !loaded.contains_key(doc_id) {
            let id = doc_id.to_string();
            loaded.insert(*doc_id, load_as_samod_does(&db, &id).await?);
            checked.documents += 1;
            if store.load_document(&id).await.is_err() {
                checked.with_holes += 1;
            }
        }
        for head in heads {
            // Only a change whose every dependency is present is applied and found here.
            anyhow::ensure!(
                loaded[doc_id].get_change_by_hash(head).is_some(),
                "{doc_id}: confirmed head {head} is not in the database"
            );
            checked.heads += 1;
        }
    }
    Ok(checked)
}

/// Loads a document's chunks as samod does: snapshots first, then incrementals, each with
/// `load_incremental`, which keeps changes whose dependencies are missing aside instead of
/// failing. A chunk that is not Automerge at all is an error.
pub async fn load_as_samod_does(db: &nimo_server::Db, doc_id: &str) -> anyhow::Result<Automerge> {
    let id = doc_id.to_owned();
    let mut rows: Vec<(String, Vec<u8>)> = db
        .call(move |conn| -> Result<_, nimo_server::db::DbError> {
            let mut statement = conn.prepare("SELECT key, data FROM chunks WHERE doc_id = ?1")?;
            let rows = statement.query_map([&id], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    anyhow::ensure!(
        !rows.is_empty(),
        "{doc_id} was confirmed but has no chunk in the database"
    );
    let is_snapshot = |key: &str| {
        StorageKey::parse_joined(key)
            .is_ok_and(|key| key.components().get(1).map(String::as_str) == Some(SNAPSHOT))
    };
    rows.sort_by_key(|(key, _)| !is_snapshot(key));
    let mut doc = Automerge::new();
    for (key, bytes) in rows {
        doc.load_incremental(&bytes)
            .with_context(|| format!("chunk {key} is not Automerge"))?;
    }
    Ok(doc)
}
