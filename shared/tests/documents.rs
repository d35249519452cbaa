//! Creating and reading record documents: kinds, schema versions, validation, older documents,
//! and snapshots of the stored form.

mod common;

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc};
use common::*;
use nimo_shared::doc::{create, hydrate, kind_of, schema_version_of};
use nimo_shared::records::council::*;
use nimo_shared::records::peer::*;
use nimo_shared::records::roster;
use nimo_shared::records::training::*;
use nimo_shared::records::visit::*;
use nimo_shared::records::visit_changes;
use nimo_shared::{ActivityId, DocError, DocKind, FiscalYear, Record, ValidationError};
use rstest::rstest;

const CREATED: &str = "2025-06-01T09:00:00+09:00";

fn group() -> PeerSupportGroup {
    PeerSupportGroup {
        name: "ピアサロンいしのまき".into(),
        organisation: PeerOrganisation::Group,
        municipality: "石巻市".parse().expect("known"),
        subsidies: BTreeMap::from([("R7".parse::<FiscalYear>().expect("valid"), 180_000)]),
        activities: BTreeMap::from([(
            ActivityId::from_random_bytes([3; 16]),
            PeerActivity {
                activity: PeerActivityKind::Exchange,
                date: date("2025-07-12"),
                participants: 14,
                note: None,
            },
        )]),
    }
}

fn meeting() -> CouncilMeeting {
    CouncilMeeting {
        level: CouncilLevel::Area,
        area: Some(nimo_shared::Area::Sendai),
        municipality: Some("塩竈市".parse().expect("known")),
        title: "塩釜地区 協議の場".into(),
        date: date("2025-09-03"),
        attendance: BTreeMap::from([
            (ParticipantCategory::Medical, 3),
            (ParticipantCategory::Government, 5),
            (ParticipantCategory::LivedExperience, 1),
        ]),
    }
}

/// The stored form of a document: its JSON view and its heads. Deterministic (fixed actor, fixed
/// times); any change to the schema or the encoding changes it.
fn stored_form(doc: &Automerge) -> String {
    let json = serde_json::to_string_pretty(&automerge::AutoSerde::from(doc)).expect("serialise");
    let heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    format!("{json}\nheads: {heads:?}\n")
}

#[test]
fn every_record_round_trips_through_its_document_with_kind_and_schema_version() {
    fn round_trip<R: Record + PartialEq + std::fmt::Debug>(record: R) {
        let doc = create(&record, actor(1), at(CREATED)).expect("valid record");
        assert_eq!(kind_of(&doc), Some(R::KIND));
        assert_eq!(schema_version_of(&doc), Some(R::SCHEMA_VERSION));
        assert_eq!(hydrate::<R>(&doc).expect("hydrates"), record);
    }
    let mut session = session("2025-06-14");
    session.roster.insert(
        attendee_id(1),
        Attendee::new(person("宮城 花子", "みやぎ はなこ", Some("富谷市"))),
    );
    round_trip(session);
    let mut case = visit_case();
    case.visits
        .insert(visit_id(1), visit("2025-06-20", "傾聴した。"));
    round_trip(case);
    round_trip(group());
    round_trip(meeting());
}

#[test]
fn reading_a_document_as_the_wrong_kind_is_refused() {
    let doc = create(&group(), actor(1), at(CREATED)).expect("valid");
    let error = hydrate::<VisitCase>(&doc).expect_err("wrong kind");
    assert!(matches!(
        error,
        DocError::WrongKind { expected: DocKind::VisitCase, found: Some(ref found) } if found == "peer_support_group"
    ));
}

#[test]
fn doc_kinds_have_stable_names() {
    let codes: Vec<&str> = DocKind::ALL.iter().map(|kind| kind.code()).collect();
    assert_eq!(
        codes,
        [
            "training_session",
            "visit_case",
            "peer_support_group",
            "council_meeting"
        ]
    );
    assert_eq!("visit_case".parse::<DocKind>(), Ok(DocKind::VisitCase));
}

#[test]
fn a_document_written_without_optional_fields_still_hydrates() {
    // An older app wrote these documents before the optional fields existed.
    let mut session = session("2025-06-14");
    session.roster.insert(
        attendee_id(1),
        Attendee::new(person("宮城 花子", "みやぎ はなこ", Some("富谷市"))),
    );
    let mut doc = create(&session, actor(1), at(CREATED)).expect("valid");
    let mut tx = doc.transaction();
    tx.delete(automerge::ROOT, "scope").expect("delete");
    let (_, roster) = tx
        .get(automerge::ROOT, "roster")
        .expect("read")
        .expect("roster");
    let (_, entry) = tx
        .get(&roster, attendee_id(1).to_string())
        .expect("read")
        .expect("entry");
    let (_, person) = tx.get(&entry, "person").expect("read").expect("person");
    for field in ["checked_in_at", "checked_in_by", "person_id"] {
        tx.delete(&entry, field).expect("delete");
    }
    for field in ["workplace", "birth_year"] {
        tx.delete(&person, field).expect("delete");
    }
    tx.commit();

    let hydrated: TrainingSession = hydrate(&doc).expect("older document hydrates");
    assert_eq!(hydrated.scope, None);
    let entry = &hydrated.roster[&attendee_id(1)];
    assert_eq!(
        (
            entry.checked_in_at,
            entry.person.birth_year,
            entry.person_id
        ),
        (None, None, None)
    );

    let mut case = visit_case();
    case.visits.insert(visit_id(1), visit("2025-06-20", ""));
    let mut doc = create(&case, actor(1), at(CREATED)).expect("valid");
    let mut tx = doc.transaction();
    tx.delete(automerge::ROOT, "discharged_on").expect("delete");
    tx.commit();
    assert_eq!(
        hydrate::<VisitCase>(&doc).expect("hydrates").discharged_on,
        None
    );
}

#[rstest]
#[case::capacity_zero(|s: &mut TrainingSession| s.capacity = 0, ValidationError::CapacityZero, "定員は1人以上にしてください")]
#[case::end_before_start(
    |s: &mut TrainingSession| s.end = "13:00".parse().expect("valid"),
    ValidationError::EndNotAfterStart { start: "13:30".into(), end: "13:00".into() },
    "終了時刻（13:00）は開始時刻（13:30）より後にしてください"
)]
#[case::supporter_course_without_audience(
    |s: &mut TrainingSession| s.audience = None,
    ValidationError::AudienceRequired,
    "心のサポーター養成研修では対象（地域住民・教育・企業）を選んでください"
)]
#[case::staff_training_without_scope(
    |s: &mut TrainingSession| { s.course = TrainingKind::CommunitySupportStaff; s.audience = None; },
    ValidationError::ScopeRequired,
    "地域生活支援関係者研修では全体研修か地域別研修かを選んでください"
)]
fn an_invalid_session_is_refused_with_a_japanese_message(
    #[case] break_it: fn(&mut TrainingSession),
    #[case] expected: ValidationError,
    #[case] message: &str,
) {
    let mut session = session("2025-06-14");
    break_it(&mut session);
    let error = create(&session, actor(1), at(CREATED)).expect_err("invalid");
    assert_eq!(error.message_ja(), message);
    assert!(matches!(error, DocError::Invalid(ref found) if *found == expected));
}

#[test]
fn a_visit_without_two_distinct_visitors_is_refused() {
    let mut doc = create(&visit_case(), actor(1), at(CREATED)).expect("valid");
    let mut lone = visit("2025-06-20", "");
    lone.visitors.non_professional = lone.visitors.professional.clone();
    let error =
        visit_changes::add_visit(&mut doc, visit_id(1), lone, at(CREATED)).expect_err("invalid");
    assert_eq!(
        error.message_ja(),
        "訪問支援員は異なる2人を指定してください"
    );
}

#[test]
fn a_subsidy_over_two_hundred_thousand_yen_is_refused() {
    let mut doc = create(&group(), actor(1), at(CREATED)).expect("valid");
    let r7 = "R7".parse().expect("valid");
    set_subsidy(&mut doc, r7, 200_000, at(CREATED)).expect("at the limit");
    let error = set_subsidy(&mut doc, r7, 200_001, at(CREATED)).expect_err("over");
    assert_eq!(
        error.message_ja(),
        "補助金額 200001円 は上限（200,000円）を超えています"
    );
}

#[test]
fn editing_session_details_writes_only_what_changed() {
    let mut doc = session_doc_with(1);
    roster::edit_session_details(&mut doc, at(CREATED), |s| {
        s.capacity = 80;
        s.trainers.insert("大和町 保健師".into());
    })
    .expect("valid edit");
    let session: TrainingSession = hydrate(&doc).expect("hydrates");
    assert_eq!(session.capacity, 80);
    assert_eq!(session.trainers.len(), 2);
    assert_eq!(session.roster.len(), 1);
    let error = roster::edit_session_details(&mut doc, at(CREATED), |s| s.capacity = 0)
        .expect_err("invalid");
    assert!(matches!(
        error,
        DocError::Invalid(ValidationError::CapacityZero)
    ));
}

#[test]
fn a_discharge_before_the_request_is_refused() {
    let mut doc = create(&visit_case(), actor(1), at(CREATED)).expect("valid");
    let error = visit_changes::record_discharge(&mut doc, date("2025-05-01"), at(CREATED))
        .expect_err("before request");
    assert_eq!(
        error.message_ja(),
        "退院日（2025-05-01）は依頼日（2025-05-20）より前にできません"
    );
    visit_changes::record_discharge(&mut doc, date("2025-12-01"), at(CREATED)).expect("valid");
    assert_eq!(
        hydrate::<VisitCase>(&doc).expect("hydrates").discharged_on,
        Some(date("2025-12-01"))
    );
}

#[test]
fn a_training_session_is_stored_as_expected() {
    let mut doc = session_doc_with(2);
    roster::check_in(
        &mut doc,
        attendee_id(0),
        at("2025-06-14T13:20:00+09:00"),
        &user("trainer-a"),
    )
    .expect("check in");
    roster::mark_completed(
        &mut doc,
        attendee_id(0),
        true,
        at("2025-06-14T15:30:00+09:00"),
    )
    .expect("mark");
    insta::assert_snapshot!("training_session", stored_form(&doc));
}

#[test]
fn a_visit_case_is_stored_as_expected() {
    let mut doc = create(&visit_case(), actor(1), at(CREATED)).expect("valid");
    visit_changes::add_visit(
        &mut doc,
        visit_id(1),
        visit("2025-06-20", "傾聴した。"),
        at(CREATED),
    )
    .expect("add visit");
    insta::assert_snapshot!("visit_case", stored_form(&doc));
}

#[test]
fn a_peer_support_group_is_stored_as_expected() {
    let doc = create(&group(), actor(1), at(CREATED)).expect("valid");
    insta::assert_snapshot!("peer_support_group", stored_form(&doc));
}

#[test]
fn a_council_meeting_is_stored_as_expected() {
    let doc = create(&meeting(), actor(1), at(CREATED)).expect("valid");
    insta::assert_snapshot!("council_meeting", stored_form(&doc));
}
