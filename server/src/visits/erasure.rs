//! Erasing a closed visit case after its retention period.
//!
//! Automerge keeps deleted text in a document's history, so erasure removes the whole document:
//! its chunks leave the `chunks` table, the registry marks it erased (`deleted_at`), and the
//! manifest lists it under `erased` to the devices that held it, which drop it at their next
//! sync. The audit log records who erased which document and how many chunks went, never the
//! content. The report rows of the projection (dates, municipality, topic codes: no patient code,
//! no notes) are kept so past years' figures do not change.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use nimo_shared::records::visit::{CaseStatus, VisitCase};
use nimo_shared::{Date, Timestamp, doc};
use rusqlite::params;

use crate::{
    AppState,
    access::DocKind,
    accounts::{Role, now_ms},
    audit::{self, Action, AuditEvent},
    http::{AppError, auth::Authenticated},
};

/// How long a closed case is kept after its last activity (discharge, last visit or request):
/// five years, the keeping period the programme's records follow.
pub const RETENTION_YEARS: i32 = 5;

/// Why a case may not be erased yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The case is still open.
    StillOpen,
    /// Its retention period ends on this date.
    RetainedUntil(Date),
}

/// The last day anything happened in a case.
fn last_activity(case: &VisitCase) -> Date {
    let last_visit = case.visits.values().map(|v| v.date).max();
    [Some(case.requested_on), case.discharged_on, last_visit]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(case.requested_on)
}

/// Whether `case` may be erased on `today`.
pub fn may_erase(case: &VisitCase, today: Date) -> Result<(), Refusal> {
    if case.status != CaseStatus::Closed {
        return Err(Refusal::StillOpen);
    }
    let last = last_activity(case);
    let until = Date::new(last.year() + RETENTION_YEARS, last.month(), last.day())
        // 29 February: the retention ends on 1 March.
        .unwrap_or_else(|| {
            Date::new(last.year() + RETENTION_YEARS, 3, 1).unwrap_or(last.add_days(1827))
        });
    if today < until {
        return Err(Refusal::RetainedUntil(until));
    }
    Ok(())
}

/// `POST /api/docs/{id}/erase`: office staff with visit access erase a closed case whose
/// retention period has passed.
pub async fn erase(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(doc_id): Path<String>,
) -> Result<StatusCode, AppError> {
    let user = auth.user().clone();
    if !(user.role == Role::Office && user.visit_access) {
        return Err(AppError::Forbidden);
    }
    let id = doc_id.clone();
    let kind: Option<(String, bool)> = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            Ok(conn
                .query_row(
                    "SELECT kind, deleted_at IS NOT NULL FROM documents WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?)
        })
        .await?;
    match kind {
        Some((kind, false)) if kind == DocKind::VisitCase.as_str() => {}
        _ => return Err(AppError::NotFound),
    }
    let document = state
        .sync
        .store
        .load_document(&doc_id)
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot load a case to erase");
            AppError::Internal
        })?
        .ok_or(AppError::NotFound)?;
    let case: VisitCase = doc::hydrate(&document).map_err(|_| {
        AppError::BadRequest("事例の内容を読み取れないため消去できません。".to_owned())
    })?;
    let today = Timestamp::from_unix_millis(now_ms()).date_in_japan();
    match may_erase(&case, today) {
        Ok(()) => {}
        Err(Refusal::StillOpen) => {
            return Err(AppError::BadRequest(
                "支援中の事例は消去できません。先に終了にしてください。".to_owned(),
            ));
        }
        Err(Refusal::RetainedUntil(until)) => {
            return Err(AppError::BadRequest(format!(
                "保存期間中のため消去できません（{until} まで）。"
            )));
        }
    }
    drop(case);
    drop(document);
    let device = auth.session.device_id.clone();
    let id = doc_id.clone();
    state
        .db
        .call(move |conn| -> Result<(), AppError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let removed = tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [&id])?;
            let now = now_ms();
            tx.execute(
                "UPDATE documents SET deleted_at = ?2, heads = '[]', \
                 updated_at = MAX(?2, (SELECT MAX(updated_at) + 1 FROM documents)) \
                 WHERE id = ?1",
                params![id, now],
            )?;
            let event = AuditEvent::new(Action::DocumentErased)
                .user(&user.id)
                .device(&device)
                .document(&id)
                .detail(format!("retention passed; {removed} chunks removed"));
            audit::append(&tx, &event)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.sync.access_changed();
    tracing::info!(doc = %doc_id, "visit case erased");
    Ok(StatusCode::NO_CONTENT)
}

/// Visit cases erased after `since` (a manifest cursor) that `user` could see: their pair, or
/// office staff with visit access. Returns (document id, registry sequence).
pub fn erased_since(
    conn: &rusqlite::Connection,
    user: &crate::accounts::User,
    since: i64,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let office = user.role == Role::Office && user.visit_access;
    let mut statement = conn.prepare(
        "SELECT d.id, d.updated_at FROM documents d \
         WHERE d.deleted_at IS NOT NULL AND d.kind = 'visit_case' AND d.updated_at > ?1 \
         AND (?3 OR EXISTS (SELECT 1 FROM document_members m \
                            WHERE m.document_id = d.id AND m.user_id = ?2)) \
         ORDER BY d.updated_at",
    )?;
    let rows = statement.query_map(params![since, user.id.as_str(), office], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimo_shared::UserId;
    use nimo_shared::records::visit::{Eligibility, VisitorPair};

    fn case(status: CaseStatus, requested: Date, discharged: Option<Date>) -> VisitCase {
        VisitCase {
            patient_code: "MY-2019-0001".parse().expect("code"),
            hospital: "病院".to_owned(),
            hospital_municipality: nimo_shared::Municipality::parse("名取市").expect("known"),
            eligibility: Eligibility::MayorConsentMedicalProtection,
            requested_on: requested,
            assigned: VisitorPair {
                professional: "a".parse::<UserId>().expect("id"),
                non_professional: "b".parse::<UserId>().expect("id"),
            },
            status,
            discharged_on: discharged,
            visits: Default::default(),
        }
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::new(y, m, d).expect("valid")
    }

    #[test]
    fn only_a_closed_case_past_its_retention_may_be_erased() {
        let today = date(2026, 11, 22);
        let open = case(CaseStatus::Open, date(2019, 4, 1), None);
        assert_eq!(may_erase(&open, today), Err(Refusal::StillOpen));
        let recent = case(
            CaseStatus::Closed,
            date(2019, 4, 1),
            Some(date(2022, 3, 31)),
        );
        assert_eq!(
            may_erase(&recent, today),
            Err(Refusal::RetainedUntil(date(2027, 3, 31)))
        );
        let old = case(
            CaseStatus::Closed,
            date(2019, 4, 1),
            Some(date(2021, 11, 22)),
        );
        assert_eq!(may_erase(&old, today), Ok(()));
        let leap = case(CaseStatus::Closed, date(2020, 2, 29), None);
        assert_eq!(
            may_erase(&leap, date(2025, 2, 28)),
            Err(Refusal::RetainedUntil(date(2025, 3, 1)))
        );
    }
}
