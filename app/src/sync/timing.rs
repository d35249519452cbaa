//! How long a tap takes to reach this device's disk, as User Timing measures (what
//! `cargo xtask bench`'s check-in figure reads, and what DevTools' performance panel shows).
//!
//! Two measures per timed tap, both starting at the tap's event time (`Event.timeStamp`, the
//! same clock as `performance.now()`, so the browser's input delay counts):
//! - [`TAP_TO_EDIT`]: until the change is made in memory and its writes are queued (automerge's
//!   change and incremental save, the state machine's effects);
//! - [`TAP_TO_DURABLE`]: until the IndexedDB transaction carrying the change's chunk has
//!   completed (strict durability), as its writer heard it: the chunk writer's worker
//!   ([`store::writer`]), or the page where there is none. Whatever ran meanwhile counts
//!   (earlier writes in the queue, retries, the server's acknowledgements on the page);
//! - [`TAP_TO_DURABLE_HEARD`]: until the page has been told, which Chromium holds back until it
//!   has drawn the frame after the tap (BENCH-RESULTS.md, session 12). The tap's re-render waits
//!   for that point (at most 100 ms, [`writes::after_queued_writes`]).
//!
//! Each measure replaces the previous one of its name, so a device open all day does not
//! collect them: a reader watches with a `PerformanceObserver`, which sees every entry.

use wasm_bindgen::prelude::*;

use super::writes;
#[cfg(doc)]
use crate::store;

/// The measure from a tap to its change made and queued.
pub const TAP_TO_EDIT: &str = "nimo:tap-to-edit";
/// The measure from a tap to its change durably committed in IndexedDB.
pub const TAP_TO_DURABLE: &str = "nimo:tap-to-durable";
/// The measure from a tap to the page told that its change is durable.
pub const TAP_TO_DURABLE_HEARD: &str = "nimo:tap-to-durable-heard";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_namespace = performance, js_name = measure, catch)]
    fn performance_measure(name: &str, options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = performance, js_name = clearMeasures)]
    fn performance_clear_measures(name: &str);
}

/// Runs `edit`, the local change a tap at `tapped_at` (its event's `timeStamp`) asked for, and
/// measures it: at once until the change is queued, and later until its last chunk write is
/// durable (an edit that wrote nothing gets only the first measure).
pub fn timed_tap<R>(tapped_at: f64, edit: impl FnOnce() -> R) -> R {
    let before = writes::enqueued_total();
    let result = edit();
    measure(TAP_TO_EDIT, tapped_at);
    writes::measure_when_durable(before, tapped_at);
    result
}

/// Runs `f` (what a tap shows besides the record: the undo bar, an error) once the tap's write
/// has been attempted, as the record itself is re-rendered then ([`writes::after_queued_writes`]).
pub fn after_tap_written(f: impl FnOnce() + 'static) {
    writes::after_queued_writes(f);
}

/// Records the tap at `tapped_at` as durable at `durable_at` (the writer's clock turned into
/// this page's; `None`: now) and as heard now.
pub(super) fn measure_durable(tapped_at: f64, durable_at: Option<f64>) {
    let now = performance_now();
    measure_between(
        TAP_TO_DURABLE,
        tapped_at,
        durable_at.map_or(now, |at| at.min(now)),
    );
    measure_between(TAP_TO_DURABLE_HEARD, tapped_at, now);
}

/// Records `name` from `start` until now, replacing the previous measure of that name.
pub(super) fn measure(name: &str, start: f64) {
    measure_between(name, start, performance_now());
}

fn measure_between(name: &str, start: f64, end: f64) {
    let options = js_sys::Object::new();
    // A tap's time cannot follow its own handling; a bogus event time must not throw.
    let start = start.min(end);
    let set = |key: &str, value: f64| {
        js_sys::Reflect::set(&options, &JsValue::from_str(key), &JsValue::from_f64(value))
    };
    if set("start", start).is_err() || set("end", end).is_err() {
        return;
    }
    performance_clear_measures(name);
    // Timing must never break the app: a browser without the options form just has no measure.
    let _ = performance_measure(name, &options);
}
