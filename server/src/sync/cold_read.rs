//! Answering a device's sync messages about a document its shard has not loaded, straight
//! from SQLite, without loading it into samod (issue #10, findings 11 and "Session 13" in
//! BENCH-RESULTS.md): reads, and writes too.
//!
//! samod 0.16 keeps every document it loads in memory until it stops (about 250 KB for a
//! 3.5 KB session document) and keeps a sync state per (connection, loaded document) that its
//! hub walks after every event. Most reads are one-offs: a device fetching what the manifest
//! lists, the office reading a year of records. Loading them all into samod made W3 (10,000
//! documents read after a restart) use 2.5 GB and spend its time in samod. Most writes after a
//! restart are one-offs too: a device back from a day offline pushes a few changes to each of
//! its records; through samod, W2 (fifty such devices) kept all thousand documents loaded.
//!
//! A document is *cold* while no message about it has been handed to its shard since the
//! server started and the server has not written it itself ([`ColdReads::mark_hot`] from
//! [`super::SyncHub::repo_for`]). Then samod holds nothing of it that SQLite does not, and a
//! `request` or `sync` about it is answered here ([`exchange`]): the share policy's decision
//! (audited for a visit case on the connection's first exchange about it, as samod audits its
//! first decision per connection), the document read back from
//! SQLite, one automerge sync exchange from a fresh sync state (read-only when the peer may
//! only read, as samod's is), the changes it received **stored before the answer goes** (under
//! samod's keys, through the same retrying writes), and the document dropped. A document not
//! stored yet is an empty one to a device that brings it (its first push of a record made
//! offline), and that push is stored as one snapshot, as the device sent it when it sent the
//! whole document. A denied `request` gets `doc-unavailable`, as from samod; a denied `sync`, a
//! `request` for a document not stored, a message automerge cannot read or that panics it, or
//! changes whose dependencies are missing (this copy would drop them) go to the shard, through
//! the gate every frame bound for samod passes ([`super::shard_gate`]), which turns the
//! document hot. At most [`COLD_LOADS`] exchanges hold a loaded document at once, server-wide.
//!
//! The device then acknowledges what it received: a sync message with no changes whose heads
//! are what was served. That message is *held*, not forwarded. When the document turns hot
//! (another message about it reaches the shard, the server writes it, or a device's write is
//! stored here while another connection holds it), every held acknowledgement is handed to the
//! shard as if its device had just sent it, so samod learns which connections hold the document
//! and sends them later changes live, as before. An exchange that another exchange's write
//! overtook (stored after this one started, so perhaps after it loaded the document, and
//! completed before it) goes to the shard too: its answer may lack the write, and the writer,
//! finding nobody holding the document yet, told nobody. Sync messages are idempotent, so a
//! device that hears about a document both from here and from samod, or whose changes reach
//! samod again after they were stored here, only receives or stores them twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{Automerge, Change, ChangeHash, ReadDoc as _, sync::SyncDoc as _};
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt as _, SinkExt as _};
use nimo_shared::sync::{DocumentId, Message, PeerId};

use super::policy::RegistryPolicy;
use super::shards::SERVER_PEER_ID;
use crate::access::{Access, DocKind};
use crate::storage::SqliteChunkStore;

/// How many cold reads one connection may have under way; more requests wait for one to
/// finish (which slows reading that connection's socket, not the others).
pub const READS_PER_CONNECTION: usize = 16;

/// How many cold exchanges may hold a loaded document at once, server-wide: fifty devices
/// reconnecting at once would otherwise load up to 800 (16 each). Their writes commit after
/// the document is dropped, outside this bound.
pub const COLD_LOADS: usize = 8;

/// A write to a document stored as more chunks than this is stored as one snapshot of the
/// whole document, which replaces them, instead of as one more chunk per change: samod compacts
/// what it holds (at the same count), but a document only ever written cold would otherwise
/// grow a chunk per change for as long as the server runs, and every load would read them all.
pub const COMPACT_ABOVE: usize = 10;

/// A write stored as a snapshot that replaces the chunks the exchange loaded.
#[derive(Debug)]
struct Compaction {
    /// The whole document, with what the exchange received.
    snapshot: Vec<u8>,
    /// The chunks it replaces: deleted once it is stored.
    replaces: Vec<nimo_shared::storage::StorageKey>,
    /// The document loaded, offered to the projection once stored (it would load it again).
    document: Automerge,
}

/// What a cold read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The document, as the frames to send the device and the heads they bring it to.
    Serve {
        /// Encoded `sync` protocol messages, in order.
        frames: Vec<Vec<u8>>,
        /// The document's heads as served.
        heads: Vec<ChangeHash>,
        /// Whether the exchange stored changes the device sent (durably, before answering).
        wrote: bool,
        /// Whether the document is a visit case, whose writes are audited ([`VisitWrites`]).
        visit_case: bool,
    },
    /// The peer may not read it: this `doc-unavailable` frame.
    Refuse(Vec<u8>),
    /// Not answerable here (not stored, or a message automerge cannot read): the shard answers.
    ToShard,
}

/// Told of each write to a visit case that a connection's cold exchange stored: the production
/// one is the connection's write audit ([`super::write_audit`]).
pub trait VisitWrites: std::fmt::Debug + Send + Sync + 'static {
    /// The connection's device wrote to the visit case `document` with `frame`, which may yet
    /// be handed to the shard (and so pass the gate, [`super::shard_gate`]).
    fn written(self: Arc<Self>, document: DocumentId, frame: &[u8]);
}

/// Reads one document for one peer: the production reader is [`StoredDocuments`]; the unit
/// tests script their own.
pub trait ColdReader: Send + Sync + 'static {
    /// Answers `peer`'s request for `document`, whose automerge sync message is `data`. With
    /// `first` (the connection's first exchange about `document`), the access decision is
    /// audited for a visit case, as samod's first decision per connection is.
    fn read(
        &self,
        document: DocumentId,
        peer: PeerId,
        data: Vec<u8>,
        first: bool,
    ) -> BoxFuture<'static, Answer>;
}

/// Cold reads from the chunk store, under the registry's share policy.
#[derive(Clone, Debug)]
pub struct StoredDocuments {
    store: SqliteChunkStore,
    policy: RegistryPolicy,
    /// Exchanges holding a loaded document, server-wide (not while their writes commit).
    loads: Arc<tokio::sync::Semaphore>,
}

impl StoredDocuments {
    /// Reads `store` under `policy`.
    pub fn new(store: SqliteChunkStore, policy: RegistryPolicy) -> Self {
        Self {
            store,
            policy,
            loads: Arc::new(tokio::sync::Semaphore::new(COLD_LOADS)),
        }
    }
}

impl ColdReader for StoredDocuments {
    fn read(
        &self,
        document: DocumentId,
        peer: PeerId,
        data: Vec<u8>,
        first: bool,
    ) -> BoxFuture<'static, Answer> {
        let this = self.clone();
        async move {
            let doc_id = document.to_string();
            let decision = this.policy.decision(&doc_id, peer.as_str(), first).await;
            let visit_case = decision.kind == Some(DocKind::VisitCase);
            let may_write = match decision.access {
                Access::None => {
                    return Answer::Refuse(
                        Message::DocUnavailable {
                            sender_id: PeerId::new(SERVER_PEER_ID),
                            target_id: peer,
                            document_id: document,
                        }
                        .encode(),
                    );
                }
                Access::ReadOnly => false,
                Access::ReadWrite => true,
            };
            let stored = match this.store.document_chunks(&doc_id).await {
                Ok(stored) => stored,
                Err(error) => {
                    tracing::warn!(%error, doc = %doc_id, "cold read failed; the shard answers");
                    return Answer::ToShard;
                }
            };
            // Nothing stored: a device bringing the document (the first push of a record it
            // made offline) is answered from an empty document, as samod would; a peer asking
            // for it is samod's to answer (it tells the peer the document is unavailable).
            if stored.is_empty() && !(may_write && brings_something(&data)) {
                return Answer::ToShard;
            }
            // Nothing stored and no changes brought: nothing to load or apply, only the
            // device's heads to answer from an empty document (each record's first message in a
            // first push), which takes less than handing it to a blocking thread. Still under
            // `catch_unwind`: automerge panics on some hostile messages.
            let trivial = stored.is_empty() && !brings_changes(&data);
            let exchange = move || {
                // One stored snapshot and a peer with nothing: the snapshot is the answer as it
                // is (no automerge load: 0.1 ms instead of 1.9 ms per session natively,
                // finding 11). Anything else is loaded.
                if let ([snapshot], []) =
                    (stored.snapshots.as_slice(), stored.incrementals.as_slice())
                    && let Some((messages, heads)) = reply_from_snapshot(snapshot, may_write, &data)
                {
                    let exchange = Exchange {
                        messages,
                        before: heads.clone(),
                        heads,
                    };
                    return Some((exchange, Storing::Nothing));
                }
                if stored.is_empty() {
                    let mut doc = Automerge::new();
                    let exchange = exchange_in(&mut doc, may_write, &data)?;
                    let storing = if exchange.wrote() {
                        // A new document is stored whole, as one snapshot: as the device sent
                        // it when that is exactly what the document now is (no re-encoding).
                        let snapshot =
                            sent_document(&data, &exchange.heads).unwrap_or_else(|| doc.save());
                        Storing::Snapshot(Box::new(Compaction {
                            snapshot,
                            replaces: Vec::new(),
                            document: doc,
                        }))
                    } else {
                        Storing::Nothing
                    };
                    return Some((exchange, storing));
                }
                let replaces = stored.keys.clone();
                // Only a document that loaded whole may replace its chunks: a damaged chunk or
                // a change waiting for its dependency is not in it.
                let (mut doc, whole) = stored.load_checked(&doc_id);
                let exchange = exchange_in(&mut doc, may_write, &data)?;
                if !exchange.wrote() {
                    return Some((exchange, Storing::Nothing));
                }
                let received = doc.get_changes(&exchange.before);
                let storing = if whole && replaces.len() + received.len() > COMPACT_ABOVE {
                    Storing::Snapshot(Box::new(Compaction {
                        snapshot: doc.save(),
                        replaces,
                        document: doc,
                    }))
                } else {
                    Storing::Changes(received)
                };
                Some((exchange, storing))
            };
            let exchanged = if trivial {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(exchange))
                    .ok()
                    .flatten()
            } else {
                let loading = this.loads.acquire().await;
                let exchanged = tokio::task::spawn_blocking(exchange).await;
                drop(loading);
                exchanged.ok().flatten()
            };
            let Some((exchanged, storing)) = exchanged else {
                return Answer::ToShard;
            };
            // What the device sent is stored before it is answered, under the keys samod
            // writes it under; like samod's, a failed write is retried until it lands, and the
            // projection hears of it.
            let doc_id = document.to_string();
            let stored = match storing {
                Storing::Nothing => Some(()),
                Storing::Changes(received) => this.store_received(&doc_id, &received).await,
                Storing::Snapshot(compaction) => {
                    this.store_compacted(&doc_id, &exchanged.heads, *compaction)
                        .await
                }
            };
            if stored.is_none() {
                return Answer::ToShard;
            }
            let wrote = exchanged.wrote();
            Answer::Serve {
                frames: exchanged
                    .messages
                    .into_iter()
                    .map(|data| {
                        Message::Sync {
                            document_id: document,
                            sender_id: PeerId::new(SERVER_PEER_ID),
                            target_id: peer.clone(),
                            data,
                        }
                        .encode()
                    })
                    .collect(),
                heads: exchanged.heads,
                wrote,
                visit_case,
            }
        }
        .boxed()
    }
}

impl StoredDocuments {
    /// Stores each change `received` as its own chunk, as samod does. `None` if a key cannot
    /// be made (nothing is then answered here).
    async fn store_received(&self, doc_id: &str, received: &[Change]) -> Option<()> {
        for change in received {
            let key = samod::storage::StorageKey::from_parts([
                doc_id.to_owned(),
                "incremental".to_owned(),
                change.hash().to_string(),
            ])
            .ok()?;
            samod::storage::Storage::put(&self.store, key, change.raw_bytes().to_vec()).await;
        }
        Some(())
    }

    /// Stores the whole document as one snapshot (named as samod names its compactions), then
    /// deletes the chunks it replaces. A chunk written meanwhile by another exchange is not
    /// among them, so it stays; two compactions at once leave two snapshots, which load as one.
    async fn store_compacted(
        &self,
        doc_id: &str,
        heads: &[ChangeHash],
        compaction: Compaction,
    ) -> Option<()> {
        let name = nimo_shared::sync::storage_key::samod_compaction_hash(heads);
        let key = samod::storage::StorageKey::from_parts([
            doc_id.to_owned(),
            "snapshot".to_owned(),
            name.clone(),
        ])
        .ok()?;
        samod::storage::Storage::put(&self.store, key, compaction.snapshot).await;
        for replaced in compaction.replaces {
            // The snapshot may have the very name of one it replaces (same heads): keep it.
            if replaced.components().last() == Some(&name) {
                continue;
            }
            let Ok(replaced) =
                samod::storage::StorageKey::from_parts(replaced.components().to_vec())
            else {
                continue;
            };
            samod::storage::Storage::delete(&self.store, replaced).await;
        }
        self.store.offer_loaded(doc_id, compaction.document);
        Some(())
    }
}

/// What one sync exchange made of a device's message.
#[derive(Debug)]
pub struct Exchanged {
    /// Encoded automerge sync messages to send back, in order.
    pub messages: Vec<Vec<u8>>,
    /// The heads they bring the peer to: the document's, with what it received.
    pub heads: Vec<ChangeHash>,
    /// The changes the peer sent that the document did not have, to be stored before the
    /// messages go.
    pub received: Vec<Change>,
}

/// One sync exchange with a peer that sent `data`, from a fresh sync state, on `doc` as stored.
/// `None` when `data` is not a sync message automerge can take, or brings changes automerge
/// cannot apply yet (their dependencies are missing): this copy is dropped after the exchange,
/// so those are left to the shard, which keeps them until their dependencies come.
pub fn exchange(mut doc: Automerge, may_write: bool, data: &[u8]) -> Option<Exchanged> {
    let Exchange {
        messages,
        heads,
        before,
    } = exchange_in(&mut doc, may_write, data)?;
    let received = if heads == before {
        Vec::new()
    } else {
        doc.get_changes(&before)
    };
    Some(Exchanged {
        messages,
        heads,
        received,
    })
}

/// What [`exchange_in`] made of a device's message. The changes received are the caller's to
/// collect (`get_changes` rebuilds them, which costs as much as a load, and a new document
/// stored whole does not need them).
#[derive(Debug)]
struct Exchange {
    messages: Vec<Vec<u8>>,
    heads: Vec<ChangeHash>,
    /// The document's heads before the exchange.
    before: Vec<ChangeHash>,
}

impl Exchange {
    /// Whether the peer's message brought changes the document did not have.
    fn wrote(&self) -> bool {
        self.heads != self.before
    }
}

/// How an exchange's write is stored.
#[derive(Debug)]
enum Storing {
    /// It wrote nothing.
    Nothing,
    /// Each change as its own chunk, as samod stores them.
    Changes(Vec<Change>),
    /// The whole document as one snapshot.
    Snapshot(Box<Compaction>),
}

/// [`exchange`] on a document the caller keeps, with what the peer sent applied to it.
fn exchange_in(doc: &mut Automerge, may_write: bool, data: &[u8]) -> Option<Exchange> {
    let theirs = automerge::sync::Message::decode(data).ok()?;
    // A peer that may not write gets a read-only state, which tells it so and applies nothing;
    // samod does the same.
    let mut state = if may_write {
        automerge::sync::State::new()
    } else {
        automerge::sync::State::new_read_only()
    };
    let before = doc.get_heads();
    doc.receive_sync_message(&mut state, theirs).ok()?;
    if !doc.get_missing_deps(&[]).is_empty() {
        return None;
    }
    let heads = doc.get_heads();
    let mut messages = Vec::new();
    // As samod-core's peer connection: a first message may advertise other heads than the
    // document's, and then the real ones follow at once.
    while let Some(message) = doc.generate_sync_message(&mut state) {
        let follow_up = message.heads != heads;
        if follow_up {
            state.last_sent_heads.clone_from(&message.heads);
        }
        messages.push(message.encode());
        if !follow_up || messages.len() > 2 {
            break;
        }
    }
    // Nothing to say would leave the peer waiting: the shard answers instead.
    (!messages.is_empty()).then_some(Exchange {
        messages,
        heads,
        before,
    })
}

/// Whether `data`, a sync message, carries changes.
fn brings_changes(data: &[u8]) -> bool {
    automerge::sync::Message::decode(data).is_ok_and(|message| !message.changes.is_empty())
}

/// Whether `data`, a sync message, brings the peer's changes or tells of heads it has: what a
/// device sends about a record it made, unlike a `request` from a peer with nothing.
fn brings_something(data: &[u8]) -> bool {
    automerge::sync::Message::decode(data)
        .is_ok_and(|message| !message.heads.is_empty() || !message.changes.is_empty())
}

/// The document `data` (a sync message) carries, when its changes are exactly one saved
/// document whose heads are `heads` (what a new document became by receiving it): automerge
/// sends a peer that has nothing the whole document so, and it can be stored as it came.
fn sent_document(data: &[u8], heads: &[ChangeHash]) -> Option<Vec<u8>> {
    let message = automerge::sync::Message::decode(data).ok()?;
    let bytes: Vec<u8> = message.changes.iter().flatten().copied().collect();
    let mut declared = nimo_shared::sync::chunk_bounds::document_heads(&bytes)?;
    declared.sort_unstable();
    let mut heads = heads.to_vec();
    heads.sort_unstable();
    (declared == heads).then_some(bytes)
}

/// The answer to `data`, a sync message from a peer that has nothing, made of `snapshot` (one
/// saved document) without loading it: what automerge itself sends such a peer (the whole
/// document as one v2 chunk), except that what the server has is summarised as "everything up
/// to these heads" rather than a bloom filter of every change, which only loading could list.
/// The peer, once it holds the document, has nothing to send back. `None` when the peer has
/// something, cannot take v2 messages, or `snapshot` is not exactly one document chunk.
pub fn reply_from_snapshot(
    snapshot: &[u8],
    may_write: bool,
    data: &[u8],
) -> Option<(Vec<Vec<u8>>, Vec<ChangeHash>)> {
    use automerge::sync::{BloomFilter, ChunkList, Have, MessageFlags, MessageVersion};
    let theirs = automerge::sync::Message::decode(data).ok()?;
    // As automerge's `send_doc`: a peer that advertises no heads and sends flags (which came
    // with v2 messages).
    if !theirs.heads.is_empty() || !theirs.changes.is_empty() || theirs.flags.is_none() {
        return None;
    }
    let heads = nimo_shared::sync::chunk_bounds::document_heads(snapshot)?;
    if heads.is_empty() {
        return None;
    }
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    if !may_write {
        flags.set(MessageFlags::READ_ONLY);
    }
    let reply = automerge::sync::Message {
        heads: heads.clone(),
        need: Vec::new(),
        have: vec![Have {
            last_sync: heads.clone(),
            bloom: BloomFilter::default(),
        }],
        changes: ChunkList::from(snapshot.to_vec()),
        flags: Some(flags),
        version: MessageVersion::V2,
    };
    Some((vec![reply.encode()], heads))
}

/// Whether a device's sync message about a document served to it at `served` only
/// acknowledges it: no changes, nothing needed, exactly those heads.
pub fn only_acknowledges(served: &[ChangeHash], data: &[u8]) -> bool {
    let Ok(message) = automerge::sync::Message::decode(data) else {
        return false;
    };
    let mut heads = message.heads;
    heads.sort_unstable();
    let mut served = served.to_vec();
    served.sort_unstable();
    message.changes.is_empty() && message.need.is_empty() && heads == served
}

/// An acknowledgement kept until its document turns hot.
#[derive(Debug)]
struct Held {
    /// The frame to hand the shard: the device's latest acknowledgement (or its request, until
    /// one arrives).
    frame: Vec<u8>,
    /// The heads served.
    heads: Vec<ChangeHash>,
}

/// An open connection: where its frames for the shards are handed back to the multiplexer,
/// the documents held for it (to forget them when it closes), and the documents it has
/// exchanged about (whose access decision was audited).
#[derive(Debug)]
struct Open {
    replays: mpsc::Sender<Vec<u8>>,
    documents: HashSet<DocumentId>,
    exchanged: HashSet<DocumentId>,
}

/// Which documents are hot, and the acknowledgements held for cold ones.
#[derive(Debug, Default)]
struct Registry {
    hot: HashSet<DocumentId>,
    held: HashMap<DocumentId, HashMap<u64, Held>>,
    connections: HashMap<u64, Open>,
    /// How many exchanges that stored changes have completed, per cold document written since
    /// the server started (forgotten when it turns hot). An exchange compares the count at its
    /// start with the count at its end: if it moved, the document it loaded may predate a
    /// write, and its answer may be stale.
    writes: HashMap<DocumentId, u64>,
}

impl Registry {
    /// Marks `document` hot and hands every acknowledgement held for it back to its
    /// connection's multiplexer, which sends it to the document's shard.
    fn heat(&mut self, document: DocumentId) {
        if !self.hot.insert(document) {
            return;
        }
        self.writes.remove(&document);
        for (connection, held) in self.held.remove(&document).unwrap_or_default() {
            if let Some(open) = self.connections.get_mut(&connection) {
                open.documents.remove(&document);
                hand_back(open.replays.clone(), held.frame);
            }
        }
    }

    /// How many exchanges have stored changes to cold `document` (see [`Registry::writes`]).
    fn writes_to(&self, document: &DocumentId) -> u64 {
        self.writes.get(document).copied().unwrap_or(0)
    }

    /// Hands `frame` back to `connection`'s multiplexer, if the connection is open.
    fn hand_back_to(&self, connection: u64, frame: Vec<u8>) {
        if let Some(open) = self.connections.get(&connection) {
            hand_back(open.replays.clone(), frame);
        }
    }
}

/// Sends `frame` on `replays` without waiting: at once if there is room, else from a task (the
/// multiplexer may be busy; the frame must not be lost while the connection lives).
fn hand_back(mut replays: mpsc::Sender<Vec<u8>>, frame: Vec<u8>) {
    if let Err(error) = replays.try_send(frame) {
        if error.is_disconnected() {
            return;
        }
        let frame = error.into_inner();
        tokio::spawn(async move {
            // The connection may have closed meanwhile; then nothing needs the frame.
            let _ = replays.send(frame).await;
        });
    }
}

/// The server's cold reads: shared by every connection ([`ColdConnection`]).
#[derive(Clone)]
pub struct ColdReads {
    registry: Arc<Mutex<Registry>>,
    reader: Arc<dyn ColdReader>,
    next_connection: Arc<AtomicU64>,
    served: Arc<AtomicU64>,
}

impl std::fmt::Debug for ColdReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdReads")
            .field("served", &self.served())
            .finish_non_exhaustive()
    }
}

/// What the multiplexer does with a device's message about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it to the document's shard.
    Shard,
    /// Answer it here: a `request` or `sync` (with this automerge sync message) about a cold
    /// document (spawn [`ColdConnection::exchange`]).
    Exchange(Vec<u8>),
    /// Keep it (an acknowledgement of a cold read); nothing to send.
    Held,
}

impl ColdReads {
    /// Cold reads answered by `reader`.
    pub fn new(reader: impl ColdReader) -> Self {
        Self {
            registry: Arc::default(),
            reader: Arc::new(reader),
            next_connection: Arc::default(),
            served: Arc::default(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Every critical section leaves the registry consistent, so a panic elsewhere while
        // it was held leaves nothing half-done.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `document` is (about to be) in samod's memory: later messages about it go to its shard,
    /// and the acknowledgements held for it go there now.
    pub fn mark_hot(&self, document: DocumentId) {
        self.registry().heat(document);
    }

    /// Whether `document` is hot.
    pub fn is_hot(&self, document: &DocumentId) -> bool {
        self.registry().hot.contains(document)
    }

    /// How many documents were served cold since the server started.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// A connection of the device `peer`: answers go to `replies` (the socket), and frames
    /// for the shards to `replays` (the multiplexer sends them to the document's shard); its
    /// writes to visit cases stored here are told to `writes`.
    pub fn connection(
        &self,
        peer: PeerId,
        writes: Arc<dyn VisitWrites>,
        replies: mpsc::Sender<Vec<u8>>,
        replays: mpsc::Sender<Vec<u8>>,
    ) -> ColdConnection {
        let key = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.registry().connections.insert(
            key,
            Open {
                replays,
                documents: HashSet::new(),
                exchanged: HashSet::new(),
            },
        );
        ColdConnection {
            reads: self.clone(),
            key,
            peer,
            writes,
            replies,
            permits: Arc::new(tokio::sync::Semaphore::new(READS_PER_CONNECTION)),
        }
    }
}

/// One device connection's side of the cold reads; forgets what it held when dropped.
#[derive(Debug)]
pub struct ColdConnection {
    reads: ColdReads,
    key: u64,
    peer: PeerId,
    writes: Arc<dyn VisitWrites>,
    replies: mpsc::Sender<Vec<u8>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl ColdConnection {
    /// What to do with `message` (about `document`, whose frame is `frame`), which the
    /// multiplexer would otherwise send to the document's shard.
    pub fn decide(
        &self,
        document: DocumentId,
        message: Option<&Message>,
        frame: &[u8],
    ) -> Decision {
        let mut registry = self.reads.registry();
        if registry.hot.contains(&document) {
            return Decision::Shard;
        }
        match message {
            Some(Message::Request { data, .. }) => return Decision::Exchange(data.clone()),
            Some(Message::Sync { data, .. }) => {
                if let Some(held) = registry
                    .held
                    .get_mut(&document)
                    .and_then(|held| held.get_mut(&self.key))
                    && only_acknowledges(&held.heads, data)
                {
                    held.frame = frame.to_vec();
                    return Decision::Held;
                }
                // Heads, a bloom filter, changes: one exchange from a fresh state answers it
                // as samod would, and stores what it brings. Unless it writes a document
                // written cold before: a document written again is being worked on (a trainer
                // checking people in, one message per tap), and each cold exchange loads it
                // whole from SQLite, where samod applies a change to what it holds.
                if registry.writes_to(&document) == 0 || !brings_changes(data) {
                    return Decision::Exchange(data.clone());
                }
            }
            _ => {}
        }
        // The device's own message reaches the shard now: what was held for it is stale.
        if let Some(held) = registry.held.get_mut(&document) {
            held.remove(&self.key);
        }
        if let Some(open) = registry.connections.get_mut(&self.key) {
            open.documents.remove(&document);
        }
        registry.heat(document);
        Decision::Shard
    }

    /// Waits for a free read slot of this connection.
    pub async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the semaphore is never closed"))
    }

    /// Answers the `request` or `sync` `frame` (sync message `data`) for `document`, holding
    /// `slot` until done: the answer goes to the device, or the frame back to the multiplexer
    /// when the shard must answer (also when the document turned hot meanwhile: samod loads it
    /// from storage, where anything this exchange received already is, and the frame brings it
    /// again, which changes nothing).
    pub fn exchange(
        &self,
        document: DocumentId,
        frame: Vec<u8>,
        data: Vec<u8>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> BoxFuture<'static, ()> {
        let reads = self.reads.clone();
        let key = self.key;
        let mut replies = self.replies.clone();
        let writes = Arc::clone(&self.writes);
        let (writes_before, first) = {
            let mut registry = self.reads.registry();
            // Counted before the read starts, so before it loads the document.
            let writes_before = registry.writes_to(&document);
            let first = registry
                .connections
                .get_mut(&key)
                .is_none_or(|open| open.exchanged.insert(document));
            (writes_before, first)
        };
        let answer = self
            .reads
            .reader
            .read(document, self.peer.clone(), data, first);
        async move {
            let answer = answer.await;
            // Stored is written, whatever happens next (even if the connection closed
            // meanwhile): audited now, with the frame, which the gate then knows again if it is
            // handed back to the shard below.
            if matches!(
                answer,
                Answer::Serve {
                    wrote: true,
                    visit_case: true,
                    ..
                }
            ) {
                writes.written(document, &frame);
            }
            let frames = {
                let mut registry = reads.registry();
                // Another exchange stored changes while this one read: this one's load may
                // predate them, and its answer leave the device behind with nobody to tell
                // it (the writer looked for holders before this one held). The shard answers
                // instead, from storage, which has both.
                let overtaken = registry.writes_to(&document) != writes_before;
                if matches!(answer, Answer::Serve { wrote: true, .. }) {
                    // Counted even if this connection closed meanwhile: the write is stored.
                    *registry.writes.entry(document).or_default() += 1;
                    let others_hold_it = registry
                        .held
                        .get(&document)
                        .is_some_and(|held| held.keys().any(|&other| other != key));
                    if others_hold_it {
                        // Other devices hold the document and must hear of the write live:
                        // samod takes it over, loading it with the write, and is handed their
                        // acknowledgements and this device's frame.
                        if let Some(held) = registry.held.get_mut(&document) {
                            held.remove(&key);
                        }
                        registry.heat(document);
                    }
                }
                if !registry.connections.contains_key(&key) {
                    // The connection closed while reading.
                    return;
                }
                match answer {
                    // Hot, meanwhile or by this write: samod answers, and so learns that this
                    // connection holds the document. If it loaded the document before this
                    // exchange's write was stored, the frame brings the write again.
                    _ if registry.hot.contains(&document) => {
                        registry.hand_back_to(key, frame);
                        return;
                    }
                    Answer::ToShard | Answer::Serve { .. } if overtaken => {
                        registry.heat(document);
                        registry.hand_back_to(key, frame);
                        return;
                    }
                    Answer::ToShard => {
                        registry.heat(document);
                        registry.hand_back_to(key, frame);
                        return;
                    }
                    // A refusal answers a `request` only. A device's `sync` about a document
                    // it may not have (yet: it syncs a record it created before registering
                    // it) is samod's to keep, which re-decides when the access changes.
                    Answer::Refuse(_)
                        if !matches!(Message::decode(&frame), Ok(Message::Request { .. })) =>
                    {
                        registry.heat(document);
                        registry.hand_back_to(key, frame);
                        return;
                    }
                    Answer::Refuse(refusal) => vec![refusal],
                    Answer::Serve { frames, heads, .. } => {
                        reads.served.fetch_add(1, Ordering::Relaxed);
                        registry
                            .held
                            .entry(document)
                            .or_default()
                            .insert(key, Held { frame, heads });
                        if let Some(open) = registry.connections.get_mut(&key) {
                            open.documents.insert(document);
                        }
                        frames
                    }
                }
            };
            for reply in frames {
                if replies.send(reply).await.is_err() {
                    break;
                }
            }
            drop(slot);
        }
        .boxed()
    }
}

impl Drop for ColdConnection {
    fn drop(&mut self) {
        let mut registry = self.reads.registry();
        let documents = registry
            .connections
            .remove(&self.key)
            .map(|open| open.documents)
            .unwrap_or_default();
        for document in documents {
            if let Some(held) = registry.held.get_mut(&document) {
                held.remove(&self.key);
                if held.is_empty() {
                    registry.held.remove(&document);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
