//! Sync: samod (the Rust automerge-repo) behind axum's WebSocket, its storage in SQLite, its
//! share policy backed by the registry, and the REST calls around it.

pub mod access_notifier;
pub mod actor_guard;
pub mod api;
pub mod cold_read;
pub mod follow_up;
pub mod frame_guard;
pub mod mux;
pub mod policy;
pub mod rate;
pub mod registration;
pub mod shard_gate;
pub mod shards;
pub mod tickets;
pub mod write_audit;
pub mod ws;

use std::str::FromStr as _;

use automerge::{ChangeHash, ReadDoc as _};
use samod::{DocumentId, Repo};
use tokio::sync::broadcast;

use crate::{Db, http::AppError, storage::SqliteChunkStore};
use access_notifier::AccessNotifier;
use actor_guard::watch::ActorWatch;
use cold_read::{ColdReads, StoredDocuments};
use policy::{AccessChange, RegistryPolicy};
use shards::Shards;
use tickets::Tickets;

/// The running sync machinery, shared by every handler.
#[derive(Clone)]
pub struct SyncHub {
    /// The samod repositories the documents are sharded over.
    pub shards: Shards,
    /// Outstanding tickets and known peers.
    pub tickets: Tickets,
    /// The durable chunk store samod writes to.
    pub store: SqliteChunkStore,
    /// Requests for documents no shard has loaded, answered from the store.
    pub cold: ColdReads,
    /// The documents' pending changes, for the check of the actors incoming changes name.
    pub actors: ActorWatch,
    /// The share policy the shards and cold reads decide with (the write audit asks it too).
    pub policy: RegistryPolicy,
    changed: AccessNotifier,
    revocations: broadcast::Sender<Revocation>,
}

/// Whose open sync connections must close now: their sessions ended (logout, revoked device,
/// disabled user, changed role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Every connection of this user.
    User(String),
    /// Every connection of this device.
    Device(String),
}

impl Revocation {
    /// Whether this revocation concerns a connection of `owner`.
    pub fn applies_to(&self, owner: &tickets::PeerOwner) -> bool {
        match self {
            Self::User(user_id) => *user_id == owner.user_id,
            Self::Device(device_id) => *device_id == owner.device_id,
        }
    }
}

impl std::fmt::Debug for SyncHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHub")
            .field("shards", &self.shards.len())
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
    /// Starts `shards` samod repositories over `store` with the registry-backed share policy
    /// ([`shards`]); a change sent on `changed` makes the open policy decisions it concerns be
    /// taken again.
    pub async fn start(
        db: Db,
        store: SqliteChunkStore,
        changed: AccessNotifier,
        max_document_bytes: u64,
        shards: usize,
    ) -> Result<Self, SyncStartError> {
        let tickets = Tickets::default();
        let policy = RegistryPolicy::new(db, tickets.clone(), changed.clone(), max_document_bytes);
        let shards = Shards::start(shards, &store, &policy).await?;
        let cold = ColdReads::new(StoredDocuments::new(store.clone(), policy.clone()));
        let actors = ActorWatch::new(store.clone());
        Ok(Self {
            shards,
            tickets,
            store,
            cold,
            actors,
            policy,
            changed,
            // Revocations are rare; a connection that lags behind closes itself to be safe.
            revocations: broadcast::channel(64).0,
        })
    }

    /// Tells every open share-policy stream that access may have changed.
    pub fn access_changed(&self) {
        self.changed.send(AccessChange::Everything);
    }

    /// Tells the open share-policy streams of `doc_id` (only) that its access may have changed.
    pub fn document_access_changed(&self, doc_id: &str) {
        self.changed.send(AccessChange::Document(doc_id.into()));
    }

    /// Closes every open sync connection `revocation` concerns, within moments (each connection
    /// listens for it beside its frames).
    pub fn revoke(&self, revocation: Revocation) {
        tracing::info!(?revocation, "closing sync connections");
        // No receivers just means no connection is open.
        let _ = self.revocations.send(revocation);
    }

    /// Completes when `owner`'s connection must close (or when revocations were missed).
    pub fn closed_for(
        &self,
        owner: tickets::PeerOwner,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.revocations.subscribe();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(revocation) if revocation.applies_to(&owner) => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // The hub is gone: the server is stopping and samod closes everything.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        }
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

    /// The samod repository holding `doc_id` (the server's own writes to a document go
    /// through it). The document is hot from now on: the devices it was read to cold hear of
    /// the server's changes from samod ([`cold_read`]).
    pub fn repo_for(&self, doc_id: &DocumentId) -> &Repo {
        if let Ok(id) = nimo_shared::sync::DocumentId::try_from(doc_id.as_bytes()) {
            self.cold.mark_hot(id);
        }
        self.shards.repo_for(doc_id)
    }

    /// Stops every shard, waiting for their storage writes to finish.
    pub async fn stop(&self) {
        self.shards.stop().await;
    }
}
