//! Received document bytes: measured by `chunk_bounds` (as the server does before anything
//! decodes a sync message's chunks), then, when within bounds, loaded as automerge does on the
//! device (IndexedDB chunks) and on the server (SQLite chunks, strictly then chunk by chunk), and
//! hydrated into each of our record types. A document from anyone may be refused, or fail to
//! load or to hydrate; it must not panic, and what the bounds accept must load within the
//! fuzzer's memory limit (`-rss_limit_mb`).
#![no_main]

use automerge::{Automerge, LoadOptions, OnPartialLoad};
use libfuzzer_sys::fuzz_target;
use nimo_fuzz::tolerating_upstream;
use nimo_shared::doc::{hydrate, kind_of, schema_version_of};
use nimo_shared::sync::{ChunkBounds, chunk_bounds};
use nimo_shared::records::{
    council::CouncilMeeting, peer::PeerSupportGroup, training::TrainingSession, visit::VisitCase,
};

fn read_records(doc: &Automerge) {
    let _ = kind_of(doc);
    let _ = schema_version_of(doc);
    let _ = hydrate::<TrainingSession>(doc);
    let _ = hydrate::<VisitCase>(doc);
    let _ = hydrate::<PeerSupportGroup>(doc);
    let _ = hydrate::<CouncilMeeting>(doc);
    // Bypassing the kind check reaches the field hydration of every record type.
    let _ = autosurgeon::hydrate::<_, TrainingSession>(doc);
    let _ = autosurgeon::hydrate::<_, VisitCase>(doc);
    let _ = autosurgeon::hydrate::<_, PeerSupportGroup>(doc);
    let _ = autosurgeon::hydrate::<_, CouncilMeeting>(doc);
}

fuzz_target!(|bytes: &[u8]| {
    if chunk_bounds::check(bytes, &ChunkBounds::default()).is_err() {
        return;
    }
    // automerge's own loads run under `tolerating_upstream` (a known hexane panic, see
    // src/lib.rs); our hydration does not.
    if let Some(Ok(doc)) = tolerating_upstream(|| Automerge::load(bytes)) {
        read_records(&doc);
        let loaded = Automerge::load(&doc.save()).expect("a saved document loads");
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }
    let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
    let _ = tolerating_upstream(|| Automerge::load_with_options(bytes, strict));
    let mut doc = Automerge::new();
    if let Some(Ok(_)) = tolerating_upstream(|| doc.load_incremental(bytes)) {
        read_records(&doc);
    }
});
