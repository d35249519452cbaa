//! 心のサポーター, 指導者 and ピアサポーター: people who completed a course, each counted once, in
//! the fiscal year of their first completion and the district (and 市町村) they counted in then
//! (DOMAIN.md). The same rule as `nimo_shared::counts::people`, over the projection's rows.

use std::collections::BTreeMap;

use nimo_shared::{
    FiscalYear, Municipality, Place, ReportDistrict, records::training::TrainingKind,
};
use rusqlite::Connection;

use super::table::{Cell, Column, ReportTable};

/// People whose first completion falls in the same fiscal year, district and 市町村.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstCompletions {
    /// The fiscal year they count in.
    pub fiscal_year: u16,
    /// The district they count in.
    pub district: ReportDistrict,
    /// The 市町村 (or 県外) they count in; `None` when unknown.
    pub place: Option<String>,
    /// How many people.
    pub people: i64,
}

/// Whether [`first_completions`] also tells people apart by 市町村. Only the 市町村 table needs
/// it; every other count is by district, where fewer and shorter groups sort faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Places {
    /// Grouped by fiscal year, district and 市町村.
    Kept,
    /// Grouped by fiscal year and district; `place` is `None`.
    Merged,
}

/// Everyone who completed `course`, each person (pseudonymous key) once, at their first
/// completion, grouped by fiscal year and district (and 市町村 with [`Places::Kept`]). Ties on
/// the same day are broken by document and attendee id, so the answer never depends on row
/// order.
///
/// The first completion is found by SQLite, not here: a `GROUP BY person_key` whose `MIN` over
/// `held_on, doc_id, attendee_id` (joined by char(1), which sorts below every character of the
/// ids, so the joined text orders as the three do) picks the row the bare columns come from
/// (SQLite's documented bare-column rule for a lone `min()`). Only the groups reach Rust: a
/// million attendance rows used to cost a sorted row each, a key allocation and a map lookup
/// here (`cargo xtask bench --only report`). `+a.person_key` keeps the planner off the
/// `person_key` index: walking it fetches every table row in random order, which is several
/// times slower than scanning and sorting.
pub fn first_completions(
    conn: &Connection,
    course: TrainingKind,
    places: Places,
) -> rusqlite::Result<Vec<FirstCompletions>> {
    let (place, group) = match places {
        Places::Kept => ("place", ", place"),
        Places::Merged => ("NULL", ""),
    };
    let mut statement = conn.prepare(&format!(
        "SELECT fiscal_year, district, {place}, COUNT(*) FROM ( \
             SELECT s.fiscal_year AS fiscal_year, a.district AS district, a.place AS place, \
                    MIN(s.held_on || char(1) || a.doc_id || char(1) || a.attendee_id) \
             FROM proj_attendees a JOIN proj_sessions s ON s.doc_id = a.doc_id \
             WHERE s.course = ?1 AND a.completed = 1 AND a.withdrawn = 0 \
             GROUP BY +a.person_key) \
         GROUP BY fiscal_year, district{group}"
    ))?;
    let rows = statement.query_map([course.code()], |row| {
        let district: String = row.get(1)?;
        Ok(FirstCompletions {
            fiscal_year: row.get(0)?,
            // A code this build does not know cannot be placed: その他.
            district: district.parse().unwrap_or(ReportDistrict::Other),
            place: row.get(2)?,
            people: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// New people in `year` and everyone through `year`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewAndCumulative {
    /// First completion in the year.
    pub new: i64,
    /// First completion in or before the year (累計).
    pub cumulative: i64,
}

impl NewAndCumulative {
    fn add(&mut self, completions: &FirstCompletions, year: FiscalYear) {
        let reiwa = year.reiwa_number();
        if completions.fiscal_year == reiwa {
            self.new += completions.people;
        }
        if completions.fiscal_year <= reiwa {
            self.cumulative += completions.people;
        }
    }
}

/// Counts by the columns of the prefecture's table (仙台市 under その他), and the total.
pub fn by_district(
    first: &[FirstCompletions],
    year: FiscalYear,
) -> (Vec<(ReportDistrict, NewAndCumulative)>, NewAndCumulative) {
    let mut columns: BTreeMap<ReportDistrict, NewAndCumulative> = BTreeMap::new();
    let mut total = NewAndCumulative::default();
    for completions in first {
        columns
            .entry(completions.district.supporter_table_column())
            .or_default()
            .add(completions, year);
        total.add(completions, year);
    }
    let ordered = ReportDistrict::SUPPORTER_TABLE
        .iter()
        .map(|district| {
            (
                *district,
                columns.get(district).copied().unwrap_or_default(),
            )
        })
        .collect();
    (ordered, total)
}

/// The names of a people report: route, title.
#[derive(Debug, Clone, Copy)]
pub struct PeopleReport {
    /// The course whose completions count.
    pub course: TrainingKind,
    /// Route name of the district table.
    pub name: &'static str,
    /// Route name of the 市町村 table.
    pub municipality_name: &'static str,
    /// What is counted, e.g. `心のサポーター養成数`.
    pub what: &'static str,
}

/// 心のサポーター養成数.
pub const SUPPORTERS: PeopleReport = PeopleReport {
    course: TrainingKind::KokoroSupporter,
    name: "supporters",
    municipality_name: "supporters-by-municipality",
    what: "心のサポーター養成数",
};

/// 心のサポーター指導者数.
pub const INSTRUCTORS: PeopleReport = PeopleReport {
    course: TrainingKind::KokoroInstructor,
    name: "instructors",
    municipality_name: "instructors-by-municipality",
    what: "心のサポーター指導者数",
};

/// The prefecture's table: one row for the year's new people and one for the 累計, a column per
/// district and 合計.
pub fn district_table(
    conn: &Connection,
    report: PeopleReport,
    year: FiscalYear,
) -> rusqlite::Result<ReportTable> {
    let first = first_completions(conn, report.course, Places::Merged)?;
    let (columns, total) = by_district(&first, year);
    let mut header = vec![Column::new("measure", "区分")];
    header.extend(
        columns
            .iter()
            .map(|(district, _)| Column::new(district.code(), district.label_ja())),
    );
    header.push(Column::new("total", "合計"));
    let row = |label: &str, pick: fn(&NewAndCumulative) -> i64| {
        let mut cells = vec![Cell::text(label)];
        cells.extend(columns.iter().map(|(_, counts)| Cell::count(pick(counts))));
        cells.push(Cell::count(pick(&total)));
        cells
    };
    Ok(ReportTable {
        name: report.name,
        title: format!("{}（圏域別）", report.what),
        fiscal_year: year,
        columns: header,
        rows: vec![
            row(&format!("{}新規", year.japanese()), |c| c.new),
            row(&format!("{}末 累計", year.japanese()), |c| c.cumulative),
        ],
    })
}

/// One row per 市町村 in the prefecture's order, then 県外 and 不明, then 合計.
pub fn municipality_table(
    conn: &Connection,
    report: PeopleReport,
    year: FiscalYear,
) -> rusqlite::Result<ReportTable> {
    const UNKNOWN: &str = "不明";
    let first = first_completions(conn, report.course, Places::Kept)?;
    let mut by_place: BTreeMap<String, NewAndCumulative> = BTreeMap::new();
    let mut total = NewAndCumulative::default();
    for completions in &first {
        let place = completions
            .place
            .clone()
            .unwrap_or_else(|| UNKNOWN.to_owned());
        by_place.entry(place).or_default().add(completions, year);
        total.add(completions, year);
    }
    let outside = Place::OutsidePrefecture.to_string();
    let mut places: Vec<(String, String)> = Municipality::all()
        .map(|m| {
            let column = m.district().supporter_table_column();
            (m.name().to_owned(), column.label_ja().to_owned())
        })
        .collect();
    places.push((outside, ReportDistrict::Other.label_ja().to_owned()));
    places.push((
        UNKNOWN.to_owned(),
        ReportDistrict::Other.label_ja().to_owned(),
    ));
    let mut rows: Vec<Vec<Cell>> = places
        .into_iter()
        .map(|(place, district)| {
            let counts = by_place.get(&place).copied().unwrap_or_default();
            vec![
                Cell::Text(place),
                Cell::Text(district),
                Cell::count(counts.new),
                Cell::count(counts.cumulative),
            ]
        })
        .collect();
    rows.push(vec![
        Cell::text("合計"),
        Cell::Empty,
        Cell::count(total.new),
        Cell::count(total.cumulative),
    ]);
    Ok(ReportTable {
        name: report.municipality_name,
        title: format!("{}（市町村別）", report.what),
        fiscal_year: year,
        columns: vec![
            Column::new("municipality", "市町村"),
            Column::new("district", "圏域"),
            Column::new("new", format!("{}新規", year.japanese())),
            Column::new("cumulative", "累計"),
        ],
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (doc id, attendee id, person, district, place, completed, withdrawn).
    type Attendee<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        bool,
        bool,
    );

    /// Sessions as (doc id, course, date, fiscal year), and their attendees.
    fn database(sessions: &[(&str, &str, &str, u16)], attendees: &[Attendee<'_>]) -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrations");
        // The registry rows the sessions reference are not what this counts.
        conn.pragma_update(None, "foreign_keys", "OFF")
            .expect("foreign keys off");
        for (doc, course, held_on, year) in sessions {
            conn.execute(
                "INSERT INTO proj_sessions (doc_id, course, host, held_on, fiscal_year, \
                 venue_municipality, venue_area, capacity) \
                 VALUES (?1, ?2, 'prefecture', ?3, ?4, '仙台市', 'sendai', 40)",
                rusqlite::params![doc, course, held_on, year],
            )
            .expect("session");
        }
        for (doc, id, person, district, place, completed, withdrawn) in attendees {
            conn.execute(
                "INSERT INTO proj_attendees (doc_id, attendee_id, person_key, affiliation, \
                 district, checked_in, completed, ring_given, sticker_given, withdrawn, place) \
                 VALUES (?1, ?2, ?3, 'community_resident', ?4, 1, ?5, 0, 0, ?6, ?7)",
                rusqlite::params![doc, id, person, district, completed, withdrawn, place],
            )
            .expect("attendee");
        }
        conn
    }

    #[test]
    fn a_person_counts_once_where_and_when_they_first_completed() {
        let conn = database(
            &[
                ("doc-b", "kokoro_supporter", "2023-06-01", 5),
                // Same day as doc-b: doc-a comes first by id.
                ("doc-a", "kokoro_supporter", "2023-06-01", 5),
                ("doc-c", "kokoro_supporter", "2024-05-01", 6),
                ("doc-d", "kokoro_instructor", "2022-05-01", 4),
            ],
            &[
                // Twice on the same day in two districts: doc-a's counts.
                ("doc-b", "x1", "p1", "sennan", Some("白石市"), true, false),
                (
                    "doc-a",
                    "x9",
                    "p1",
                    "sendai_city",
                    Some("仙台市"),
                    true,
                    false,
                ),
                // Again a year later, moved: still counted in R5 and 仙台市.
                ("doc-c", "x1", "p1", "osaki", Some("大崎市"), true, false),
                // Withdrawn in R5, completed in R6: counts in R6.
                ("doc-a", "x2", "p2", "sennan", Some("白石市"), true, true),
                ("doc-c", "x2", "p2", "osaki", Some("大崎市"), true, false),
                // Never completed: not counted.
                ("doc-c", "x3", "p3", "osaki", Some("大崎市"), false, false),
                // Another course only: not counted.
                ("doc-d", "x1", "p4", "tome", None, true, false),
            ],
        );
        let mut kept = first_completions(&conn, TrainingKind::KokoroSupporter, Places::Kept)
            .expect("first completions");
        kept.sort_by_key(|c| c.fiscal_year);
        let group = |fiscal_year, district, place: &str| FirstCompletions {
            fiscal_year,
            district,
            place: Some(place.to_owned()),
            people: 1,
        };
        assert_eq!(
            kept,
            vec![
                group(5, ReportDistrict::SendaiCity, "仙台市"),
                group(6, ReportDistrict::Osaki, "大崎市"),
            ]
        );
        let merged = first_completions(&conn, TrainingKind::KokoroSupporter, Places::Merged)
            .expect("first completions");
        let r6 = FiscalYear::reiwa(6).expect("R6");
        let (columns, total) = by_district(&merged, r6);
        assert_eq!(
            total,
            NewAndCumulative {
                new: 1,
                cumulative: 2
            }
        );
        let column = |district| {
            columns
                .iter()
                .find(|(d, _)| *d == district)
                .map(|(_, counts)| *counts)
                .expect("column")
        };
        // 仙台市 has no column of its own: その他.
        assert_eq!(
            column(ReportDistrict::Other),
            NewAndCumulative {
                new: 0,
                cumulative: 1
            }
        );
        assert_eq!(
            column(ReportDistrict::Osaki),
            NewAndCumulative {
                new: 1,
                cumulative: 1
            }
        );
        assert_eq!(column(ReportDistrict::Sennan), NewAndCumulative::default());
    }
}
