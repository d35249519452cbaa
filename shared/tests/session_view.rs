//! The check-in screen's view of a session, refreshed change by change, always equals the
//! session and conflicts read afresh from the whole document.

mod common;

use automerge::Automerge;
use common::*;
use nimo_shared::conflicts;
use nimo_shared::doc;
use nimo_shared::records::roster;
use nimo_shared::records::session_view::{Refreshed, SessionView};
use nimo_shared::records::training::TrainingSession;

/// Refreshes `view`, checks it against a fresh read of `document`, and says how it refreshed.
fn refreshed_equals_fresh(view: &mut SessionView, document: &Automerge, step: &str) -> Refreshed {
    let refreshed = view.refresh(document).expect("refreshes");
    let fresh: TrainingSession = doc::hydrate(document).expect("hydrates");
    assert_eq!(view.session(), &fresh, "{step}: the session");
    assert_eq!(
        view.conflicts(),
        conflicts::conflicts(document).as_slice(),
        "{step}: the conflicts"
    );
    refreshed
}

#[test]
fn a_view_refreshed_after_each_change_equals_a_fresh_read() {
    let now = at("2025-06-14T13:30:00+09:00");
    let trainer = user("trainer-1");
    let mut document = session_doc_with(30);
    let mut view = SessionView::load(&document).expect("loads");

    assert_eq!(
        view.refresh(&document).expect("refreshes"),
        Refreshed::Unchanged
    );
    roster::check_in(&mut document, attendee_id(3), now, &trainer).expect("checks in");
    // A tap reads its own entry again, placed from the change's operations (no `diff`).
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "a check-in"),
        Refreshed::Entries(1)
    );
    roster::mark_completed(&mut document, attendee_id(3), true, now).expect("marks");
    roster::check_in(&mut document, attendee_id(4), now, &trainer).expect("checks in");
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "two changes at once"),
        Refreshed::Entries(2)
    );
    roster::update_person(
        &mut document,
        attendee_id(4),
        &person("訂正 花子", "ていせい はなこ", Some("石巻市")),
        now,
    )
    .expect("corrects");
    // A field of an object inside the entry (its person).
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "a person's details corrected"),
        Refreshed::Entries(1)
    );
    roster::undo_check_in(&mut document, attendee_id(3), now).expect("undoes");
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "a check-in undone"),
        Refreshed::Entries(1)
    );

    roster::add_attendee(
        &mut document,
        attendee_id(100),
        person("当日 太郎", "とうじつ たろう", None),
        now,
    )
    .expect("adds");
    // An entry added: an operation on the roster map under its key.
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "a walk-in"),
        Refreshed::Entries(1)
    );
    roster::withdraw_attendee(&mut document, attendee_id(100), now).expect("withdraws");
    refreshed_equals_fresh(&mut view, &document, "a withdrawal");

    roster::edit_session_details(&mut document, now, |s| {
        s.venue = "大和町まほろばホール 小ホール".into()
    })
    .expect("edits");
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "the session's details"),
        Refreshed::Everything
    );

    // Another device checks the same person in at another time while apart: the merge
    // conflicts, then is resolved.
    let mut other = fork_on(&document, 2);
    roster::check_in(&mut document, attendee_id(5), now, &trainer).expect("checks in");
    let later = at("2025-06-14T13:35:00+09:00");
    roster::check_in(&mut other, attendee_id(5), later, &user("trainer-2")).expect("checks in");
    roster::check_in(&mut other, attendee_id(6), now, &trainer).expect("checks in");
    document.merge(&mut other).expect("merges");
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "a conflicting merge"),
        Refreshed::Entries(2)
    );
    assert!(!view.conflicts().is_empty(), "the conflict is seen");
    for conflict in view.conflicts().to_vec() {
        let Some(conflicts::ConflictValue::Scalar(chosen)) = conflict.values.first().cloned()
        else {
            panic!("a scalar conflict: {conflict:?}");
        };
        conflicts::resolve(&mut document, &conflict.path, chosen, now).expect("resolves");
    }
    refreshed_equals_fresh(&mut view, &document, "the conflict resolved");
    assert!(view.conflicts().is_empty());

    // A view of another copy of the session (its heads unknown here) reads everything.
    let mut stranger = SessionView::load(&session_doc_with(2)).expect("loads");
    assert_eq!(
        refreshed_equals_fresh(&mut stranger, &document, "another document's view"),
        Refreshed::Everything
    );
}

#[test]
fn two_devices_adding_the_same_entry_read_everything_again() {
    let now = at("2025-06-14T13:30:00+09:00");
    let mut document = session_doc_with(3);
    let mut view = SessionView::load(&document).expect("loads");
    let mut other = fork_on(&document, 2);
    let id = attendee_id(50);
    roster::add_attendee(
        &mut document,
        id,
        person("当日 太郎", "とうじつ たろう", None),
        now,
    )
    .expect("adds");
    roster::add_attendee(
        &mut other,
        id,
        person("当日 次郎", "とうじつ じろう", None),
        now,
    )
    .expect("adds");
    document.merge(&mut other).expect("merges");
    // The conflict is on the roster map's key, not inside an entry.
    assert_eq!(
        refreshed_equals_fresh(&mut view, &document, "the same entry added twice"),
        Refreshed::Everything
    );
}
