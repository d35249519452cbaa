//! The wasm driver of [`SyncClient`]: browser IO around the sans-IO state machine of
//! `nimo_shared::sync`.
//!
//! - **Start**: every stored chunk is read from IndexedDB and fed as [`Input::Load`], with the
//!   heads the server last confirmed; then the driver connects.
//! - **Connect**: `POST /api/sync/ticket` (tickets are single-use, so every attempt asks for a
//!   new one), register documents created offline (`POST /api/docs`, before any of their
//!   sync messages leave), open `GET /api/sync/ws?ticket=…`, and fetch the manifest.
//! - **Effects**, in order: `Persist`/`Compact` → IndexedDB (strict durability; transactions are
//!   started in effect order, and IndexedDB runs overlapping read-write transactions in that
//!   order), `Send` → the socket (held back while a registration is in flight),
//!   `ReconnectAfter` → a timer, `DocStatusChanged` to "sent" → `POST /api/sync/confirm`, whose
//!   answer comes back as [`Input::Confirmed`].
//! - **Signals** for the UI: [`Signals`].
//!
//! The server binds each ticket to a fresh peer id, while a [`SyncClient`]'s peer id is fixed at
//! construction; so after each ticket the driver rebuilds the client for the new peer id from an
//! in-memory mirror of exactly the chunks in storage (what a reload would read back).

pub mod net;
pub mod rng;
pub mod status;

use std::cell::RefCell;
use std::collections::BTreeMap;

use automerge::{ActorId, ChangeHash};
use leptos::prelude::*;
use nimo_shared::records::roster;
use nimo_shared::records::training::{Person, TrainingSession};
use nimo_shared::storage::{ChunkStore as _, StorageKey as ChunkKey};
use nimo_shared::sync::{
    ClientConfig, DocStatus, DocumentId, Effect, Input, ManifestEntry, PeerId, StorageKey,
    SyncClient, SyncStatus,
};
use nimo_shared::{AttendeeId, DocKind, Record as _, Timestamp, UserId, doc};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::store::{self, IdbChunkStore, Kv};

/// The logged-in user, as `POST /api/login` returned them; kept in IndexedDB so a reload
/// offline still knows who is using the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The user.
    pub user: UserInfo,
    /// The server's id for this device's session.
    pub device_id: String,
}

/// The fields of the server's user the app uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Random id.
    pub id: String,
    /// Login name.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// `trainer`, `visitor`, `office`, `admin`.
    pub role: String,
    /// Their team, if any.
    #[serde(default)]
    pub team_id: Option<String>,
}

/// The reactive view of sync for the UI.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    /// The connection's status.
    pub status: RwSignal<SyncStatus>,
    /// Each document's status.
    pub doc_status: RwSignal<BTreeMap<DocumentId, DocStatus>>,
    /// Bumped whenever a document's content changes (read documents through this module).
    pub docs_version: RwSignal<u64>,
    /// The logged-in user (`None`: show the login page).
    pub session: RwSignal<Option<SessionInfo>>,
    /// The local database is open and the stored session read.
    pub ready: RwSignal<bool>,
}

impl Signals {
    /// How many documents have changes only on this device.
    pub fn unsent(&self) -> usize {
        self.doc_status
            .with(|map| map.values().filter(|s| **s == DocStatus::OnlyHere).count())
    }
}

thread_local! {
    static SIGNALS: Signals = Signals {
        status: RwSignal::new(SyncStatus::Offline),
        doc_status: RwSignal::new(BTreeMap::new()),
        docs_version: RwSignal::new(0),
        session: RwSignal::new(None),
        ready: RwSignal::new(false),
    };
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
    static KV: RefCell<Option<Kv>> = const { RefCell::new(None) };
}

/// The UI's signals.
pub fn signals() -> Signals {
    SIGNALS.with(|s| *s)
}

const SESSION_KEY: &str = "session";
const CONFIRMED_PREFIX: &str = "confirmed/";
const REGISTER_PREFIX: &str = "register/";
/// How often timeouts are checked.
const TICK_MS: i32 = 1_000;
/// How long to wait before asking again whether sent changes are stored.
const CONFIRM_RETRY_MS: u64 = 1_000;

struct Socket {
    ws: WebSocket,
    open: bool,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

struct Driver {
    client: SyncClient,
    config: ClientConfig,
    rng: ChaCha20Rng,
    chunks: IdbChunkStore,
    kv: Kv,
    /// Exactly the chunks in storage (as the effects wrote them), per document.
    mirror: BTreeMap<DocumentId, BTreeMap<StorageKey, Vec<u8>>>,
    /// The heads the server last confirmed stored, per document.
    confirmed: BTreeMap<DocumentId, Vec<ChangeHash>>,
    /// Documents created here and not yet registered with the server: id → kind code.
    unregistered: BTreeMap<DocumentId, String>,
    socket: Option<Socket>,
    /// Bumped whenever the socket is replaced, so events of an old one are ignored.
    generation: u64,
    /// Frames held back while a registration is in flight (or the socket is not open yet).
    outbox: Vec<Vec<u8>>,
    registering: usize,
    connecting: bool,
    reconnect_timer: Option<i32>,
    confirm_timer: Option<i32>,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn log_warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    DRIVER.with(|cell| cell.borrow_mut().as_mut().map(f))
}

/// Feeds one input to the client and carries out its effects.
fn feed(input: Input) {
    let effects = with_driver(|d| d.client.handle(now_ms(), &mut d.rng, input));
    run(effects.unwrap_or_default());
}

fn run(effects: Vec<Effect>) {
    for effect in effects {
        apply(effect);
    }
}

fn to_chunk_key(key: &StorageKey) -> Option<ChunkKey> {
    ChunkKey::from_parts(key.to_parts()).ok()
}

fn apply(effect: Effect) {
    let signals = signals();
    match effect {
        Effect::Send(frame) => {
            with_driver(|d| d.send(frame));
        }
        Effect::Persist { key, bytes } => {
            with_driver(|d| {
                d.mirror
                    .entry(key.doc_id)
                    .or_default()
                    .insert(key.clone(), bytes.clone());
                let store = d.chunks.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let Some(chunk_key) = to_chunk_key(&key) else {
                        return;
                    };
                    if let Err(error) = store.put(chunk_key, bytes).await {
                        log_warn(&format!("保存に失敗しました: {key}: {error}"));
                    }
                });
            });
        }
        Effect::Compact {
            doc_id,
            snapshot_key,
            bytes,
            remove,
        } => {
            with_driver(|d| {
                let chunks = d.mirror.entry(doc_id).or_default();
                for key in &remove {
                    chunks.remove(key);
                }
                chunks.insert(snapshot_key.clone(), bytes.clone());
                let store = d.chunks.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let puts = to_chunk_key(&snapshot_key)
                        .map(|k| vec![(k, bytes)])
                        .unwrap_or_default();
                    let deletes = remove.iter().filter_map(to_chunk_key).collect();
                    if let Err(error) = store.put_and_delete(puts, deletes).await {
                        log_warn(&format!("圧縮の保存に失敗しました: {doc_id}: {error}"));
                    }
                });
            });
        }
        Effect::RememberConfirmed { doc_id, heads } => {
            with_driver(|d| {
                d.confirmed.insert(doc_id, heads.clone());
                let kv = d.kv.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
                    if let Err(error) = kv.put(&format!("{CONFIRMED_PREFIX}{doc_id}"), &hex).await {
                        log_warn(&format!("確認済みの記録に失敗しました: {error}"));
                    }
                });
            });
        }
        Effect::Close { reason } => {
            log_warn(&format!("sync: closing the connection: {reason}"));
            with_driver(Driver::drop_socket);
        }
        Effect::ReconnectAfter(ms) => schedule_connect(ms),
        Effect::DocChanged(_) => signals.docs_version.update(|v| *v += 1),
        Effect::DocStatusChanged { doc_id, status } => {
            signals.doc_status.update(|map| {
                map.insert(doc_id, status);
            });
            if status == DocStatus::Sent {
                schedule_confirm(0);
            }
        }
        Effect::DocUnavailable(doc_id) => {
            log_warn(&format!("sync: the server does not have {doc_id}"));
        }
        Effect::ChunkRejected { key, reason } => {
            log_warn(&format!(
                "sync: a stored chunk does not load: {key}: {reason}"
            ));
        }
        Effect::StatusChanged(status) => {
            signals.status.set(status);
            if matches!(status, SyncStatus::UpToDate { .. }) {
                schedule_confirm(0);
            }
        }
    }
}

impl Driver {
    fn send(&mut self, frame: Vec<u8>) {
        let ready = self.registering == 0 && self.outbox.is_empty();
        match &self.socket {
            Some(socket) if socket.open && ready => {
                if let Err(error) = socket.ws.send_with_u8_array(&frame) {
                    log_warn(&format!(
                        "sync: send failed: {}",
                        store::idb::describe(&error)
                    ));
                }
            }
            Some(_) => self.outbox.push(frame),
            None => {}
        }
    }

    fn flush(&mut self) {
        if self.registering > 0 {
            return;
        }
        let Some(socket) = self.socket.as_ref().filter(|s| s.open) else {
            return;
        };
        for frame in std::mem::take(&mut self.outbox) {
            if let Err(error) = socket.ws.send_with_u8_array(&frame) {
                log_warn(&format!(
                    "sync: send failed: {}",
                    store::idb::describe(&error)
                ));
            }
        }
    }

    /// Closes and forgets the socket without reporting its close.
    fn drop_socket(&mut self) {
        self.generation += 1;
        self.outbox.clear();
        if let Some(socket) = self.socket.take() {
            socket.ws.set_onopen(None);
            socket.ws.set_onmessage(None);
            socket.ws.set_onclose(None);
            let _ = socket.ws.close();
            defer_drop(socket);
        }
    }

    /// A client for `peer` holding exactly what storage holds (see the module docs).
    fn rebuild(&mut self, peer: PeerId) -> Vec<Effect> {
        let mut client = SyncClient::new(peer, self.config.clone());
        let now = now_ms();
        let mut effects = Vec::new();
        for (doc_id, chunks) in &self.mirror {
            effects.extend(client.handle(
                now,
                &mut self.rng,
                Input::Load {
                    doc_id: *doc_id,
                    chunks: chunks.clone().into_iter().collect(),
                    confirmed_heads: self.confirmed.get(doc_id).cloned(),
                },
            ));
        }
        self.client = client;
        effects
    }
}

/// Drops a socket's handlers on a later task: the call that closes it may be running inside
/// one of them (a frame that fails the protocol), and a closure must not be freed while it runs.
fn defer_drop(socket: Socket) {
    let _ = set_timeout(0, move || drop(socket));
}

fn set_timeout(ms: u64, f: impl FnOnce() + 'static) -> Option<i32> {
    let callback = Closure::once_into_js(f);
    web_sys::window()?
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.unchecked_ref(),
            i32::try_from(ms).unwrap_or(i32::MAX),
        )
        .ok()
}

fn schedule_connect(ms: u64) {
    let previous = with_driver(|d| d.reconnect_timer.take()).flatten();
    if let (Some(timer), Some(window)) = (previous, web_sys::window()) {
        window.clear_timeout_with_handle(timer);
    }
    let timer = set_timeout(ms, || wasm_bindgen_futures::spawn_local(connect()));
    with_driver(|d| d.reconnect_timer = timer);
}

fn schedule_confirm(ms: u64) {
    let pending = with_driver(|d| d.confirm_timer.is_some()).unwrap_or(true);
    if pending {
        return;
    }
    let timer = set_timeout(ms, || {
        with_driver(|d| d.confirm_timer = None);
        wasm_bindgen_futures::spawn_local(confirm_round());
    });
    with_driver(|d| d.confirm_timer = timer);
}

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
    peer_id: String,
}

#[derive(Deserialize)]
struct Manifest {
    documents: Vec<ManifestDoc>,
}

#[derive(Deserialize)]
struct ManifestDoc {
    id: String,
    heads: Vec<String>,
}

#[derive(Serialize)]
struct ConfirmRequest {
    documents: Vec<ConfirmDoc>,
}

#[derive(Serialize)]
struct ConfirmDoc {
    id: String,
    heads: Vec<String>,
}

#[derive(Deserialize)]
struct ConfirmAnswer {
    stored: Vec<String>,
    missing: Vec<String>,
}

#[derive(Serialize)]
struct Register<'a> {
    id: String,
    kind: &'a str,
}

/// Registers one document. `Ok(true)`: registered (or it was already); `Ok(false)`: the server
/// refused it for good (the refusal is logged); `Err`: no answer, try again later.
async fn register(doc_id: DocumentId, kind: &str) -> Result<bool, net::NetError> {
    let body = Register {
        id: doc_id.to_string(),
        kind,
    };
    match net::post_json_unit("/api/docs", &body).await {
        Ok(()) => {}
        Err(net::NetError::Status(status, message)) if status < 500 && status != 401 => {
            log_warn(&format!(
                "sync: registering {doc_id} refused ({status}): {message}"
            ));
            return Ok(false);
        }
        Err(error) => return Err(error),
    }
    let kv = with_driver(|d| {
        d.unregistered.remove(&doc_id);
        d.kv.clone()
    });
    if let Some(kv) = kv
        && let Err(error) = kv.delete(&format!("{REGISTER_PREFIX}{doc_id}")).await
    {
        log_warn(&format!("sync: {error}"));
    }
    Ok(true)
}

/// One connection attempt: ticket, registrations, socket.
async fn connect() {
    let busy = with_driver(|d| {
        let busy = d.connecting || d.socket.is_some();
        d.connecting = true;
        busy
    });
    if busy != Some(false) {
        return;
    }
    let failed = || {
        with_driver(|d| d.connecting = false);
        feed(Input::Disconnected);
    };
    let ticket: Ticket = match net::post_json("/api/sync/ticket", &serde_json::json!({})).await {
        Ok(ticket) => ticket,
        Err(error) => {
            log_warn(&format!("sync: no ticket: {error}"));
            return failed();
        }
    };
    let pending: Vec<(DocumentId, String)> = with_driver(|d| {
        d.unregistered
            .iter()
            .map(|(id, kind)| (*id, kind.clone()))
            .collect()
    })
    .unwrap_or_default();
    for (doc_id, kind) in pending {
        if let Err(error) = register(doc_id, &kind).await {
            log_warn(&format!("sync: registration failed: {error}"));
            return failed();
        }
    }
    let effects = with_driver(|d| {
        if d.client.peer_id().as_str() == ticket.peer_id {
            Vec::new()
        } else {
            d.rebuild(PeerId::new(ticket.peer_id.clone()))
        }
    });
    run(effects.unwrap_or_default());
    if let Err(error) = open_socket(&ticket.ticket) {
        log_warn(&format!("sync: cannot open the socket: {error}"));
        return failed();
    }
    with_driver(|d| d.connecting = false);
}

fn ws_url(ticket: &str) -> Result<String, String> {
    let location = web_sys::window().ok_or("no window")?.location();
    let protocol = location.protocol().map_err(|e| store::idb::describe(&e))?;
    let host = location.host().map_err(|e| store::idb::describe(&e))?;
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    Ok(format!("{scheme}://{host}/api/sync/ws?ticket={ticket}"))
}

fn open_socket(ticket: &str) -> Result<(), String> {
    let ws = WebSocket::new(&ws_url(ticket)?).map_err(|e| store::idb::describe(&e))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let generation = with_driver(|d| {
        d.drop_socket();
        d.generation
    })
    .ok_or("sync is not started")?;
    let current = move || with_driver(|d| d.generation == generation).unwrap_or(false);

    let on_open = Closure::<dyn FnMut()>::new(move || {
        if !current() {
            return;
        }
        with_driver(|d| {
            if let Some(socket) = d.socket.as_mut() {
                socket.open = true;
            }
        });
        feed(Input::Connected);
        with_driver(Driver::flush);
        wasm_bindgen_futures::spawn_local(fetch_manifest());
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if !current() {
            return;
        }
        let data = event.data();
        if data.is_instance_of::<js_sys::ArrayBuffer>() {
            feed(Input::Received(js_sys::Uint8Array::new(&data).to_vec()));
        }
    });
    let on_close = Closure::<dyn FnMut()>::new(move || {
        if !current() {
            return;
        }
        with_driver(|d| {
            d.generation += 1;
            d.outbox.clear();
            if let Some(socket) = d.socket.take() {
                defer_drop(socket);
            }
        });
        feed(Input::Disconnected);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    with_driver(|d| {
        d.socket = Some(Socket {
            ws,
            open: false,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
    });
    Ok(())
}

async fn fetch_manifest() {
    let manifest: Manifest = match net::get_json("/api/sync/manifest?since=0").await {
        Ok(manifest) => manifest,
        Err(error) => {
            log_warn(&format!("sync: no manifest: {error}"));
            return;
        }
    };
    let entries = manifest
        .documents
        .into_iter()
        .filter_map(|d| {
            let doc_id = d.id.parse().ok()?;
            let heads = d.heads.iter().filter_map(|h| h.parse().ok()).collect();
            Some(ManifestEntry { doc_id, heads })
        })
        .collect();
    feed(Input::Manifest(entries));
}

/// Asks the server which sent documents are durably stored, and tells the client.
async fn confirm_round() {
    let asked: Vec<(DocumentId, Vec<ChangeHash>)> = with_driver(|d| {
        d.client
            .doc_ids()
            .filter(|id| d.client.doc_status(id) == Some(DocStatus::Sent))
            .filter_map(|id| Some((id, d.client.doc(&id)?.get_heads())))
            .collect()
    })
    .unwrap_or_default();
    if asked.is_empty() {
        return;
    }
    let request = ConfirmRequest {
        documents: asked
            .iter()
            .map(|(id, heads)| ConfirmDoc {
                id: id.to_string(),
                heads: heads.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    };
    let answer: ConfirmAnswer = match net::post_json("/api/sync/confirm", &request).await {
        Ok(answer) => answer,
        Err(error) => {
            log_warn(&format!("sync: confirm failed: {error}"));
            return;
        }
    };
    for (doc_id, heads) in asked {
        if answer.stored.contains(&doc_id.to_string()) {
            feed(Input::Confirmed { doc_id, heads });
        }
    }
    let connected = !matches!(signals().status.get_untracked(), SyncStatus::Offline);
    if !answer.missing.is_empty() && connected {
        schedule_confirm(CONFIRM_RETRY_MS);
    }
}

/// Opens the local database and reads the stored session; starts sync if someone is logged in.
pub async fn boot() {
    let signals = signals();
    let db = match store::idb::open(store::DATABASE).await {
        Ok(db) => db,
        Err(error) => {
            web_sys::console::error_1(&JsValue::from_str(&error.to_string()));
            signals.ready.set(true);
            return;
        }
    };
    let kv = Kv::new(db.clone());
    KV.with(|cell| *cell.borrow_mut() = Some(kv.clone()));
    let session: Option<SessionInfo> = kv.get(SESSION_KEY).await.unwrap_or_else(|error| {
        log_warn(&error.to_string());
        None
    });
    if session.is_some() {
        start(IdbChunkStore::new(store::DATABASE, db), kv).await;
    }
    signals.session.set(session);
    signals.ready.set(true);
}

/// Logs in, stores the session on the device, and starts sync.
pub async fn login(login: String, password: String) -> Result<(), net::NetError> {
    #[derive(Serialize)]
    struct Login {
        login: String,
        password: String,
    }
    let session: SessionInfo = net::post_json("/api/login", &Login { login, password }).await?;
    let kv = KV.with(|cell| cell.borrow().clone());
    let db = store::idb::open(store::DATABASE)
        .await
        .map_err(|e| net::NetError::BadAnswer(e.to_string()))?;
    let kv = kv.unwrap_or_else(|| Kv::new(db.clone()));
    kv.put(SESSION_KEY, &session)
        .await
        .map_err(|e| net::NetError::BadAnswer(e.to_string()))?;
    if with_driver(|_| ()).is_none() {
        start(IdbChunkStore::new(store::DATABASE, db), kv).await;
    }
    signals().session.set(Some(session));
    Ok(())
}

/// Loads every stored document into a new client and connects.
async fn start(chunks: IdbChunkStore, kv: Kv) {
    let stored = chunks
        .load_range(&ChunkKey::empty())
        .await
        .unwrap_or_else(|error| {
            log_warn(&format!("sync: cannot read the stored documents: {error}"));
            BTreeMap::new()
        });
    let mut mirror: BTreeMap<DocumentId, BTreeMap<StorageKey, Vec<u8>>> = BTreeMap::new();
    for (key, bytes) in stored {
        match StorageKey::from_parts(key.components()) {
            Ok(key) => {
                mirror.entry(key.doc_id).or_default().insert(key, bytes);
            }
            Err(error) => log_warn(&format!("sync: skipping stored key {key}: {error}")),
        }
    }
    let confirmed: BTreeMap<DocumentId, Vec<ChangeHash>> = kv
        .get_prefixed::<Vec<String>>(CONFIRMED_PREFIX)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, heads)| {
            let id = key.strip_prefix(CONFIRMED_PREFIX)?.parse().ok()?;
            let heads = heads.iter().filter_map(|h| h.parse().ok()).collect();
            Some((id, heads))
        })
        .collect();
    let unregistered: BTreeMap<DocumentId, String> = kv
        .get_prefixed::<String>(REGISTER_PREFIX)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, kind)| Some((key.strip_prefix(REGISTER_PREFIX)?.parse().ok()?, kind)))
        .collect();
    // A fresh actor per app start: two tabs writing with one actor id would corrupt documents.
    let config = ClientConfig::new(ActorId::from(rng::random_bytes::<16>().as_slice()));
    let mut driver = Driver {
        client: SyncClient::new(PeerId::new("offline"), config.clone()),
        config,
        rng: rng::seeded(),
        chunks,
        kv,
        mirror,
        confirmed,
        unregistered,
        socket: None,
        generation: 0,
        outbox: Vec::new(),
        registering: 0,
        connecting: false,
        reconnect_timer: None,
        confirm_timer: None,
    };
    let effects = driver.rebuild(PeerId::new("offline"));
    DRIVER.with(|cell| *cell.borrow_mut() = Some(driver));
    run(effects);
    // Timeouts (handshake, stalled exchanges) are checked every second for the app's lifetime.
    let tick = Closure::<dyn FnMut()>::new(|| feed(Input::Tick));
    if let Some(window) = web_sys::window() {
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            TICK_MS,
        );
    }
    tick.forget();
    wasm_bindgen_futures::spawn_local(connect());
}

/// The training sessions on this device, newest date first.
pub fn training_sessions() -> Vec<(DocumentId, TrainingSession)> {
    signals().docs_version.track();
    let mut sessions: Vec<(DocumentId, TrainingSession)> = with_driver(|d| {
        d.client
            .doc_ids()
            .filter_map(|id| {
                let document = d.client.doc(&id)?;
                (doc::kind_of(document) == Some(DocKind::TrainingSession))
                    .then(|| doc::hydrate(document).ok())
                    .flatten()
                    .map(|session| (id, session))
            })
            .collect()
    })
    .unwrap_or_default();
    sessions.sort_by(|a, b| b.1.date.cmp(&a.1.date).then(a.0.cmp(&b.0)));
    sessions
}

/// One training session, if it is on this device.
pub fn training_session(doc_id: DocumentId) -> Option<TrainingSession> {
    signals().docs_version.track();
    with_driver(|d| doc::hydrate(d.client.doc(&doc_id)?).ok()).flatten()
}

fn at_now() -> (u64, Timestamp) {
    let now = now_ms();
    (
        now,
        Timestamp::from_unix_millis(i64::try_from(now).unwrap_or(i64::MAX)),
    )
}

/// Creates a training session's document; it is registered with the server before it syncs.
pub fn create_session(session: TrainingSession) -> Result<DocumentId, String> {
    session.validate().map_err(|e| e.to_string())?;
    let (now, at) = at_now();
    let created = with_driver(|d| {
        let actor = d.config.actor.clone();
        let (doc_id, result, effects) = d.client.create(now, &mut d.rng, |document| {
            doc::create(&session, actor, at)
                .map(|created| *document = created)
                .map_err(|e| e.message_ja())
        });
        if result.is_ok() {
            // Hold this document's first frames until the server knows it.
            d.registering += 1;
            d.unregistered
                .insert(doc_id, DocKind::TrainingSession.code().to_owned());
        }
        (doc_id, result, effects, d.kv.clone())
    });
    let Some((doc_id, result, effects, kv)) = created else {
        return Err("同期の準備ができていません。".to_owned());
    };
    run(effects);
    result?;
    wasm_bindgen_futures::spawn_local(async move {
        let kind = DocKind::TrainingSession.code();
        if let Err(error) = kv
            .put(&format!("{REGISTER_PREFIX}{doc_id}"), &kind.to_owned())
            .await
        {
            log_warn(&format!("sync: {error}"));
        }
        let online = with_driver(|d| d.socket.is_some()).unwrap_or(false);
        let outcome = if online {
            register(doc_id, kind).await
        } else {
            Ok(false)
        };
        with_driver(|d| d.registering = d.registering.saturating_sub(1));
        match outcome {
            Ok(_) => {
                with_driver(Driver::flush);
            }
            Err(error) => {
                // No answer: the connection is likely gone too. Reconnecting registers first.
                log_warn(&format!("sync: registration failed: {error}"));
                let had_socket = with_driver(|d| {
                    let had = d.socket.is_some();
                    d.drop_socket();
                    had
                });
                if had_socket == Some(true) {
                    feed(Input::Disconnected);
                }
            }
        }
    });
    Ok(doc_id)
}

fn change_session(
    doc_id: DocumentId,
    edit: impl FnOnce(&mut automerge::Automerge, Timestamp) -> Result<(), String>,
) -> Result<(), String> {
    let (now, at) = at_now();
    let changed = with_driver(|d| d.client.change(now, doc_id, |document| edit(document, at)))
        .ok_or_else(|| "同期の準備ができていません。".to_owned())?;
    let (result, effects) = changed.map_err(|e| e.to_string())?;
    run(effects);
    result
}

/// Adds a person to a session's roster.
pub fn add_attendee(doc_id: DocumentId, person: Person) -> Result<AttendeeId, String> {
    person.validate().map_err(|e| e.to_string())?;
    let id = AttendeeId::from_random_bytes(rng::random_bytes::<16>());
    change_session(doc_id, |document, at| {
        roster::add_attendee(document, id, person, at).map_err(|e| e.message_ja())
    })?;
    Ok(id)
}

/// Checks an attendee in, as the logged-in user.
pub fn check_in(doc_id: DocumentId, attendee: AttendeeId) -> Result<(), String> {
    let by: UserId = signals()
        .session
        .get_untracked()
        .and_then(|s| s.user.id.parse().ok())
        .ok_or_else(|| "ログインしてください。".to_owned())?;
    change_session(doc_id, |document, at| {
        roster::check_in(document, attendee, at, &by).map_err(|e| e.message_ja())
    })
}
