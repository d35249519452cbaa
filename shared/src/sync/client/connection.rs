//! The client's side of one connection: handshake, one `automerge::sync::State` per document,
//! and recovery from lost frames.
//!
//! automerge's sync protocol assumes a reliable, ordered stream: a state that sent a message
//! waits for the answer (`in_flight`) and a peer skips changes it believes it already sent
//! (`sent_hashes`). A frame lost in between stalls the exchange. The WebSocket rarely loses a
//! frame without closing, and a close drops every state, but a stalled document must not stay
//! stalled: a document whose exchange has not reached agreement for
//! [`ClientConfig::resync_after_ms`] restarts it, and so does a ping-pong that moves nothing.
//! A restart empties the state and opens with empty heads, on which the server forgets what it
//! sent and answers afresh (see `restart`). A restart may resend a whole document; records are
//! small (under ~10 KB) and restarts rare, so simplicity wins over bytes here.

use std::collections::BTreeMap;

use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use rand_core::RngCore;

use super::local_doc::LocalDoc;
use super::{ClientConfig, Effect, SyncClient};
use crate::sync::bloom_guard;
use crate::sync::chunk_bounds::{self, ChunkBounds};
use crate::sync::ids::{DocumentId, PeerId};
use crate::sync::protocol::{Message, PROTOCOL_VERSION, PeerMetadata};

#[derive(Debug)]
pub(super) enum Connection {
    Offline,
    Handshaking { since_ms: u64 },
    Established(Established),
}

impl Connection {
    /// Drops the document's exchange so the next sync starts afresh.
    pub(super) fn forget_doc(&mut self, doc_id: DocumentId) {
        if let Self::Established(est) = self {
            est.sessions.remove(&doc_id);
        }
    }
}

#[derive(Debug)]
pub(super) struct Established {
    server: PeerId,
    sessions: BTreeMap<DocumentId, Session>,
}

/// One document's exchange in this connection.
#[derive(Debug)]
struct Session {
    state: sync::State,
    /// The last time a message about the document was sent or received.
    last_activity_ms: u64,
    /// Messages received in a row that moved neither side's heads without reaching agreement.
    fruitless: u32,
}

impl Session {
    fn new(now_ms: u64) -> Self {
        Self {
            state: sync::State::new(),
            last_activity_ms: now_ms,
            fruitless: 0,
        }
    }

    /// Both sides have said they have the same heads.
    fn agrees(&self, local: &LocalDoc) -> bool {
        self.state.their_heads.as_deref() == Some(local.heads().as_slice())
    }

    /// Still exchanging, and worth waiting for: a read-only server will never take our changes.
    fn pending(&self, local: &LocalDoc) -> bool {
        !self.agrees(local) && !self.state.is_peer_read_only()
    }
}

impl SyncClient {
    pub(super) fn on_connected(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        self.conn = Connection::Handshaking { since_ms: now_ms };
        let join = Message::Join {
            sender_id: self.peer_id.clone(),
            supported_protocol_versions: vec![PROTOCOL_VERSION.to_owned()],
            metadata: Some(PeerMetadata {
                storage_id: self.config.storage_id.clone(),
                is_ephemeral: false,
            }),
        };
        out.push(Effect::Send(join.encode()));
    }

    /// The transport closed, or (while offline) an attempt to open one failed: either way the
    /// next attempt waits a little longer.
    pub(super) fn on_disconnected(&mut self, rng: &mut impl RngCore, out: &mut Vec<Effect>) {
        self.go_offline(rng, out);
    }

    pub(super) fn on_tick(&mut self, now_ms: u64, rng: &mut impl RngCore, out: &mut Vec<Effect>) {
        match &mut self.conn {
            Connection::Offline => {}
            Connection::Handshaking { since_ms } => {
                if now_ms >= since_ms.saturating_add(self.config.handshake_timeout_ms) {
                    self.fail(rng, "handshake timed out".to_owned(), false, out);
                }
            }
            Connection::Established(est) => {
                est.resync_stalled(now_ms, &self.peer_id, &mut self.docs, &self.config, out);
            }
        }
    }

    /// Syncs one document now, if connected.
    pub(super) fn sync_doc(&mut self, now_ms: u64, doc_id: DocumentId, out: &mut Vec<Effect>) {
        if let (Connection::Established(est), Some(local)) =
            (&mut self.conn, self.docs.get_mut(&doc_id))
        {
            est.generate(now_ms, &self.peer_id, doc_id, local, out);
        }
    }

    pub(super) fn on_frame(
        &mut self,
        now_ms: u64,
        rng: &mut impl RngCore,
        frame: &[u8],
        out: &mut Vec<Effect>,
    ) {
        if matches!(self.conn, Connection::Offline) {
            return; // A frame from a socket we already closed.
        }
        let msg = match Message::decode(frame) {
            Ok(msg) => msg,
            Err(e) => return self.fail(rng, format!("undecodable frame: {e}"), true, out),
        };
        let result = match msg {
            Message::Other { .. } => Ok(()),
            Message::Error { message } => Err((format!("server error: {message}"), false)),
            msg => match &mut self.conn {
                Connection::Offline => Ok(()),
                Connection::Handshaking { .. } => self.on_handshake_reply(now_ms, msg, out),
                Connection::Established(est) => match msg {
                    Message::Leave { .. } => Err(("server left".to_owned(), false)),
                    msg => est
                        .receive(
                            now_ms,
                            &self.peer_id,
                            &mut self.docs,
                            &self.config,
                            msg,
                            out,
                        )
                        .map_err(|reason| (reason, true)),
                },
            },
        };
        if let Err((reason, tell_server)) = result {
            self.fail(rng, reason, tell_server, out);
        }
    }

    /// The handshake's one expected frame: `peer`. `Err` carries a reason to close.
    fn on_handshake_reply(
        &mut self,
        now_ms: u64,
        msg: Message,
        out: &mut Vec<Effect>,
    ) -> Result<(), (String, bool)> {
        let Message::Peer {
            sender_id,
            selected_protocol_version,
            target_id,
            ..
        } = msg
        else {
            return Err((format!("expected a peer message, got {}", msg.kind()), true));
        };
        if target_id != self.peer_id {
            return Err((format!("peer message addressed to {target_id}"), true));
        }
        if selected_protocol_version != PROTOCOL_VERSION {
            return Err((
                format!("unsupported protocol version {selected_protocol_version:?}"),
                true,
            ));
        }
        let mut est = Established {
            server: sender_id,
            sessions: BTreeMap::new(),
        };
        est.sync_differing(now_ms, &self.peer_id, &mut self.docs, out);
        self.conn = Connection::Established(est);
        self.attempt = 0;
        Ok(())
    }

    /// Ends the connection: optionally tells the server why, closes, schedules a reconnect.
    fn fail(
        &mut self,
        rng: &mut impl RngCore,
        reason: String,
        tell_server: bool,
        out: &mut Vec<Effect>,
    ) {
        if tell_server {
            let error = Message::Error {
                message: reason.clone(),
            };
            out.push(Effect::Send(error.encode()));
        }
        out.push(Effect::Close { reason });
        self.go_offline(rng, out);
    }

    fn go_offline(&mut self, rng: &mut impl RngCore, out: &mut Vec<Effect>) {
        self.conn = Connection::Offline;
        self.attempt = self.attempt.saturating_add(1);
        out.push(Effect::ReconnectAfter(
            self.config.backoff.delay(self.attempt, rng),
        ));
    }
}

impl Established {
    /// `(pending, total)`: documents still exchanging, of those synced in this connection.
    pub(super) fn progress(&self, docs: &BTreeMap<DocumentId, LocalDoc>) -> (usize, usize) {
        let pending = self
            .sessions
            .iter()
            .filter(|(id, s)| docs.get(id).is_some_and(|local| s.pending(local)))
            .count();
        (pending, self.sessions.len())
    }

    /// When the earliest unfinished exchange is due a restart.
    pub(super) fn next_stall_check(
        &self,
        docs: &BTreeMap<DocumentId, LocalDoc>,
        config: &ClientConfig,
    ) -> Option<u64> {
        self.sessions
            .iter()
            .filter(|(id, s)| docs.get(id).is_some_and(|local| s.pending(local)))
            .map(|(_, s)| s.last_activity_ms.saturating_add(config.resync_after_ms))
            .min()
    }

    /// Starts an exchange for every document the server may lack or may have newer, and
    /// restarts idle exchanges that the manifest contradicts. Documents whose heads match the
    /// server's known heads cost nothing.
    pub(super) fn sync_differing(
        &mut self,
        now_ms: u64,
        me: &PeerId,
        docs: &mut BTreeMap<DocumentId, LocalDoc>,
        out: &mut Vec<Effect>,
    ) {
        for (doc_id, local) in docs.iter_mut() {
            if local.unavailable {
                continue;
            }
            let heads = local.heads();
            match (self.sessions.get_mut(doc_id), &local.server_heads) {
                (None, None) => {}
                (None, Some(server)) if *server == heads => continue,
                (None, Some(_)) => {}
                (Some(session), Some(server)) => {
                    let idle = !session.pending(local);
                    if !(idle && session.state.their_heads.as_ref() != Some(server)) {
                        continue;
                    }
                    restart(&mut session.state, now_ms, &mut session.last_activity_ms);
                }
                (Some(_), None) => continue,
            }
            self.generate(now_ms, me, *doc_id, local, out);
        }
    }

    /// Restarts every exchange that has not reached agreement in time.
    fn resync_stalled(
        &mut self,
        now_ms: u64,
        me: &PeerId,
        docs: &mut BTreeMap<DocumentId, LocalDoc>,
        config: &ClientConfig,
        out: &mut Vec<Effect>,
    ) {
        let stalled: Vec<DocumentId> = self
            .sessions
            .iter()
            .filter(|(id, s)| {
                docs.get(id).is_some_and(|local| s.pending(local))
                    && now_ms >= s.last_activity_ms.saturating_add(config.resync_after_ms)
            })
            .map(|(id, _)| *id)
            .collect();
        for doc_id in stalled {
            if let (Some(session), Some(local)) =
                (self.sessions.get_mut(&doc_id), docs.get_mut(&doc_id))
            {
                restart(&mut session.state, now_ms, &mut session.last_activity_ms);
                self.generate(now_ms, me, doc_id, local, out);
            }
        }
    }

    /// Sends whatever automerge has to say about the document to the server.
    fn generate(
        &mut self,
        now_ms: u64,
        me: &PeerId,
        doc_id: DocumentId,
        local: &mut LocalDoc,
        out: &mut Vec<Effect>,
    ) {
        let session = self
            .sessions
            .entry(doc_id)
            .or_insert_with(|| Session::new(now_ms));
        let heads = local.heads();
        // At most two messages: automerge 0.12, restarting towards a peer whose capabilities it
        // does not know yet, first advertises empty heads ("I lost everything"), and the real
        // heads must follow at once (samod-core's peer_doc_connection does the same).
        for _ in 0..2 {
            let Some(msg) = local.doc.generate_sync_message(&mut session.state) else {
                break;
            };
            let follow_up = msg.heads != heads;
            if follow_up {
                session.state.last_sent_heads.clone_from(&msg.heads);
            }
            let data = msg.encode();
            // Like automerge-repo: a peer without the document asks for it with `request`.
            let wire = if local.is_empty() && session.state.their_heads.is_none() {
                Message::Request {
                    document_id: doc_id,
                    sender_id: me.clone(),
                    target_id: self.server.clone(),
                    data,
                }
            } else {
                Message::Sync {
                    document_id: doc_id,
                    sender_id: me.clone(),
                    target_id: self.server.clone(),
                    data,
                }
            };
            out.push(Effect::Send(wire.encode()));
            session.last_activity_ms = now_ms;
            if !follow_up {
                break;
            }
        }
    }

    /// Handles a document message from the server. `Err` carries a reason to close.
    fn receive(
        &mut self,
        now_ms: u64,
        me: &PeerId,
        docs: &mut BTreeMap<DocumentId, LocalDoc>,
        config: &ClientConfig,
        msg: Message,
        out: &mut Vec<Effect>,
    ) -> Result<(), String> {
        let (doc_id, sender, target, data, is_request) = match msg {
            Message::Request {
                document_id,
                sender_id,
                target_id,
                data,
            } => (document_id, sender_id, target_id, Some(data), true),
            Message::Sync {
                document_id,
                sender_id,
                target_id,
                data,
            } => (document_id, sender_id, target_id, Some(data), false),
            Message::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            } => (document_id, sender_id, target_id, None, false),
            other => return Err(format!("unexpected {} message", other.kind())),
        };
        if sender != self.server || target != *me {
            return Err(format!(
                "message from {sender} to {target} on the connection from {} to {me}",
                self.server
            ));
        }
        let Some(data) = data else {
            self.sessions.remove(&doc_id);
            if let Some(local) = docs.get_mut(&doc_id) {
                local.unavailable = true;
                out.push(Effect::DocUnavailable(doc_id));
            }
            return Ok(());
        };
        let sync_msg = sync::Message::decode(&data)
            .map_err(|e| format!("undecodable sync message for {doc_id}: {e}"))?;
        // The server checks what it accepts, so this only matters if the server itself, or
        // someone in its place, sends a costly message: the phone must not run out of memory.
        let changes: Vec<u8> = sync_msg.changes.iter().flatten().copied().collect();
        chunk_bounds::check(&changes, &ChunkBounds::default())
            .map_err(|e| format!("sync message for {doc_id} refused: {e}"))?;
        // automerge would panic answering it, and a panic aborts the app in the browser.
        bloom_guard::check(&sync_msg)
            .map_err(|e| format!("sync message for {doc_id} refused: {e}"))?;
        let have_it = docs.get(&doc_id).is_some_and(|local| !local.is_empty());
        if !have_it && (is_request || sync_msg.heads.is_empty()) {
            // The server asks for a document we do not have either.
            let reply = Message::DocUnavailable {
                sender_id: me.clone(),
                target_id: self.server.clone(),
                document_id: doc_id,
            };
            out.push(Effect::Send(reply.encode()));
            return Ok(());
        }
        let local = docs
            .entry(doc_id)
            .or_insert_with(|| LocalDoc::new(Automerge::new().with_actor(config.actor.clone())));
        let session = self
            .sessions
            .entry(doc_id)
            .or_insert_with(|| Session::new(now_ms));
        let before = local.heads();
        let their_before = session.state.their_heads.clone();
        local
            .doc
            .receive_sync_message(&mut session.state, sync_msg)
            .map_err(|e| format!("sync message for {doc_id} does not apply: {e}"))?;
        session.last_activity_ms = now_ms;
        // The server says it needs these: if an earlier frame carrying them was lost, automerge
        // would still hold them back as "already sent" and the exchange would bounce forever.
        if let Some(need) = session.state.their_need.clone() {
            for hash in &need {
                session.state.sent_hashes.remove(hash);
            }
        }
        // A ping-pong that moves nothing (the server holds back what it believes it sent us)
        // ends in a restart, whose sync-reset makes the server resend.
        let fruitless = local.heads() == before
            && session.state.their_heads == their_before
            && !session.agrees(local);
        session.fruitless = if fruitless { session.fruitless + 1 } else { 0 };
        if session.fruitless >= 3 {
            session.fruitless = 0;
            restart(&mut session.state, now_ms, &mut session.last_activity_ms);
        }
        if let Some(theirs) = &session.state.their_heads {
            local.server_heads = Some(theirs.clone());
        }
        if local.heads() != before {
            local.unavailable = false;
            local.persist(doc_id, config.compact_after_chunks, out);
            out.push(Effect::DocChanged(doc_id));
        }
        self.generate(now_ms, me, doc_id, local, out);
        local.report_status(doc_id, out);
        Ok(())
    }
}

/// Empties a sync state so that the next exchange starts from scratch on both sides.
///
/// Flipping read-only and back empties the state. Forgetting the server's capabilities makes
/// automerge open with empty heads ("I lost everything") and follow at once with the real heads
/// (see `generate`): on empty heads every automerge peer forgets what it sent and what it last
/// said, so it answers even if, from its side, the exchange had already finished (the case of
/// a lost final message). The sync-reset flag alone would not make it answer then.
fn restart(state: &mut sync::State, now_ms: u64, last_activity_ms: &mut u64) {
    state.set_read_only(true);
    state.set_read_only(false);
    state.their_capabilities = None;
    *last_activity_ms = now_ms;
}
