//! Every write of a visit document over sync is audited (issue #6): one `document_written` row
//! per incoming sync message that carries changes to a visit case, with the connection's user
//! and device, the document, and never the content. Reads are audited where access is decided
//! (the share policy); writes are seen here, on the socket, where the writer is known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nimo_shared::sync::Message;

use crate::audit::{self, Action, AuditEvent};
use crate::db::{Db, DbError};

/// One connection's write auditor.
#[derive(Debug)]
pub struct WriteAudit {
    db: Db,
    /// The server's runtime, taken when the connection is accepted: frames may be polled
    /// wherever samod runs its connection, and the audit write must not depend on that.
    runtime: tokio::runtime::Handle,
    user_id: String,
    device_id: String,
    /// Whether each registered document seen on this connection is a visit case (a document's
    /// kind never changes once registered).
    is_visit_case: Mutex<HashMap<String, bool>>,
}

/// The document a frame writes to, if it is a sync message carrying changes.
pub fn written_document(frame: &[u8]) -> Option<String> {
    written_document_of(&Message::decode(frame).ok()?)
}

/// [`written_document`] for a frame already decoded.
pub fn written_document_of(message: &Message) -> Option<String> {
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
    (!message.changes.is_empty()).then(|| document_id.to_string())
}

impl WriteAudit {
    /// An auditor for the connection of `user_id` on `device_id`. Call it inside the server's
    /// runtime.
    pub fn new(db: Db, user_id: String, device_id: String) -> Arc<Self> {
        Arc::new(Self {
            db,
            runtime: tokio::runtime::Handle::current(),
            user_id,
            device_id,
            is_visit_case: Mutex::new(HashMap::new()),
        })
    }

    /// Looks at an incoming frame's message (`None`: the frame does not decode); a write to a
    /// visit case is audited in the background.
    pub fn observe(self: &Arc<Self>, message: Option<&Message>) {
        let Some(document_id) = message.and_then(written_document_of) else {
            return;
        };
        let auditor = Arc::clone(self);
        self.runtime
            .spawn(async move { auditor.record(document_id).await });
    }

    async fn record(&self, document_id: String) {
        let known = self
            .is_visit_case
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&document_id)
            .copied();
        let visit_case = match known {
            Some(known) => known,
            None => {
                let id = document_id.clone();
                let kind = self
                    .db
                    .call(move |conn| -> Result<Option<String>, DbError> {
                        Ok(conn
                            .query_row("SELECT kind FROM documents WHERE id = ?1", [id], |r| {
                                r.get(0)
                            })
                            .ok())
                    })
                    .await
                    .ok()
                    .flatten();
                let visit_case = kind.as_deref() == Some("visit_case");
                // An unregistered document is asked about again: it may be registered next.
                if kind.is_some() {
                    self.is_visit_case
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(document_id.clone(), visit_case);
                }
                visit_case
            }
        };
        if visit_case {
            audit::record_or_log(
                &self.db,
                AuditEvent::new(Action::DocumentWritten)
                    .user(self.user_id.clone())
                    .device(self.device_id.clone())
                    .document(document_id)
                    .detail("sync"),
            )
            .await;
        }
    }
}
