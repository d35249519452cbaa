//! Visit cases on this device: reading them and every change a visitor makes. The documents
//! are the same Automerge documents the server holds; on this device their chunks are sealed
//! (see [`lock`](super::lock)).

use leptos::prelude::*;
use nimo_shared::records::visit::{Visit, VisitCase, VisitTopic};
use nimo_shared::records::visit_changes;
use nimo_shared::sync::DocumentId;
use nimo_shared::{DocKind, UserId, VisitId, doc, sorting};
use serde::Deserialize;

use super::driver::{CONFIRMED_PREFIX, with_driver};
use super::records::{self, change_record, create_record};
use super::writes::{self, Write};
use super::{net, rng, signals};

/// A visitor the logged-in visitor may pair with (`GET /api/visitors`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Colleague {
    /// User id.
    pub id: String,
    /// Name shown.
    pub display_name: String,
}

/// The visitors one may pair with (online only).
pub async fn colleagues() -> Result<Vec<Colleague>, net::NetError> {
    net::get_json("/api/visitors").await
}

/// A visit case's assigned pair, for its registration (empty for other documents).
pub(super) fn assigned_pair(doc_id: DocumentId) -> Vec<String> {
    with_driver(|d| {
        let document = d.client.doc(&doc_id)?;
        if doc::kind_of(document) != Some(DocKind::VisitCase) {
            return None;
        }
        let case: VisitCase = doc::hydrate(document).ok()?;
        Some(vec![
            case.assigned.professional.to_string(),
            case.assigned.non_professional.to_string(),
        ])
    })
    .flatten()
    .unwrap_or_default()
}

/// Drops a case the server erased (past its retention): from memory, then from storage.
pub(super) fn drop_erased(doc_id: DocumentId) {
    let here = with_driver(|d| d.client.forget(&doc_id)).unwrap_or(false);
    if !here {
        return;
    }
    writes::enqueue(Write::DropDocument(doc_id));
    writes::enqueue(Write::Remove {
        key: format!("{CONFIRMED_PREFIX}{doc_id}"),
    });
    let signals = signals();
    signals.doc_status.update(|map| {
        map.remove(&doc_id);
    });
    signals.docs_version.update(|v| *v += 1);
}

/// The visit cases on this device (the server sends a visitor only the cases assigned to them),
/// open cases first, then by patient code.
pub fn visit_cases() -> Vec<(DocumentId, VisitCase)> {
    signals().docs_version.track();
    let mut cases: Vec<(DocumentId, VisitCase)> = with_driver(|d| {
        d.client
            .doc_ids()
            .filter_map(|id| {
                let document = d.client.doc(&id)?;
                (doc::kind_of(document) == Some(DocKind::VisitCase))
                    .then(|| doc::hydrate(document).ok())
                    .flatten()
                    .map(|case| (id, case))
            })
            .collect()
    })
    .unwrap_or_default();
    sorting::sort_by(&mut cases, |a, b| {
        (a.1.status.code() != "open", &a.1.patient_code, a.0).cmp(&(
            b.1.status.code() != "open",
            &b.1.patient_code,
            b.0,
        ))
    });
    cases
}

/// One visit case, if it is on this device.
pub fn visit_case(doc_id: DocumentId) -> Option<VisitCase> {
    signals().docs_version.track();
    with_driver(|d| doc::hydrate(d.client.doc(&doc_id)?).ok()).flatten()
}

/// The logged-in user's id.
pub fn me() -> Option<UserId> {
    records::me()
}

/// Creates a visit case's document; it is registered (with its pair) before it syncs.
pub fn create_case(case: VisitCase) -> Result<DocumentId, String> {
    create_record(&case)
}

/// Starts a visit (date, both visitors, duration).
pub fn start_visit(doc_id: DocumentId, visit: Visit) -> Result<VisitId, String> {
    visit.validate().map_err(|e| e.to_string())?;
    let id = VisitId::from_random_bytes(rng::random_bytes::<16>());
    change_record(doc_id, |document, at| {
        visit_changes::add_visit(document, id, visit, at).map_err(|e| e.message_ja())
    })?;
    Ok(id)
}

/// Ticks or unticks a topic.
pub fn set_topic(
    doc_id: DocumentId,
    visit: VisitId,
    topic: VisitTopic,
    covered: bool,
) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        visit_changes::set_visit_topic(document, visit, topic, covered, at)
            .map_err(|e| e.message_ja())
    })
}

/// Writes the notes as the person left them: only the changed span is spliced in.
pub fn update_notes(doc_id: DocumentId, visit: VisitId, new_text: &str) -> Result<(), String> {
    let current = visit_case(doc_id)
        .and_then(|case| case.visits.get(&visit).map(|v| v.notes.as_str().to_owned()))
        .ok_or_else(|| "訪問が見つかりません。".to_owned())?;
    let Some((position, deleted, inserted)) = visit_changes::notes_splice(&current, new_text)
    else {
        return Ok(());
    };
    change_record(doc_id, |document, at| {
        visit_changes::splice_visit_notes(document, visit, position, deleted, &inserted, at)
            .map_err(|e| e.message_ja())
    })
}

/// Changes a visit's follow-up, next date or duration.
pub fn edit_visit(
    doc_id: DocumentId,
    visit: VisitId,
    edit: impl FnOnce(&mut Visit),
) -> Result<(), String> {
    change_record(doc_id, |document, at| {
        visit_changes::edit_visit(document, visit, at, edit).map_err(|e| e.message_ja())
    })
}
