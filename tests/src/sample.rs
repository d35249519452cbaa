//! The training session a test creates when any session will do: a 心のサポーター養成研修 for
//! residents, co-hosted by 女川町, on 2025-06-01 from 10:00 to 12:00.

use automerge::Automerge;
use nimo_shared::records::training::{
    Affiliation, Audience, Host, Person, TrainingKind, TrainingSession,
};
use nimo_shared::{DeviceId, Timestamp, doc};

/// The session's details, at `venue` with room for `capacity`.
pub fn onagawa_session(venue: &str, capacity: u32) -> anyhow::Result<TrainingSession> {
    Ok(TrainingSession {
        course: TrainingKind::KokoroSupporter,
        audience: Some(Audience::Community),
        scope: None,
        host: Host::CoHosted("女川町".parse()?),
        date: "2025-06-01".parse()?,
        start: "10:00".parse()?,
        end: "12:00".parse()?,
        venue: venue.to_owned(),
        venue_municipality: "女川町".parse()?,
        trainers: ["講師 一郎".to_owned()].into(),
        capacity,
        roster: Default::default(),
    })
}

/// A document holding [`onagawa_session`], created at `at` by the device whose id is the byte
/// `device` repeated.
pub fn onagawa_document(
    venue: &str,
    capacity: u32,
    device: u8,
    at: Timestamp,
) -> anyhow::Result<Automerge> {
    let session = onagawa_session(venue, capacity)?;
    let actor = DeviceId::from_random_bytes([device; 16]).actor_id();
    Ok(doc::create(&session, actor, at)?)
}

/// Attendee `n` of a sample roster: a community resident with nothing optional given.
pub fn person(n: impl std::fmt::Display) -> Person {
    Person {
        name: format!("参加者{n}"),
        kana: "みやぎ はなこ".to_owned(),
        affiliation: Affiliation::CommunityResident,
        residence: None,
        workplace: None,
        birth_year: None,
    }
}
