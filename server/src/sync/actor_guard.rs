//! A check of the changes a device sends against the document they are for: would applying
//! them make automerge look up an actor the document does not know?
//!
//! automerge 0.12 applies a change by looking up, in the document's actor table, every actor
//! the change names (its author and the actors its operations refer to), with an `unwrap`
//! (`op_set2/change/batch.rs`, `import_ops`). Only the authors of the first changes (`seq` 1)
//! of the batch are added first. A change that names an actor the document has never seen, 66
//! bytes made by hand (`fuzz/regressions/document_load/unknown-actor`, found by CI's fuzzer),
//! panics it, and in samod the document's actor dies: the document stops syncing for everyone
//! until the server restarts. automerge itself never writes such a change: the actors a change
//! names are the authors of changes in its causal past.
//!
//! So, for a message's changes and a view of the document ([`DocumentView`]): the changes that
//! would be applied now (their dependencies are in the view, or among the changes applied with
//! them) may name only actors the view knows or the authors of first changes applied with
//! them ([`check`]).
//!
//! What the view must be: causally closed (every change it holds has its dependencies), as a
//! loaded automerge document is, and no newer than the document the changes will be applied
//! to (samod's, or the stored one, which trails samod's). Then a change automerge wrote is
//! never refused: if it is applied in the view, its causal past is in the view and with it
//! every actor it names. A hostile change is caught when the view already holds its
//! dependencies. What this cannot catch: a hostile change whose dependencies arrive later
//! (samod queues it, then applies it when they come, unseen by this check), or one raced
//! behind a change of the same connection that samod has not applied yet. Those need the
//! apply path in our hands (fuzz/README.md).
//!
//! [`ConnectionGuard`] runs the check for one device connection: the view is samod's document
//! when a shard holds it, else the stored one (or, for a document never stored, a new one);
//! actors a document was seen to know are remembered, so a device pushing to its documents
//! pays for one look per document and actor.

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr as _;
use std::sync::Mutex;
use std::time::Duration;

use automerge::{ActorId, Automerge, Change, ChangeHash};
use nimo_shared::sync::DocumentId;

use super::cold_read::ColdReads;
use super::shards::Shards;
use crate::storage::SqliteChunkStore;

/// What [`check`] asks of the document the changes are for.
pub trait DocumentView {
    /// Whether the document's actor table holds `actor`.
    fn knows_actor(&self, actor: &ActorId) -> bool;
    /// Whether the document holds the change `hash`.
    fn has_change(&self, hash: &ChangeHash) -> bool;
}

impl DocumentView for Automerge {
    fn knows_actor(&self, actor: &ActorId) -> bool {
        // The one lookup of the actor table automerge exposes: an object id naming the actor
        // imports only if the table holds it (the counter is not looked up).
        self.import_obj(&format!("1@{actor}")).is_ok()
    }

    fn has_change(&self, hash: &ChangeHash) -> bool {
        self.get_change_meta_by_hash(hash).is_some()
    }
}

/// A document no one has written yet: it knows no actor and holds no change.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewDocument;

impl DocumentView for NewDocument {
    fn knows_actor(&self, _: &ActorId) -> bool {
        false
    }

    fn has_change(&self, _: &ChangeHash) -> bool {
        false
    }
}

/// A change that would be applied names an actor the document does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {change} names actor {actor}, which the document does not know")]
pub struct UnknownActor {
    /// The change.
    pub change: ChangeHash,
    /// The actor.
    pub actor: ActorId,
}

/// Every actor `changes` name (authors and the actors their operations refer to).
pub fn actors_named(changes: &[Change]) -> BTreeSet<ActorId> {
    changes.iter().flat_map(Change::actors).cloned().collect()
}

/// Refuses `changes` if one that would be applied to `doc` now names an actor `doc` does not
/// know and that no first change applied with it introduces (see the module docs).
pub fn check(changes: &[Change], doc: &impl DocumentView) -> Result<(), UnknownActor> {
    // automerge skips the changes it already has.
    let incoming: Vec<&Change> = changes
        .iter()
        .filter(|change| !doc.has_change(&change.hash()))
        .collect();
    // Which of them are applied now: a fixed point over "its dependencies are in the document
    // or among those applied" (automerge orders them topologically).
    let mut applied: HashSet<ChangeHash> = HashSet::new();
    let mut pending = incoming;
    loop {
        let (ready, waiting): (Vec<&Change>, Vec<&Change>) =
            pending.into_iter().partition(|change| {
                change
                    .deps()
                    .iter()
                    .all(|dep| applied.contains(dep) || doc.has_change(dep))
            });
        if ready.is_empty() {
            break;
        }
        applied.extend(ready.iter().map(|change| change.hash()));
        pending = waiting;
    }
    let applied: Vec<&Change> = changes
        .iter()
        .filter(|change| applied.contains(&change.hash()))
        .collect();
    let introduced: HashSet<&ActorId> = applied
        .iter()
        .filter(|change| change.seq() == 1)
        .map(|change| change.actor_id())
        .collect();
    for change in applied {
        if let Some(actor) = change
            .actors()
            .find(|actor| !introduced.contains(actor) && !doc.knows_actor(actor))
        {
            return Err(UnknownActor {
                change: change.hash(),
                actor: actor.clone(),
            });
        }
    }
    Ok(())
}

/// [`check`] against `doc`, and which of `named` `doc` knows.
fn judge(
    changes: &[Change],
    named: &BTreeSet<ActorId>,
    doc: &impl DocumentView,
) -> (Result<(), UnknownActor>, Vec<ActorId>) {
    let known = named
        .iter()
        .filter(|actor| doc.knows_actor(actor))
        .cloned()
        .collect();
    (check(changes, doc), known)
}

/// How long a shard may take to hand over a document it holds before the stored one is used.
const FIND_TIMEOUT: Duration = Duration::from_secs(2);
/// (document, actor) pairs remembered per connection; past this the memory starts again.
const MAX_REMEMBERED: usize = 65_536;

/// [`check`] for one device connection (see the module docs).
#[derive(Debug)]
pub struct ConnectionGuard {
    shards: Shards,
    cold: ColdReads,
    store: SqliteChunkStore,
    /// Actors each document was seen to know. An actor never leaves a document's table.
    known: Mutex<HashSet<(DocumentId, ActorId)>>,
}

impl ConnectionGuard {
    /// A guard reading documents from `shards` (hot, as `cold` tells) or `store`.
    pub fn new(shards: Shards, cold: ColdReads, store: SqliteChunkStore) -> Self {
        Self {
            shards,
            cold,
            store,
            known: Mutex::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<(DocumentId, ActorId)>> {
        // Every critical section leaves the set consistent.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses `changes`, sent for `document`, if applying them would look up an actor the
    /// document does not know. A document that cannot be read lets them through: this guards
    /// against a hostile device, and refusing would close an honest one's connection.
    pub async fn check(
        &self,
        document: DocumentId,
        changes: Vec<Change>,
    ) -> Result<(), UnknownActor> {
        if changes.is_empty() {
            return Ok(());
        }
        let named = actors_named(&changes);
        {
            let known = self.known();
            if named
                .iter()
                .all(|actor| known.contains(&(document, actor.clone())))
            {
                return Ok(());
            }
        }
        let Some((verdict, known)) = self.judge_in_a_view(document, changes, named).await else {
            return Ok(());
        };
        let mut remembered = self.known();
        if remembered.len() + known.len() > MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.extend(known.into_iter().map(|actor| (document, actor)));
        verdict
    }

    /// [`judge`] in samod's document if a shard holds it, else in the stored one. `None` if
    /// neither could be read.
    async fn judge_in_a_view(
        &self,
        document: DocumentId,
        changes: Vec<Change>,
        named: BTreeSet<ActorId>,
    ) -> Option<(Result<(), UnknownActor>, Vec<ActorId>)> {
        let doc_id = document.to_string();
        if self.cold.is_hot(&document)
            && let Ok(samod_id) = samod::DocumentId::from_str(&doc_id)
            && let Ok(Ok(Some(handle))) = tokio::time::timeout(
                FIND_TIMEOUT,
                self.shards.repo_for(&samod_id).find(samod_id.clone()),
            )
            .await
        {
            let (changes, named) = (changes.clone(), named.clone());
            if let Ok(judged) = handle
                .with_document_async(move |doc| judge(&changes, &named, doc))
                .await
            {
                return Some(judged);
            }
        }
        let stored = match self.store.document_chunks(&doc_id).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, doc = %doc_id, "the actor check could not read the document");
                return None;
            }
        };
        tokio::task::spawn_blocking(move || {
            if stored.is_empty() {
                judge(&changes, &named, &NewDocument)
            } else {
                judge(&changes, &named, &stored.load(&doc_id))
            }
        })
        .await
        .ok()
    }
}

#[cfg(test)]
mod tests;
