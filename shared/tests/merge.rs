//! How records merge when devices work offline: real Automerge documents, forked and merged.

mod common;

use automerge::ScalarValue;
use common::*;
use nimo_shared::conflicts::{ConflictValue, conflicts, resolve};
use nimo_shared::doc::hydrate;
use nimo_shared::records::roster::*;
use nimo_shared::records::training::TrainingSession;
use nimo_shared::records::visit::VisitCase;
use nimo_shared::records::visit_changes::*;
use nimo_shared::{DocError, Timestamp};

fn session_of(doc: &automerge::Automerge) -> TrainingSession {
    hydrate(doc).expect("a training session")
}

#[test]
fn two_devices_checking_in_different_people_keep_both() {
    let mut hall = session_doc_with(4);
    let mut second_phone = fork_on(&hall, 2);

    check_in(
        &mut hall,
        attendee_id(0),
        at("2025-06-14T13:20:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    check_in(
        &mut hall,
        attendee_id(1),
        at("2025-06-14T13:21:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    check_in(
        &mut second_phone,
        attendee_id(2),
        at("2025-06-14T13:22:00+09:00"),
        &user("trainer-b"),
    )
    .expect("check in");

    hall.merge(&mut second_phone).expect("merge");
    second_phone.merge(&mut hall).expect("merge");

    let merged = session_of(&hall);
    let checked_in: Vec<_> = merged
        .roster
        .iter()
        .filter(|(_, a)| a.checked_in_at.is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(checked_in, {
        let mut ids = vec![attendee_id(0), attendee_id(1), attendee_id(2)];
        ids.sort();
        ids
    });
    assert_eq!(merged, session_of(&second_phone));
    assert!(
        conflicts(&hall).is_empty(),
        "different people never conflict"
    );
}

#[test]
fn two_devices_adding_people_offline_keep_everyone() {
    let mut hall = session_doc_with(0);
    let mut second_phone = fork_on(&hall, 2);
    let when = at("2025-06-14T13:00:00+09:00");
    add_attendee(
        &mut hall,
        attendee_id(10),
        person("青葉 一郎", "あおば いちろう", Some("大郷町")),
        when,
    )
    .expect("add");
    add_attendee(
        &mut second_phone,
        attendee_id(11),
        person("泉 花子", "いずみ はなこ", None),
        when,
    )
    .expect("add");
    hall.merge(&mut second_phone).expect("merge");
    assert_eq!(session_of(&hall).roster.len(), 2);
}

#[test]
fn the_same_attendee_marked_differently_on_two_devices_is_a_conflict_not_a_silent_loser() {
    let mut hall = session_doc_with(2);
    let mut second_phone = fork_on(&hall, 2);
    let who = attendee_id(1);

    mark_completed(&mut hall, who, true, at("2025-06-14T15:30:00+09:00")).expect("mark");
    mark_completed(
        &mut second_phone,
        who,
        false,
        at("2025-06-14T15:31:00+09:00"),
    )
    .expect("mark");
    // Device 2 first wrote `true` and then `false`, so its `false` is a real concurrent write.
    mark_completed(
        &mut second_phone,
        who,
        true,
        at("2025-06-14T15:31:00+09:00"),
    )
    .expect("mark");
    mark_completed(
        &mut second_phone,
        who,
        false,
        at("2025-06-14T15:32:00+09:00"),
    )
    .expect("mark");
    hall.merge(&mut second_phone).expect("merge");

    let found = conflicts(&hall);
    assert_eq!(found.len(), 1, "{found:?}");
    let conflict = &found[0];
    assert_eq!(
        conflict.attendee_field(),
        Some((who, "completed".to_owned()))
    );
    let mut values = conflict.values.clone();
    values.sort_by_key(|v| v.to_string());
    assert_eq!(
        values,
        vec![
            ConflictValue::Scalar(ScalarValue::Boolean(false)),
            ConflictValue::Scalar(ScalarValue::Boolean(true)),
        ]
    );
    // The first value listed is the one plain reads return.
    let shown = session_of(&hall).roster[&who].completed;
    assert_eq!(
        conflict.values[0],
        ConflictValue::Scalar(ScalarValue::Boolean(shown))
    );

    // A person picks the losing value; every replica then agrees and the conflict is gone.
    let chosen = !shown;
    resolve(
        &mut hall,
        &conflict.path,
        ScalarValue::Boolean(chosen),
        at("2025-06-15T09:00:00+09:00"),
    )
    .expect("resolve");
    second_phone.merge(&mut hall).expect("merge");
    assert!(conflicts(&hall).is_empty());
    assert!(conflicts(&second_phone).is_empty());
    assert_eq!(session_of(&second_phone).roster[&who].completed, chosen);
}

#[test]
fn choosing_the_value_already_shown_also_resolves_the_conflict() {
    let mut hall = session_doc_with(1);
    let mut second_phone = fork_on(&hall, 2);
    let who = attendee_id(0);
    check_in(
        &mut hall,
        who,
        at("2025-06-14T13:20:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    check_in(
        &mut second_phone,
        who,
        at("2025-06-14T13:25:00+09:00"),
        &user("trainer-b"),
    )
    .expect("check in");
    hall.merge(&mut second_phone).expect("merge");

    let found = conflicts(&hall);
    let fields: Vec<String> = found
        .iter()
        .filter_map(|c| c.attendee_field().map(|(_, field)| field))
        .collect();
    assert_eq!(fields, ["checked_in_at", "checked_in_by"]);
    for conflict in &found {
        let ConflictValue::Scalar(shown) = conflict.values[0].clone() else {
            panic!("scalar conflict expected");
        };
        resolve(
            &mut hall,
            &conflict.path,
            shown,
            at("2025-06-14T16:00:00+09:00"),
        )
        .expect("resolve");
    }
    assert!(conflicts(&hall).is_empty());
}

#[test]
fn marking_another_field_of_a_conflicted_attendee_keeps_the_conflict_visible() {
    let mut hall = session_doc_with(1);
    let mut second_phone = fork_on(&hall, 2);
    let who = attendee_id(0);
    check_in(
        &mut hall,
        who,
        at("2025-06-14T13:20:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    check_in(
        &mut second_phone,
        who,
        at("2025-06-14T13:25:00+09:00"),
        &user("trainer-b"),
    )
    .expect("check in");
    hall.merge(&mut second_phone).expect("merge");
    let before = conflicts(&hall);

    // Writing the whole attendee back would re-put the winning check-in time and erase the
    // conflict; the change functions write only the field they change.
    mark_completed(&mut hall, who, true, at("2025-06-14T15:30:00+09:00")).expect("mark");
    mark_ring_given(&mut hall, who, true, at("2025-06-14T15:30:00+09:00")).expect("mark");
    update_person(
        &mut hall,
        who,
        &person("参加者 0", "さんかしゃ", Some("大郷町")),
        at("2025-06-14T15:31:00+09:00"),
    )
    .expect("update");

    assert_eq!(conflicts(&hall), before);
}

#[test]
fn a_withdrawal_and_a_concurrent_check_in_both_survive_the_merge() {
    let mut hall = session_doc_with(1);
    let mut office = fork_on(&hall, 3);
    let who = attendee_id(0);
    check_in(
        &mut hall,
        who,
        at("2025-06-14T13:20:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    withdraw_attendee(&mut office, who, at("2025-06-14T13:21:00+09:00")).expect("withdraw");
    hall.merge(&mut office).expect("merge");

    let entry = &session_of(&hall).roster[&who];
    assert!(entry.withdrawn);
    assert!(
        entry.checked_in_at.is_some(),
        "the check-in is kept under the flag"
    );

    restore_attendee(&mut hall, who, at("2025-06-14T13:30:00+09:00")).expect("restore");
    let entry = &session_of(&hall).roster[&who];
    assert!(!entry.withdrawn && entry.checked_in_at.is_some());
}

#[test]
fn a_withdrawn_attendee_cannot_be_marked_until_restored() {
    let mut doc = session_doc_with(1);
    let who = attendee_id(0);
    withdraw_attendee(&mut doc, who, at("2025-06-14T13:21:00+09:00")).expect("withdraw");
    let heads = doc.get_heads();
    let error = mark_completed(&mut doc, who, true, at("2025-06-14T15:00:00+09:00"))
        .expect_err("withdrawn");
    assert!(matches!(error, DocError::Withdrawn(_)));
    assert!(error.message_ja().contains("取り消されています"));
    assert_eq!(doc.get_heads(), heads, "a refused change leaves no trace");
}

#[test]
fn two_visitors_typing_into_the_same_notes_keep_both_texts() {
    let at0 = at("2025-06-20T14:00:00+09:00");
    let mut phone_a = nimo_shared::doc::create(&visit_case(), actor(1), at0).expect("valid case");
    let visit = visit_id(1);
    add_visit(&mut phone_a, visit, visit_case_visit(), at0).expect("add visit");
    let mut phone_b = fork_on(&phone_a, 2);

    append_visit_notes(&mut phone_a, visit, "本人は外出を希望している。", at0).expect("type");
    append_visit_notes(&mut phone_b, visit, "次回は退院後の生活について話す。", at0).expect("type");
    splice_visit_notes(&mut phone_b, visit, 0, 0, "【B】", at0).expect("type");

    phone_a.merge(&mut phone_b).expect("merge");
    phone_b.merge(&mut phone_a).expect("merge");

    let case: VisitCase = hydrate(&phone_a).expect("a visit case");
    let notes = case.visits[&visit].notes.as_str().to_owned();
    assert!(notes.starts_with("【B】傾聴した。"), "{notes}");
    assert!(notes.contains("本人は外出を希望している。"), "{notes}");
    assert!(
        notes.contains("次回は退院後の生活について話す。"),
        "{notes}"
    );
    let other: VisitCase = hydrate(&phone_b).expect("a visit case");
    assert_eq!(other.visits[&visit].notes.as_str(), notes);
}

#[test]
fn ticking_topics_on_two_phones_merges_as_a_union() {
    use nimo_shared::records::visit::VisitTopic;
    let at0 = at("2025-06-20T14:00:00+09:00");
    let mut phone_a = nimo_shared::doc::create(&visit_case(), actor(1), at0).expect("valid case");
    let visit = visit_id(1);
    add_visit(&mut phone_a, visit, visit_case_visit(), at0).expect("add visit");
    let mut phone_b = fork_on(&phone_a, 2);
    set_visit_topic(&mut phone_a, visit, VisitTopic::Information, true, at0).expect("tick");
    set_visit_topic(&mut phone_b, visit, VisitTopic::Discharge, true, at0).expect("tick");
    phone_a.merge(&mut phone_b).expect("merge");
    let case: VisitCase = hydrate(&phone_a).expect("a visit case");
    assert_eq!(
        case.visits[&visit].topics,
        [
            VisitTopic::Listening,
            VisitTopic::Information,
            VisitTopic::Discharge
        ]
        .into()
    );
}

fn visit_case_visit() -> nimo_shared::records::visit::Visit {
    visit("2025-06-20", "傾聴した。")
}

#[test]
fn documents_saved_and_loaded_merge_like_forks() {
    let mut hall = session_doc_with(2);
    let bytes = hall.save();
    let mut loaded = automerge::Automerge::load(&bytes)
        .expect("load")
        .with_actor(actor(5));
    check_in(
        &mut loaded,
        attendee_id(1),
        Timestamp::from_unix_millis(1_750_000_000_000),
        &user("t"),
    )
    .expect("check in");
    mark_completed(
        &mut hall,
        attendee_id(0),
        true,
        Timestamp::from_unix_millis(1_750_000_000_000),
    )
    .expect("mark");
    hall.merge(&mut loaded).expect("merge");
    let merged = session_of(&hall);
    assert!(merged.roster[&attendee_id(1)].checked_in_at.is_some());
    assert!(merged.roster[&attendee_id(0)].completed);
}

#[test]
fn devices_taking_turns_leave_one_line_of_changes_and_no_conflict() {
    let mut hall = session_doc_with(2);
    let who = attendee_id(1);
    mark_completed(&mut hall, who, true, at("2025-06-14T15:30:00+09:00")).expect("mark");
    // The second phone takes the hall's document and changes the same field after it.
    let mut second_phone = fork_on(&hall, 2);
    mark_completed(
        &mut second_phone,
        who,
        false,
        at("2025-06-14T15:31:00+09:00"),
    )
    .expect("mark");
    hall.merge(&mut second_phone).expect("merge");
    assert!(
        !nimo_shared::conflicts::has_concurrent_changes(&hall),
        "two writers, one after the other"
    );
    assert!(conflicts(&hall).is_empty());
    assert!(!session_of(&hall).roster[&who].completed);

    // A write made concurrently, merged into one head, is seen, and so is its conflict.
    let mut third_phone = fork_on(&hall, 3);
    mark_completed(&mut hall, who, true, at("2025-06-14T15:40:00+09:00")).expect("mark");
    mark_completed(&mut third_phone, who, true, at("2025-06-14T15:41:00+09:00")).expect("mark");
    mark_completed(
        &mut third_phone,
        who,
        false,
        at("2025-06-14T15:42:00+09:00"),
    )
    .expect("mark");
    hall.merge(&mut third_phone).expect("merge");
    let mut after = hall.transaction();
    automerge::transaction::Transactable::put(&mut after, automerge::ROOT, "note", "later")
        .expect("put");
    after.commit();
    assert_eq!(hall.get_heads().len(), 1, "one head again");
    assert!(nimo_shared::conflicts::has_concurrent_changes(&hall));
    assert_eq!(conflicts(&hall).len(), 1);
}
