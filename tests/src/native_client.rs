//! A native IO driver for the browser's sync client, [`SyncClient`]: the reference the browser
//! driver follows, and the device the integration tests sync real documents with.
//!
//! [`SyncClient`] is sans-IO: it is told what happened ([`Input`]) and answers what to do
//! ([`Effect`]). Everything else is here, in one tokio task per device:
//!
//! - a real WebSocket (tokio-tungstenite) to `GET /api/sync/ws?ticket=…`;
//! - a real clock (`SystemTime`) and a seeded random generator (ChaCha8), so a failure replays;
//! - the device's storage, [`DeviceStorage`]: chunks, confirmed heads and the manifest cursor,
//!   kept when a [`Device`] shuts down so a new one reloads them ("the device restarted");
//! - the REST calls around sync: a ticket per connection, the manifest before each connection,
//!   and `POST /api/sync/confirm` once the server has a document's changes.
//!
//! # One client per connection
//! A ticket is single-use and binds a fresh peer id, and [`SyncClient`] keeps the peer id it was
//! made with. So every connection gets a fresh client, loaded from storage ([`Input::Load`] with
//! the heads the server confirmed) and from the cached manifest ([`Input::Manifest`]) before it
//! sees [`Input::Connected`]. Nothing is lost on the way: every effect is carried out before
//! the next input, so storage always holds every change. A failed attempt keeps the old client,
//! whose backoff grows until an attempt gets through.
//!
//! # Life of a connection
//! 1. `POST /api/sync/ticket` → ticket and peer id; `GET /api/sync/manifest?since=cursor` →
//!    the server's heads of the documents this user may see (cached in storage with the cursor).
//! 2. Open the WebSocket, make the fresh client, feed it storage and the manifest, then
//!    `Connected`. The client sends `join`, and after `peer` syncs only the documents whose
//!    heads differ from the server's: a reconnect with nothing changed sends no sync message.
//! 3. Frames in → [`Input::Received`]; [`Effect::Send`] → frames out; [`Input::Tick`] at
//!    [`SyncClient::next_wakeup`] (and at least every second).
//! 4. When a document becomes [`DocStatus::Sent`] (the server took its changes in sync), its
//!    heads are confirmed: the server answers from SQLite, and only then does the client say
//!    [`DocStatus::Stored`]. Heads not stored yet are asked about again while connected.
//! 5. The socket closes → [`Input::Disconnected`] → [`Effect::ReconnectAfter`] → step 1.
//!
//! The test drives a device through [`Device`]'s methods (commands to the task) and watches it
//! through [`Observed`].

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use automerge::{Automerge, ChangeHash};
use futures::{SinkExt as _, StreamExt as _};
use nimo_shared::{
    DeviceId,
    sync::{
        BackoffConfig, ClientConfig, DocStatus, DocumentId, Effect, Input, ManifestEntry, Message,
        PeerId, StorageKey, SyncClient, SyncStatus,
    },
};
use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};
use tokio::{
    net::TcpStream,
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
    time::Instant,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

use crate::ApiClient;

/// How long one HTTP call or WebSocket opening may take before the attempt counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a document reaches [`DocStatus::Sent`] the device asks for confirmation.
const CONFIRM_DELAY: Duration = Duration::from_millis(10);
/// How long before asking again when the server has not stored everything yet.
const CONFIRM_RETRY: Duration = Duration::from_millis(100);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The milliseconds since the epoch: the client's clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where the device finds the server: its API client, which a test re-points when the server
/// comes back on another port.
#[derive(Debug, Clone)]
pub struct ServerLink(Arc<Mutex<ApiClient>>);

impl ServerLink {
    /// A link through `api` (its base URL and bearer token).
    pub fn new(api: ApiClient) -> Self {
        Self(Arc::new(Mutex::new(api)))
    }

    /// The API client to use now.
    pub fn api(&self) -> ApiClient {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Points the link at a server at `base` (same session, new address).
    pub fn point_at(&self, base: &str) {
        let mut api = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *api = api.with_base(base);
    }
}

/// What the device keeps across restarts: the browser's IndexedDB, as a map in memory.
#[derive(Debug, Clone, Default)]
pub struct DeviceStorage(Arc<Mutex<Stored>>);

#[derive(Debug, Default)]
struct Stored {
    chunks: BTreeMap<StorageKey, Vec<u8>>,
    confirmed: BTreeMap<DocumentId, Vec<ChangeHash>>,
    manifest_cursor: i64,
    server_heads: BTreeMap<DocumentId, Vec<ChangeHash>>,
}

impl DeviceStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Carries out a storage effect (each under one lock: one transaction).
    fn apply(&self, effect: &Effect) {
        let mut stored = self.lock();
        match effect {
            Effect::Persist { key, bytes } => {
                stored.chunks.insert(key.clone(), bytes.clone());
            }
            Effect::Compact {
                snapshot_key,
                bytes,
                remove,
                ..
            } => {
                for key in remove {
                    stored.chunks.remove(key);
                }
                stored.chunks.insert(snapshot_key.clone(), bytes.clone());
            }
            Effect::RememberConfirmed { doc_id, heads } => {
                stored.confirmed.insert(*doc_id, heads.clone());
            }
            _ => {}
        }
    }

    /// Every stored document as the [`Input::Load`] that brings it back.
    fn loads(&self) -> Vec<Input> {
        let stored = self.lock();
        let mut chunks: BTreeMap<DocumentId, Vec<(StorageKey, Vec<u8>)>> = BTreeMap::new();
        for (key, bytes) in &stored.chunks {
            chunks
                .entry(key.doc_id)
                .or_default()
                .push((key.clone(), bytes.clone()));
        }
        chunks
            .into_iter()
            .map(|(doc_id, chunks)| Input::Load {
                doc_id,
                chunks,
                confirmed_heads: stored.confirmed.get(&doc_id).cloned(),
            })
            .collect()
    }

    /// The server's heads as far as the manifests said, for a fresh client.
    fn manifest(&self) -> Input {
        let stored = self.lock();
        Input::Manifest(
            stored
                .server_heads
                .iter()
                .map(|(doc_id, heads)| ManifestEntry {
                    doc_id: *doc_id,
                    heads: heads.clone(),
                })
                .collect(),
        )
    }

    /// The ids of the documents with chunks in storage.
    pub fn doc_ids(&self) -> BTreeSet<DocumentId> {
        self.lock().chunks.keys().map(|key| key.doc_id).collect()
    }

    /// How many chunks are stored.
    pub fn chunk_count(&self) -> usize {
        self.lock().chunks.len()
    }
}

/// How a device behaves.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Seeds the device's random generator (its actor id, document ids, backoff jitter).
    pub seed: u64,
    /// Reconnect delays; short ones keep tests fast.
    pub backoff: BackoffConfig,
    /// Confirm documents as soon as the server has them. Off, the test calls
    /// [`Device::confirm_now`].
    pub confirm_automatically: bool,
}

impl DeviceOptions {
    /// Test defaults: reconnect within 50 ms to 0.5 s, confirm automatically.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            backoff: BackoffConfig {
                base_ms: 50,
                cap_ms: 500,
            },
            confirm_automatically: true,
        }
    }
}

/// What a test can see of a device.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The connection's status as last reported by the client.
    pub status: Option<SyncStatus>,
    /// Every document the client reported on.
    pub docs: BTreeMap<DocumentId, DocView>,
    /// One entry per WebSocket opened, oldest first.
    pub connections: Vec<ConnectionStats>,
    /// Every heads the server's confirm endpoint said are stored, oldest first.
    pub confirmations: Vec<Confirmation>,
    /// Connection attempts that failed (no ticket, no manifest, no socket).
    pub failed_attempts: usize,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Every reconnect delay the client chose ([`Effect::ReconnectAfter`]), in milliseconds.
    pub reconnect_delays: Vec<u64>,
}

impl Observed {
    /// A document's status, if the client reported one.
    pub fn doc_status(&self, doc_id: &DocumentId) -> Option<DocStatus> {
        self.docs.get(doc_id).and_then(|view| view.status)
    }

    /// Connected and every document synced in this connection agrees with the server.
    pub fn up_to_date(&self) -> bool {
        matches!(self.status, Some(SyncStatus::UpToDate { .. }))
    }
}

/// One document as the client reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocView {
    /// Its heads on the device.
    pub heads: Vec<ChangeHash>,
    /// Where its local changes are.
    pub status: Option<DocStatus>,
    /// The server said it does not have it, or will not share it.
    pub unavailable: bool,
}

/// The frames of one connection, counted by message type (`join`, `sync`, `request`, …).
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    /// The peer id its ticket bound.
    pub peer_id: String,
    /// Frames sent, by type.
    pub sent: BTreeMap<String, usize>,
    /// Frames received, by type.
    pub received: BTreeMap<String, usize>,
}

impl ConnectionStats {
    /// The `sync` and `request` messages sent: what a document exchange costs.
    pub fn document_messages_sent(&self) -> usize {
        ["sync", "request"]
            .iter()
            .map(|kind| self.sent.get(*kind).copied().unwrap_or(0))
            .sum()
    }
}

/// Heads of a document that the server confirmed stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The document.
    pub doc_id: DocumentId,
    /// Its heads, all durably stored on the server.
    pub heads: Vec<ChangeHash>,
}

/// Something for the task to do with the client; returns the effects to carry out and what to
/// do once they are carried out (answer the caller).
type Job = Box<dyn FnOnce(&mut SyncClient, u64, &mut ChaCha8Rng) -> (Vec<Effect>, Reply) + Send>;
type Reply = Box<dyn FnOnce() + Send>;

enum Command {
    Run(Job),
    Want(DocumentId),
    Reconnect,
    ConfirmNow,
}

/// A device: a handle on the task that runs its sync client. Dropping it stops the task.
#[derive(Debug)]
pub struct Device {
    commands: mpsc::UnboundedSender<Command>,
    observed: watch::Receiver<Observed>,
    storage: DeviceStorage,
    task: JoinHandle<()>,
}

impl Device {
    /// A new device of `api`'s user (empty storage, default options from `seed`), connecting.
    pub fn new_for(api: &ApiClient, seed: u64) -> Self {
        Self::start(
            ServerLink::new(api.clone()),
            DeviceStorage::default(),
            DeviceOptions::seeded(seed),
        )
    }

    /// Starts a device over `storage` (empty for a new device, or one a device left behind) and
    /// connects to the server behind `link`.
    pub fn start(link: ServerLink, storage: DeviceStorage, options: DeviceOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut device_bytes = [0; 16];
        rng.fill_bytes(&mut device_bytes);
        // One actor per device start, as the client's docs ask; reusing it across the
        // connections of this start is safe: each client loads every change it made.
        let mut config = ClientConfig::new(DeviceId::from_random_bytes(device_bytes).actor_id());
        config.backoff = options.backoff;
        config.handshake_timeout_ms = 5_000;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (observed_tx, observed) = watch::channel(Observed::default());
        let driver = Driver {
            link,
            client: SyncClient::new(PeerId::from("offline"), config.clone()),
            config,
            rng,
            storage: storage.clone(),
            socket: None,
            wanted: BTreeSet::new(),
            to_confirm: BTreeMap::new(),
            reconnect_at: Some(Instant::now()),
            confirm_at: None,
            confirm_automatically: options.confirm_automatically,
            observed: observed_tx,
            commands: command_rx,
        };
        Self {
            commands,
            observed,
            storage,
            task: tokio::spawn(driver.run()),
        }
    }

    /// What the device shows now.
    pub fn observed(&self) -> Observed {
        self.observed.borrow().clone()
    }

    /// The device's storage (shared with the task).
    pub fn storage(&self) -> &DeviceStorage {
        &self.storage
    }

    /// Waits until `done` holds for what the device shows, or fails after `limit` saying what
    /// was awaited and where the device is.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Observed) -> bool,
    ) -> anyhow::Result<Observed> {
        let mut observed = self.observed.clone();
        match tokio::time::timeout(limit, observed.wait_for(|o| done(o))).await {
            Ok(Ok(seen)) => Ok(seen.clone()),
            Ok(Err(_)) => anyhow::bail!("the device stopped while waiting for {what}"),
            Err(_) => {
                let now = self.observed();
                anyhow::bail!(
                    "{what}: not within {limit:?}; status {:?}, docs {:?}, {} connections, {} failed attempts (last: {:?})",
                    now.status,
                    now.docs,
                    now.connections.len(),
                    now.failed_attempts,
                    now.last_error
                )
            }
        }
    }

    /// Runs `f` on the client in the task; answers once its effects are carried out.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SyncClient, u64, &mut ChaCha8Rng) -> (T, Vec<Effect>) + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |client, now, rng| {
            let (value, effects) = f(client, now, rng);
            let reply: Reply = Box::new(move || {
                let _ = answer.send(value);
            });
            (effects, reply)
        });
        self.commands
            .send(Command::Run(job))
            .map_err(|_| anyhow::anyhow!("the device task has stopped"))?;
        answered
            .await
            .context("the device task stopped before answering")
    }

    /// Creates a document holding `initial`'s changes (e.g. from `nimo_shared::doc::create`)
    /// and returns its new id. Register it with the server, then call [`Device::sync_now`].
    pub async fn create(&self, initial: Automerge) -> anyhow::Result<DocumentId> {
        self.call(move |client, now, rng| {
            let (doc_id, merged, effects) =
                client.create(now, rng, |doc| doc.load_incremental(&initial.save()));
            (merged.map(|_| doc_id), effects)
        })
        .await?
        .context("the initial changes do not load")
    }

    /// Changes a document with `edit` (e.g. a `nimo_shared::records::roster` function).
    pub async fn change<T: Send + 'static>(
        &self,
        doc_id: DocumentId,
        edit: impl FnOnce(&mut Automerge) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.call(
            move |client, now, _| match client.change(now, doc_id, edit) {
                Ok((value, effects)) => (Ok(value), effects),
                Err(error) => (Err(error), Vec::new()),
            },
        )
        .await?
        .map_err(anyhow::Error::from)
    }

    /// Reads a document on the device: `None` if it is not here (yet).
    pub async fn read<T: Send + 'static>(
        &self,
        doc_id: DocumentId,
        f: impl FnOnce(&Automerge) -> T + Send + 'static,
    ) -> anyhow::Result<Option<T>> {
        self.call(move |client, _, _| (client.doc(&doc_id).map(f), Vec::new()))
            .await
    }

    /// Syncs a document now (after registering it with the server).
    pub async fn sync_now(&self, doc_id: DocumentId) -> anyhow::Result<()> {
        self.call(move |client, now, rng| ((), client.handle(now, rng, Input::LocalChange(doc_id))))
            .await
    }

    /// Asks the server for a document this device does not have (on every connection until it
    /// arrives).
    pub fn want(&self, doc_id: DocumentId) -> anyhow::Result<()> {
        self.send(Command::Want(doc_id))
    }

    /// Closes the socket and reconnects at once with a new ticket.
    pub fn reconnect(&self) -> anyhow::Result<()> {
        self.send(Command::Reconnect)
    }

    /// Asks the server to confirm the documents it has taken.
    pub fn confirm_now(&self) -> anyhow::Result<()> {
        self.send(Command::ConfirmNow)
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands
            .send(command)
            .map_err(|_| anyhow::anyhow!("the device task has stopped"))
    }

    /// Stops the device (closing its socket) and returns its storage, from which a new device
    /// can start: a device restart.
    pub async fn shut_down(self) -> anyhow::Result<DeviceStorage> {
        let Self {
            commands,
            storage,
            task,
            ..
        } = self;
        drop(commands);
        tokio::time::timeout(IO_TIMEOUT * 3, task)
            .await
            .context("the device task did not stop")??;
        Ok(storage)
    }
}

/// The task's state: the client and everything it needs done.
struct Driver {
    link: ServerLink,
    config: ClientConfig,
    client: SyncClient,
    rng: ChaCha8Rng,
    storage: DeviceStorage,
    socket: Option<Socket>,
    /// Documents asked for with [`Device::want`], asked again by every fresh client.
    wanted: BTreeSet<DocumentId>,
    /// Heads the server took in sync (the document became [`DocStatus::Sent`]) and has not
    /// yet confirmed stored, by document.
    to_confirm: BTreeMap<DocumentId, Vec<ChangeHash>>,
    reconnect_at: Option<Instant>,
    confirm_at: Option<Instant>,
    confirm_automatically: bool,
    observed: watch::Sender<Observed>,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl Driver {
    async fn run(mut self) {
        // Storage first, so documents are readable and changeable before any connection.
        let effects = self.replace_client(PeerId::from("offline"));
        self.apply(effects).await;
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => break,
                    Some(command) => self.on_command(command).await,
                },
                frame = next_frame(&mut self.socket) => match frame {
                    Some(frame) => {
                        self.count(&frame, |c| &mut c.received);
                        self.input(Input::Received(frame)).await;
                    }
                    None => {
                        self.socket = None;
                        self.input(Input::Disconnected).await;
                    }
                },
                () = tokio::time::sleep_until(deadline) => self.on_timer().await,
            }
        }
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(IO_TIMEOUT, socket.close(None)).await;
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Run(job) => {
                let (effects, reply) = job(&mut self.client, now_ms(), &mut self.rng);
                self.apply(effects).await;
                reply();
            }
            Command::Want(doc_id) => {
                self.wanted.insert(doc_id);
                self.input(Input::Want(doc_id)).await;
            }
            Command::Reconnect => {
                if let Some(mut socket) = self.socket.take() {
                    let _ = tokio::time::timeout(IO_TIMEOUT, socket.close(None)).await;
                }
                self.input(Input::Disconnected).await;
                self.reconnect_at = Some(Instant::now());
            }
            Command::ConfirmNow => self.confirm().await,
        }
    }

    /// The earliest of: reconnect, confirm, the client's wakeup, and one second from now.
    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let wakeup = self
            .client
            .next_wakeup()
            .map(|at| now + Duration::from_millis(at.saturating_sub(now_ms())));
        [self.reconnect_at, self.confirm_at, wakeup]
            .into_iter()
            .flatten()
            .fold(now + Duration::from_secs(1), Instant::min)
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            if let Err(error) = self.open_connection().await {
                self.observed.send_modify(|o| {
                    o.failed_attempts += 1;
                    o.last_error = Some(format!("{error:#}"));
                });
                self.input(Input::Disconnected).await;
            }
        }
        if self.confirm_at.is_some_and(|at| at <= now) {
            self.confirm_at = None;
            self.confirm().await;
        }
        self.input(Input::Tick).await;
    }

    /// Step 1 and 2 of a connection: ticket, manifest, socket, a fresh client, `Connected`.
    async fn open_connection(&mut self) -> anyhow::Result<()> {
        let api = self.link.api();
        let (ticket, peer_id) = within("a ticket", api.ticket()).await?;
        self.refresh_manifest(&api).await?;
        let (socket, _) = within(
            "the WebSocket",
            tokio_tungstenite::connect_async(api.ws_url(&ticket)),
        )
        .await?;
        self.client
            .set_peer_id(PeerId::from(peer_id.as_str()))
            .context("taking the ticket's peer id")?;
        let manifest = self.storage.manifest();
        let effects = self.client.handle(now_ms(), &mut self.rng, manifest);
        self.socket = Some(socket);
        self.observed.send_modify(|o| {
            o.connections.push(ConnectionStats {
                peer_id,
                ..ConnectionStats::default()
            });
        });
        self.apply(effects).await;
        self.input(Input::Connected).await;
        if !self.to_confirm.is_empty() {
            self.confirm_soon();
        }
        Ok(())
    }

    /// Reads the manifest since the stored cursor into storage.
    async fn refresh_manifest(&mut self, api: &ApiClient) -> anyhow::Result<()> {
        let since = self.storage.lock().manifest_cursor;
        let path = format!("/api/sync/manifest?since={since}");
        let manifest = within("the manifest", api.get(&path)).await?;
        let cursor = manifest["cursor"]
            .as_i64()
            .with_context(|| format!("no cursor in {manifest}"))?;
        let mut entries = Vec::new();
        for entry in manifest["documents"].as_array().into_iter().flatten() {
            let doc_id: DocumentId = entry["id"]
                .as_str()
                .with_context(|| format!("no id in {entry}"))?
                .parse()?;
            let heads = entry["heads"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| Ok(h.as_str().context("a head is not text")?.parse()?))
                .collect::<anyhow::Result<Vec<ChangeHash>>>()?;
            entries.push((doc_id, heads));
        }
        let mut stored = self.storage.lock();
        stored.server_heads.extend(entries);
        stored.manifest_cursor = cursor;
        Ok(())
    }

    /// Replaces the client by a fresh one for `peer_id`, loaded from storage, the wanted
    /// documents and the cached manifest (what an app start does). Returns the effects.
    fn replace_client(&mut self, peer_id: PeerId) -> Vec<Effect> {
        let mut client = SyncClient::new(peer_id, self.config.clone());
        let now = now_ms();
        let mut effects = Vec::new();
        for load in self.storage.loads() {
            effects.extend(client.handle(now, &mut self.rng, load));
        }
        for doc_id in &self.wanted {
            if client.doc(doc_id).is_none() {
                effects.extend(client.handle(now, &mut self.rng, Input::Want(*doc_id)));
            }
        }
        effects.extend(client.handle(now, &mut self.rng, self.storage.manifest()));
        self.client = client;
        effects
    }

    /// Hands one input to the client and carries out what it answers.
    async fn input(&mut self, input: Input) {
        let effects = self.client.handle(now_ms(), &mut self.rng, input);
        self.apply(effects).await;
    }

    /// Carries out effects in order.
    async fn apply(&mut self, effects: Vec<Effect>) {
        let mut queue = VecDeque::from(effects);
        while let Some(effect) = queue.pop_front() {
            self.storage.apply(&effect);
            match effect {
                Effect::Send(frame) => {
                    self.count(&frame, |c| &mut c.sent);
                    let Some(socket) = self.socket.as_mut() else {
                        continue; // Closed: the client has been or is about to be told.
                    };
                    let sent = socket.send(tungstenite::Message::Binary(frame.into()));
                    if !matches!(tokio::time::timeout(IO_TIMEOUT, sent).await, Ok(Ok(()))) {
                        self.socket = None;
                        let more = self
                            .client
                            .handle(now_ms(), &mut self.rng, Input::Disconnected);
                        queue.extend(more);
                    }
                }
                Effect::Close { .. } => {
                    if let Some(mut socket) = self.socket.take() {
                        let _ = tokio::time::timeout(IO_TIMEOUT, socket.close(None)).await;
                    }
                }
                Effect::ReconnectAfter(ms) => {
                    self.reconnect_at = Some(Instant::now() + Duration::from_millis(ms));
                    self.observed.send_modify(|o| o.reconnect_delays.push(ms));
                }
                Effect::DocChanged(doc_id) => {
                    let heads = self.client.doc(&doc_id).map(Automerge::get_heads);
                    self.observed.send_modify(|o| {
                        let view = o.docs.entry(doc_id).or_default();
                        view.unavailable &= heads.is_none();
                        view.heads = heads.unwrap_or_default();
                    });
                }
                Effect::DocStatusChanged { doc_id, status } => {
                    self.observed.send_modify(|o| {
                        o.docs.entry(doc_id).or_default().status = Some(status);
                    });
                    if status == DocStatus::Sent
                        && let Some(doc) = self.client.doc(&doc_id)
                    {
                        self.to_confirm.insert(doc_id, doc.get_heads());
                        self.confirm_soon();
                    }
                }
                Effect::DocUnavailable(doc_id) => {
                    self.observed
                        .send_modify(|o| o.docs.entry(doc_id).or_default().unavailable = true);
                }
                Effect::StatusChanged(status) => {
                    self.observed.send_modify(|o| o.status = Some(status));
                }
                Effect::ChunkRejected { key, reason } => {
                    self.observed.send_modify(|o| {
                        o.last_error = Some(format!("chunk {key} rejected: {reason}"));
                    });
                }
                Effect::Persist { .. }
                | Effect::Compact { .. }
                | Effect::RememberConfirmed { .. } => {}
            }
        }
    }

    fn confirm_soon(&mut self) {
        if self.confirm_automatically {
            let soon = Instant::now() + CONFIRM_DELAY;
            self.confirm_at = Some(self.confirm_at.map_or(soon, |at| at.min(soon)));
        }
    }

    /// Step 4: asks the server whether the heads it took in sync are durably stored. These are
    /// the heads the document had when it became [`DocStatus::Sent`]: a device that keeps
    /// writing learns which of its changes are safe even before it stops.
    async fn confirm(&mut self) {
        let pending: Vec<(DocumentId, Vec<ChangeHash>)> = self
            .to_confirm
            .iter()
            .map(|(doc_id, heads)| (*doc_id, heads.clone()))
            .collect();
        if pending.is_empty() {
            return;
        }
        let documents: Vec<serde_json::Value> = pending
            .iter()
            .map(|(doc_id, heads)| {
                let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
                serde_json::json!({ "id": doc_id.to_string(), "heads": heads })
            })
            .collect();
        let api = self.link.api();
        let body = serde_json::json!({ "documents": documents });
        let stored: BTreeSet<String> =
            match within("confirm", api.post("/api/sync/confirm", body)).await {
                Ok((status, answer)) if status.is_success() => answer["stored"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect(),
                _ => BTreeSet::new(),
            };
        for (doc_id, heads) in pending {
            if !stored.contains(&doc_id.to_string()) {
                continue;
            }
            if self.to_confirm.get(&doc_id) == Some(&heads) {
                self.to_confirm.remove(&doc_id);
            }
            let confirmation = Confirmation {
                doc_id,
                heads: heads.clone(),
            };
            self.observed
                .send_modify(|o| o.confirmations.push(confirmation));
            self.input(Input::Confirmed { doc_id, heads }).await;
        }
        // The write may still be under way; while disconnected, wait for the next connection.
        if !self.to_confirm.is_empty() && self.confirm_automatically && self.socket.is_some() {
            self.confirm_at = Some(Instant::now() + CONFIRM_RETRY);
        }
    }

    /// Counts a frame of the current connection by message type.
    fn count(
        &self,
        frame: &[u8],
        counter: impl FnOnce(&mut ConnectionStats) -> &mut BTreeMap<String, usize>,
    ) {
        let kind = Message::decode(frame)
            .map_or_else(|_| "undecodable".to_owned(), |m| m.kind().to_owned());
        self.observed.send_modify(|o| {
            if let Some(current) = o.connections.last_mut() {
                *counter(current).entry(kind).or_default() += 1;
            }
        });
    }
}

/// The next binary frame, or `None` once the socket closes or fails; never ready without one.
async fn next_frame(socket: &mut Option<Socket>) -> Option<Vec<u8>> {
    let Some(socket) = socket.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match socket.next().await {
            Some(Ok(tungstenite::Message::Binary(bytes))) => return Some(bytes.to_vec()),
            Some(Ok(tungstenite::Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {} // Text, ping and pong carry nothing for the client.
        }
    }
}

/// `future` within [`IO_TIMEOUT`], its error and a timeout both described.
async fn within<T, E>(what: &str, future: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    match tokio::time::timeout(IO_TIMEOUT, future).await {
        Ok(result) => Ok(result
            .map_err(anyhow::Error::from)
            .with_context(|| what.to_owned())?),
        Err(_) => anyhow::bail!("{what}: no answer within {IO_TIMEOUT:?}"),
    }
}
