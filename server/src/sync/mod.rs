//! Sync: samod (the Rust automerge-repo) behind axum's WebSocket, its storage in SQLite, its
//! share policy backed by the registry, and the REST calls around it.

pub mod api;
pub mod policy;
pub mod rate;
pub mod tickets;
pub mod ws;

use std::str::FromStr as _;

use automerge::{ChangeHash, ReadDoc as _};
use samod::{AcceptorHandle, PeerId, Repo};
use tokio::sync::broadcast;

use crate::{Db, http::AppError, storage::SqliteChunkStore};
use policy::{AccessChange, RegistryPolicy};
use tickets::Tickets;

/// The running sync machinery, shared by every handler.
#[derive(Clone)]
pub struct SyncHub {
    /// The samod repository.
    pub repo: Repo,
    /// Where WebSocket connections are handed to samod.
    pub acceptor: AcceptorHandle,
    /// Outstanding tickets and known peers.
    pub tickets: Tickets,
    /// The durable chunk store samod writes to.
    pub store: SqliteChunkStore,
    changed: broadcast::Sender<AccessChange>,
}

impl std::fmt::Debug for SyncHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHub")
            .field("peer_id", &self.repo.peer_id())
            .finish_non_exhaustive()
    }
}

/// Why sync could not start.
#[derive(Debug, thiserror::Error)]
pub enum SyncStartError {
    /// samod stopped before the acceptor was made.
    #[error("the sync repository stopped while starting")]
    Stopped,
}

impl SyncHub {
    /// Starts samod over `store` with the registry-backed share policy; a message on `changed`
    /// makes every open policy decision be taken again.
    pub async fn start(
        db: Db,
        store: SqliteChunkStore,
        changed: broadcast::Sender<AccessChange>,
        max_document_bytes: u64,
    ) -> Result<Self, SyncStartError> {
        let tickets = Tickets::default();
        let policy = RegistryPolicy::new(db, tickets.clone(), changed.clone(), max_document_bytes);
        let repo = Repo::build_tokio()
            .with_storage(store.clone())
            .with_share_policy(policy)
            .with_peer_id(PeerId::from("nimo-server"))
            .load()
            .await;
        let url = url::Url::parse("ws://nimo/api/sync/ws").map_err(|_| SyncStartError::Stopped)?;
        let acceptor = repo
            .make_acceptor(url)
            .map_err(|samod::Stopped| SyncStartError::Stopped)?;
        Ok(Self {
            repo,
            acceptor,
            tickets,
            store,
            changed,
        })
    }

    /// Tells every open share-policy stream that access may have changed.
    pub fn access_changed(&self) {
        // No receivers just means no connection asked about any document yet.
        let _ = self.changed.send(AccessChange::Everything);
    }

    /// Tells the open share-policy streams of `doc_id` (only) that its access may have changed.
    pub fn document_access_changed(&self, doc_id: &str) {
        let _ = self.changed.send(AccessChange::Document(doc_id.into()));
    }

    /// Whether every head in `heads` (hex change hashes) is durably stored for `doc_id`, read
    /// back from SQLite. Malformed hashes count as not stored.
    pub async fn heads_stored(&self, doc_id: &str, heads: &[String]) -> Result<bool, AppError> {
        let Ok(wanted) = heads
            .iter()
            .map(|h| ChangeHash::from_str(h))
            .collect::<Result<Vec<_>, _>>()
        else {
            return Ok(false);
        };
        let Some(doc) = self.store.load_document(doc_id).await.map_err(|error| {
            tracing::error!(%error, doc = %doc_id, "cannot read a document back for confirm");
            AppError::Internal
        })?
        else {
            return Ok(false);
        };
        Ok(wanted
            .iter()
            .all(|hash| doc.get_change_by_hash(hash).is_some()))
    }

    /// Stops samod, waiting for its storage writes to finish.
    pub async fn stop(&self) {
        self.repo.stop().await;
    }
}
