//! What the fuzz targets share: tolerating the known panics inside automerge 0.12.
//!
//! automerge 0.12 panics in hexane's bundle decoder (an `unwrap` on a truncated number) on some
//! malformed chunks, in `load`, `load_incremental` and `receive_sync_message` alike. We cannot
//! fix automerge here; the server refuses such frames before samod sees them
//! (`server/src/sync/frame_guard.rs`) and the input is kept in
//! `regressions/document_load/bundle-delta-eof`. So that the fuzzer keeps looking for other
//! crashes, [`install`] makes a panic *from hexane* unwind (the target catches it); every
//! other panic still aborts through libFuzzer's hook and counts as a crash.

use std::panic::{self, AssertUnwindSafe};

/// Source files of automerge 0.12 and its dependencies with known panics on hostile input:
/// hexane's bundle decoder (`regressions/document_load/bundle-delta-eof`), the sync bloom
/// filter's division by zero (`regressions/sync_message/bloom-zero-bits`), and applying a
/// change that uses an actor the document does not know (`regressions/document_load/unknown-actor`:
/// an `unwrap` in `import_ops`).
const KNOWN_UPSTREAM_PANICS: &[&str] = &[
    "/hexane-",
    "/automerge-0.12.0/src/sync/bloom.rs",
    "/automerge-0.12.0/src/op_set2/change/batch.rs",
];

/// Replaces the panic hook (once): panics located in [`KNOWN_UPSTREAM_PANICS`] are tolerated, all others
/// go to the previous hook (libFuzzer's, which aborts).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let upstream = info.location().is_some_and(|l| {
                KNOWN_UPSTREAM_PANICS
                    .iter()
                    .any(|known| l.file().contains(known))
            });
            if !upstream {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; `None` if it panicked in hexane (see the module docs).
pub fn tolerating_upstream<T>(f: impl FnOnce() -> T) -> Option<T> {
    install();
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}
