//! The programme's targets: seeded from the plan compiled into nimo-shared
//! (`shared/data/targets.csv`), edited by the office per fiscal year.

use nimo_shared::{FiscalYear, reference::Indicator};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use crate::{Db, accounts::now_ms, db::DbError};

/// One stored target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTarget {
    /// The indicator's code, e.g. `kokoro_supporters_cumulative`.
    pub indicator: String,
    /// Its Japanese label.
    pub label: String,
    /// The year by whose end it should be reached, e.g. `R7`.
    pub fiscal_year: String,
    /// The target value.
    pub target: i64,
    /// 人, 市町村, 回 …
    pub unit: String,
    /// The plan's wording.
    pub note: String,
    /// Changed by the office (false: as in the plan).
    pub edited: bool,
}

/// Inserts every target of the plan that is not stored yet. Runs at each start: a target the
/// office edited is kept, one the plan adds appears.
pub async fn seed_from_plan(db: &Db) -> Result<(), DbError> {
    db.call(|conn| -> Result<(), DbError> {
        let tx = conn.transaction()?;
        for target in nimo_shared::reference::targets() {
            tx.execute(
                "INSERT OR IGNORE INTO targets (indicator, fiscal_year, target, unit, note, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    target.indicator.code(),
                    target.fiscal_year.reiwa_number(),
                    target.value,
                    target.unit,
                    target.note,
                    now_ms(),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}

fn label_of(code: &str) -> String {
    code.parse::<Indicator>()
        .map_or_else(|_| code.to_owned(), |i| i.label_ja().to_owned())
}

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredTarget> {
    let indicator: String = row.get(0)?;
    let year: u16 = row.get(1)?;
    Ok(StoredTarget {
        label: label_of(&indicator),
        indicator,
        fiscal_year: format!("R{year}"),
        target: row.get(2)?,
        unit: row.get(3)?,
        note: row.get(4)?,
        edited: row.get::<_, Option<String>>(5)?.is_some(),
    })
}

const COLUMNS: &str = "indicator, fiscal_year, target, unit, note, updated_by";

/// Every stored target, by year then indicator.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<StoredTarget>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM targets ORDER BY fiscal_year, indicator"
    ))?;
    statement.query_map([], read)?.collect()
}

/// Whether a target holds every year once set (年1回以上) rather than by the end of one year.
fn is_yearly(indicator: &str) -> bool {
    indicator.ends_with("_per_year")
}

/// The targets that apply to `year`: those set for it, and for yearly indicators the latest
/// set for it or an earlier year.
pub fn applying_to(conn: &Connection, year: FiscalYear) -> rusqlite::Result<Vec<StoredTarget>> {
    let reiwa = year.reiwa_number();
    Ok(all(conn)?
        .into_iter()
        .filter(|t| {
            let set_for: u16 = t.fiscal_year[1..].parse().unwrap_or(0);
            set_for == reiwa || (is_yearly(&t.indicator) && set_for < reiwa)
        })
        .fold(Vec::<StoredTarget>::new(), |mut kept, t| {
            // Rows come by year, so a later yearly target replaces an earlier one.
            kept.retain(|k| k.indicator != t.indicator);
            kept.push(t);
            kept
        }))
}

/// Sets (creates or changes) a target. The unit is the indicator's as stored for another year,
/// else as in the plan.
pub fn set(
    conn: &Connection,
    indicator: Indicator,
    year: FiscalYear,
    target: u32,
    by: &str,
) -> rusqlite::Result<StoredTarget> {
    let unit: String = conn
        .query_row(
            "SELECT unit FROM targets WHERE indicator = ?1 LIMIT 1",
            [indicator.code()],
            |r| r.get(0),
        )
        .optional()?
        .or_else(|| {
            nimo_shared::reference::r6_actuals()
                .iter()
                .find(|a| a.indicator == indicator)
                .map(|a| a.unit.to_owned())
        })
        .unwrap_or_default();
    conn.execute(
        "INSERT INTO targets (indicator, fiscal_year, target, unit, note, updated_by, updated_at) \
         VALUES (?1, ?2, ?3, ?4, '', ?5, ?6) \
         ON CONFLICT (indicator, fiscal_year) DO UPDATE SET \
           target = excluded.target, updated_by = excluded.updated_by, \
           updated_at = excluded.updated_at",
        params![
            indicator.code(),
            year.reiwa_number(),
            target,
            unit,
            by,
            now_ms()
        ],
    )?;
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM targets WHERE indicator = ?1 AND fiscal_year = ?2"),
        params![indicator.code(), year.reiwa_number()],
        read,
    )
}
