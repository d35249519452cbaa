//! Every write of a visit document over sync is audited (issue #6): one `document_written` row
//! per sync message whose changes reach a visit case, with the connection's user and device,
//! the document, and never the content. Reads are audited where access is decided (the share
//! policy); writes are seen where they reach the document, which is where the writer is known:
//!
//! - at the gate in front of the shards ([`super::shard_gate`]), once it admitted the frame and
//!   only if the peer may write (samod ignores a read-only peer's changes): a frame the gate
//!   refuses wrote nothing;
//! - in a cold exchange ([`super::cold_read`]), once it stored the changes. Such a frame may
//!   still be handed to the shard afterwards (it brings nothing new there), so the gate
//!   recognises it and does not count it twice.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, MutexGuard};

use nimo_shared::sync::{DocumentId, Message};

use super::cold_read::VisitWrites;
use super::policy::RegistryPolicy;
use crate::access::{Access, DocKind};
use crate::audit::{self, Action, AuditEvent};
use crate::db::Db;

/// How many cold writes a connection remembers for the gate: a handed-back frame follows its
/// exchange at once, so only the latest few can come back.
const REMEMBERED_COLD_WRITES: usize = 32;

/// One connection's write auditor.
#[derive(Debug)]
pub struct WriteAudit {
    db: Db,
    policy: RegistryPolicy,
    /// The server's runtime, taken when the connection is accepted: frames may be polled
    /// wherever samod runs its connection, and the audit write must not depend on that.
    runtime: tokio::runtime::Handle,
    peer_id: String,
    user_id: String,
    device_id: String,
    /// Registered documents seen on this connection that are not visit cases (a document's
    /// kind never changes once registered), so they are looked up once.
    not_visit_cases: Mutex<HashSet<DocumentId>>,
    /// The latest writes audited in cold exchanges, by document and frame digest.
    cold_writes: Mutex<VecDeque<(DocumentId, u64)>>,
}

/// The document a decoded frame writes to, if it is a sync message carrying changes.
pub fn written_document(message: &Message) -> Option<DocumentId> {
    let (document_id, data) = match message {
        Message::Sync {
            document_id, data, ..
        }
        | Message::Request {
            document_id, data, ..
        } => (document_id, data),
        _ => return None,
    };
    let message = automerge::sync::Message::decode(data).ok()?;
    (!message.changes.is_empty()).then_some(*document_id)
}

fn digest(frame: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    frame.hash(&mut hasher);
    hasher.finish()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its set whole.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WriteAudit {
    /// An auditor for the connection of `peer_id` (`user_id` on `device_id`), deciding who may
    /// write with `policy`. Call it inside the server's runtime.
    pub fn new(
        db: Db,
        policy: RegistryPolicy,
        peer_id: String,
        user_id: String,
        device_id: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            policy,
            runtime: tokio::runtime::Handle::current(),
            peer_id,
            user_id,
            device_id,
            not_visit_cases: Mutex::default(),
            cold_writes: Mutex::default(),
        })
    }

    /// `frame` (decoded as `message`; `None`: it does not decode) passed the gate to its
    /// shard: a write to a visit case the peer may write is audited in the background, unless
    /// a cold exchange already audited this very frame.
    pub fn admitted(self: &Arc<Self>, message: Option<&Message>, frame: &[u8]) {
        let Some(document) = message.and_then(written_document) else {
            return;
        };
        if lock(&self.not_visit_cases).contains(&document) {
            return;
        }
        {
            let mut cold_writes = lock(&self.cold_writes);
            let seen = (document, digest(frame));
            if let Some(at) = cold_writes.iter().position(|write| *write == seen) {
                cold_writes.remove(at);
                return;
            }
        }
        let auditor = Arc::clone(self);
        self.runtime
            .spawn(async move { auditor.record_if_written(document).await });
    }

    /// Audits `document`'s write if it is a visit case and the peer may write it now (samod
    /// decided from the same registry when it took the frame).
    async fn record_if_written(&self, document: DocumentId) {
        let decision = self
            .policy
            .decision(&document.to_string(), &self.peer_id, false)
            .await;
        match decision.kind {
            Some(DocKind::VisitCase) if decision.access == Access::ReadWrite => {
                self.record(document).await;
            }
            Some(DocKind::VisitCase) | None => {}
            Some(_) => {
                lock(&self.not_visit_cases).insert(document);
            }
        }
    }

    async fn record(&self, document: DocumentId) {
        audit::record_or_log(
            &self.db,
            AuditEvent::new(Action::DocumentWritten)
                .user(self.user_id.clone())
                .device(self.device_id.clone())
                .document(document.to_string())
                .detail("sync"),
        )
        .await;
    }
}

impl VisitWrites for WriteAudit {
    fn written(self: Arc<Self>, document: DocumentId, frame: &[u8]) {
        {
            let mut cold_writes = lock(&self.cold_writes);
            if cold_writes.len() == REMEMBERED_COLD_WRITES {
                cold_writes.pop_front();
            }
            cold_writes.push_back((document, digest(frame)));
        }
        let runtime = self.runtime.clone();
        runtime.spawn(async move { self.record(document).await });
    }
}
