//! Training sessions on this device: reading them and every change a trainer makes.

use std::cell::RefCell;

use automerge::ScalarValue;
use leptos::prelude::*;
use nimo_shared::conflicts::{self, Conflict};
use nimo_shared::records::roster;
use nimo_shared::records::session_view::SessionView;
use nimo_shared::records::training::{Person, TrainingSession};
use nimo_shared::sync::DocumentId;
use nimo_shared::{AttendeeId, DocKind, UserId, doc, sorting};

use super::driver::with_driver;
use super::records::{change_record, create_record, me};
use super::{rng, signals};

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
    sorting::sort_by(&mut sessions, |a, b| {
        b.1.date.cmp(&a.1.date).then(a.0.cmp(&b.0))
    });
    sessions
}

thread_local! {
    /// The session last shown, kept read change by change: a check-in reads its roster entry
    /// again, not the whole roster.
    static SHOWN: RefCell<Option<(DocumentId, SessionView)>> = const { RefCell::new(None) };
}

/// `f` on the view of `doc_id`, brought up to date with the document on this device.
fn with_view<R>(doc_id: DocumentId, f: impl FnOnce(&SessionView) -> R) -> Option<R> {
    with_driver(|d| {
        let document = d.client.doc(&doc_id)?;
        if doc::kind_of(document) != Some(DocKind::TrainingSession) {
            return None;
        }
        SHOWN.with(|cell| {
            let mut shown = cell.borrow_mut();
            let fresh = match shown.as_mut() {
                Some((id, view)) if *id == doc_id => view.refresh(document).is_ok(),
                _ => false,
            };
            if !fresh {
                *shown = SessionView::load(document).ok().map(|view| (doc_id, view));
            }
            shown.as_ref().map(|(_, view)| f(view))
        })
    })
    .flatten()
}

/// One training session, if it is on this device.
pub fn training_session(doc_id: DocumentId) -> Option<TrainingSession> {
    signals().docs_version.track();
    with_view(doc_id, |view| view.session().clone())
}

/// Creates a training session's document; it is registered with the server before it syncs.
pub fn create_session(session: TrainingSession) -> Result<DocumentId, String> {
    create_record(&session)
}

/// Adds a person to a session's roster.
pub fn add_attendee(doc_id: DocumentId, person: Person) -> Result<AttendeeId, String> {
    person.validate().map_err(|e| e.to_string())?;
    let id = AttendeeId::from_random_bytes(rng::random_bytes::<16>());
    change_record(doc_id, |document, at| {
        roster::add_attendee(document, id, person, at).map_err(|e| e.message_ja())
    })?;
    Ok(id)
}

/// Adds a whole pre-registration roster in one change: every person is checked first, so the
/// roster is never half-imported.
pub fn import_roster(doc_id: DocumentId, people: Vec<Person>) -> Result<usize, String> {
    for person in &people {
        person
            .validate()
            .map_err(|e| format!("{}: {e}", person.name))?;
    }
    let count = people.len();
    let ids: Vec<AttendeeId> = (0..count)
        .map(|_| AttendeeId::from_random_bytes(rng::random_bytes::<16>()))
        .collect();
    change_record(doc_id, |document, at| {
        for (id, person) in ids.into_iter().zip(people) {
            roster::add_attendee(document, id, person, at).map_err(|e| e.message_ja())?;
        }
        Ok(())
    })?;
    Ok(count)
}

/// The logged-in user, who signs check-ins.
fn current_user() -> Result<UserId, String> {
    me().ok_or_else(|| "ログインしてください。".to_owned())
}

/// Checks an attendee in, as the logged-in user.
pub fn check_in(doc_id: DocumentId, attendee: AttendeeId) -> Result<(), String> {
    let by = current_user()?;
    change_record(doc_id, |document, at| {
        roster::check_in(document, attendee, at, &by).map_err(|e| e.message_ja())
    })
}

/// Undoes a check-in (the inverse of [`check_in`]).
pub fn undo_check_in(doc_id: DocumentId, attendee: AttendeeId) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        roster::undo_check_in(document, attendee, at).map_err(|e| e.message_ja())
    })
}

/// Adds a walk-in and checks them in at once: two changes in one local edit, so the screen
/// never shows them added but not present.
pub fn add_walk_in(doc_id: DocumentId, person: Person) -> Result<AttendeeId, String> {
    person.validate().map_err(|e| e.to_string())?;
    let by = current_user()?;
    let id = AttendeeId::from_random_bytes(rng::random_bytes::<16>());
    change_record(doc_id, |document, at| {
        roster::add_attendee(document, id, person, at).map_err(|e| e.message_ja())?;
        roster::check_in(document, id, at, &by).map_err(|e| e.message_ja())
    })?;
    Ok(id)
}

/// The yes/no marks of an attendee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// 修了.
    Completed,
    /// ここサポリング given.
    Ring,
    /// ここサポステッカー given.
    Sticker,
}

/// Sets one mark of an attendee.
pub fn set_mark(
    doc_id: DocumentId,
    attendee: AttendeeId,
    mark: Mark,
    value: bool,
) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        match mark {
            Mark::Completed => roster::mark_completed(document, attendee, value, at),
            Mark::Ring => roster::mark_ring_given(document, attendee, value, at),
            Mark::Sticker => roster::mark_sticker_given(document, attendee, value, at),
        }
        .map_err(|e| e.message_ja())
    })
}

/// Withdraws an entry added by mistake (kept, flagged, not counted).
pub fn withdraw_attendee(doc_id: DocumentId, attendee: AttendeeId) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        roster::withdraw_attendee(document, attendee, at).map_err(|e| e.message_ja())
    })
}

/// Every field of a session that holds competing values after a merge.
pub fn session_conflicts(doc_id: DocumentId) -> Vec<Conflict> {
    signals().docs_version.track();
    with_view(doc_id, |view| view.conflicts().to_vec()).unwrap_or_default()
}

/// Settles a conflicted field on `chosen`, written as a normal change by this device.
pub fn resolve_conflict(
    doc_id: DocumentId,
    path: &[String],
    chosen: ScalarValue,
) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        conflicts::resolve(document, path, chosen, at).map_err(|e| e.message_ja())
    })
}
