//! ピアサポート: peer supporters trained (once per person, like 心のサポーター), the 市町村 and
//! service offices using peer support (a group or office with an activity in the year),
//! subsidised groups and their activities.

use nimo_shared::{FiscalYear, records::training::TrainingKind};
use rusqlite::Connection;

use super::{
    people,
    table::{Cell, Column, ReportTable},
};

/// The year's figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PeerFigures {
    /// ピアサポーター養成研修 completed for the first time in the year / through it.
    pub trained: people::NewAndCumulative,
    /// 市町村 with a group or office active in the year.
    pub municipalities: i64,
    /// Service offices (障害福祉サービス事業所) active in the year.
    pub service_offices: i64,
    /// Groups subsidised for the year.
    pub subsidised_groups: i64,
    /// Subsidy paid for the year, in yen.
    pub subsidy_yen: i64,
    /// Activities held in the year.
    pub activities: i64,
    /// Participants in those activities.
    pub participants: i64,
}

/// The figures for `year`.
pub fn figures(conn: &Connection, year: FiscalYear) -> rusqlite::Result<PeerFigures> {
    let reiwa = year.reiwa_number();
    let first =
        people::first_completions(conn, TrainingKind::PeerSupporter, people::Places::Merged)?;
    let (_, trained) = people::by_district(&first, year);
    let (municipalities, service_offices) = conn.query_row(
        "SELECT COUNT(DISTINCT g.municipality), \
                COUNT(DISTINCT CASE WHEN g.organisation = 'service_office' THEN g.doc_id END) \
         FROM proj_peer_groups g \
         WHERE EXISTS (SELECT 1 FROM proj_peer_activities a \
                       WHERE a.doc_id = g.doc_id AND a.fiscal_year = ?1)",
        [reiwa],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (subsidised_groups, subsidy_yen) = conn.query_row(
        "SELECT COUNT(DISTINCT doc_id), COALESCE(SUM(yen), 0) FROM proj_peer_subsidies \
         WHERE fiscal_year = ?1 AND yen > 0",
        [reiwa],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (activities, participants) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(participants), 0) FROM proj_peer_activities \
         WHERE fiscal_year = ?1",
        [reiwa],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(PeerFigures {
        trained,
        municipalities,
        service_offices,
        subsidised_groups,
        subsidy_yen,
        activities,
        participants,
    })
}

/// One row per figure.
pub fn table(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let f = figures(conn, year)?;
    let row = |label: &str, value: i64, unit: &str| {
        vec![Cell::text(label), Cell::count(value), Cell::text(unit)]
    };
    Ok(ReportTable {
        name: "peer-support",
        title: "ピアサポートの状況".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("measure", "項目"),
            Column::new("value", "値"),
            Column::new("unit", "単位"),
        ],
        rows: vec![
            row("ピアサポーター養成者数（当年度）", f.trained.new, "人"),
            row("ピアサポーター養成者数（累計）", f.trained.cumulative, "人"),
            row("ピアサポートを活用した市町村数", f.municipalities, "市町村"),
            row(
                "ピアサポートを活用した事業所数",
                f.service_offices,
                "事業所",
            ),
            row("補助金交付団体数", f.subsidised_groups, "団体"),
            row("補助金交付額", f.subsidy_yen, "円"),
            row("活動回数", f.activities, "回"),
            row("活動参加者数", f.participants, "人"),
        ],
    })
}
