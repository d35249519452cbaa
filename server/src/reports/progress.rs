//! Progress against targets: each indicator with a target for the year, its actual from the
//! records and the percentage. Indicators nimo keeps no records for (coordinators, hospitals with
//! the continuation-support addition …) show the target with no actual, never a made-up zero.

use nimo_shared::{
    Area, FiscalYear,
    records::training::{TrainingKind, TrainingScope},
    reference::Indicator,
};
use rusqlite::Connection;

use super::{
    councils, peer, people,
    table::{Cell, Column, ReportTable, percent},
    targets, visits,
};

/// The actual value of `indicator` for `year`, `None` when nimo holds no records for it.
struct Actuals {
    supporters: i64,
    instructors: i64,
    visits: visits::VisitFigures,
    councils: councils::CouncilFigures,
    peer: peer::PeerFigures,
    fewest_staff_trainings_in_an_area: i64,
}

impl Actuals {
    fn gather(conn: &Connection, year: FiscalYear) -> rusqlite::Result<Actuals> {
        let cumulative = |course| -> rusqlite::Result<i64> {
            let first = people::first_completions(conn, course, people::Places::Merged)?;
            Ok(people::by_district(&first, year).1.cumulative)
        };
        Ok(Actuals {
            supporters: cumulative(TrainingKind::KokoroSupporter)?,
            instructors: cumulative(TrainingKind::KokoroInstructor)?,
            visits: visits::figures(conn, year)?,
            councils: councils::figures(conn, year)?,
            peer: peer::figures(conn, year)?,
            fewest_staff_trainings_in_an_area: fewest_staff_trainings_in_an_area(conn, year)?,
        })
    }

    fn of(&self, indicator: Indicator) -> Option<i64> {
        use Indicator as I;
        match indicator {
            I::KokoroSupportersCumulative => Some(self.supporters),
            I::KokoroInstructorsCumulative => Some(self.instructors),
            I::VisitSupportPatients => Some(self.visits.patients.1),
            I::VisitSupportDischargedWithin1y => Some(self.visits.discharged_within_a_year.1),
            I::VisitSupportDispatches => Some(self.visits.dispatches.0),
            I::CouncilMunicipalities => Some(self.councils.municipalities),
            I::CouncilAreas => Some(self.councils.areas),
            I::CommunitySupportTrainingsPerAreaPerYear => {
                Some(self.fewest_staff_trainings_in_an_area)
            }
            I::PeerSupportersTrained => Some(self.peer.trained.cumulative),
            I::PeerSupportMunicipalities => Some(self.peer.municipalities),
            I::PeerSupportServiceOffices => Some(self.peer.service_offices),
            I::PeerSupportGroupsSubsidised => Some(self.peer.subsidised_groups),
            I::Coordinators
            | I::Assistants
            | I::Advisors
            | I::MunicipalStaffMeetingsPerYear
            | I::HospitalsWithContinuationSupportAddition => None,
        }
    }
}

/// "各圏域 年1回以上": the number of 地域別 地域生活支援関係者研修 held in the 圏域 that held the
/// fewest (by the venue's 圏域), so 1 means every 圏域 held at least one.
fn fewest_staff_trainings_in_an_area(conn: &Connection, year: FiscalYear) -> rusqlite::Result<i64> {
    let mut statement = conn.prepare(
        "SELECT venue_area, COUNT(*) FROM proj_sessions \
         WHERE course = ?1 AND scope = ?2 AND fiscal_year = ?3 GROUP BY venue_area",
    )?;
    let held: std::collections::BTreeMap<String, i64> = statement
        .query_map(
            rusqlite::params![
                TrainingKind::CommunitySupportStaff.code(),
                TrainingScope::PerArea.code(),
                year.reiwa_number()
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Area::ALL
        .iter()
        .map(|area| held.get(area.code()).copied().unwrap_or(0))
        .min()
        .unwrap_or(0))
}

/// The report: one row per target that applies to `year`.
pub fn table(conn: &Connection, year: FiscalYear) -> rusqlite::Result<ReportTable> {
    let actuals = Actuals::gather(conn, year)?;
    let rows = targets::applying_to(conn, year)?
        .into_iter()
        .map(|target| {
            let actual = target
                .indicator
                .parse::<Indicator>()
                .ok()
                .and_then(|indicator| actuals.of(indicator));
            vec![
                Cell::Text(target.indicator.clone()),
                Cell::Text(target.label.clone()),
                Cell::Text(target.fiscal_year.clone()),
                Cell::count(target.target),
                actual.map_or(Cell::Empty, Cell::Count),
                Cell::Percent(percent(actual, Some(target.target))),
                Cell::Text(target.unit),
            ]
        })
        .collect();
    Ok(ReportTable {
        name: "progress",
        title: "目標に対する進捗".to_owned(),
        fiscal_year: year,
        columns: vec![
            Column::new("indicator", "指標コード"),
            Column::new("label", "指標"),
            Column::new("target_year", "目標年度"),
            Column::new("target", "目標"),
            Column::new("actual", "実績"),
            Column::new("percent", "達成率（%）"),
            Column::new("unit", "単位"),
        ],
        rows,
    })
}
