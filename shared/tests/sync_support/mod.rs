//! Test support for the sync client: an in-memory server peer, sans-IO like the client.
//!
//! `RelayServer` behaves as samod does towards one browser: it answers `join` with `peer`,
//! keeps every document it is sent, runs one automerge sync state per document per
//! connection, pushes new changes to every other connection that has synced the document,
//! answers `request` for an unknown document with `doc-unavailable`, and serves the REST
//! manifest. Its storage is durable by construction (a restart drops connections only).
#![allow(dead_code)] // Each test binary uses a different part.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use nimo_shared::sync::{DocumentId, ManifestEntry, Message, PeerId};

/// A connection id, chosen by the test.
pub type ConnId = u64;

#[derive(Debug, Default)]
struct ServerConn {
    peer: Option<PeerId>,
    states: BTreeMap<DocumentId, sync::State>,
}

/// The server.
#[derive(Debug)]
pub struct RelayServer {
    pub peer_id: PeerId,
    docs: BTreeMap<DocumentId, Automerge>,
    conns: BTreeMap<ConnId, ServerConn>,
    /// Every frame this server received, for tests that count messages.
    pub received: Vec<Message>,
}

impl RelayServer {
    pub fn new() -> Self {
        Self {
            peer_id: PeerId::from("server"),
            docs: BTreeMap::new(),
            conns: BTreeMap::new(),
            received: Vec::new(),
        }
    }

    pub fn connect(&mut self, conn: ConnId) {
        self.conns.insert(conn, ServerConn::default());
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Drops every connection (a server restart: its storage survives).
    pub fn restart(&mut self) -> Vec<ConnId> {
        let conns = self.conns.keys().copied().collect();
        self.conns.clear();
        conns
    }

    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    pub fn doc(&self, doc_id: &DocumentId) -> Option<&Automerge> {
        self.docs.get(doc_id)
    }

    pub fn doc_ids(&self) -> Vec<DocumentId> {
        self.docs.keys().copied().collect()
    }

    pub fn heads(&self, doc_id: &DocumentId) -> Vec<ChangeHash> {
        self.docs
            .get(doc_id)
            .map(Automerge::get_heads)
            .unwrap_or_default()
    }

    /// The REST manifest: every document and its heads.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.docs
            .iter()
            .map(|(doc_id, doc)| ManifestEntry {
                doc_id: *doc_id,
                heads: doc.get_heads(),
            })
            .collect()
    }

    /// Handles a frame from `conn`; returns the frames to send, each with its connection.
    pub fn receive(&mut self, conn: ConnId, frame: &[u8]) -> Vec<(ConnId, Vec<u8>)> {
        let mut out = Vec::new();
        let Ok(msg) = Message::decode(frame) else {
            self.conns.remove(&conn);
            return out;
        };
        self.received.push(msg.clone());
        if !self.conns.contains_key(&conn) {
            return out;
        }
        match msg {
            Message::Join { sender_id, .. } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.peer = Some(sender_id.clone());
                }
                let peer = Message::Peer {
                    sender_id: self.peer_id.clone(),
                    selected_protocol_version: "1".to_owned(),
                    target_id: sender_id,
                    metadata: None,
                };
                out.push((conn, peer.encode()));
            }
            Message::Request {
                document_id, data, ..
            } => self.on_sync(conn, document_id, &data, true, &mut out),
            Message::Sync {
                document_id, data, ..
            } => self.on_sync(conn, document_id, &data, false, &mut out),
            Message::DocUnavailable { document_id, .. } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.states.remove(&document_id);
                }
            }
            _ => {}
        }
        out
    }

    fn on_sync(
        &mut self,
        conn: ConnId,
        doc_id: DocumentId,
        data: &[u8],
        is_request: bool,
        out: &mut Vec<(ConnId, Vec<u8>)>,
    ) {
        let Ok(msg) = sync::Message::decode(data) else {
            return;
        };
        let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer.clone()) else {
            return;
        };
        if !self.docs.contains_key(&doc_id) && (is_request || msg.heads.is_empty()) {
            let reply = Message::DocUnavailable {
                sender_id: self.peer_id.clone(),
                target_id: peer,
                document_id: doc_id,
            };
            out.push((conn, reply.encode()));
            return;
        }
        let doc = self.docs.entry(doc_id).or_default();
        let before = doc.get_heads();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = c.states.entry(doc_id).or_default();
        if doc.receive_sync_message(state, msg).is_err() {
            return;
        }
        let changed = doc.get_heads() != before;
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| **id == conn || (changed && c.states.contains_key(&doc_id)))
            .map(|(id, _)| *id)
            .collect();
        for target in targets {
            self.generate(target, doc_id, out);
        }
    }

    fn generate(&mut self, conn: ConnId, doc_id: DocumentId, out: &mut Vec<(ConnId, Vec<u8>)>) {
        let (Some(doc), Some(c)) = (self.docs.get(&doc_id), self.conns.get_mut(&conn)) else {
            return;
        };
        let Some(peer) = c.peer.clone() else {
            return;
        };
        let state = c.states.entry(doc_id).or_default();
        let heads = doc.get_heads();
        for _ in 0..2 {
            let Some(msg) = doc.generate_sync_message(state) else {
                break;
            };
            let follow_up = msg.heads != heads;
            if follow_up {
                state.last_sent_heads.clone_from(&msg.heads);
            }
            let wire = Message::Sync {
                document_id: doc_id,
                sender_id: self.peer_id.clone(),
                target_id: peer.clone(),
                data: msg.encode(),
            };
            out.push((conn, wire.encode()));
            if !follow_up {
                break;
            }
        }
    }
}

/// A client wired to the relay through a perfect network, for story-like tests.
pub mod wired {
    use super::{ConnId, RelayServer};
    use nimo_shared::sync::{ClientConfig, Effect, Input, Message, PeerId, SyncClient};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;
    use std::collections::BTreeMap;

    /// A device: its client, its storage, what it sent.
    #[derive(Debug)]
    pub struct Device {
        pub client: SyncClient,
        pub conn: ConnId,
        pub rng: ChaCha8Rng,
        pub now: u64,
        pub storage: BTreeMap<nimo_shared::sync::StorageKey, Vec<u8>>,
        /// Every frame sent, decoded.
        pub sent: Vec<Message>,
        /// Every effect other than Send.
        pub effects: Vec<Effect>,
    }

    impl Device {
        pub fn new(name: &str, seed: u64) -> Self {
            let actor = automerge::ActorId::from(name.as_bytes());
            Self {
                client: SyncClient::new(PeerId::from(name), ClientConfig::new(actor)),
                conn: seed * 1_000,
                rng: ChaCha8Rng::seed_from_u64(seed),
                now: 1_000_000,
                storage: BTreeMap::new(),
                sent: Vec::new(),
                effects: Vec::new(),
            }
        }

        /// Feeds one input and carries out its effects through the server until quiet.
        pub fn input(&mut self, server: &mut RelayServer, input: Input) {
            let effects = self.client.handle(self.now, &mut self.rng, input);
            self.apply(server, effects);
        }

        /// Carries out effects (sends go to the server, replies come back) until quiet.
        pub fn apply(&mut self, server: &mut RelayServer, effects: Vec<Effect>) {
            let mut queue = std::collections::VecDeque::from(effects);
            while let Some(effect) = queue.pop_front() {
                match effect {
                    Effect::Send(frame) => {
                        if let Ok(msg) = Message::decode(&frame) {
                            self.sent.push(msg);
                        }
                        if !server.is_connected(self.conn) {
                            continue;
                        }
                        let replies = server.receive(self.conn, &frame);
                        // Pushes to other devices' connections are not ours to deliver.
                        for (_, reply) in replies.into_iter().filter(|(c, _)| *c == self.conn) {
                            let more =
                                self.client
                                    .handle(self.now, &mut self.rng, Input::Received(reply));
                            queue.extend(more);
                        }
                    }
                    Effect::Persist { key, bytes } => {
                        self.storage.insert(key, bytes);
                    }
                    Effect::Compact {
                        snapshot_key,
                        bytes,
                        remove,
                        ..
                    } => {
                        self.storage.insert(snapshot_key, bytes);
                        for key in remove {
                            self.storage.remove(&key);
                        }
                    }
                    Effect::Close { reason } => {
                        server.disconnect(self.conn);
                        self.effects.push(Effect::Close { reason });
                    }
                    other => self.effects.push(other),
                }
            }
        }

        /// Opens a new connection and completes the handshake.
        pub fn connect(&mut self, server: &mut RelayServer) {
            self.conn += 1;
            server.connect(self.conn);
            self.input(server, Input::Connected);
        }

        /// The sync and request frames sent since `mark`.
        pub fn doc_frames_since(&self, mark: usize) -> usize {
            self.sent[mark..]
                .iter()
                .filter(|m| matches!(m, Message::Sync { .. } | Message::Request { .. }))
                .count()
        }
    }
}
