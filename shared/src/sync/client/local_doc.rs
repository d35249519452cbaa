//! One document as this device holds it: the Automerge document, which of its bytes are in
//! local storage, and which of its changes the server has not confirmed.
//!
//! Two invariants live here:
//! - every change in `doc` is in storage once the effects of the call that added it are
//!   applied: after any change (local or received) the new changes go out as one
//!   [`Effect::Persist`] chunk, or as an [`Effect::Compact`] snapshot that replaces the chunks;
//! - `must_cover` is empty only when the server confirmed every local change; it is the heads
//!   right after the last local change (which cover all earlier ones), or, for a document
//!   loaded from storage without a confirmation, its heads at load.

use std::collections::{BTreeSet, HashSet};

use automerge::{Automerge, ChangeHash, ReadDoc};

use super::Effect;
use crate::sync::ids::DocumentId;
use crate::sync::status::DocStatus;
use crate::sync::storage_key::{ChunkKind, StorageKey};

#[derive(Debug)]
pub(super) struct LocalDoc {
    pub(super) doc: Automerge,
    /// The heads whose changes are all in storage.
    saved_heads: Vec<ChangeHash>,
    /// The chunks in storage for this document.
    chunks: BTreeSet<StorageKey>,
    /// Heads whose history holds every unconfirmed local change; empty when all are confirmed.
    pub(super) must_cover: Vec<ChangeHash>,
    /// The server's heads, as last learnt from a manifest or a sync message.
    pub(super) server_heads: Option<Vec<ChangeHash>>,
    /// The status last reported to the UI.
    pub(super) reported: Option<DocStatus>,
    /// The server said it does not have this document.
    pub(super) unavailable: bool,
}

impl LocalDoc {
    pub(super) fn new(doc: Automerge) -> Self {
        Self {
            saved_heads: doc.get_heads(),
            doc,
            chunks: BTreeSet::new(),
            must_cover: Vec::new(),
            server_heads: None,
            reported: None,
            unavailable: false,
        }
    }

    pub(super) fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// A document we asked for but have no change of yet.
    pub(super) fn is_empty(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// Adds chunks read from storage. Returns the keys of chunks that do not load.
    pub(super) fn load_chunks(
        &mut self,
        mut chunks: Vec<(StorageKey, Vec<u8>)>,
    ) -> Vec<(StorageKey, String)> {
        // Snapshots first, as automerge-repo loads them.
        crate::sorting::sort_by_key(&mut chunks, |(key, _)| key.kind != ChunkKind::Snapshot);
        let mut rejected = Vec::new();
        for (key, bytes) in chunks {
            match self.doc.load_incremental(&bytes) {
                Ok(_) => {
                    self.chunks.insert(key);
                }
                Err(e) => rejected.push((key, e.to_string())),
            }
        }
        self.saved_heads = self.doc.get_heads();
        rejected
    }

    /// Writes the changes not yet in storage: one incremental chunk, or a snapshot replacing
    /// every chunk once there are `compact_after` of them.
    pub(super) fn persist(
        &mut self,
        doc_id: DocumentId,
        compact_after: usize,
        out: &mut Vec<Effect>,
    ) {
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return;
        }
        if self.chunks.len() + 1 >= compact_after.max(1) {
            let snapshot_key = StorageKey::snapshot(doc_id, &heads);
            let remove = self
                .chunks
                .iter()
                .filter(|key| **key != snapshot_key)
                .cloned()
                .collect();
            out.push(Effect::Compact {
                doc_id,
                snapshot_key: snapshot_key.clone(),
                bytes: self.doc.save(),
                remove,
            });
            self.chunks = BTreeSet::from([snapshot_key]);
        } else {
            let bytes = self.doc.save_after(&self.saved_heads);
            let key = StorageKey::incremental(doc_id, &bytes);
            self.chunks.insert(key.clone());
            out.push(Effect::Persist { key, bytes });
        }
        self.saved_heads = heads;
    }

    /// Does the history of `heads` hold every change in `targets`? Heads this device does not
    /// know cannot be checked and count for nothing (the answer errs towards "no").
    pub(super) fn covers(&self, targets: &[ChangeHash], heads: &[ChangeHash]) -> bool {
        if targets.iter().all(|t| heads.contains(t)) {
            return true;
        }
        let known: Vec<ChangeHash> = heads
            .iter()
            .filter(|h| self.doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        if known.is_empty() {
            return false;
        }
        let outside: HashSet<ChangeHash> = self
            .doc
            .get_changes_meta(&known)
            .into_iter()
            .map(|meta| meta.hash)
            .collect();
        targets
            .iter()
            .all(|t| self.doc.get_change_by_hash(t).is_some() && !outside.contains(t))
    }

    pub(super) fn status(&self) -> DocStatus {
        if self.must_cover.is_empty() {
            DocStatus::Stored
        } else if self
            .server_heads
            .as_ref()
            .is_some_and(|server| self.covers(&self.must_cover, server))
        {
            DocStatus::Sent
        } else {
            DocStatus::OnlyHere
        }
    }

    /// Reports the status if it changed since the last report.
    pub(super) fn report_status(&mut self, doc_id: DocumentId, out: &mut Vec<Effect>) {
        let status = self.status();
        if self.reported != Some(status) {
            self.reported = Some(status);
            out.push(Effect::DocStatusChanged { doc_id, status });
        }
    }
}
