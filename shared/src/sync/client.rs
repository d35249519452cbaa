//! The browser's sync client, "repo-lite": a sans-IO state machine speaking automerge-repo
//! protocol v1 to one server (samod).
//!
//! The client owns the documents. The IO layer (the wasm app) feeds it [`Input`]s with the
//! current time and a random generator, and carries out the [`Effect`]s it returns, in order:
//! send a frame, write or compact chunks in IndexedDB, close the socket, arm a reconnect timer.
//! The client never reads a clock or a random source itself, so the simulation in
//! `shared/tests/sync_simulation.rs` can run thousands of seeded, replayable histories.
//!
//! # Life of a connection
//! 1. [`Input::Connected`]: the client sends `join` and waits for `peer` (or closes after
//!    [`ClientConfig::handshake_timeout_ms`]).
//! 2. On `peer` it syncs only the documents the server may lack or may have newer: those with
//!    heads the server is not known to have, and documents asked for with [`Input::Want`].
//!    Each synced document gets one `automerge::sync::State` for this connection.
//! 3. [`Input::Manifest`] (the server's list of documents and heads, fetched over REST) adds the
//!    documents whose server heads differ from the local ones. A document whose heads agree
//!    costs nothing: a reconnect with nothing changed sends no sync message at all.
//! 4. A document whose exchange stops short of agreement for
//!    [`ClientConfig::resync_after_ms`] (a lost frame: automerge sync assumes a reliable stream)
//!    restarts its exchange with a sync-reset, so the server resends what it thinks it sent.
//! 5. [`Input::Disconnected`] (or a protocol error) drops the sync states and asks for a
//!    reconnect after a jittered exponential backoff.

mod connection;
mod local_doc;

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge, ChangeHash};
use rand_core::RngCore;

use self::connection::Connection;
use self::local_doc::LocalDoc;
use super::backoff::BackoffConfig;
use super::ids::{DocumentId, PeerId};
use super::status::{DocStatus, SyncStatus};
use super::storage_key::StorageKey;

/// The client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The actor id of this device's changes. Use a fresh random one per app start: two
    /// instances writing with one actor id would corrupt each other's documents.
    pub actor: ActorId,
    /// The storage id announced in `join` (automerge-repo's peer metadata), if any.
    pub storage_id: Option<String>,
    /// Close the connection if the server has not answered `join` within this time.
    pub handshake_timeout_ms: u64,
    /// Restart a document's exchange that has not reached agreement within this time.
    pub resync_after_ms: u64,
    /// Replace a document's chunks by one snapshot once it has this many.
    pub compact_after_chunks: usize,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
}

impl ClientConfig {
    /// Defaults for a field device: 10 s handshake, 15 s resync, compaction at 16 chunks.
    pub fn new(actor: ActorId) -> Self {
        Self {
            actor,
            storage_id: None,
            handshake_timeout_ms: 10_000,
            resync_after_ms: 15_000,
            compact_after_chunks: 16,
            backoff: BackoffConfig::default(),
        }
    }
}

/// A document and its heads as the server's manifest lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The document.
    pub doc_id: DocumentId,
    /// Its heads on the server.
    pub heads: Vec<ChangeHash>,
}

/// What happened, as told by the IO layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The WebSocket opened.
    Connected,
    /// A frame arrived.
    Received(Vec<u8>),
    /// The WebSocket closed, or an attempt to open one failed. (Not for a socket the client
    /// closed itself with [`Effect::Close`]: that one is already accounted for.)
    Disconnected,
    /// Time passed: check timeouts. Call at least every second, or at [`SyncClient::next_wakeup`].
    Tick,
    /// Sync this document now if connected (changes made through [`SyncClient::change`] do
    /// this by themselves).
    LocalChange(DocumentId),
    /// A document's chunks, read from local storage at start.
    Load {
        /// The document.
        doc_id: DocumentId,
        /// Its chunks, as stored.
        chunks: Vec<(StorageKey, Vec<u8>)>,
        /// The heads last confirmed stored by the server ([`Effect::RememberConfirmed`]).
        confirmed_heads: Option<Vec<ChangeHash>>,
    },
    /// Ask the server for a document this device does not have.
    Want(DocumentId),
    /// The server's manifest: the documents this device may see, with their heads.
    Manifest(Vec<ManifestEntry>),
    /// The server's confirm endpoint says these heads of the document are stored.
    Confirmed {
        /// The document.
        doc_id: DocumentId,
        /// The heads the server has stored.
        heads: Vec<ChangeHash>,
    },
}

/// What the IO layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this frame on the WebSocket.
    Send(Vec<u8>),
    /// Store a chunk.
    Persist {
        /// Its key.
        key: StorageKey,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// In one transaction: store the snapshot and remove the chunks it replaces.
    Compact {
        /// The document.
        doc_id: DocumentId,
        /// The snapshot's key.
        snapshot_key: StorageKey,
        /// The whole document.
        bytes: Vec<u8>,
        /// The chunks to delete.
        remove: Vec<StorageKey>,
    },
    /// Store these confirmed heads and pass them back in [`Input::Load`] after a restart.
    RememberConfirmed {
        /// The document.
        doc_id: DocumentId,
        /// Heads the server confirmed stored.
        heads: Vec<ChangeHash>,
    },
    /// Close the WebSocket and drop it without reporting its close: the client already counts
    /// itself disconnected and follows with [`Effect::ReconnectAfter`].
    Close {
        /// Why, for the log.
        reason: String,
    },
    /// Open a new WebSocket after this many milliseconds.
    ReconnectAfter(u64),
    /// The document's content changed (a local change or one received).
    DocChanged(DocumentId),
    /// The document's [`DocStatus`] changed.
    DocStatusChanged {
        /// The document.
        doc_id: DocumentId,
        /// Its new status.
        status: DocStatus,
    },
    /// The server does not have the document, or will not share it.
    DocUnavailable(DocumentId),
    /// A stored chunk does not load; the IO layer may keep it for diagnosis.
    ChunkRejected {
        /// The chunk.
        key: StorageKey,
        /// Why.
        reason: String,
    },
    /// The connection's [`SyncStatus`] changed.
    StatusChanged(SyncStatus),
}

/// Errors of the document-editing calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No document with this id is on this device.
    #[error("document {0} is not on this device")]
    UnknownDocument(DocumentId),
    /// The call is only allowed while no connection is open or opening.
    #[error("a connection is open; this is only allowed while offline")]
    Connected,
}

/// The sync client. See the module docs.
#[derive(Debug)]
pub struct SyncClient {
    peer_id: PeerId,
    config: ClientConfig,
    docs: BTreeMap<DocumentId, LocalDoc>,
    conn: Connection,
    /// Failed connection attempts since the last handshake that succeeded.
    attempt: u32,
    reported: Option<SyncStatus>,
}

impl SyncClient {
    /// A client for the peer id the server assigned this device.
    pub fn new(peer_id: PeerId, config: ClientConfig) -> Self {
        Self {
            peer_id,
            config,
            docs: BTreeMap::new(),
            conn: Connection::Offline,
            attempt: 0,
            reported: None,
        }
    }

    /// This device's peer id.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// Takes the peer id the server bound to the next connection's ticket. Only between
    /// connections: a peer id names one side of one handshake, so changing it mid-connection
    /// would make the server see a stranger. Documents, statuses and the backoff are kept.
    pub fn set_peer_id(&mut self, peer_id: PeerId) -> Result<(), ClientError> {
        if !matches!(self.conn, Connection::Offline) {
            return Err(ClientError::Connected);
        }
        self.peer_id = peer_id;
        Ok(())
    }

    /// Handles one input; returns what the IO layer must do, in order.
    pub fn handle(&mut self, now_ms: u64, rng: &mut impl RngCore, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Connected => self.on_connected(now_ms, &mut out),
            Input::Received(frame) => self.on_frame(now_ms, rng, &frame, &mut out),
            Input::Disconnected => self.on_disconnected(rng, &mut out),
            Input::Tick => self.on_tick(now_ms, rng, &mut out),
            Input::LocalChange(doc_id) => self.sync_doc(now_ms, doc_id, &mut out),
            Input::Load {
                doc_id,
                chunks,
                confirmed_heads,
            } => self.on_load(doc_id, chunks, confirmed_heads, &mut out),
            Input::Want(doc_id) => self.on_want(now_ms, doc_id, &mut out),
            Input::Manifest(entries) => self.on_manifest(now_ms, entries, &mut out),
            Input::Confirmed { doc_id, heads } => self.on_confirmed(doc_id, heads, &mut out),
        }
        self.report_status(now_ms, &mut out);
        out
    }

    /// Creates a document, lets `f` fill it, and returns its id with the effects (persist the
    /// first chunk, sync it if connected).
    pub fn create<T>(
        &mut self,
        now_ms: u64,
        rng: &mut impl RngCore,
        f: impl FnOnce(&mut Automerge) -> T,
    ) -> (DocumentId, T, Vec<Effect>) {
        let doc_id = DocumentId::random(rng);
        let doc = Automerge::new().with_actor(self.config.actor.clone());
        let local = self.docs.entry(doc_id).or_insert(LocalDoc::new(doc));
        let value = f(&mut local.doc);
        let mut out = Vec::new();
        self.after_local_change(now_ms, doc_id, Vec::new(), &mut out);
        (doc_id, value, out)
    }

    /// Changes a document: `f` edits it (through `Automerge::transact`); if its heads moved,
    /// the change is persisted, marked unconfirmed and synced if connected.
    pub fn change<T>(
        &mut self,
        now_ms: u64,
        doc_id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> T,
    ) -> Result<(T, Vec<Effect>), ClientError> {
        let local = self
            .docs
            .get_mut(&doc_id)
            .ok_or(ClientError::UnknownDocument(doc_id))?;
        let before = local.heads();
        let value = f(&mut local.doc);
        let mut out = Vec::new();
        self.after_local_change(now_ms, doc_id, before, &mut out);
        Ok((value, out))
    }

    /// If the document's heads moved away from `before`: persist, mark unconfirmed, sync.
    fn after_local_change(
        &mut self,
        now_ms: u64,
        doc_id: DocumentId,
        before: Vec<ChangeHash>,
        out: &mut Vec<Effect>,
    ) {
        let Some(local) = self.docs.get_mut(&doc_id) else {
            return;
        };
        let after = local.heads();
        if after == before {
            return;
        }
        local.must_cover = after;
        local.unavailable = false;
        local.persist(doc_id, self.config.compact_after_chunks, out);
        out.push(Effect::DocChanged(doc_id));
        local.report_status(doc_id, out);
        self.sync_doc(now_ms, doc_id, out);
        self.report_status(now_ms, out);
    }

    /// A document on this device (`None` if absent, or asked for and not yet received).
    pub fn doc(&self, doc_id: &DocumentId) -> Option<&Automerge> {
        self.docs
            .get(doc_id)
            .filter(|local| !local.is_empty())
            .map(|local| &local.doc)
    }

    /// The ids of the documents on this device that have content.
    pub fn doc_ids(&self) -> impl Iterator<Item = DocumentId> + '_ {
        self.docs
            .iter()
            .filter(|(_, local)| !local.is_empty())
            .map(|(id, _)| *id)
    }

    /// A document's status, if the document is here.
    pub fn doc_status(&self, doc_id: &DocumentId) -> Option<DocStatus> {
        self.docs
            .get(doc_id)
            .filter(|local| !local.is_empty())
            .map(LocalDoc::status)
    }

    /// Forgets a document the server erased (a visit case past its retention): its content and
    /// sync state leave memory; the caller removes its stored chunks. False if it was not here.
    pub fn forget(&mut self, doc_id: &DocumentId) -> bool {
        self.docs.remove(doc_id).is_some()
    }

    /// Whether the server said it does not have this document.
    pub fn is_unavailable(&self, doc_id: &DocumentId) -> bool {
        self.docs.get(doc_id).is_some_and(|local| local.unavailable)
    }

    /// Documents with local changes the server has not confirmed stored: never delete these
    /// from the device (not on logout, a permission change or an app update).
    pub fn unconfirmed_docs(&self) -> Vec<DocumentId> {
        self.docs
            .iter()
            .filter(|(_, local)| !local.must_cover.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The connection's status.
    pub fn status(&self, now_ms: u64) -> SyncStatus {
        match &self.conn {
            Connection::Offline => SyncStatus::Offline,
            Connection::Handshaking { .. } => SyncStatus::Connecting,
            Connection::Established(est) => {
                let (pending, total) = est.progress(&self.docs);
                if pending == 0 {
                    let at_ms = match self.reported {
                        Some(SyncStatus::UpToDate { at_ms }) => at_ms,
                        _ => now_ms,
                    };
                    SyncStatus::UpToDate { at_ms }
                } else {
                    SyncStatus::Syncing { pending, total }
                }
            }
        }
    }

    /// The next time [`Input::Tick`] has something to do, if any.
    pub fn next_wakeup(&self) -> Option<u64> {
        match &self.conn {
            Connection::Offline => None,
            Connection::Handshaking { since_ms } => {
                Some(since_ms.saturating_add(self.config.handshake_timeout_ms))
            }
            Connection::Established(est) => est.next_stall_check(&self.docs, &self.config),
        }
    }

    fn report_status(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        let status = self.status(now_ms);
        if self.reported != Some(status) {
            self.reported = Some(status);
            out.push(Effect::StatusChanged(status));
        }
    }

    fn on_load(
        &mut self,
        doc_id: DocumentId,
        chunks: Vec<(StorageKey, Vec<u8>)>,
        confirmed_heads: Option<Vec<ChangeHash>>,
        out: &mut Vec<Effect>,
    ) {
        let actor = self.config.actor.clone();
        let local = self
            .docs
            .entry(doc_id)
            .or_insert_with(|| LocalDoc::new(Automerge::new().with_actor(actor)));
        let before = local.heads();
        for (key, reason) in local.load_chunks(chunks) {
            out.push(Effect::ChunkRejected { key, reason });
        }
        let heads = local.heads();
        // Without a confirmation covering them, loaded changes may be local and unsent.
        let confirmed = confirmed_heads
            .as_ref()
            .is_some_and(|c| local.covers(&heads, c));
        if !confirmed && !heads.is_empty() {
            local.must_cover = heads.clone();
        }
        // What the server confirmed is a floor of what it has: a document whose confirmed heads
        // are its heads needs no exchange after a restart unless the manifest says the server
        // moved on (which is what lets a device reconnect with a manifest cursor cheaply).
        if local.server_heads.is_none() {
            local.server_heads = confirmed_heads.filter(|_| confirmed);
        }
        if heads != before {
            out.push(Effect::DocChanged(doc_id));
        }
        local.report_status(doc_id, out);
    }

    fn on_want(&mut self, now_ms: u64, doc_id: DocumentId, out: &mut Vec<Effect>) {
        let actor = self.config.actor.clone();
        let local = self
            .docs
            .entry(doc_id)
            .or_insert_with(|| LocalDoc::new(Automerge::new().with_actor(actor)));
        if local.unavailable {
            // Ask again with a fresh exchange.
            local.unavailable = false;
            self.conn.forget_doc(doc_id);
        }
        self.sync_doc(now_ms, doc_id, out);
    }

    fn on_manifest(&mut self, now_ms: u64, entries: Vec<ManifestEntry>, out: &mut Vec<Effect>) {
        let actor = &self.config.actor;
        for ManifestEntry { doc_id, heads } in entries {
            let local = self
                .docs
                .entry(doc_id)
                .or_insert_with(|| LocalDoc::new(Automerge::new().with_actor(actor.clone())));
            if local.unavailable && !heads.is_empty() {
                // The server has it now: ask again with a fresh exchange.
                local.unavailable = false;
                self.conn.forget_doc(doc_id);
            }
            local.server_heads = Some(heads);
            local.report_status(doc_id, out);
        }
        if let Connection::Established(est) = &mut self.conn {
            est.sync_differing(now_ms, &self.peer_id, &mut self.docs, out);
        }
    }

    fn on_confirmed(&mut self, doc_id: DocumentId, heads: Vec<ChangeHash>, out: &mut Vec<Effect>) {
        let Some(local) = self.docs.get_mut(&doc_id) else {
            return;
        };
        if !local.must_cover.is_empty() && local.covers(&local.must_cover, &heads) {
            local.must_cover.clear();
            out.push(Effect::RememberConfirmed { doc_id, heads });
            local.report_status(doc_id, out);
        }
    }
}
