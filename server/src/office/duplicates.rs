//! Likely duplicate people across sessions (`nimo_shared::counts::duplicates`) and their merge:
//! every entry of the pair gets one confirmed person id, written into its session as a normal
//! change; the entries stay in their sessions and `person_merges` records who merged what, so
//! both source records remain traceable and the counts treat them as one person.

use std::collections::BTreeSet;

use axum::{Json, extract::State};
use nimo_shared::{
    AttendeeId, PersonId, Timestamp,
    counts::duplicates::{self, Entry},
    records::{roster, training::TrainingSession},
};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::change_document;
use crate::{
    AppState,
    access::DocKind,
    accounts::{now_ms, random_bytes},
    http::AppError,
    reports::OfficeStaff,
};

/// One side of a pair, as the office needs to judge it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    doc_id: String,
    attendee_id: String,
    session_date: String,
    venue: String,
    name: String,
    kana: String,
    place: Option<String>,
    birth_year: Option<u16>,
    person_id: Option<String>,
}

/// A likely pair.
#[derive(Debug, Serialize)]
pub struct Pair {
    reason: &'static str,
    reason_label: &'static str,
    entries: [EntryView; 2],
}

async fn training_entries(state: &AppState) -> Result<Vec<(Entry, EntryView)>, AppError> {
    let ids: Vec<String> = state
        .db
        .call(|conn| -> Result<_, AppError> {
            let mut statement = conn.prepare(
                "SELECT id FROM documents WHERE kind = 'training_session' AND deleted_at IS NULL \
                 ORDER BY id",
            )?;
            Ok(statement
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await?;
    let mut entries = Vec::new();
    for doc_id in ids {
        let doc = state
            .sync
            .store
            .load_document(&doc_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, doc = %doc_id, "cannot read a session for duplicates");
                AppError::Internal
            })?;
        let Some(session) = doc.and_then(|d| nimo_shared::doc::hydrate::<TrainingSession>(&d).ok())
        else {
            continue;
        };
        for (id, attendee) in session.active_attendees() {
            let person = &attendee.person;
            let place = person.residence.or(person.workplace);
            entries.push((
                Entry {
                    session: doc_id.clone(),
                    kana: person.kana.clone(),
                    place,
                    birth_year: person.birth_year,
                    person_id: attendee.person_id,
                },
                EntryView {
                    doc_id: doc_id.clone(),
                    attendee_id: id.to_string(),
                    session_date: session.date.to_string(),
                    venue: session.venue.clone(),
                    name: person.name.clone(),
                    kana: person.kana.clone(),
                    place: place.map(|p| p.to_string()),
                    birth_year: person.birth_year,
                    person_id: attendee.person_id.map(|p| p.to_string()),
                },
            ));
        }
    }
    Ok(entries)
}

/// `GET /api/office/duplicates`.
pub async fn list(
    State(state): State<AppState>,
    _office: OfficeStaff,
) -> Result<Json<Vec<Pair>>, AppError> {
    let entries = training_entries(&state).await?;
    let plain: Vec<Entry> = entries.iter().map(|(e, _)| e.clone()).collect();
    Ok(Json(
        duplicates::likely_duplicates(&plain)
            .into_iter()
            .map(|pair| Pair {
                reason: pair.reason.code(),
                reason_label: pair.reason.label_ja(),
                entries: [
                    entries[pair.first].1.clone(),
                    entries[pair.second].1.clone(),
                ],
            })
            .collect(),
    ))
}

/// One entry to merge.
#[derive(Debug, Deserialize)]
pub struct EntryRef {
    doc_id: String,
    attendee_id: String,
}

/// `POST /api/office/duplicates/merge` body.
#[derive(Debug, Deserialize)]
pub struct Merge {
    /// The entries that are one person (at least two).
    entries: Vec<EntryRef>,
    /// Why, for the record (e.g. the listed reason).
    #[serde(default)]
    reason: String,
}

/// `POST /api/office/duplicates/merge` answer.
#[derive(Debug, Serialize)]
pub struct Merged {
    person_id: String,
}

/// Links the entries to one confirmed person: an id one of them already has, else a new one.
/// Each session is changed separately; repeating the call finishes a merge cut short.
pub async fn merge(
    State(state): State<AppState>,
    OfficeStaff(auth): OfficeStaff,
    Json(request): Json<Merge>,
) -> Result<Json<Merged>, AppError> {
    let bad = |message: &str| AppError::BadRequest(message.to_owned());
    let refs: Vec<(String, AttendeeId)> = request
        .entries
        .iter()
        .map(|e| {
            e.attendee_id
                .parse()
                .map(|id| (e.doc_id.clone(), id))
                .map_err(|_| bad("参加者IDの形式が正しくありません。"))
        })
        .collect::<Result<_, _>>()?;
    if refs.iter().collect::<BTreeSet<_>>().len() < 2 {
        return Err(bad("統合する参加者を2人以上選んでください。"));
    }
    let current = training_entries(&state).await?;
    let mut existing = BTreeSet::new();
    for (doc_id, attendee_id) in &refs {
        let found = current
            .iter()
            .find(|(_, v)| &v.doc_id == doc_id && v.attendee_id == attendee_id.to_string())
            .ok_or(AppError::NotFound)?;
        existing.extend(found.0.person_id);
    }
    if existing.len() > 1 {
        return Err(bad(
            "別人として確認済みの参加者が含まれています。統合できません。",
        ));
    }
    let person_id = existing
        .into_iter()
        .next()
        .unwrap_or_else(|| PersonId::from_random_bytes(random_bytes()));
    let at = Timestamp::from_unix_millis(now_ms());
    for (doc_id, attendee_id) in &refs {
        let attendee_id = *attendee_id;
        change_document(
            &state,
            auth.user(),
            doc_id,
            DocKind::TrainingSession,
            move |doc| {
                roster::set_person_id(doc, attendee_id, person_id, at).map_err(|error| {
                    tracing::error!(%error, "cannot link an entry to a person");
                    AppError::Internal
                })
            },
        )
        .await?;
    }
    let by = auth.user().id.clone();
    let reason = request.reason;
    let rows: Vec<(String, String)> = refs
        .iter()
        .map(|(doc, attendee)| (doc.clone(), attendee.to_string()))
        .collect();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let tx = conn.transaction()?;
            for (doc_id, attendee_id) in rows {
                tx.execute(
                    "INSERT OR IGNORE INTO person_merges (person_id, doc_id, attendee_id, reason, \
                     merged_by, merged_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        person_id.to_string(),
                        doc_id,
                        attendee_id,
                        reason,
                        by,
                        now_ms()
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(Json(Merged {
        person_id: person_id.to_string(),
    }))
}
