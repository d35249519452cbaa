//! One connection's life: ticket, registrations, WebSocket, manifest, confirmations.
//!
//! Tickets are single-use, so every attempt asks for a new one; the server binds a fresh peer
//! id to each, which the client takes while offline. Documents created offline are registered
//! (`POST /api/docs/batch`, many per request) before any of their sync messages leave. The
//! manifest is asked for with the cursor this device last caught up to, so a reconnect with
//! nothing changed lists nothing.

use automerge::ChangeHash;
use leptos::prelude::*;
use nimo_shared::sync::{DocStatus, DocumentId, Input, ManifestEntry, PeerId, SyncStatus};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast as _, closure::Closure};
use web_sys::{BinaryType, MessageEvent, WebSocket};

use super::driver::{
    self, Driver, REGISTER_PREFIX, Socket, defer_drop, feed, log_warn, receive_frame,
    release_frames, with_driver,
};
use super::writes::{self, Write};
use super::{net, signals};
use crate::store;

/// How long to wait before asking again whether sent changes are stored.
const CONFIRM_RETRY_MS: u64 = 1_000;

/// How long to wait before asking again after the question or its answer was lost.
const CONFIRM_LOST_RETRY_MS: u64 = 5_000;

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
    peer_id: String,
}

#[derive(Deserialize)]
struct Manifest {
    cursor: i64,
    documents: Vec<ManifestDoc>,
    /// Visit cases the server erased: dropped from this device.
    #[serde(default)]
    erased: Vec<String>,
    /// An admin asked to wipe this device.
    #[serde(default)]
    wipe: bool,
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
    /// A visit case's assigned pair, read from the document itself (the server lets a visitor
    /// register only a case they are assigned to).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    members: Vec<String>,
}

impl<'a> Register<'a> {
    fn new(doc_id: DocumentId, kind: &'a str) -> Self {
        Self {
            id: doc_id.to_string(),
            kind,
            members: super::visits::assigned_pair(doc_id),
        }
    }
}

#[derive(Serialize)]
struct RegisterBatch<'a> {
    docs: Vec<Register<'a>>,
}

#[derive(Deserialize)]
struct RegisterBatchAnswer {
    results: Vec<RegisterResult>,
}

/// One document's answer in a batch: the status `POST /api/docs` would have given it.
#[derive(Deserialize)]
struct RegisterResult {
    id: String,
    status: u16,
    #[serde(default)]
    error: Option<String>,
}

/// The most documents in one `POST /api/docs/batch` (the server's limit).
const REGISTER_BATCH: usize = 500;

/// Registers one document. `Ok(true)`: registered (or it was already); `Ok(false)`: the server
/// refused it (the reason is shown beside the document, which stays on this device and is
/// offered again at the next connection, in case someone fixed the cause); `Err`: no answer.
pub(super) async fn register(doc_id: DocumentId, kind: &str) -> Result<bool, net::NetError> {
    match net::post_json_unit("/api/docs", &Register::new(doc_id, kind)).await {
        Ok(()) => {
            registered(doc_id);
            Ok(true)
        }
        Err(error @ net::NetError::Status(status, _)) if status < 500 && status != 401 => {
            log_warn(&format!("sync: registering {doc_id} refused: {error}"));
            refused(doc_id, error.message_ja());
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// Registers every document made while offline, many per request (one request and one
/// durable commit on the server instead of one each, after a month offline). A refused
/// document is marked as [`register`] marks it; `Err` when a batch got no answer.
async fn register_pending(pending: &[(DocumentId, String)]) -> Result<(), net::NetError> {
    for batch in pending.chunks(REGISTER_BATCH) {
        let body = RegisterBatch {
            docs: batch
                .iter()
                .map(|(doc_id, kind)| Register::new(*doc_id, kind))
                .collect(),
        };
        let answer: RegisterBatchAnswer = net::post_json("/api/docs/batch", &body).await?;
        // The server answers in the request's order; an answer for another id is skipped (the
        // document stays pending and is offered again at the next connection).
        for ((doc_id, _), result) in batch.iter().zip(answer.results) {
            if result.id != doc_id.to_string() {
                continue;
            }
            match result.status {
                200 | 201 => registered(*doc_id),
                status => {
                    let reason = result
                        .error
                        .unwrap_or_else(|| format!("サーバーがエラーを返しました（{status}）。"));
                    log_warn(&format!(
                        "sync: registering {doc_id} refused: {status} {reason}"
                    ));
                    refused(*doc_id, reason);
                }
            }
        }
    }
    Ok(())
}

/// The server has `doc_id` registered: its frames may leave, and the pending mark goes.
fn registered(doc_id: DocumentId) {
    with_driver(|d| d.unregistered.remove(&doc_id));
    signals().refused.update(|map| {
        map.remove(&doc_id);
    });
    writes::enqueue(Write::Remove {
        key: format!("{REGISTER_PREFIX}{doc_id}"),
    });
}

/// The server refused `doc_id`: the reason is shown beside it; it stays pending.
fn refused(doc_id: DocumentId, reason: String) {
    signals().refused.update(|map| {
        map.insert(doc_id, reason);
    });
}

/// One connection attempt: ticket, registrations, socket.
pub(super) async fn connect() {
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
            if matches!(error, net::NetError::Status(401, _)) {
                signals().session_expired.set(true);
            }
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
    if let Err(error) = register_pending(&pending).await {
        log_warn(&format!("sync: registration failed: {error}"));
        return failed();
    }
    let peer = with_driver(|d| d.client.set_peer_id(PeerId::new(ticket.peer_id.clone())));
    if let Some(Err(error)) = peer {
        log_warn(&format!("sync: {error}"));
        return failed();
    }
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
            receive_frame(generation, js_sys::Uint8Array::new(&data).to_vec());
        }
    });
    let on_close = Closure::<dyn FnMut()>::new(move || {
        if !current() {
            return;
        }
        // Frames held for a local write first, in the order they came (driver::receive_frame).
        release_frames();
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
    let since = with_driver(|d| {
        d.pending_cursor = None;
        d.cursor
    })
    .unwrap_or(0);
    let manifest: Manifest = match net::get_json(&format!("/api/sync/manifest?since={since}")).await
    {
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
    for id in &manifest.erased {
        if let Ok(doc_id) = id.parse() {
            super::visits::drop_erased(doc_id);
        }
    }
    if manifest.wipe {
        super::wipe::requested();
    }
    with_driver(|d| d.pending_cursor = Some(manifest.cursor));
    feed(Input::Manifest(entries));
    // Nothing to exchange: the client is already up to date and no status change will come.
    with_driver(Driver::keep_cursor);
}

/// Asks the server which sent documents are durably stored, and tells the client.
pub(super) async fn confirm_round() {
    let asked: Vec<(DocumentId, Vec<ChangeHash>)> = with_driver(|d| {
        d.client
            .doc_ids()
            .filter(|id| d.client.doc_status(id) == Some(DocStatus::Sent))
            .filter_map(|id| Some((id, d.client.doc(&id)?.get_heads())))
            .collect()
    })
    .unwrap_or_default();
    if asked.is_empty() {
        super::wipe::try_now();
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
            // Asked again while connected (else the records would show 送信済み until the
            // next status change); offline, the next connection asks.
            if !matches!(signals().status.get_untracked(), SyncStatus::Offline) {
                driver::schedule_confirm(CONFIRM_LOST_RETRY_MS);
            }
            return;
        }
    };
    for (doc_id, heads) in asked {
        if answer.stored.contains(&doc_id.to_string()) {
            feed(Input::Confirmed { doc_id, heads });
        }
    }
    super::wipe::try_now();
    let connected = !matches!(signals().status.get_untracked(), SyncStatus::Offline);
    if !answer.missing.is_empty() && connected {
        driver::schedule_confirm(CONFIRM_RETRY_MS);
    }
}

/// Registers a document just created here, then lets its held frames go.
pub(super) async fn register_new(doc_id: DocumentId, kind: &'static str) {
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
}
