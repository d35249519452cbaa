//! `POST /api/sessions/{id}/roster-import`: a pre-registration roster (CSV: 氏名, ふりがな,
//! 市町村, 所属) added to a session's roster in one change. The file is parsed with
//! `nimo_shared::import::roster_csv` first; any bad row refuses the whole file, listing every
//! bad row in Japanese, and nothing is written.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use nimo_shared::{
    AttendeeId, Timestamp,
    import::roster_csv::{self, RosterCsvError},
    records::roster,
};
use serde::Serialize;

use super::change_document;
use crate::{
    AppState,
    access::DocKind,
    accounts::{now_ms, random_bytes},
    http::AppError,
    reports::OfficeStaff,
};

/// The answer to a successful import.
#[derive(Debug, Serialize)]
pub struct Imported {
    /// How many people were added.
    added: usize,
    /// The session document's heads after the change.
    heads: Vec<String>,
}

#[derive(Serialize)]
struct RowProblem {
    line: Option<usize>,
    message: String,
}

#[derive(Serialize)]
struct Refused {
    code: &'static str,
    error: String,
    rows: Vec<RowProblem>,
}

fn refused(error: RosterCsvError) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(Refused {
            code: "roster_invalid",
            error: format!("{error}。修正してからもう一度取り込んでください。"),
            rows: error
                .errors
                .into_iter()
                .map(|row| RowProblem {
                    message: row.to_string(),
                    line: row.line,
                })
                .collect(),
        }),
    )
        .into_response()
}

/// Imports the CSV in the body into session `id`.
pub async fn import(
    State(state): State<AppState>,
    OfficeStaff(auth): OfficeStaff,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(AppError::BadRequest(
            "CSVファイルをUTF-8で保存してから取り込んでください。".to_owned(),
        ));
    };
    let people = match roster_csv::parse(text) {
        Ok(people) => people,
        Err(error) => return Ok(refused(error)),
    };
    let at = Timestamp::from_unix_millis(now_ms());
    let entries: Vec<(AttendeeId, nimo_shared::records::training::Person)> = people
        .into_iter()
        .map(|person| (AttendeeId::from_random_bytes(random_bytes()), person))
        .collect();
    let added = entries.len();
    let ((), heads) = change_document(
        &state,
        auth.user(),
        &id,
        DocKind::TrainingSession,
        move |doc| {
            roster::add_attendees(doc, entries, at).map_err(|error| {
                tracing::warn!(%error, "a parsed roster did not apply");
                AppError::BadRequest("名簿をこの研修に追加できませんでした。".to_owned())
            })
        },
    )
    .await?;
    Ok(Json(Imported { added, heads }).into_response())
}
