//! samod's share policy backed by the registry: for every (document, peer) pair samod asks, the
//! answer comes from [`crate::access::decide`] over the registry and the peer's user.
//!
//! The answer is a stream: the current decision first, then a fresh one each time access may
//! have changed (a document registered, a member assigned, a user disabled), so a change applies
//! to connections that are already open. samod ignores identical consecutive decisions.
//!
//! A change names the document it concerns when it concerns one: registering document X must
//! not make every open (document, peer) stream query the database again, or a device pushing
//! N new documents costs N² lookups (found by `cargo xtask bench`: W3's 10,000-document seeding).

use std::sync::Arc;

use futures::Stream;
use samod::{DocumentId, PeerId, ShareConfig};

use super::access_notifier::AccessNotifier;
use super::tickets::Tickets;
use crate::{
    Db,
    access::{Access, DocKind, decide},
    accounts::{AccountsError, User},
    audit::{self, Action, AuditEvent},
    registry,
};

/// What may have changed whose access: one document's, or anyone's to anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessChange {
    /// Every decision may have changed (a user disabled, a role changed).
    Everything,
    /// Only decisions about this document may have changed (registered, assigned, oversized).
    Document(Arc<str>),
}

/// The registry-backed share policy.
#[derive(Clone, Debug)]
pub struct RegistryPolicy {
    db: Db,
    tickets: Tickets,
    changed: AccessNotifier,
    max_document_bytes: u64,
}

impl RegistryPolicy {
    /// A policy answering from `db` for peers known to `tickets`; documents larger than
    /// `max_document_bytes` accept no more writes.
    pub fn new(db: Db, tickets: Tickets, changed: AccessNotifier, max_document_bytes: u64) -> Self {
        Self {
            db,
            tickets,
            changed,
            max_document_bytes,
        }
    }

    /// What `peer_id` may do with `doc_id` now. With `audit_visit` (a connection's first
    /// decision about a document), a visit case's decision is written to the audit log: one row
    /// per connection and visit case, with user, device, document and the access given, never
    /// content. A failed audit write denies (failing closed).
    pub async fn access(&self, doc_id: &str, peer_id: &str, audit_visit: bool) -> Access {
        self.decision(doc_id, peer_id, audit_visit).await.access
    }

    /// [`RegistryPolicy::access`], with the kind of the document it was decided about (`None`:
    /// not registered, or the peer is unknown).
    pub async fn decision(&self, doc_id: &str, peer_id: &str, audit_visit: bool) -> Decision {
        const NONE: Decision = Decision {
            access: Access::None,
            kind: None,
        };
        let Some(owner) = self.tickets.owner(peer_id) else {
            return NONE;
        };
        let doc_id = doc_id.to_owned();
        let peer = peer_id.to_owned();
        let max_bytes = self.max_document_bytes;
        let decision = self
            .db
            .call(move |conn| -> Result<Decision, AccountsError> {
                let Some(user) = User::get(conn, &owner.user_id)? else {
                    return Ok(NONE);
                };
                let facts = registry::facts(conn, &doc_id, &user.id, max_bytes)?;
                let access = decide(&user, facts.as_ref());
                let kind = facts.as_ref().map(|f| f.kind);
                if audit_visit && kind == Some(DocKind::VisitCase) {
                    let given = match access {
                        Access::ReadWrite => "read-write",
                        Access::ReadOnly => "read-only",
                        Access::None => "denied",
                    };
                    let event = AuditEvent::new(Action::DocumentRead)
                        .user(&user.id)
                        .device(&owner.device_id)
                        .document(&doc_id)
                        .detail(format!("sync {given}; peer {peer}"));
                    if let Err(error) = audit::append(conn, &event) {
                        tracing::error!(%error, "cannot audit a visit case's sync; denying");
                        return Ok(Decision {
                            access: Access::None,
                            kind,
                        });
                    }
                }
                Ok(Decision { access, kind })
            })
            .await;
        decision.unwrap_or_else(|error| {
            // Failing closed: a database error denies rather than grants.
            tracing::error!(%error, "share policy lookup failed; denying");
            NONE
        })
    }
}

/// What a peer may do with a document, and what kind of document it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What the peer may do.
    pub access: Access,
    /// The document's kind; `None` when it is not registered or the peer is unknown.
    pub kind: Option<DocKind>,
}

fn share_config(access: Access) -> ShareConfig {
    // Devices ask for what they need (the manifest tells them); the server never pushes documents
    // a peer did not ask for, so nothing is announced.
    match access {
        Access::None => ShareConfig::none(),
        Access::ReadOnly => ShareConfig::read_only().with_announce(false),
        Access::ReadWrite => ShareConfig::read_write().with_announce(false),
    }
}

impl samod::SharePolicy for RegistryPolicy {
    fn share(
        &self,
        doc_id: DocumentId,
        peer_id: PeerId,
    ) -> impl Stream<Item = ShareConfig> + Send + 'static {
        // Subscribe before the first lookup so a change between the two is not missed.
        let doc = doc_id.to_string();
        let updates = self.changed.subscribe(&doc);
        let policy = self.clone();
        let peer = peer_id.to_string();
        futures::stream::unfold(
            (policy, updates, true),
            move |(policy, mut updates, first)| {
                let doc = doc.clone();
                let peer = peer.clone();
                async move {
                    if !first {
                        updates.changed().await?;
                    }
                    let access = policy.access(&doc, &peer, first).await;
                    tracing::debug!(%doc, %peer, ?access, "share decision");
                    Some((share_config(access), (policy, updates, false)))
                }
            },
        )
    }
}
