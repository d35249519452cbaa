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
//! So the changes a device sends are checked against the document they are for ([`check`]):
//! the changes that would be applied now, their dependencies being in a view of the document
//! ([`DocumentView`]) or among the changes applied with them, may name only actors the view
//! knows or the authors of first changes applied with them.
//!
//! Changes that must wait for their dependencies are where this gets harder: automerge keeps
//! them in a queue and applies them when the dependencies come, perhaps from another
//! connection, unseen by the check of that later message. And the view may trail the document:
//! samod may not have applied a change this connection sent a moment ago. So the check runs
//! over the incoming changes *and* those let through before that the view does not hold yet
//! ("pending": still queued, or not applied yet), and [`watch`] keeps those per document. A
//! waiting change that names an actor no one has introduced is *suspicious*: while a document
//! has one, every message for it is checked in full, and the message that would let it be
//! applied is refused (its sender's connection closes; the suspicious change stays in samod's
//! queue, where it harms no one, until the server restarts).
//!
//! What the view must be: causally closed (every change it holds has its dependencies), as a
//! loaded automerge document is, and no newer than the document the changes will be applied
//! to (samod's, or the stored one, which trails samod's). Then a change automerge wrote is
//! never refused: if it is applied in the check, its causal past is in the view or among the
//! changes applied with it, and with it every actor it names. A dependency the server lacks
//! (a bloom filter's false positive made the device leave it out) only makes a change wait.

use std::collections::HashSet;

use automerge::{ActorId, Automerge, Change, ChangeHash};
use nimo_shared::sync::chunk_bounds;

pub mod watch;

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
        // imports only if the table holds it (the counter is not looked up). `import_obj` is
        // `#[doc(hidden)]` in automerge 0.12; `the_actor_table_lookup_tells_known_from_unknown`
        // fails if it stops answering so.
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

/// What a stored document's snapshots declare in their headers, read without loading them: the
/// actors of their actor tables and their heads. A part of the document, then: it knows no actor
/// and holds no change the document lacks, only fewer.
///
/// So [`check`] under it can only err towards caution: a change it finds applied is applied in
/// the document (its dependencies are there too), and an actor it knows, the document knows. A
/// change it leaves waiting may be applied in the document, but if it finds nothing suspicious,
/// every waiting change names only actors it knows or that a change it applied introduces, and
/// the document knows those whenever the change comes to be applied. An outcome with nothing
/// suspicious therefore holds for the document; anything else (a refusal included) must be
/// decided in the loaded document.
#[derive(Debug, Clone, Default)]
pub struct SnapshotHeaders {
    actors: HashSet<ActorId>,
    heads: HashSet<ChangeHash>,
}

impl SnapshotHeaders {
    /// The headers of `snapshots`, each exactly one document chunk; `None` if one is not.
    pub fn read<'a>(snapshots: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let mut headers = Self::default();
        for snapshot in snapshots {
            headers
                .actors
                .extend(chunk_bounds::document_actors(snapshot)?);
            headers
                .heads
                .extend(chunk_bounds::document_heads(snapshot)?);
        }
        Some(headers)
    }

    /// Whether `outcome`, found by [`check`] under these headers, holds for the whole document.
    pub fn settles(outcome: &Result<Outcome, UnknownActor>) -> bool {
        matches!(outcome, Ok(outcome) if outcome.suspicious.is_empty())
    }
}

impl DocumentView for SnapshotHeaders {
    fn knows_actor(&self, actor: &ActorId) -> bool {
        self.actors.contains(actor)
    }

    fn has_change(&self, hash: &ChangeHash) -> bool {
        self.heads.contains(hash)
    }
}

/// What [`check`] needs of a change, kept for as long as it may be pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFacts {
    /// The change's hash.
    pub hash: ChangeHash,
    /// Its dependencies.
    pub deps: Vec<ChangeHash>,
    /// Every actor it names: its author first, then those its operations refer to.
    pub actors: Vec<ActorId>,
    /// Its sequence number among its author's changes (1: the author's first).
    pub seq: u64,
}

impl From<&Change> for ChangeFacts {
    fn from(change: &Change) -> Self {
        Self {
            hash: change.hash(),
            deps: change.deps().to_vec(),
            actors: change.actors().cloned().collect(),
            seq: change.seq(),
        }
    }
}

impl ChangeFacts {
    /// The author, if this is the author's first change (it adds the author to the table).
    fn introduces(&self) -> Option<&ActorId> {
        (self.seq == 1).then(|| self.actors.first()).flatten()
    }
}

/// A change that would be applied names an actor the document does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "change {change} names actor {actor}, which the document does not know{}",
    if *.pending { " (the change was sent before and waited for this message)" } else { "" }
)]
pub struct UnknownActor {
    /// The change.
    pub change: ChangeHash,
    /// The actor.
    pub actor: ActorId,
    /// Whether the change was pending (let through before, waiting for its dependencies), so
    /// that the message refused is the one that would have let it be applied.
    pub pending: bool,
}

/// What [`check`] found, for the watch over the document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Pending changes the view now holds: applied, no longer to be watched.
    pub settled: Vec<ChangeHash>,
    /// Changes (pending or incoming) that still wait for a dependency and name an actor that
    /// neither the view knows nor a first change applied now introduces.
    pub suspicious: Vec<ChangeHash>,
}

/// Refuses `incoming` if applying it to `doc`, after the `pending` changes let through before,
/// would apply a change naming an actor `doc` does not know and no first change applied with
/// it introduces (see the module docs).
pub fn check(
    incoming: &[ChangeFacts],
    pending: &[ChangeFacts],
    doc: &impl DocumentView,
) -> Result<Outcome, UnknownActor> {
    let (held, pending): (Vec<&ChangeFacts>, Vec<&ChangeFacts>) = pending
        .iter()
        .partition(|change| doc.has_change(&change.hash));
    let pending_hashes: HashSet<ChangeHash> = pending.iter().map(|change| change.hash).collect();
    // automerge skips the changes it already has, and each change once.
    let mut seen = HashSet::new();
    let all: Vec<&ChangeFacts> = pending
        .into_iter()
        .chain(
            incoming
                .iter()
                .filter(|change| !doc.has_change(&change.hash)),
        )
        .filter(|change| seen.insert(change.hash))
        .collect();
    // Which are applied: a fixed point over "its dependencies are in the document or among
    // those applied" (automerge orders them topologically).
    let mut applied: HashSet<ChangeHash> = HashSet::new();
    let mut waiting = all.clone();
    loop {
        let (ready, still): (Vec<&ChangeFacts>, Vec<&ChangeFacts>) =
            waiting.into_iter().partition(|change| {
                change
                    .deps
                    .iter()
                    .all(|dep| applied.contains(dep) || doc.has_change(dep))
            });
        waiting = still;
        if ready.is_empty() {
            break;
        }
        applied.extend(ready.iter().map(|change| change.hash));
    }
    let introduced: HashSet<&ActorId> = all
        .iter()
        .filter(|change| applied.contains(&change.hash))
        .filter_map(|change| change.introduces())
        .collect();
    let stranger = |change: &ChangeFacts| {
        change
            .actors
            .iter()
            .find(|actor| !introduced.contains(actor) && !doc.knows_actor(actor))
            .cloned()
    };
    for change in all.iter().filter(|change| applied.contains(&change.hash)) {
        if let Some(actor) = stranger(change) {
            return Err(UnknownActor {
                change: change.hash,
                actor,
                pending: pending_hashes.contains(&change.hash),
            });
        }
    }
    Ok(Outcome {
        settled: held.iter().map(|change| change.hash).collect(),
        suspicious: waiting
            .iter()
            .filter(|change| stranger(change).is_some())
            .map(|change| change.hash)
            .collect(),
    })
}

#[cfg(test)]
mod tests;
