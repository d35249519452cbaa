//! 入院者訪問支援事業: patients (not visits) are the headline; a patient counts once by the
//! pseudonymous key of their code, however many cases they have. Same rules as
//! `nimo_shared::counts::visits`, over the projection's rows.

use std::collections::{BTreeMap, BTreeSet};

use nimo_shared::{Date, FiscalYear, counts::visits::DISCHARGE_WINDOW_DAYS};
use rusqlite::Connection;

use super::table::{Cell, Column, ReportTable};

/// One case as the report needs it.
#[derive(Debug)]
struct Case {
    patient_key: String,
    discharged_on: Option<Date>,
    /// Visit dates with their fiscal year.
    visits: Vec<(Date, u16)>,
}

fn cases(conn: &Connection) -> rusqlite::Result<Vec<Case>> {
    let mut cases: BTreeMap<String, Case> = BTreeMap::new();
    let mut statement = conn.prepare(
        "SELECT doc_id, COALESCE(patient_key, 'case:' || doc_id), discharged_on \
         FROM proj_visit_cases",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let discharged: Option<String> = row.get(2)?;
        cases.insert(
            row.get(0)?,
            Case {
                patient_key: row.get(1)?,
                discharged_on: discharged.and_then(|d| d.parse().ok()),
                visits: Vec::new(),
            },
        );
    }
    let mut statement = conn.prepare("SELECT doc_id, visited_on, fiscal_year FROM proj_visits")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let doc_id: String = row.get(0)?;
        let date: String = row.get(1)?;
        if let (Some(case), Ok(date)) = (cases.get_mut(&doc_id), date.parse()) {
            case.visits.push((date, row.get(2)?));
        }
    }
    Ok(cases.into_values().collect())
}

/// The programme's figures for one year and through it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VisitFigures {
    /// Patients with a visit in the year / through the year.
    pub patients: (i64, i64),
    /// Visits.
    pub visits: (i64, i64),
    /// Cases to which a pair was dispatched (at least one visit).
    pub dispatches: (i64, i64),
    /// Patients discharged within 365 days of their first visit, by year of discharge.
    pub discharged_within_a_year: (i64, i64),
}

fn count(set: &BTreeSet<&str>) -> i64 {
    i64::try_from(set.len()).unwrap_or(i64::MAX)
}

/// The figures for `year`.
pub fn figures(conn: &Connection, year: FiscalYear) -> rusqlite::Result<VisitFigures> {
    let reiwa = year.reiwa_number();
    let cases = cases(conn)?;
    let mut patients = (BTreeSet::new(), BTreeSet::new());
    let mut discharged = (BTreeSet::new(), BTreeSet::new());
    let mut figures = VisitFigures::default();
    for case in &cases {
        let in_year = case.visits.iter().filter(|(_, y)| *y == reiwa).count();
        let through = case.visits.iter().filter(|(_, y)| *y <= reiwa).count();
        let (in_year, through) = (
            i64::try_from(in_year).unwrap_or(i64::MAX),
            i64::try_from(through).unwrap_or(i64::MAX),
        );
        figures.visits.0 += in_year;
        figures.visits.1 += through;
        if in_year > 0 {
            patients.0.insert(case.patient_key.as_str());
            figures.dispatches.0 += 1;
        }
        if through > 0 {
            patients.1.insert(case.patient_key.as_str());
            figures.dispatches.1 += 1;
        }
        let first = case.visits.iter().map(|(date, _)| *date).min();
        if let (Some(first), Some(out)) = (first, case.discharged_on)
            && (0..=DISCHARGE_WINDOW_DAYS).contains(&first.days_until(out))
        {
            let out_year = FiscalYear::of(out);
            if out_year == year {
                discharged.0.insert(case.patient_key.as_str());
            }
            if out_year <= year {
                discharged.1.insert(case.patient_key.as_str());
            }
        }
    }
    figures.patients = (count(&patients.0), count(&patients.1));
    figures.discharged_within_a_year = (count(&discharged.0), count(&discharged.1));
    Ok(figures)
}

/// The report: one row per figure, the year and the 累計.
pub fn table(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let figures = figures(conn, year)?;
    let row = |label: &str, (in_year, through): (i64, i64)| {
        vec![
            Cell::text(label),
            Cell::count(in_year),
            Cell::count(through),
        ]
    };
    Ok(ReportTable {
        name: "visits",
        title: "入院者訪問支援事業".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("measure", "項目"),
            Column::new("year", year.japanese()),
            Column::new("cumulative", "累計"),
        ],
        rows: vec![
            row("支援を受けた入院者数（人）", figures.patients),
            row("訪問回数（回）", figures.visits),
            row("支援員の派遣件数（件）", figures.dispatches),
            row(
                "初回訪問から1年以内の退院者数（人）",
                figures.discharged_within_a_year,
            ),
        ],
    })
}
