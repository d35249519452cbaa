//! The REST side of sync: tickets for the WebSocket, registering documents, the manifest that
//! makes a reconnect cheap, and the confirm call that says what is durably stored.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::tickets::PeerOwner;
use crate::{
    AppState,
    access::{Access, DocKind, decide},
    accounts::{Role, User, now_ms},
    audit::{self, Action, AuditEvent},
    http::{AppError, auth::Authenticated},
    registry::{self, DocEntry},
};

/// `POST /api/sync/ticket` answer.
#[derive(Debug, Serialize)]
pub struct TicketResponse {
    /// Single-use ticket for `GET /api/sync/ws?ticket=…`.
    ticket: String,
    /// The peer id the client must use in its `join` message.
    peer_id: String,
    /// How long the ticket stays valid, in milliseconds.
    expires_in_ms: i64,
}

/// Issues a WebSocket ticket bound to a fresh peer id.
pub async fn ticket(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<TicketResponse>, AppError> {
    let device_id = auth.session.device_id.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            Ok(crate::office::devices::record_connect(conn, &device_id)?)
        })
        .await?;
    let (ticket, peer_id) = state.sync.tickets.issue(PeerOwner {
        user_id: auth.session.user.id.clone(),
        device_id: auth.session.device_id.clone(),
        credential: auth.credential,
    });
    Ok(Json(TicketResponse {
        ticket,
        peer_id,
        expires_in_ms: super::tickets::TICKET_TTL_MS,
    }))
}

/// `GET /api/sync/manifest?since=…`
#[derive(Debug, Deserialize)]
pub struct ManifestQuery {
    /// The `cursor` of the previous manifest; 0 or absent for everything.
    #[serde(default)]
    since: i64,
}

/// The documents a user may see that changed since a cursor.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Pass as `since` next time.
    cursor: i64,
    /// Changed documents with their stored heads.
    documents: Vec<DocEntry>,
    /// Visit cases erased since `since` that this user could see: devices drop them.
    erased: Vec<String>,
    /// An admin asked to wipe this device: it wipes once everything it holds is stored.
    wipe: bool,
}

/// Lists what changed for this user since `since`, with heads, so a device syncs only those.
pub async fn manifest(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<ManifestQuery>,
) -> Result<Json<Manifest>, AppError> {
    let user = auth.session.user;
    let device = auth.session.device_id;
    let since = query.since;
    let documents = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let listed: Vec<_> = registry::changed_since(conn, &user.id, since)?
                .into_iter()
                .filter(|(_, facts)| decide(&user, Some(facts)) != Access::None)
                .collect();
            // Listing a visit case tells the device it exists and its heads: audited per case.
            for (entry, facts) in &listed {
                if facts.kind == DocKind::VisitCase {
                    let event = AuditEvent::new(Action::DocumentRead)
                        .user(&user.id)
                        .device(&device)
                        .document(&entry.id)
                        .detail("manifest");
                    audit::append(conn, &event)?;
                }
            }
            let erased = crate::visits::erasure::erased_since(conn, &user, since)?;
            let wipe = crate::visits::wipe::wipe_requested(conn, &device)?;
            Ok((
                listed.into_iter().map(|(entry, _)| entry).collect(),
                erased,
                wipe,
            ))
        })
        .await?;
    let (documents, erased, wipe): (Vec<DocEntry>, Vec<(String, i64)>, bool) = documents;
    let cursor = documents
        .iter()
        .map(|d| d.updated_at)
        .chain(erased.iter().map(|(_, at)| *at))
        .max()
        .unwrap_or(since);
    let erased = erased.into_iter().map(|(id, _)| id).collect();
    Ok(Json(Manifest {
        cursor,
        documents,
        erased,
        wipe,
    }))
}

/// `POST /api/sync/confirm` body.
#[derive(Debug, Deserialize)]
pub struct ConfirmRequest {
    documents: Vec<ConfirmEntry>,
}

/// One document and the heads the device wants confirmed.
#[derive(Debug, Deserialize)]
pub struct ConfirmEntry {
    id: String,
    heads: Vec<String>,
}

/// Which documents have every asked-for head durably stored.
#[derive(Debug, Default, Serialize)]
pub struct ConfirmResponse {
    /// Every head is in the database.
    stored: Vec<String>,
    /// Some head is not (yet) in the database, or the document is not visible to this user.
    missing: Vec<String>,
}

/// The most documents one confirm call may ask about.
pub const MAX_CONFIRM_DOCUMENTS: usize = 1000;

/// Answers from the database, not from samod's memory: a head counts as stored only when the
/// change is in a committed SQLite row (`synchronous = FULL`, so it is on disk).
pub async fn confirm(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(request): Json<ConfirmRequest>,
) -> Result<Json<ConfirmResponse>, AppError> {
    if request.documents.len() > MAX_CONFIRM_DOCUMENTS {
        return Err(AppError::BadRequest(format!(
            "一度に確認できる文書は{MAX_CONFIRM_DOCUMENTS}件までです。"
        )));
    }
    let device_id = auth.session.device_id.clone();
    let user = auth.session.user;
    let max_bytes = state.config.max_document_bytes;
    let mut answer = ConfirmResponse::default();
    for entry in request.documents {
        let user = user.clone();
        let id = entry.id.clone();
        let visible = state
            .db
            .call(move |conn| -> Result<bool, AppError> {
                let facts = registry::facts(conn, &id, &user.id, max_bytes)?;
                Ok(decide(&user, facts.as_ref()) != Access::None)
            })
            .await?;
        let stored = visible && state.sync.heads_stored(&entry.id, &entry.heads).await?;
        if stored {
            answer.stored.push(entry.id);
        } else {
            answer.missing.push(entry.id);
        }
    }
    let (confirmed, unconfirmed) = (answer.stored.len(), answer.missing.len());
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            Ok(crate::office::devices::record_confirm(
                conn,
                &device_id,
                confirmed,
                unconfirmed,
            )?)
        })
        .await?;
    Ok(Json(answer))
}

/// `PUT /api/docs/{id}/members` body.
#[derive(Debug, Deserialize)]
pub struct MembersRequest {
    /// The users assigned from now on (the visiting pair), replacing the previous ones.
    members: Vec<String>,
}

/// Assigns a visit case's pair (office staff). Takes effect on open connections at once: a user
/// removed stops receiving the case, a user added can ask for it without reconnecting.
pub async fn set_members(
    State(state): State<AppState>,
    auth: Authenticated,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(request): Json<MembersRequest>,
) -> Result<StatusCode, AppError> {
    if auth.session.user.role != Role::Office {
        return Err(AppError::Forbidden);
    }
    let members = request.members;
    let assigned_id = id.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let is_case = conn
                .query_row("SELECT kind FROM documents WHERE id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
                .map(|kind| kind == DocKind::VisitCase.as_str());
            match is_case {
                Ok(true) => {}
                Ok(false) => {
                    return Err(AppError::BadRequest(
                        "担当者を指定できるのは訪問支援の事例だけです。".to_owned(),
                    ));
                }
                Err(rusqlite::Error::QueryReturnedNoRows) => return Err(AppError::NotFound),
                Err(error) => return Err(error.into()),
            }
            for member in &members {
                if !User::get(conn, member)?.is_some_and(|u| u.role == Role::Visitor) {
                    return Err(AppError::BadRequest(
                        "担当者に指定できない利用者が含まれています。".to_owned(),
                    ));
                }
            }
            registry::set_members(conn, &id, &members, now_ms())?;
            Ok(())
        })
        .await?;
    state.sync.document_access_changed(&assigned_id);
    Ok(StatusCode::NO_CONTENT)
}
