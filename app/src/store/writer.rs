//! The chunk writer: a dedicated worker (`public/idb-writer.js`) that commits
//! [`IdbChunkStore`](super::IdbChunkStore)'s writes and says when each was durable.
//!
//! Why: after a tap Chromium holds the page's other tasks, IndexedDB's `complete` among them,
//! until it has drawn the next frame. A check-in was on disk ~5 ms after the tap and the page
//! heard of it at ~15 ms (BENCH-RESULTS.md, session 12). The worker has no input and no frames,
//! so it hears `complete` as it happens and reports that time ([`take_durable_at`]); the page
//! still learns of it a frame later, which only delays the screen, not the data.
//!
//! The page stays the one that opens (creates, upgrades) the database and reads from it; the
//! worker only writes, to a database the page has already opened. Where there is no worker (no
//! script URL from `boot.js`, `Worker` refused) or it failed (its script did not load, it
//! threw), [`write`] says so and the store writes on the page as before. A write the failed
//! worker held comes back as [`WriteError::Stopped`] and is written again on the page: the puts
//! and deletes of content-addressed keys are idempotent, and each caller redoes its own write in
//! the order the worker received them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use nimo_shared::storage::StorageKey;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker};

use super::idb::IdbError;

/// Where `boot.js` puts the worker script's (content-hashed) URL.
const URL_GLOBAL: &str = "nimoChunkWriterUrl";
/// What a write held by a worker that failed is rejected with.
const STOPPED: &str = "the chunk writer stopped";

/// Why a write through the worker did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// The worker failed before it answered: write on the page instead.
    Stopped,
    /// The worker answered with IndexedDB's error.
    Failed(IdbError),
}

impl From<JsValue> for WriteError {
    fn from(value: JsValue) -> Self {
        if value.as_string().as_deref() == Some(STOPPED) {
            Self::Stopped
        } else {
            Self::Failed(value.into())
        }
    }
}

/// The requests the worker has not answered: each id with its promise's `resolve` and
/// `reject` (a list: there is rarely more than one, the write queue sends one at a time).
type Pending = Rc<RefCell<Vec<(u32, Function, Function)>>>;

struct Running {
    worker: Worker,
    pending: Pending,
    next_id: Cell<u32>,
    /// Set once the worker failed: later writes go through the page.
    failed: Rc<Cell<bool>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

enum State {
    Untried,
    Running(Rc<Running>),
    Unavailable,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::Untried) };
    /// When the last write through the worker was durable, on the page's clock.
    static LAST_DURABLE_AT: Cell<Option<f64>> = const { Cell::new(None) };
}

fn global(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

/// Shows on the page's root element which path writes (`data-chunk-writer`: `worker` or
/// `page`), for the browser tests and for anyone inspecting a device.
fn show_path(path: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.document_element())
    {
        let _ = root.set_attribute("data-chunk-writer", path);
    }
}

fn start() -> Option<Running> {
    let url = global(URL_GLOBAL)?.as_string()?;
    let worker = Worker::new(&url).ok()?;
    let pending: Pending = Rc::default();
    let failed = Rc::new(Cell::new(false));
    let on_message = {
        let pending = pending.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            let Some(id) = Reflect::get(&data, &JsValue::from_str("id"))
                .ok()
                .and_then(|id| id.as_f64())
            else {
                return;
            };
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "ids are the u32s this module sent"
            )]
            let answered = {
                let mut pending = pending.borrow_mut();
                let at = pending
                    .iter()
                    .position(|(waiting, ..)| *waiting == id as u32);
                at.map(|at| pending.remove(at))
            };
            let Some((_, resolve, reject)) = answered else {
                return;
            };
            let ok = Reflect::get(&data, &JsValue::from_str("ok"))
                .ok()
                .and_then(|ok| ok.as_bool())
                .unwrap_or(false);
            let _ = if ok {
                resolve.call1(&JsValue::NULL, &data)
            } else {
                let error = Reflect::get(&data, &JsValue::from_str("error"))
                    .unwrap_or_else(|_| JsValue::from_str("the chunk writer failed"));
                reject.call1(&JsValue::NULL, &error)
            };
        })
    };
    let on_error = {
        let pending = pending.clone();
        let failed = failed.clone();
        let worker = worker.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            // The script did not load (offline before it was cached) or threw: nothing more
            // goes to it, and what it held is reported failed, to be retried on the page.
            event.prevent_default();
            failed.set(true);
            show_path("page");
            worker.terminate();
            let held = std::mem::take(&mut *pending.borrow_mut());
            let error = JsValue::from_str(STOPPED);
            for (_, _, reject) in held {
                let _ = reject.call1(&JsValue::NULL, &error);
            }
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Some(Running {
        worker,
        pending,
        next_id: Cell::new(0),
        failed,
        _on_message: on_message,
        _on_error: on_error,
    })
}

/// Whether writes go through the worker now (it started and has not failed).
pub fn in_use() -> bool {
    STATE.with(|cell| matches!(&*cell.borrow(), State::Running(running) if !running.failed.get()))
}

/// Starts the worker now rather than at the first write, so that a script that cannot load is
/// found out before a tap waits for it.
pub fn prepare() {
    let _ = running();
}

/// The running worker, started on first use; `None` where there is none.
fn running() -> Option<Rc<Running>> {
    STATE.with(|cell| {
        let mut state = cell.borrow_mut();
        if matches!(*state, State::Untried) {
            *state = match start() {
                Some(running) => State::Running(Rc::new(running)),
                None => State::Unavailable,
            };
            show_path(if matches!(*state, State::Running(_)) {
                "worker"
            } else {
                "page"
            });
        }
        match &*state {
            State::Running(running) if !running.failed.get() => Some(running.clone()),
            _ => None,
        }
    })
}

impl Running {
    /// Posts `message` with a new id and waits for the worker's answer to it.
    async fn request(&self, message: &Object) -> Result<JsValue, WriteError> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        Reflect::set(message, &JsValue::from_str("id"), &JsValue::from(id))?;
        let pending = self.pending.clone();
        let answer = Promise::new(&mut |resolve, reject| {
            pending.borrow_mut().push((id, resolve, reject));
        });
        if let Err(error) = self.worker.post_message(message) {
            self.pending
                .borrow_mut()
                .retain(|(waiting, ..)| *waiting != id);
            return Err(WriteError::Failed(error.into()));
        }
        Ok(JsFuture::from(answer).await?)
    }
}

/// Commits `puts` and `deletes` to database `name` (open at `version` on the page) in one
/// strict transaction through the worker, and records when it was durable
/// ([`take_durable_at`]). `None`: there is no worker, write on the page.
pub fn write(
    name: &str,
    version: f64,
    puts: &[(StorageKey, Vec<u8>)],
    deletes: &[StorageKey],
) -> Option<impl Future<Output = Result<(), WriteError>> + use<>> {
    let running = running()?;
    let message = Object::new();
    let set = |key: &str, value: &JsValue| Reflect::set(&message, &JsValue::from_str(key), value);
    let built = (|| {
        set("name", &JsValue::from_str(name))?;
        set("version", &JsValue::from_f64(version))?;
        let put_list: Array = puts
            .iter()
            .map(|(key, bytes)| {
                Array::of2(
                    &JsValue::from_str(&key.joined()),
                    &Uint8Array::from(bytes.as_slice()),
                )
            })
            .collect();
        set("puts", &put_list)?;
        let delete_list: Array = deletes
            .iter()
            .map(|key| JsValue::from_str(&key.joined()))
            .collect();
        set("deletes", &delete_list)
    })();
    Some(async move {
        built.map_err(|error| WriteError::Failed(error.into()))?;
        let answer = running.request(&message).await?;
        let durable_at = Reflect::get(&answer, &JsValue::from_str("durableAt"))
            .ok()
            .and_then(|at| at.as_f64());
        let origin = global("performance")
            .and_then(|performance| {
                Reflect::get(&performance, &JsValue::from_str("timeOrigin")).ok()
            })
            .and_then(|origin| origin.as_f64());
        if let (Some(durable_at), Some(origin)) = (durable_at, origin) {
            LAST_DURABLE_AT.set(Some(durable_at - origin));
        }
        Ok(())
    })
}

/// Closes the worker's connection to database `name` (so it can be deleted), without waiting.
pub fn close(name: &str) {
    let running = STATE.with(|cell| match &*cell.borrow() {
        State::Running(running) if !running.failed.get() => Some(running.clone()),
        _ => None,
    });
    let Some(running) = running else { return };
    let message = Object::new();
    if Reflect::set(
        &message,
        &JsValue::from_str("close"),
        &JsValue::from_str(name),
    )
    .is_ok()
    {
        wasm_bindgen_futures::spawn_local(async move {
            // A worker that cannot answer has no connection to close either.
            let _ = running.request(&message).await;
        });
    }
}

/// When the last write through the worker was durable, as `performance.now()` on this page
/// would have read then; taken once. `None` after a write on the page.
pub fn take_durable_at() -> Option<f64> {
    LAST_DURABLE_AT.take()
}
