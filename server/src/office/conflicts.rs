//! The conflict queue: fields a merge left with several values (the projection lists which, in
//! `proj_conflicts`), shown with their values read from the document; a person picks one and it
//! is written back as a normal change (`nimo_shared::conflicts::resolve`).

use axum::{Json, extract::State};
use nimo_shared::{
    Timestamp,
    conflicts::{self, Conflict, ConflictValue},
    records::training::TrainingSession,
};
use serde::{Deserialize, Serialize};

use super::change_document;
use crate::{
    AppState,
    access::{Access, DocKind, decide},
    accounts::now_ms,
    http::AppError,
    registry,
    reports::OfficeStaff,
};

/// One conflicted field.
#[derive(Debug, Serialize)]
pub struct QueuedConflict {
    doc_id: String,
    kind: &'static str,
    /// What the document is, e.g. `研修 2024-06-01 女川町 会場`.
    context: String,
    /// For a roster field, whose entry it is.
    attendee: Option<String>,
    /// Map keys from the root, joined with `/`.
    path: String,
    /// Every value as shown to people, the one plain reads return first.
    values: Vec<String>,
    /// Whether a value can be picked here (objects cannot).
    resolvable: bool,
}

fn kind_label(kind: DocKind) -> &'static str {
    match kind {
        DocKind::TrainingSession => "研修",
        DocKind::VisitCase => "入院者訪問支援",
        DocKind::PeerSupportGroup => "ピアサポート活動団体",
        DocKind::CouncilMeeting => "協議の場",
    }
}

fn describe(
    doc: &automerge::Automerge,
    kind: DocKind,
    conflict: &Conflict,
) -> (String, Option<String>) {
    if kind != DocKind::TrainingSession {
        return (kind_label(kind).to_owned(), None);
    }
    let Ok(session) = nimo_shared::doc::hydrate::<TrainingSession>(doc) else {
        return (kind_label(kind).to_owned(), None);
    };
    let attendee = conflict
        .attendee_field()
        .and_then(|(id, _)| session.roster.get(&id))
        .map(|a| a.person.name.clone());
    (format!("研修 {} {}", session.date, session.venue), attendee)
}

/// `GET /api/office/conflicts`: every conflicted field of the documents this user may read.
pub async fn list(
    State(state): State<AppState>,
    OfficeStaff(auth): OfficeStaff,
) -> Result<Json<Vec<QueuedConflict>>, AppError> {
    let user = auth.user().clone();
    let max_bytes = state.config.max_document_bytes;
    let docs = state
        .db
        .call(move |conn| -> Result<Vec<(String, DocKind)>, AppError> {
            let mut statement =
                conn.prepare("SELECT DISTINCT doc_id FROM proj_conflicts ORDER BY doc_id")?;
            let ids: Vec<String> = statement
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut visible = Vec::new();
            for id in ids {
                if let Some(facts) = registry::facts(conn, &id, &user.id, max_bytes)?
                    && !facts.deleted
                    && decide(&user, Some(&facts)) != Access::None
                {
                    visible.push((id, facts.kind));
                }
            }
            Ok(visible)
        })
        .await?;
    let mut queue = Vec::new();
    for (doc_id, kind) in docs {
        let Some(doc) = state.sync.store.load_document(&doc_id).await.map_err(|error| {
            tracing::error!(%error, doc = %doc_id, "cannot read a document for the conflict queue");
            AppError::Internal
        })?
        else {
            continue;
        };
        for conflict in conflicts::conflicts(&doc) {
            let (context, attendee) = describe(&doc, kind, &conflict);
            queue.push(QueuedConflict {
                doc_id: doc_id.clone(),
                kind: kind.as_str(),
                context,
                attendee,
                path: conflict.path_string(),
                resolvable: conflict
                    .values
                    .iter()
                    .all(|v| matches!(v, ConflictValue::Scalar(_))),
                values: conflict.values.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(Json(queue))
}

/// `POST /api/office/conflicts/resolve` body.
#[derive(Debug, Deserialize)]
pub struct Resolve {
    doc_id: String,
    /// The field, as listed.
    path: String,
    /// The values as listed: if the field now holds others, the choice is refused.
    values: Vec<String>,
    /// The index of the chosen value in `values`.
    choice: usize,
}

/// `POST /api/office/conflicts/resolve` answer.
#[derive(Debug, Serialize)]
pub struct Resolved {
    /// The document's heads after the change.
    heads: Vec<String>,
}

/// Writes the chosen value back as a normal change.
pub async fn resolve(
    State(state): State<AppState>,
    OfficeStaff(auth): OfficeStaff,
    Json(request): Json<Resolve>,
) -> Result<Json<Resolved>, AppError> {
    let id = request.doc_id.clone();
    let kind = state
        .db
        .call(move |conn| -> Result<Option<String>, AppError> {
            use rusqlite::OptionalExtension as _;
            Ok(conn
                .query_row("SELECT kind FROM documents WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()?)
        })
        .await?
        .and_then(|kind| DocKind::parse(&kind))
        .ok_or(AppError::NotFound)?;
    let at = Timestamp::from_unix_millis(now_ms());
    let ((), heads) = change_document(&state, auth.user(), &request.doc_id, kind, move |doc| {
        let outdated = || {
            AppError::Outdated(
                "この項目は他の人が先に直したか、内容が変わりました。一覧を更新してください。"
                    .to_owned(),
            )
        };
        let conflict = conflicts::conflicts(&*doc)
            .into_iter()
            .find(|c| c.path_string() == request.path)
            .ok_or_else(outdated)?;
        let shown: Vec<String> = conflict.values.iter().map(ToString::to_string).collect();
        if shown != request.values {
            return Err(outdated());
        }
        let Some(ConflictValue::Scalar(chosen)) = conflict.values.get(request.choice).cloned()
        else {
            return Err(AppError::BadRequest(
                "選んだ値はここでは選べません。".to_owned(),
            ));
        };
        conflicts::resolve(doc, &conflict.path, chosen, at).map_err(|error| {
            tracing::error!(%error, "cannot write a conflict's resolution");
            AppError::Internal
        })
    })
    .await?;
    Ok(Json(Resolved { heads }))
}
