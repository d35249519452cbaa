//! The device's durable write queue: every chunk and small value the sync driver must keep
//! goes through here, in the order the state machine asked for it, one IndexedDB transaction
//! at a time.
//!
//! A failed write (quota, a browser hiccup) is never dropped: it stays at the head of the queue
//! and is retried with a growing pause, the UI shows the failure, and later writes wait behind
//! it so the order on disk stays the order of the effects. The state machine's own copy of a
//! document is in memory meanwhile, so nothing is lost while the app stays open.

use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use nimo_shared::storage::{ChunkStore as _, StorageKey as ChunkKey};

use super::{driver, signals, timing};
use crate::store;

/// One write.
pub(super) enum Write {
    /// Chunks to add and remove in one transaction (a persist, or a compaction).
    Chunks {
        puts: Vec<(ChunkKey, Vec<u8>)>,
        deletes: Vec<ChunkKey>,
    },
    /// A small JSON value to store under a key.
    Value { key: String, json: String },
    /// A small value to remove.
    Remove { key: String },
    /// Every stored chunk of a document the server erased.
    DropDocument(nimo_shared::sync::DocumentId),
}

/// A write in the queue.
struct Queued {
    write: Write,
    /// The tap whose change this write carries, timed until it is durable
    /// ([`timing::TAP_TO_DURABLE`]).
    tapped_at: Option<f64>,
    /// What waits for this write's first attempt, done or failed ([`after_queued_writes`]).
    then: Vec<Callback>,
}

/// Something to run once, whichever of its triggers comes first.
type Callback = Rc<RefCell<Option<Box<dyn FnOnce()>>>>;

fn run_once(callback: &Callback) {
    let f = callback.borrow_mut().take();
    if let Some(f) = f {
        f();
    }
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Queued>,
    draining: bool,
    /// Writes ever queued (to find the ones an edit queued).
    enqueued: u64,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
}

/// The longest pause between two attempts of a failing write.
const MAX_RETRY_MS: u64 = 30_000;
/// The longest a local edit's re-render waits for its write ([`after_queued_writes`]).
const MAX_WAIT_FOR_WRITE_MS: u64 = 100;

/// Queues `write` behind every earlier one.
pub(super) fn enqueue(write: Write) {
    let start = QUEUE.with(|cell| {
        let mut queue = cell.borrow_mut();
        queue.pending.push_back(Queued {
            write,
            tapped_at: None,
            then: Vec::new(),
        });
        queue.enqueued += 1;
        let start = !queue.draining;
        queue.draining = true;
        start
    });
    report_pending();
    if start {
        wasm_bindgen_futures::spawn_local(drain());
    }
}

/// Queues a JSON value.
pub(super) fn enqueue_value<T: serde::Serialize>(key: String, value: &T) {
    match serde_json::to_string(value) {
        Ok(json) => enqueue(Write::Value { key, json }),
        Err(error) => driver::log_warn(&format!("sync: cannot encode {key}: {error}")),
    }
}

/// Runs `f` once the last write queued so far has been attempted (done, or failed and waiting
/// for its retry), at once if nothing is queued, and at the latest after
/// [`MAX_WAIT_FOR_WRITE_MS`] (a write the browser holds back must not hold the screen back).
///
/// A local edit's re-render waits here: the IndexedDB transaction's `complete` is a task, and a
/// re-render of a large roster in the tap's own task (and the frame drawn right after it) came
/// before it, so the tap was durable on disk within ~5 ms but the app learned it 30–40 ms later
/// (BENCH-RESULTS.md, session 6). The change is in memory meanwhile and the write already
/// issued; the screen follows a few milliseconds later.
pub(super) fn after_queued_writes(f: impl FnOnce() + 'static) {
    let callback: Callback = Rc::new(RefCell::new(Some(Box::new(f))));
    let attached = QUEUE.with(|cell| {
        let mut queue = cell.borrow_mut();
        match queue.pending.back_mut() {
            Some(last) => {
                last.then.push(callback.clone());
                true
            }
            None => false,
        }
    });
    if attached {
        let _ = driver::set_timeout(MAX_WAIT_FOR_WRITE_MS, move || run_once(&callback));
    } else {
        run_once(&callback);
    }
}

/// How many writes have ever been queued.
pub(super) fn enqueued_total() -> u64 {
    QUEUE.with(|cell| cell.borrow().enqueued)
}

/// Times the tap at `tapped_at` until the last chunk write queued since [`enqueued_total`]
/// read `since` is on disk: that write carries the tap's change (a compaction's snapshot
/// includes it), and the queue keeps order, so every earlier write is on disk by then. The
/// writes are still queued: the drain only starts on a later task.
pub(super) fn measure_when_durable(since: u64, tapped_at: f64) {
    QUEUE.with(|cell| {
        let mut queue = cell.borrow_mut();
        let new = usize::try_from(queue.enqueued.saturating_sub(since)).unwrap_or(usize::MAX);
        let skip = queue.pending.len().saturating_sub(new);
        if let Some(carrier) = queue
            .pending
            .iter_mut()
            .skip(skip)
            .rev()
            .find(|queued| matches!(queued.write, Write::Chunks { .. }))
        {
            carrier.tapped_at = Some(tapped_at);
        }
    });
}

/// How many writes are not on disk yet.
pub(super) fn pending() -> usize {
    QUEUE.with(|cell| cell.borrow().pending.len())
}

fn report_pending() {
    signals().pending_writes.set(pending());
}

async fn drain() {
    let mut failures: u32 = 0;
    loop {
        let Some(mut queued) = QUEUE.with(|cell| cell.borrow_mut().pending.pop_front()) else {
            QUEUE.with(|cell| cell.borrow_mut().draining = false);
            return;
        };
        // Cleared first, so a time recorded by a write outside this queue is not taken for
        // this one's.
        let _ = store::writer::take_durable_at();
        let outcome = perform(&queued.write).await;
        let then = std::mem::take(&mut queued.then);
        match outcome {
            Ok(()) => {
                if let Some(tapped_at) = queued.tapped_at {
                    timing::measure_durable(tapped_at, store::writer::take_durable_at());
                }
                failures = 0;
                signals().storage_error.set(None);
                report_pending();
                then.iter().for_each(run_once);
            }
            Err(error) => {
                QUEUE.with(|cell| cell.borrow_mut().pending.push_front(queued));
                // The edit shows now (it is in memory), with the failure beside it.
                then.iter().for_each(run_once);
                failures = failures.saturating_add(1);
                driver::log_warn(&format!("sync: a local write failed ({failures}): {error}"));
                signals().storage_error.set(Some(format!(
                    "この端末への保存に失敗しています（自動で再試行します）: {error}"
                )));
                let pause = 500u64
                    .saturating_mul(1 << failures.min(6))
                    .min(MAX_RETRY_MS);
                driver::sleep(pause).await;
            }
        }
    }
}

async fn perform(write: &Write) -> Result<(), String> {
    let Some((chunks, kv)) = driver::with_driver(|d| (d.chunks.clone(), d.kv.clone())) else {
        return Err("同期が始まっていません".to_owned());
    };
    match write {
        Write::Chunks { puts, deletes } => chunks
            .put_and_delete(puts.clone(), deletes.clone())
            .await
            .map_err(|e| e.to_string()),
        Write::Value { key, json } => kv.put_json(key, json).await.map_err(|e| e.to_string()),
        Write::Remove { key } => kv.delete(key).await.map_err(|e| e.to_string()),
        Write::DropDocument(doc_id) => {
            let prefix =
                ChunkKey::from_parts(vec![doc_id.to_string()]).map_err(|e| e.to_string())?;
            let keys = chunks
                .load_range(&prefix)
                .await
                .map_err(|e| e.to_string())?
                .into_keys()
                .collect();
            chunks
                .put_and_delete(Vec::new(), keys)
                .await
                .map_err(|e| e.to_string())
        }
    }
}
