//! The office's changes to documents: a roster imported from CSV, a conflict resolved, duplicate
//! people merged. Each is written on the server's copy of the document through samod as one
//! normal Automerge change, so it is stored, projected and synced to every device like a change
//! made on a phone.

pub mod conflicts;
pub mod devices;
pub mod duplicates;
pub mod roster_import;

use std::str::FromStr as _;

use automerge::Automerge;

use crate::{
    AppState,
    access::{Access, DocKind, decide},
    accounts::User,
    http::AppError,
    registry,
};

/// Applies `edit` to document `doc_id` of `kind` on the server's copy, if `user` may write it.
/// Returns what `edit` returned and the document's heads after it.
pub async fn change_document<T: Send + 'static>(
    state: &AppState,
    user: &User,
    doc_id: &str,
    kind: DocKind,
    edit: impl FnOnce(&mut Automerge) -> Result<T, AppError> + Send + 'static,
) -> Result<(T, Vec<String>), AppError> {
    let id = doc_id.to_owned();
    let max_bytes = state.config.max_document_bytes;
    let asking = user.clone();
    let access = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            let facts = registry::facts(conn, &id, &asking.id, max_bytes)?;
            Ok(match facts {
                Some(facts) if facts.kind == kind => Some(decide(&asking, Some(&facts))),
                _ => None,
            })
        })
        .await?;
    match access {
        None | Some(Access::None) => return Err(AppError::NotFound),
        Some(Access::ReadOnly) => return Err(AppError::Forbidden),
        Some(Access::ReadWrite) => {}
    }
    let samod_id = samod::DocumentId::from_str(doc_id).map_err(|_| AppError::NotFound)?;
    let handle = state
        .sync
        .repo_for(&samod_id)
        .find(samod_id.clone())
        .await
        .map_err(|_| AppError::Internal)?
        .ok_or(AppError::NotFound)?;
    handle
        .with_document_async(move |doc| {
            let value = edit(doc)?;
            let heads = doc.get_heads().iter().map(ToString::to_string).collect();
            Ok((value, heads))
        })
        .await
        .map_err(|_| AppError::Internal)?
}
