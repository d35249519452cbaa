//! The browser side of sync: IO around the sans-IO state machine of `nimo_shared::sync`.
//!
//! - [`driver`]: the one [`SyncClient`](nimo_shared::sync::SyncClient), its inputs (socket
//!   events, a one-second tick, local edits) and its effects, carried out in order.
//! - [`writes`]: the durable write queue to IndexedDB (strict durability, in effect order,
//!   failed writes retried and shown, never dropped).
//! - [`connection`]: ticket → registrations → WebSocket → manifest (with a cursor) → confirm.
//! - [`account`]: login (with the second factor) and the stored session that lets the app
//!   start offline; [`logout`] (refused while a change exists only here).
//! - [`lock`]: the PIN, the sealed store and the lock of visitor and office devices.
//! - [`training`]: reading and changing training sessions.
//! - [`visits`]: reading and changing visit cases.
//! - [`wipe`]: a lost device's wipe after its last upload.
//! - [`timing`]: a tap's time until its change is durable (User Timing measures).
//! - [`Signals`]: what the UI reads.

mod account;
mod connection;
mod driver;
pub mod lock;
mod logout;
pub mod net;
mod records;
pub mod rng;
pub mod status;
mod timing;
mod training;
pub mod visits;
mod wipe;
mod writes;

use std::cell::RefCell;
use std::collections::BTreeMap;

use leptos::prelude::*;
use nimo_shared::sync::{DocStatus, DocumentId, SyncStatus};

use crate::store::Kv;

pub use account::{
    Enrolment, LoginStep, SessionInfo, UserInfo, boot, enrol_second_factor, finish_second_factor,
    login,
};
pub use logout::{hand_over, logout};
pub use timing::{after_tap_written, timed_tap};
pub use training::{
    Mark, add_attendee, add_walk_in, check_in, create_session, import_roster, resolve_conflict,
    session_conflicts, set_mark, training_session, training_sessions, undo_check_in,
    withdraw_attendee,
};

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
    /// Writes to this device's storage not yet on disk.
    pub pending_writes: RwSignal<usize>,
    /// The last local write failure, while it is being retried.
    pub storage_error: RwSignal<Option<String>>,
    /// Documents the server refused to register, with its reason; they stay on this device.
    pub refused: RwSignal<BTreeMap<DocumentId, String>>,
    /// Since when (Unix ms) some change has been only on this device, if one is.
    pub unsent_since: RwSignal<Option<u64>>,
    /// The server no longer accepts this device's session (idle or too old, or ended
    /// elsewhere): sync waits until the person logs in again.
    pub session_expired: RwSignal<bool>,
}

impl Signals {
    /// How many documents have changes only on this device.
    pub fn unsent(&self) -> usize {
        self.doc_status
            .with(|map| map.values().filter(|s| **s == DocStatus::OnlyHere).count())
    }

    /// Whether reloading the app now could lose a change: one not yet on this device's disk,
    /// or one not yet on the server (kept on disk, but a new version must not be the one to
    /// find out it cannot read it).
    pub fn may_lose_changes(&self) -> bool {
        self.pending_writes.get() > 0 || self.unsent() > 0
    }
}

thread_local! {
    static SIGNALS: Signals = Signals {
        status: RwSignal::new(SyncStatus::Offline),
        doc_status: RwSignal::new(BTreeMap::new()),
        docs_version: RwSignal::new(0),
        session: RwSignal::new(None),
        ready: RwSignal::new(false),
        pending_writes: RwSignal::new(0),
        storage_error: RwSignal::new(None),
        refused: RwSignal::new(BTreeMap::new()),
        unsent_since: RwSignal::new(None),
        session_expired: RwSignal::new(false),
    };
    static KV: RefCell<Option<Kv>> = const { RefCell::new(None) };
}

/// The UI's signals.
pub fn signals() -> Signals {
    SIGNALS.with(|s| *s)
}
