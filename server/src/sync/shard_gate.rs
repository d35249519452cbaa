//! What a device's frame must pass before samod sees it: the whole frame guard (receiving its
//! sync message on a probe, [`super::frame_guard`]) and its changes checked against their
//! document ([`super::actor_guard`]). A frame admitted is shown to the write audit
//! ([`super::write_audit`]): only frames that reach samod can write.
//!
//! Every frame passes the frame guard's cost checks as it arrives ([`super::ws`]). Only the
//! frames bound for a shard pay for the rest, here, where the multiplexer hands them over: the
//! device's own and those a cold exchange hands back ([`super::cold_read`]). A cold exchange
//! receives the message on its own copy of the document, where a panic is caught (by the
//! blocking task it runs in when it loads the document, by `catch_unwind` otherwise): a panic
//! there harms nothing but that copy, and its frame goes to the shard, so through this gate, which
//! refuses it before samod's document actor could die of it. The probe and the load it makes
//! of a pushed document were a quarter of the server's CPU in W1 (BENCH-RESULTS, session 15).

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use nimo_shared::sync::Message;

use super::actor_guard::watch::ConnectionGuard;
use super::frame_guard::{self, FrameRejected};
use super::mux::Incoming;
use super::write_audit::WriteAudit;

/// Decides whether a frame may reach a shard.
pub trait Gate: Send + Sync {
    /// `Err` refuses `frame`, and its connection closes.
    fn admit<'a>(&'a self, frame: &'a Incoming) -> BoxFuture<'a, Result<(), FrameRejected>>;
}

/// The production gate of one device connection.
#[derive(Debug)]
pub struct ShardGate {
    actors: Arc<ConnectionGuard>,
    writes: Arc<WriteAudit>,
}

impl ShardGate {
    /// A gate checking changes with the connection's `actors` guard; what it admits is shown
    /// to the connection's write audit.
    pub fn new(actors: Arc<ConnectionGuard>, writes: Arc<WriteAudit>) -> Self {
        Self { actors, writes }
    }
}

impl Gate for ShardGate {
    fn admit<'a>(&'a self, frame: &'a Incoming) -> BoxFuture<'a, Result<(), FrameRejected>> {
        async move {
            let changes = frame_guard::check_message(frame.message.as_ref())?;
            if let Some(Message::Sync { document_id, .. } | Message::Request { document_id, .. }) =
                &frame.message
            {
                self.actors.check(*document_id, &changes).await?;
            }
            self.writes.admitted(frame.message.as_ref(), &frame.bytes);
            Ok(())
        }
        .boxed()
    }
}
