//! The driver: one [`SyncClient`] per app, fed by the browser's events, its effects carried out
//! here (writes through [`writes`](super::writes), frames to the socket, timers).

use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

use automerge::{ActorId, ChangeHash};
use nimo_shared::storage::{ChunkStore as _, StorageKey as ChunkKey};
use nimo_shared::sync::{
    ClientConfig, DocStatus, DocumentId, Effect, Input, PeerId, StorageKey, SyncClient, SyncStatus,
};
use rand_chacha::ChaCha20Rng;
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};
use web_sys::{MessageEvent, WebSocket};

use super::writes::{self, Write};
use super::{connection, rng, signals};
use crate::store::{self, DeviceChunks, Kv};

/// Keys of the small values beside the chunks.
pub(super) const CONFIRMED_PREFIX: &str = "confirmed/";
pub(super) const REGISTER_PREFIX: &str = "register/";
pub(super) const CURSOR_KEY: &str = "manifest-cursor";
const UNSENT_SINCE_KEY: &str = "unsent-since";
/// How often timeouts are checked.
const TICK_MS: i32 = 1_000;

pub(super) struct Socket {
    pub(super) ws: WebSocket,
    pub(super) open: bool,
    pub(super) _on_open: Closure<dyn FnMut()>,
    pub(super) _on_message: Closure<dyn FnMut(MessageEvent)>,
    pub(super) _on_close: Closure<dyn FnMut()>,
}

pub(super) struct Driver {
    pub(super) client: SyncClient,
    pub(super) config: ClientConfig,
    pub(super) rng: ChaCha20Rng,
    pub(super) chunks: DeviceChunks,
    pub(super) kv: Kv,
    /// Documents created here and not yet registered with the server: id → kind code.
    pub(super) unregistered: BTreeMap<DocumentId, String>,
    pub(super) socket: Option<Socket>,
    /// Bumped whenever the socket is replaced, so events of an old one are ignored.
    pub(super) generation: u64,
    /// Frames held back while a registration is in flight (or the socket is not open yet).
    pub(super) outbox: Vec<Vec<u8>>,
    pub(super) registering: usize,
    pub(super) connecting: bool,
    pub(super) reconnect_timer: Option<i32>,
    pub(super) confirm_timer: Option<i32>,
    /// The manifest cursor every document up to which this device has caught up with.
    pub(super) cursor: i64,
    /// The cursor of the last manifest, kept only once the exchanges it started are done: a
    /// cursor saved earlier would hide a document whose sync was cut off.
    pub(super) pending_cursor: Option<i64>,
}

thread_local! {
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
}

pub(super) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub(super) fn log_warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

pub(super) fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    DRIVER.with(|cell| cell.borrow_mut().as_mut().map(f))
}

/// Feeds one input to the client and carries out its effects.
pub(super) fn feed(input: Input) {
    let effects = with_driver(|d| d.client.handle(now_ms(), &mut d.rng, input));
    run(effects.unwrap_or_default());
}

pub(super) fn run(effects: Vec<Effect>) {
    for effect in effects {
        apply(effect);
    }
}

/// Carries out the effects of a change made on this device: as [`run`], except that the screen
/// is told the documents (and their statuses) changed only once the change's write has been
/// attempted ([`writes::after_queued_writes`]): the tap's IndexedDB transaction completes
/// before the page re-renders and draws.
pub(super) fn run_local(effects: Vec<Effect>) {
    let mut told = false;
    let mut status_changed = false;
    for effect in effects {
        match effect {
            // The state machine asks for the change's chunk first, so the last write queued
            // here is the one carrying it (a status change may queue small values after it).
            Effect::DocChanged(_) if !told => {
                told = true;
                hold_frames();
                writes::after_queued_writes(|| {
                    let signals = signals();
                    signals.docs_version.update(|v| *v += 1);
                    signals.doc_status.notify();
                    release_frames();
                });
            }
            Effect::DocChanged(_) => {}
            Effect::DocStatusChanged { doc_id, status } => {
                status_changed = true;
                doc_status_changed(doc_id, status, false);
            }
            other => apply(other),
        }
    }
    if status_changed && !told {
        signals().doc_status.notify();
    }
}

/// Frames received while a change made here waits for its write, in order, each with the
/// generation of the socket it came on ([`receive_frame`]); `None` when frames are not held.
type HeldFrames = Option<Vec<(u64, Vec<u8>)>>;

thread_local! {
    static HELD: RefCell<HeldFrames> = const { RefCell::new(None) };
}

/// Feeds a frame received on the socket of `generation`, or keeps it, in order, while a change
/// made here waits for its write: the server's acknowledgement of the change's sync message
/// comes back within a few ms, and handling it (and drawing its status) ahead of the write's
/// `complete` held that back (BENCH-RESULTS.md, session 6).
pub(super) fn receive_frame(generation: u64, frame: Vec<u8>) {
    let frame = HELD.with(|cell| match cell.borrow_mut().as_mut() {
        Some(held) => {
            held.push((generation, frame));
            None
        }
        None => Some(frame),
    });
    if let Some(frame) = frame {
        feed(Input::Received(frame));
    }
}

/// Received frames wait from now until [`release_frames`].
fn hold_frames() {
    HELD.with(|cell| {
        cell.borrow_mut().get_or_insert_with(Vec::new);
    });
}

/// Feeds the held frames, in order, and stops holding. Frames of a socket dropped meanwhile
/// are dropped with it (as its later frames are). The socket's close calls this first, so a
/// held frame never follows its own connection's end.
pub(super) fn release_frames() {
    let held = HELD
        .with(|cell| cell.borrow_mut().take())
        .unwrap_or_default();
    for (generation, frame) in held {
        if with_driver(|d| d.generation == generation).unwrap_or(false) {
            feed(Input::Received(frame));
        }
    }
}

/// A document's status changed: kept (shown now, or with `notify` false when the caller tells
/// the screen later), with what depends on it.
fn doc_status_changed(doc_id: DocumentId, status: DocStatus, notify: bool) {
    let signals = signals();
    let set = |map: &mut BTreeMap<DocumentId, DocStatus>| {
        map.insert(doc_id, status);
    };
    if notify {
        signals.doc_status.update(set);
    } else {
        signals.doc_status.update_untracked(set);
    }
    track_unsent_since();
    if status == DocStatus::Sent {
        schedule_confirm(0);
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
            if let Some(key) = to_chunk_key(&key) {
                writes::enqueue(Write::Chunks {
                    puts: vec![(key, bytes)],
                    deletes: Vec::new(),
                });
            }
        }
        Effect::Compact {
            snapshot_key,
            bytes,
            remove,
            ..
        } => writes::enqueue(Write::Chunks {
            puts: to_chunk_key(&snapshot_key)
                .map(|k| vec![(k, bytes)])
                .unwrap_or_default(),
            deletes: remove.iter().filter_map(to_chunk_key).collect(),
        }),
        Effect::RememberConfirmed { doc_id, heads } => {
            let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
            writes::enqueue_value(format!("{CONFIRMED_PREFIX}{doc_id}"), &hex);
        }
        Effect::Close { reason } => {
            log_warn(&format!("sync: closing the connection: {reason}"));
            with_driver(Driver::drop_socket);
        }
        Effect::ReconnectAfter(ms) => schedule_connect(ms),
        Effect::DocChanged(_) => signals.docs_version.update(|v| *v += 1),
        Effect::DocStatusChanged { doc_id, status } => doc_status_changed(doc_id, status, true),
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
                with_driver(Driver::keep_cursor);
            }
        }
    }
}

impl Driver {
    pub(super) fn send(&mut self, frame: Vec<u8>) {
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

    pub(super) fn flush(&mut self) {
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
    pub(super) fn drop_socket(&mut self) {
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

    /// Saves the last manifest's cursor once the client is up to date.
    pub(super) fn keep_cursor(&mut self) {
        if !matches!(self.client.status(now_ms()), SyncStatus::UpToDate { .. }) {
            return;
        }
        if let Some(cursor) = self.pending_cursor.take()
            && cursor > self.cursor
        {
            self.cursor = cursor;
            writes::enqueue_value(CURSOR_KEY.to_owned(), &cursor);
        }
    }
}

/// Keeps when this device last went from "everything sent" to "something only here", across
/// restarts, so the UI can warn when changes have waited too long.
fn track_unsent_since() {
    let signals = signals();
    let unsent = signals.unsent() > 0;
    match (unsent, signals.unsent_since.get_untracked()) {
        (true, None) => {
            let now = now_ms();
            signals.unsent_since.set(Some(now));
            writes::enqueue_value(UNSENT_SINCE_KEY.to_owned(), &now);
        }
        (false, Some(_)) => {
            signals.unsent_since.set(None);
            writes::enqueue(Write::Remove {
                key: UNSENT_SINCE_KEY.to_owned(),
            });
        }
        _ => {}
    }
}

/// Drops a socket's handlers on a later task: the call that closes it may be running inside
/// one of them (a frame that fails the protocol), and a closure must not be freed while it runs.
pub(super) fn defer_drop(socket: Socket) {
    let _ = set_timeout(0, move || drop(socket));
}

pub(super) fn set_timeout(ms: u64, f: impl FnOnce() + 'static) -> Option<i32> {
    let callback = Closure::once_into_js(f);
    web_sys::window()?
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.unchecked_ref(),
            i32::try_from(ms).unwrap_or(i32::MAX),
        )
        .ok()
}

/// Resolves after `ms` milliseconds.
pub(super) async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = set_timeout(ms, move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

pub(super) fn schedule_connect(ms: u64) {
    let previous = with_driver(|d| d.reconnect_timer.take()).flatten();
    if let (Some(timer), Some(window)) = (previous, web_sys::window()) {
        window.clear_timeout_with_handle(timer);
    }
    let timer = set_timeout(ms, || {
        wasm_bindgen_futures::spawn_local(connection::connect());
    });
    with_driver(|d| d.reconnect_timer = timer);
}

pub(super) fn schedule_confirm(ms: u64) {
    let pending = with_driver(|d| d.confirm_timer.is_some()).unwrap_or(true);
    if pending {
        return;
    }
    let timer = set_timeout(ms, || {
        with_driver(|d| d.confirm_timer = None);
        wasm_bindgen_futures::spawn_local(connection::confirm_round());
    });
    with_driver(|d| d.confirm_timer = timer);
}

/// Whether sync has started (someone is logged in and the stored documents are loaded).
pub(super) fn started() -> bool {
    with_driver(|_| ()).is_some()
}

/// Loads every stored document into a new client and connects.
pub(super) async fn start(chunks: DeviceChunks, kv: Kv) {
    let stored = chunks
        .load_range(&ChunkKey::empty())
        .await
        .unwrap_or_else(|error| {
            log_warn(&format!("sync: cannot read the stored documents: {error}"));
            BTreeMap::new()
        });
    let mut by_doc: BTreeMap<DocumentId, Vec<(StorageKey, Vec<u8>)>> = BTreeMap::new();
    for (key, bytes) in stored {
        match StorageKey::from_parts(key.components()) {
            Ok(key) => by_doc.entry(key.doc_id).or_default().push((key, bytes)),
            Err(error) => log_warn(&format!("sync: skipping stored key {key}: {error}")),
        }
    }
    // `extend`, not `collect`: no copy of the sort per map type (nimo_shared::sorting).
    let mut confirmed: BTreeMap<DocumentId, Vec<ChangeHash>> = BTreeMap::new();
    confirmed.extend(
        kv.get_prefixed::<Vec<String>>(CONFIRMED_PREFIX)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, heads)| {
                let id = key.strip_prefix(CONFIRMED_PREFIX)?.parse().ok()?;
                let heads = heads.iter().filter_map(|h| h.parse().ok()).collect();
                Some((id, heads))
            }),
    );
    let mut unregistered: BTreeMap<DocumentId, String> = BTreeMap::new();
    unregistered.extend(
        kv.get_prefixed::<String>(REGISTER_PREFIX)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, kind)| {
                Some((key.strip_prefix(REGISTER_PREFIX)?.parse().ok()?, kind))
            }),
    );
    let cursor = kv.get::<i64>(CURSOR_KEY).await.ok().flatten().unwrap_or(0);
    signals()
        .unsent_since
        .set(kv.get::<u64>(UNSENT_SINCE_KEY).await.ok().flatten());
    // A fresh actor per app start: two tabs writing with one actor id would corrupt documents.
    let config = ClientConfig::new(ActorId::from(rng::random_bytes::<16>().as_slice()));
    // The server binds a peer id to each ticket; until the first one, the client is offline.
    let mut client = SyncClient::new(PeerId::new("offline"), config.clone());
    let mut rng = rng::seeded();
    let now = now_ms();
    let mut effects = Vec::new();
    for (doc_id, chunks) in by_doc {
        effects.extend(client.handle(
            now,
            &mut rng,
            Input::Load {
                doc_id,
                chunks,
                confirmed_heads: confirmed.remove(&doc_id),
            },
        ));
    }
    let driver = Driver {
        client,
        config,
        rng,
        chunks,
        kv,
        unregistered,
        socket: None,
        generation: 0,
        outbox: Vec::new(),
        registering: 0,
        connecting: false,
        reconnect_timer: None,
        confirm_timer: None,
        cursor,
        pending_cursor: None,
    };
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
    wasm_bindgen_futures::spawn_local(connection::connect());
}
