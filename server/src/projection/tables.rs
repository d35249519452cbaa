//! Writing one document's report rows: delete what the document had, insert what it has now.

use automerge::Automerge;
use nimo_shared::{
    DocKind,
    counts::people::PersonKey,
    doc,
    records::{
        council::CouncilMeeting,
        peer::PeerSupportGroup,
        training::{Host, TrainingSession, counting_place, district_of},
        visit::VisitCase,
    },
};
use rusqlite::{Connection, params};
use sha2::{Digest as _, Sha256};

const TABLES: [&str; 9] = [
    "proj_conflicts",
    "proj_attendees",
    "proj_sessions",
    "proj_visits",
    "proj_visit_cases",
    "proj_council_meetings",
    "proj_peer_activities",
    "proj_peer_subsidies",
    "proj_peer_groups",
];

/// Empties every report table.
pub fn clear(conn: &Connection) -> rusqlite::Result<()> {
    for table in TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

/// Replaces `doc_id`'s rows with those of `doc`. A document that does not hydrate (a schema this
/// build does not know, or a half-synced first change) keeps no rows and is logged.
pub fn replace(conn: &Connection, doc_id: &str, doc: &Automerge) -> rusqlite::Result<()> {
    for table in TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE doc_id = ?1"))?
            .execute([doc_id])?;
    }
    conflicted_fields(conn, doc_id, doc)?;
    let outcome = match doc::kind_of(doc) {
        Some(DocKind::TrainingSession) => doc::hydrate(doc).map(|s| session(conn, doc_id, &s)),
        Some(DocKind::VisitCase) => doc::hydrate(doc).map(|c| visit_case(conn, doc_id, &c)),
        Some(DocKind::CouncilMeeting) => doc::hydrate(doc).map(|m| council(conn, doc_id, &m)),
        Some(DocKind::PeerSupportGroup) => doc::hydrate(doc).map(|g| peer_group(conn, doc_id, &g)),
        None => {
            tracing::warn!(doc = %doc_id, "document has no known kind; not projected");
            return Ok(());
        }
    };
    match outcome {
        Ok(written) => written,
        Err(error) => {
            tracing::warn!(doc = %doc_id, %error, "document does not hydrate; not projected");
            Ok(())
        }
    }
}

/// Records which fields hold concurrent values (not the values), for the office's queue.
fn conflicted_fields(conn: &Connection, doc_id: &str, doc: &Automerge) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO proj_conflicts (doc_id, path, value_count) VALUES (?1, ?2, ?3)",
    )?;
    for conflict in nimo_shared::conflicts::conflicts(doc) {
        insert.execute(params![
            doc_id,
            conflict.path_string(),
            i64::try_from(conflict.values.len()).unwrap_or(i64::MAX),
        ])?;
    }
    Ok(())
}

fn person_key(key: &PersonKey) -> String {
    let text = match key {
        PersonKey::Confirmed(id) => format!("id:{id}"),
        PersonKey::Derived {
            kana,
            place,
            birth_year,
        } => format!(
            "derived:{kana}|{}|{}",
            place.map(|p| p.to_string()).unwrap_or_default(),
            birth_year.map(|y| y.to_string()).unwrap_or_default()
        ),
    };
    sha256_hex(&text)
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn session(conn: &Connection, doc_id: &str, session: &TrainingSession) -> rusqlite::Result<()> {
    let (host, host_municipality) = match session.host {
        Host::Prefecture => ("prefecture", None),
        Host::CoHosted(municipality) => ("co_hosted", Some(municipality.name())),
    };
    conn.prepare_cached(
        "INSERT INTO proj_sessions (doc_id, course, audience, scope, host, host_municipality, \
         held_on, fiscal_year, venue_municipality, venue_area, capacity) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        doc_id,
        session.course.code(),
        session.audience.map(|a| a.code()),
        session.scope.map(|s| s.code()),
        host,
        host_municipality,
        session.date.to_string(),
        session.fiscal_year().reiwa_number(),
        session.venue_municipality.name(),
        session.venue_municipality.area().code(),
        session.capacity,
    ])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO proj_attendees (doc_id, attendee_id, person_key, affiliation, district, \
         birth_year, checked_in, completed, ring_given, sticker_given, withdrawn, place) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for (id, attendee) in &session.roster {
        insert.execute(params![
            doc_id,
            id.to_string(),
            person_key(&PersonKey::of(attendee)),
            attendee.person.affiliation.code(),
            district_of(&attendee.person, session.audience).code(),
            attendee.person.birth_year,
            attendee.checked_in_at.is_some(),
            attendee.completed,
            attendee.ring_given,
            attendee.sticker_given,
            attendee.withdrawn,
            counting_place(&attendee.person, session.audience).map(|p| p.to_string()),
        ])?;
    }
    Ok(())
}

fn visit_case(conn: &Connection, doc_id: &str, case: &VisitCase) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO proj_visit_cases (doc_id, hospital_municipality, eligibility, requested_on, \
         status, discharged_on, patient_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        doc_id,
        case.hospital_municipality.name(),
        case.eligibility.code(),
        case.requested_on.to_string(),
        case.status.code(),
        case.discharged_on.map(|d| d.to_string()),
        sha256_hex(&format!("patient:{}", case.patient_code)),
    ])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO proj_visits (doc_id, visit_id, visited_on, fiscal_year, duration_minutes, \
         topics) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (id, visit) in &case.visits {
        let topics: Vec<&str> = visit.topics.iter().map(|t| t.code()).collect();
        insert.execute(params![
            doc_id,
            id.to_string(),
            visit.date.to_string(),
            nimo_shared::FiscalYear::of(visit.date).reiwa_number(),
            visit.duration_minutes,
            topics.join(","),
        ])?;
    }
    Ok(())
}

fn council(conn: &Connection, doc_id: &str, meeting: &CouncilMeeting) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO proj_council_meetings (doc_id, level, area, municipality, held_on, \
         fiscal_year, lived_experience, attendance_total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        doc_id,
        meeting.level.code(),
        meeting.area().map(|a| a.code()),
        meeting.municipality.map(|m| m.name()),
        meeting.date.to_string(),
        meeting.fiscal_year().reiwa_number(),
        meeting.lived_experience_took_part(),
        meeting.total_attendance(),
    ])?;
    Ok(())
}

fn peer_group(conn: &Connection, doc_id: &str, group: &PeerSupportGroup) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO proj_peer_groups (doc_id, organisation, municipality) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        doc_id,
        group.organisation.code(),
        group.municipality.name()
    ])?;
    for (year, yen) in &group.subsidies {
        conn.prepare_cached(
            "INSERT INTO proj_peer_subsidies (doc_id, fiscal_year, yen) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            doc_id,
            year.reiwa_number(),
            i64::try_from(*yen).unwrap_or(i64::MAX)
        ])?;
    }
    for (id, activity) in &group.activities {
        conn.prepare_cached(
            "INSERT INTO proj_peer_activities (doc_id, activity_id, kind, held_on, fiscal_year, \
             participants) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            doc_id,
            id.to_string(),
            activity.activity.code(),
            activity.date.to_string(),
            nimo_shared::FiscalYear::of(activity.date).reiwa_number(),
            activity.participants,
        ])?;
    }
    Ok(())
}
