//! Where [`super::check`] runs: the server-wide watch over each document's pending changes
//! ([`ActorWatch`]), and each device connection's guard ([`ConnectionGuard`]).
//!
//! The view of a document is the stored one (or, for a document never stored, [`NewDocument`]),
//! loaded on a blocking thread. It trails samod's copy by the changes samod has applied and not
//! yet written, and those are among the pending changes. Not samod's copy: asking samod for a
//! document it has not loaded yet (the message being checked may be the one that brings it)
//! makes it request the document from the connected devices, and when they say they have not
//! got it, samod tells the next device that asks that it does not exist
//! (`two_devices_co_edit_documents_of_different_shards_live` in `tests/tests/sync.rs` failed so).
//!
//! Loading costs a millisecond or more, so the common cases are answered without it. A document
//! never stored is judged as [`NewDocument`], exactly. Otherwise, while nothing suspicious is
//! pending, the check runs first under what the stored snapshots' headers declare
//! ([`SnapshotHeaders`]: their actors and heads), and an outcome with nothing suspicious there
//! holds for the document: a device's changes on top of the heads it last synced, by a known
//! author or a new one (each browser session of the JavaScript client writes as a new actor),
//! pass without a load. And a connection remembers the actors each document was seen to know
//! (an actor never leaves a document's table): while a document has no suspicious pending
//! change, a message naming only such actors cannot make automerge look up an unknown one, and
//! passes without a look; its changes still join the pending ones.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use automerge::{ActorId, Change, ChangeHash};
use nimo_shared::sync::DocumentId;

use super::{
    ChangeFacts, DocumentView, NewDocument, Outcome, SnapshotHeaders, UnknownActor, check,
};
use crate::storage::SqliteChunkStore;

/// How long a pending change that is not suspicious is kept: samod applies and stores a change
/// it was given within moments, and the stored view holds it from then on. A change still waiting after this
/// lacked a dependency the server never got (a false positive of a bloom filter, resolved in
/// the next exchange, or a change nobody will send).
const SETTLE_WITHIN: Duration = Duration::from_secs(120);
/// Pending changes kept per document; past this the oldest that are not suspicious go first.
const MAX_PENDING: usize = 4_096;
/// Suspicious changes a document may hold; a message that would add more is refused. An honest
/// device makes one only when a bloom filter's false positive leaves out its first change.
const MAX_SUSPICIOUS: usize = 256;
/// (document, actor) pairs a connection remembers; past this it starts again.
const MAX_REMEMBERED: usize = 65_536;
/// Documents watched before the watch first drops those with nothing pending; after each
/// sweep, the next comes when the count has doubled, so sweeping stays proportionate.
const SWEEP_ABOVE: usize = 4_096;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorRefused {
    /// It names, or would let be applied, an actor the document does not know.
    #[error(transparent)]
    Unknown(#[from] UnknownActor),
    /// The document holds as many suspicious changes as it may.
    #[error("the document already holds {MAX_SUSPICIOUS} changes waiting with unknown actors")]
    TooManySuspicious,
}

/// One document's pending changes.
#[derive(Debug, Default)]
struct Pending {
    changes: Vec<(ChangeFacts, Instant)>,
    suspicious: HashSet<ChangeHash>,
}

impl Pending {
    fn expire(&mut self, now: Instant) {
        let suspicious = &self.suspicious;
        self.changes.retain(|(change, since)| {
            suspicious.contains(&change.hash) || now.duration_since(*since) < SETTLE_WITHIN
        });
    }

    fn facts(&self) -> Vec<ChangeFacts> {
        self.changes
            .iter()
            .map(|(change, _)| change.clone())
            .collect()
    }

    fn add(&mut self, incoming: Vec<ChangeFacts>, now: Instant) {
        let mut known: HashSet<ChangeHash> = self.changes.iter().map(|(c, _)| c.hash).collect();
        self.changes.extend(
            incoming
                .into_iter()
                .filter(|change| known.insert(change.hash))
                .map(|change| (change, now)),
        );
        let mut over = self.changes.len().saturating_sub(MAX_PENDING);
        let suspicious = &self.suspicious;
        self.changes.retain(|(change, _)| {
            if over > 0 && !suspicious.contains(&change.hash) {
                over -= 1;
                false
            } else {
                true
            }
        });
    }

    fn settle(&mut self, outcome: &Outcome) {
        let settled: HashSet<&ChangeHash> = outcome.settled.iter().collect();
        self.changes
            .retain(|(change, _)| !settled.contains(&change.hash));
        self.suspicious = outcome.suspicious.iter().copied().collect();
    }
}

/// The server's watch over the documents' pending changes, and where their views come from.
#[derive(Clone, Debug)]
pub struct ActorWatch {
    store: SqliteChunkStore,
    documents: Arc<Mutex<Documents>>,
}

/// Every watched document's pending changes.
#[derive(Debug)]
struct Documents {
    pending: HashMap<DocumentId, Arc<tokio::sync::Mutex<Pending>>>,
    /// When the next sweep comes ([`SWEEP_ABOVE`]).
    sweep_above: usize,
}

impl Documents {
    /// `document`'s pending changes, after a sweep if one is due.
    fn of(&mut self, document: DocumentId, now: Instant) -> Arc<tokio::sync::Mutex<Pending>> {
        if self.pending.len() > self.sweep_above {
            self.pending.retain(|_, pending| match pending.try_lock() {
                Ok(mut pending) => {
                    pending.expire(now);
                    !pending.changes.is_empty()
                }
                // Being checked: kept.
                Err(_) => true,
            });
            self.sweep_above = SWEEP_ABOVE.max(2 * self.pending.len());
        }
        self.pending.entry(document).or_default().clone()
    }
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            sweep_above: SWEEP_ABOVE,
        }
    }
}

impl ActorWatch {
    /// A watch reading documents from `store`.
    pub fn new(store: SqliteChunkStore) -> Self {
        Self {
            store,
            documents: Arc::default(),
        }
    }

    fn documents(&self) -> MutexGuard<'_, Documents> {
        // Every critical section leaves the map consistent.
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `document`'s pending changes (one lock per document, held across a whole check, so two
    /// connections' messages for it are checked one after the other).
    fn pending(&self, document: DocumentId) -> Arc<tokio::sync::Mutex<Pending>> {
        self.documents().of(document, Instant::now())
    }

    /// A guard for one device connection.
    pub fn connection(&self) -> ConnectionGuard {
        ConnectionGuard {
            watch: self.clone(),
            known: Mutex::default(),
        }
    }

    /// [`check`] in the stored document, with which of `named` it knows. `None` if it could not
    /// be read. With `quick` (nothing suspicious is pending), an outcome found under the stored
    /// snapshots' headers with nothing suspicious is taken without loading the document.
    async fn judge(
        &self,
        document: DocumentId,
        incoming: Vec<ChangeFacts>,
        pending: Vec<ChangeFacts>,
        named: BTreeSet<ActorId>,
        quick: bool,
    ) -> Option<(Result<Outcome, UnknownActor>, Vec<ActorId>)> {
        fn judge_in(
            doc: &impl DocumentView,
            incoming: &[ChangeFacts],
            pending: &[ChangeFacts],
            named: &BTreeSet<ActorId>,
        ) -> (Result<Outcome, UnknownActor>, Vec<ActorId>) {
            let known = named
                .iter()
                .filter(|actor| doc.knows_actor(actor))
                .cloned()
                .collect();
            (check(incoming, pending, doc), known)
        }
        let doc_id = document.to_string();
        let stored = match self.store.document_chunks(&doc_id).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, doc = %doc_id, "the actor check could not read the document");
                return None;
            }
        };
        if stored.is_empty() {
            // Exact, and cheap: no load, so no trip to a blocking thread.
            return Some(judge_in(&NewDocument, &incoming, &pending, &named));
        }
        if quick
            && let Some(headers) = SnapshotHeaders::read(stored.snapshots.iter().map(Vec::as_slice))
        {
            let judged = judge_in(&headers, &incoming, &pending, &named);
            if SnapshotHeaders::settles(&judged.0) {
                return Some(judged);
            }
        }
        tracing::debug!(doc = %doc_id, quick, "the actor check loads the stored document");
        tokio::task::spawn_blocking(move || {
            judge_in(&stored.load(&doc_id), &incoming, &pending, &named)
        })
        .await
        .ok()
    }
}

/// [`check`] for one device connection (see the module docs).
#[derive(Debug)]
pub struct ConnectionGuard {
    watch: ActorWatch,
    /// Actors each document was seen to know.
    known: Mutex<HashSet<(DocumentId, ActorId)>>,
}

impl ConnectionGuard {
    fn known(&self) -> MutexGuard<'_, HashSet<(DocumentId, ActorId)>> {
        // Every critical section leaves the set consistent.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses `changes`, sent for `document`, if applying them would make automerge look up an
    /// actor the document does not know, now or when they stop waiting. A document that cannot
    /// be read lets them through: this guards against a hostile device, and refusing would
    /// close an honest one's connection.
    pub async fn check(
        &self,
        document: DocumentId,
        changes: &[Change],
    ) -> Result<(), ActorRefused> {
        if changes.is_empty() {
            return Ok(());
        }
        let incoming: Vec<ChangeFacts> = changes.iter().map(ChangeFacts::from).collect();
        let named: BTreeSet<ActorId> = incoming
            .iter()
            .flat_map(|change| change.actors.iter().cloned())
            .collect();
        let pending = self.watch.pending(document);
        let mut pending = pending.lock().await;
        let now = Instant::now();
        pending.expire(now);
        let all_known = {
            let known = self.known();
            named
                .iter()
                .all(|actor| known.contains(&(document, actor.clone())))
        };
        if all_known && pending.suspicious.is_empty() {
            pending.add(incoming, now);
            return Ok(());
        }
        let judged = self
            .watch
            .judge(
                document,
                incoming.clone(),
                pending.facts(),
                named,
                pending.suspicious.is_empty(),
            )
            .await;
        let Some((verdict, known)) = judged else {
            pending.add(incoming, now);
            return Ok(());
        };
        {
            let mut remembered = self.known();
            if remembered.len() + known.len() > MAX_REMEMBERED {
                remembered.clear();
            }
            remembered.extend(known.into_iter().map(|actor| (document, actor)));
        }
        let outcome = verdict?;
        if outcome.suspicious.len() > MAX_SUSPICIOUS {
            return Err(ActorRefused::TooManySuspicious);
        }
        if !outcome.suspicious.is_empty() {
            tracing::warn!(doc = %document, suspicious = outcome.suspicious.len(),
                "changes wait for dependencies naming actors the document does not know");
        }
        pending.settle(&outcome);
        pending.add(incoming, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u8) -> ChangeFacts {
        ChangeFacts {
            hash: ChangeHash([n; 32]),
            deps: Vec::new(),
            actors: vec![ActorId::from([n].as_slice())],
            seq: 1,
        }
    }

    fn hashes(pending: &Pending) -> Vec<ChangeHash> {
        pending
            .changes
            .iter()
            .map(|(change, _)| change.hash)
            .collect()
    }

    #[test]
    fn pending_changes_expire_unless_suspicious() {
        let start = Instant::now();
        let mut pending = Pending::default();
        pending.add(vec![change(1), change(2)], start);
        pending.settle(&Outcome {
            settled: Vec::new(),
            suspicious: vec![change(2).hash],
        });
        pending.expire(start + SETTLE_WITHIN / 2);
        assert_eq!(hashes(&pending), vec![change(1).hash, change(2).hash]);
        pending.expire(start + SETTLE_WITHIN);
        assert_eq!(hashes(&pending), vec![change(2).hash]);
    }

    #[test]
    fn settled_changes_leave_and_the_suspicious_are_what_the_last_check_found() {
        let now = Instant::now();
        let mut pending = Pending::default();
        pending.add(vec![change(1), change(2), change(1)], now);
        assert_eq!(hashes(&pending), vec![change(1).hash, change(2).hash]);
        pending.settle(&Outcome {
            settled: vec![change(1).hash],
            suspicious: vec![change(2).hash],
        });
        assert_eq!(hashes(&pending), vec![change(2).hash]);
        assert!(pending.suspicious.contains(&change(2).hash));
        pending.settle(&Outcome::default());
        assert!(pending.suspicious.is_empty());
    }

    fn document(n: u32) -> DocumentId {
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        DocumentId::from_bytes(bytes)
    }

    #[test]
    fn documents_with_nothing_pending_are_swept_when_their_count_doubles() {
        let now = Instant::now();
        let mut documents = Documents::default();
        let busy = documents.of(document(0), now);
        busy.try_lock().expect("free").add(vec![change(1)], now);
        for n in 1..=u32::try_from(SWEEP_ABOVE).expect("small") {
            documents.of(document(n), now);
        }
        assert_eq!(documents.pending.len(), SWEEP_ABOVE + 1);
        // The next look sweeps: only the document with a pending change stays, and the new one.
        documents.of(document(u32::MAX), now);
        assert_eq!(documents.pending.len(), 2);
        assert_eq!(documents.sweep_above, SWEEP_ABOVE);
        assert!(documents.pending.contains_key(&document(0)));
    }

    #[test]
    fn past_the_bound_the_oldest_unsuspicious_changes_go_first() {
        let now = Instant::now();
        let mut pending = Pending::default();
        pending.add(vec![change(0)], now);
        pending.settle(&Outcome {
            settled: Vec::new(),
            suspicious: vec![change(0).hash],
        });
        let many: Vec<ChangeFacts> = (0..=MAX_PENDING)
            .map(|n| ChangeFacts {
                hash: ChangeHash(
                    <[u8; 32]>::try_from([(n as u64 + 1).to_le_bytes(); 4].concat())
                        .expect("32 bytes"),
                ),
                ..change(1)
            })
            .collect();
        let newest = many.last().expect("some").hash;
        pending.add(many, now);
        assert_eq!(pending.changes.len(), MAX_PENDING);
        assert_eq!(
            pending.changes[0].0.hash,
            change(0).hash,
            "the suspicious one stays"
        );
        assert_eq!(pending.changes[MAX_PENDING - 1].0.hash, newest);
    }
}
