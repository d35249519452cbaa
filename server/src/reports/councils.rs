//! 協議の場: meetings per level, the 市町村 and 圏域 whose council met in the year, and whether
//! 当事者 (or peer supporters) took part — the seed notes that no 圏域 council had them.

use nimo_shared::{FiscalYear, records::council::CouncilLevel};
use rusqlite::Connection;

use super::table::{Cell, Column, ReportTable};

/// Headline figures for the targets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CouncilFigures {
    /// 市町村 whose own council met in the year.
    pub municipalities: i64,
    /// 圏域 whose council met in the year.
    pub areas: i64,
}

/// The place column a level's meetings are counted by.
fn place_column(level: CouncilLevel) -> Option<&'static str> {
    match level {
        CouncilLevel::Area => Some("area"),
        CouncilLevel::Municipality => Some("municipality"),
        _ => None,
    }
}

struct LevelRow {
    meetings: i64,
    places: Option<i64>,
    with_lived_experience: i64,
    places_with_lived_experience: Option<i64>,
}

fn level_row(conn: &Connection, level: CouncilLevel, year: u16) -> rusqlite::Result<LevelRow> {
    let place = place_column(level);
    let distinct =
        |column: Option<&str>| column.map_or("NULL".to_owned(), |c| format!("COUNT(DISTINCT {c})"));
    let with_place = |column: Option<&str>| {
        column.map_or("NULL".to_owned(), |c| {
            format!("COUNT(DISTINCT CASE WHEN lived_experience = 1 THEN {c} END)")
        })
    };
    conn.query_row(
        &format!(
            "SELECT COUNT(*), {}, COALESCE(SUM(lived_experience), 0), {} \
             FROM proj_council_meetings WHERE level = ?1 AND fiscal_year = ?2",
            distinct(place),
            with_place(place),
        ),
        rusqlite::params![level.code(), year],
        |row| {
            Ok(LevelRow {
                meetings: row.get(0)?,
                places: row.get(1)?,
                with_lived_experience: row.get(2)?,
                places_with_lived_experience: row.get(3)?,
            })
        },
    )
}

/// The figures the targets use.
pub fn figures(conn: &Connection, year: FiscalYear) -> rusqlite::Result<CouncilFigures> {
    let reiwa = year.reiwa_number();
    Ok(CouncilFigures {
        municipalities: level_row(conn, CouncilLevel::Municipality, reiwa)?
            .places
            .unwrap_or(0),
        areas: level_row(conn, CouncilLevel::Area, reiwa)?
            .places
            .unwrap_or(0),
    })
}

/// One row per level: meetings, places that met, and the same with 当事者 taking part.
pub fn table(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let reiwa = year.reiwa_number();
    let optional = |n: Option<i64>| n.map_or(Cell::Empty, Cell::Count);
    let rows = CouncilLevel::ALL
        .iter()
        .map(|level| {
            let row = level_row(conn, *level, reiwa)?;
            Ok(vec![
                Cell::text(level.label_ja()),
                Cell::count(row.meetings),
                optional(row.places),
                Cell::count(row.with_lived_experience),
                optional(row.places_with_lived_experience),
            ])
        })
        .collect::<rusqlite::Result<_>>()?;
    Ok(ReportTable {
        name: "councils",
        title: "協議の場の開催状況".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("level", "階層"),
            Column::new("meetings", "開催回数"),
            Column::new("places", "開催した市町村・圏域数"),
            Column::new("meetings_with_lived_experience", "当事者が参加した会議数"),
            Column::new(
                "places_with_lived_experience",
                "当事者が参加した市町村・圏域数",
            ),
        ],
        rows,
    })
}
