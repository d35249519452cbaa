//! Trainings by kind, audience, scope and host (the shape of the seed's R6 table), and per month
//! (for the chart). An attendee is an entry not withdrawn and checked in or marked 修了, as in
//! `nimo_shared::counts::trainings::attended`.

use nimo_shared::{
    FiscalYear, Municipality,
    records::training::{Audience, Host, TrainingKind, TrainingScope},
};
use rusqlite::Connection;

use super::table::{Cell, Column, ReportTable};

const ATTENDED: &str = "a.withdrawn = 0 AND (a.checked_in = 1 OR a.completed = 1)";

/// A code's Japanese label; empty when the code is absent (an audience for a course without
/// one) or unknown to this build.
fn label<T: Copy>(
    code: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    ja: fn(T) -> &'static str,
) -> Cell {
    code.as_deref()
        .and_then(parse)
        .map_or(Cell::Empty, |value| Cell::text(ja(value)))
}

fn host_label(host: &str, municipality: Option<&str>) -> String {
    match (host, municipality.and_then(|m| Municipality::parse(m).ok())) {
        ("co_hosted", Some(municipality)) => Host::CoHosted(municipality).label_ja(),
        _ => Host::Prefecture.label_ja(),
    }
}

/// Sessions, attendees and completions of `year`, one row per kind, audience, scope and host,
/// then 合計.
pub fn by_group(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let mut statement = conn.prepare(&format!(
        "SELECT s.course, s.audience, s.scope, s.host, s.host_municipality, COUNT(*), \
                SUM(att.attended), SUM(att.completed) \
         FROM proj_sessions s JOIN ( \
             SELECT s2.doc_id, \
                    COALESCE(SUM(CASE WHEN {ATTENDED} THEN 1 ELSE 0 END), 0) AS attended, \
                    COALESCE(SUM(CASE WHEN {ATTENDED} AND a.completed = 1 THEN 1 ELSE 0 END), 0) AS completed \
             FROM proj_sessions s2 LEFT JOIN proj_attendees a ON a.doc_id = s2.doc_id \
             GROUP BY s2.doc_id) att ON att.doc_id = s.doc_id \
         WHERE s.fiscal_year = ?1 \
         GROUP BY s.course, s.audience, s.scope, s.host, s.host_municipality \
         ORDER BY s.course, s.host, s.host_municipality, s.audience, s.scope"
    ))?;
    let mut rows = Vec::new();
    let (mut sessions_total, mut attended_total, mut completed_total) = (0i64, 0i64, 0i64);
    let mut query = statement.query([year.reiwa_number()])?;
    while let Some(row) = query.next()? {
        let course: String = row.get(0)?;
        let host: String = row.get(3)?;
        let host_municipality: Option<String> = row.get(4)?;
        let (sessions, attended, completed): (i64, i64, i64) =
            (row.get(5)?, row.get(6)?, row.get(7)?);
        sessions_total += sessions;
        attended_total += attended;
        completed_total += completed;
        rows.push(vec![
            label(
                Some(course),
                |c| c.parse::<TrainingKind>().ok(),
                TrainingKind::label_ja,
            ),
            label(
                row.get(1)?,
                |c| c.parse::<Audience>().ok(),
                Audience::label_ja,
            ),
            label(
                row.get(2)?,
                |c| c.parse::<TrainingScope>().ok(),
                TrainingScope::label_ja,
            ),
            Cell::Text(host_label(&host, host_municipality.as_deref())),
            Cell::count(sessions),
            Cell::count(attended),
            Cell::count(completed),
        ]);
    }
    rows.push(vec![
        Cell::text("合計"),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::count(sessions_total),
        Cell::count(attended_total),
        Cell::count(completed_total),
    ]);
    Ok(ReportTable {
        name: "trainings",
        title: "研修の開催状況（種類・対象・主催別）".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("course", "研修"),
            Column::new("audience", "対象"),
            Column::new("scope", "区分"),
            Column::new("host", "主催"),
            Column::new("sessions", "開催回数"),
            Column::new("attendees", "参加者数"),
            Column::new("completed", "修了者数"),
        ],
        rows,
    })
}

/// Sessions and attendees of `year` per month, April to March (every month present).
pub fn by_month(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let mut statement = conn.prepare(&format!(
        "SELECT CAST(substr(s.held_on, 6, 2) AS INTEGER), COUNT(DISTINCT s.doc_id), \
                COALESCE(SUM(CASE WHEN {ATTENDED} THEN 1 ELSE 0 END), 0) \
         FROM proj_sessions s LEFT JOIN proj_attendees a ON a.doc_id = s.doc_id \
         WHERE s.fiscal_year = ?1 GROUP BY 1"
    ))?;
    let counted: std::collections::BTreeMap<u8, (i64, i64)> = statement
        .query_map([year.reiwa_number()], |row| {
            Ok((row.get::<_, u8>(0)?, (row.get(1)?, row.get(2)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let rows = [4u8, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3]
        .into_iter()
        .map(|month| {
            let (sessions, attendees) = counted.get(&month).copied().unwrap_or_default();
            let calendar_year = year.start_year() + i32::from(month < 4);
            vec![
                Cell::Text(format!("{calendar_year}-{month:02}")),
                Cell::Text(format!("{month}月")),
                Cell::count(sessions),
                Cell::count(attendees),
            ]
        })
        .collect();
    Ok(ReportTable {
        name: "trainings-monthly",
        title: "月別の研修開催状況".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("month", "年月"),
            Column::new("month_label", "月"),
            Column::new("sessions", "開催回数"),
            Column::new("attendees", "参加者数"),
        ],
        rows,
    })
}
