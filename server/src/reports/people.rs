//! 心のサポーター, 指導者 and ピアサポーター: people who completed a course, each counted once, in
//! the fiscal year of their first completion and the district (and 市町村) they counted in then
//! (DOMAIN.md). The same rule as `nimo_shared::counts::people`, over the projection's rows.

use std::collections::BTreeMap;

use nimo_shared::{
    FiscalYear, Municipality, Place, ReportDistrict, records::training::TrainingKind,
};
use rusqlite::Connection;

use super::table::{Cell, Column, ReportTable};

/// One person's first completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstCompletion {
    /// The fiscal year they count in.
    pub fiscal_year: u16,
    /// The district they count in.
    pub district: ReportDistrict,
    /// The 市町村 (or 県外) they count in; `None` when unknown.
    pub place: Option<String>,
}

/// Every person who completed `course`, by pseudonymous person key. Ties on the same day are
/// broken by document and attendee id, so the answer never depends on row order.
pub fn first_completions(
    conn: &Connection,
    course: TrainingKind,
) -> rusqlite::Result<BTreeMap<String, FirstCompletion>> {
    let mut statement = conn.prepare(
        "SELECT a.person_key, s.fiscal_year, a.district, a.place \
         FROM proj_attendees a JOIN proj_sessions s ON s.doc_id = a.doc_id \
         WHERE s.course = ?1 AND a.completed = 1 AND a.withdrawn = 0 \
         ORDER BY s.held_on, a.doc_id, a.attendee_id",
    )?;
    let mut rows = statement.query([course.code()])?;
    let mut first = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if first.contains_key(&key) {
            continue;
        }
        let district: String = row.get(2)?;
        first.insert(
            key,
            FirstCompletion {
                fiscal_year: row.get(1)?,
                // A code this build does not know cannot be placed: その他.
                district: district.parse().unwrap_or(ReportDistrict::Other),
                place: row.get(3)?,
            },
        );
    }
    Ok(first)
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
    fn add(&mut self, completion: &FirstCompletion, year: FiscalYear) {
        let reiwa = year.reiwa_number();
        self.new += i64::from(completion.fiscal_year == reiwa);
        self.cumulative += i64::from(completion.fiscal_year <= reiwa);
    }
}

/// Counts by the columns of the prefecture's table (仙台市 under その他), and the total.
pub fn by_district(
    first: &BTreeMap<String, FirstCompletion>,
    year: FiscalYear,
) -> (Vec<(ReportDistrict, NewAndCumulative)>, NewAndCumulative) {
    let mut columns: BTreeMap<ReportDistrict, NewAndCumulative> = BTreeMap::new();
    let mut total = NewAndCumulative::default();
    for completion in first.values() {
        columns
            .entry(completion.district.supporter_table_column())
            .or_default()
            .add(completion, year);
        total.add(completion, year);
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
    let first = first_completions(conn, report.course)?;
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
    let first = first_completions(conn, report.course)?;
    let mut by_place: BTreeMap<String, NewAndCumulative> = BTreeMap::new();
    let mut total = NewAndCumulative::default();
    for completion in first.values() {
        let place = completion
            .place
            .clone()
            .unwrap_or_else(|| UNKNOWN.to_owned());
        by_place.entry(place).or_default().add(completion, year);
        total.add(completion, year);
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
