//! Builders shared by the integration tests: fixed ids, fixed actors, fixed times.

#![allow(dead_code)]

use automerge::{ActorId, Automerge};
use nimo_shared::records::training::*;
use nimo_shared::records::visit::*;
use nimo_shared::{AttendeeId, Date, DeviceId, Timestamp, UserId, VisitId};

pub fn date(text: &str) -> Date {
    text.parse().expect("valid date")
}

pub fn at(text: &str) -> Timestamp {
    text.parse().expect("valid instant")
}

pub fn user(text: &str) -> UserId {
    text.parse().expect("valid user id")
}

pub fn device(n: u8) -> DeviceId {
    DeviceId::from_random_bytes([n; 16])
}

pub fn actor(n: u8) -> ActorId {
    device(n).actor_id()
}

pub fn attendee_id(n: u16) -> AttendeeId {
    let mut bytes = [0xA0; 16];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    AttendeeId::from_random_bytes(bytes)
}

pub fn visit_id(n: u16) -> VisitId {
    let mut bytes = [0xB0; 16];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    VisitId::from_random_bytes(bytes)
}

pub fn person(name: &str, kana: &str, residence: Option<&str>) -> Person {
    Person {
        name: name.into(),
        kana: kana.into(),
        affiliation: Affiliation::CommunityResident,
        residence: residence.map(|place| place.parse().expect("known place")),
        workplace: None,
        birth_year: None,
    }
}

pub fn session(on: &str) -> TrainingSession {
    TrainingSession {
        course: TrainingKind::KokoroSupporter,
        audience: Some(Audience::Community),
        scope: None,
        host: Host::CoHosted("大和町".parse().expect("known")),
        date: date(on),
        start: "13:30".parse().expect("valid"),
        end: "15:30".parse().expect("valid"),
        venue: "まほろばホール".into(),
        venue_municipality: "大和町".parse().expect("known"),
        trainers: ["黒川 保健師".to_owned()].into(),
        capacity: 60,
        roster: Default::default(),
    }
}

/// A session document with `people` attendees already on the roster, created by device 1.
pub fn session_doc_with(people: u16) -> Automerge {
    let mut doc = nimo_shared::doc::create(
        &session("2025-06-14"),
        actor(1),
        at("2025-06-01T09:00:00+09:00"),
    )
    .expect("valid session");
    for n in 0..people {
        nimo_shared::records::roster::add_attendee(
            &mut doc,
            attendee_id(n),
            person(&format!("参加者 {n}"), "さんかしゃ", Some("大和町")),
            at("2025-06-01T09:00:00+09:00"),
        )
        .expect("valid attendee");
    }
    doc
}

/// A copy of `doc` as another device would hold it after syncing.
pub fn fork_on(doc: &Automerge, device: u8) -> Automerge {
    doc.fork().with_actor(actor(device))
}

pub fn visit_case() -> VisitCase {
    VisitCase {
        patient_code: "MY-2025-0007".parse().expect("valid code"),
        hospital: "県立精神医療センター".into(),
        hospital_municipality: "名取市".parse().expect("known"),
        eligibility: Eligibility::MayorConsentMedicalProtection,
        requested_on: date("2025-05-20"),
        assigned: VisitorPair {
            professional: user("visitor-psw-1"),
            non_professional: user("visitor-2"),
        },
        status: CaseStatus::Open,
        discharged_on: None,
        visits: Default::default(),
    }
}

pub fn visit(on: &str, notes: &str) -> Visit {
    Visit {
        date: date(on),
        visitors: VisitorPair {
            professional: user("visitor-psw-1"),
            non_professional: user("visitor-2"),
        },
        duration_minutes: 45,
        topics: [VisitTopic::Listening].into(),
        notes: notes.into(),
        follow_up: None,
        next_visit_on: None,
    }
}
