//! Registering documents before their first sync: one (`POST /api/docs`) or many in one
//! request and one transaction (`POST /api/docs/batch`), as a device does for every record it
//! made offline when it reconnects.
//!
//! The device chooses a document's id; the server decides from the registration who may reach
//! the document (`access`). Each document gets the same checks and the same answer either way;
//! in a batch one refused document does not stop the others.

use std::str::FromStr as _;

use axum::{Json, extract::State, http::StatusCode};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    access::{Access, DocKind, decide, may_create},
    accounts::{Role, User, now_ms},
    audit::{self, Action, AuditEvent},
    http::{AppError, auth::Authenticated},
    registry,
};

/// The most documents one batch may register: a month of a busy trainer's sessions is ~100,
/// and one transaction stays short.
pub const MAX_BATCH: usize = 500;

/// One document to register (the body of `POST /api/docs`, an item of a batch).
#[derive(Debug, Deserialize)]
pub struct RegisterRequest {
    /// automerge-repo document id (bs58check), chosen by the device that created it.
    id: String,
    /// Registry kind name.
    kind: String,
    /// Owning team; a trainer's defaults to their own.
    #[serde(default)]
    team_id: Option<String>,
    /// Assigned users (the visiting pair of a visit case).
    #[serde(default)]
    members: Vec<String>,
}

/// `POST /api/docs/batch` body.
#[derive(Debug, Deserialize)]
pub struct RegisterBatchRequest {
    /// The documents, at most [`MAX_BATCH`].
    docs: Vec<RegisterRequest>,
}

/// `POST /api/docs/batch` answer: one result per document, in the request's order.
#[derive(Debug, Serialize)]
pub struct RegisterBatchResponse {
    results: Vec<RegisterResult>,
}

/// How one document of a batch fared: the status `POST /api/docs` would have answered (201
/// registered, 200 already registered the same way, 4xx refused), and for a refusal the same
/// code and Japanese message.
#[derive(Debug, Serialize)]
pub struct RegisterResult {
    id: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Registers a new document before its first sync. Repeating the same registration is
/// harmless (a device retries after a lost answer); a different one for a taken id is refused.
pub async fn register(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(request): Json<RegisterRequest>,
) -> Result<StatusCode, AppError> {
    let (user, device) = (auth.session.user, auth.session.device_id);
    let checked = check(&user, request)?;
    let max_bytes = state.config.max_document_bytes;
    let (status, id) = state
        .db
        .call(move |conn| -> Result<(StatusCode, String), AppError> {
            let tx = conn.transaction()?;
            let status = store(&tx, &user, &device, &checked, max_bytes)?;
            tx.commit()?;
            Ok((status, checked.id))
        })
        .await?;
    if status == StatusCode::CREATED {
        state.sync.document_access_changed(&id);
    }
    Ok(status)
}

/// Registers many documents in one transaction (one durable commit instead of one per
/// document). A refused document is answered in its result; a database failure fails the
/// whole batch, and nothing of it is registered.
pub async fn register_batch(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(request): Json<RegisterBatchRequest>,
) -> Result<Json<RegisterBatchResponse>, AppError> {
    if request.docs.len() > MAX_BATCH {
        return Err(AppError::BadRequest(format!(
            "一度に登録できる文書は{MAX_BATCH}件までです。"
        )));
    }
    let (user, device) = (auth.session.user, auth.session.device_id);
    let checked: Vec<(String, Result<Checked, AppError>)> = request
        .docs
        .into_iter()
        .map(|doc| (doc.id.clone(), check(&user, doc)))
        .collect();
    let max_bytes = state.config.max_document_bytes;
    let results = state
        .db
        .call(move |conn| -> Result<Vec<Stored>, AppError> {
            let tx = conn.transaction()?;
            let mut results = Vec::with_capacity(checked.len());
            for (id, doc) in checked {
                let stored = match doc {
                    Ok(doc) => match store(&tx, &user, &device, &doc, max_bytes) {
                        // The database failing is the batch's failure, not this document's.
                        Err(
                            error @ (AppError::Db(_) | AppError::Accounts(_) | AppError::Internal),
                        ) => {
                            return Err(error);
                        }
                        other => other,
                    },
                    Err(refused) => Err(refused),
                };
                results.push((id, stored));
            }
            tx.commit()?;
            Ok(results)
        })
        .await?;
    let results = results
        .into_iter()
        .map(|(id, stored)| match stored {
            Ok(status) => {
                if status == StatusCode::CREATED {
                    state.sync.document_access_changed(&id);
                }
                RegisterResult {
                    id,
                    status: status.as_u16(),
                    code: None,
                    error: None,
                }
            }
            Err(refused) => {
                let (status, code, message) = refused.parts();
                RegisterResult {
                    id,
                    status: status.as_u16(),
                    code: Some(code),
                    error: Some(message),
                }
            }
        })
        .collect();
    Ok(Json(RegisterBatchResponse { results }))
}

/// One document of a batch: its id and what registering it gave.
type Stored = (String, Result<StatusCode, AppError>);

/// A registration that passed the checks needing no database.
#[derive(Debug)]
struct Checked {
    id: String,
    kind: DocKind,
    team_id: Option<String>,
    members: Vec<String>,
}

/// The checks of one registration that need no database: the id's form, the kind, and whether
/// this user may create such a document for that team.
fn check(user: &User, request: RegisterRequest) -> Result<Checked, AppError> {
    if samod::DocumentId::from_str(&request.id).is_err() {
        return Err(AppError::BadRequest(
            "文書IDの形式が正しくありません。".to_owned(),
        ));
    }
    let kind = DocKind::parse(&request.kind)
        .ok_or_else(|| AppError::BadRequest("文書の種類が正しくありません。".to_owned()))?;
    let team_id = request.team_id.or_else(|| {
        (user.role == Role::Trainer)
            .then(|| user.team_id.clone())
            .flatten()
    });
    if !may_create(user, kind, team_id.as_deref()) {
        return Err(AppError::Forbidden);
    }
    if kind == DocKind::VisitCase
        && user.role == Role::Visitor
        && !request.members.contains(&user.id)
    {
        return Err(AppError::BadRequest(
            "訪問支援員は自分が担当する事例だけを登録できます。".to_owned(),
        ));
    }
    Ok(Checked {
        id: request.id,
        kind,
        team_id,
        members: request.members,
    })
}

/// Registers `doc` inside the caller's transaction: 201 when new, 200 when the same
/// registration was made before, a refusal when its members cannot be assigned or the id is
/// taken by another registration. A new visit case is audited with who opened it, from which
/// device, and how many are assigned (never its content).
fn store(
    conn: &Connection,
    user: &User,
    device: &str,
    doc: &Checked,
    max_bytes: u64,
) -> Result<StatusCode, AppError> {
    for member in &doc.members {
        match User::get(conn, member)? {
            Some(found) if found.role == Role::Visitor || doc.kind != DocKind::VisitCase => {}
            _ => {
                return Err(AppError::BadRequest(
                    "担当者に指定できない利用者が含まれています。".to_owned(),
                ));
            }
        }
    }
    let registered = registry::register(
        conn,
        &doc.id,
        doc.kind,
        doc.team_id.as_deref(),
        &user.id,
        &doc.members,
        now_ms(),
    )?;
    if registered {
        if doc.kind == DocKind::VisitCase {
            let event = AuditEvent::new(Action::DocumentRegistered)
                .user(&user.id)
                .device(device)
                .document(&doc.id)
                .detail(format!("visit_case, {} assigned", doc.members.len()));
            audit::append(conn, &event)?;
        }
        return Ok(StatusCode::CREATED);
    }
    // Already registered: the same registration repeated is fine.
    match registry::facts(conn, &doc.id, &user.id, max_bytes)? {
        Some(facts) if facts.kind == doc.kind && decide(user, Some(&facts)) != Access::None => {
            Ok(StatusCode::OK)
        }
        _ => Err(AppError::Conflict),
    }
}
