//! One shape for every report: titled columns and rows of cells. The JSON answer, the CSV and the
//! XLSX export are all written from it, so the three can never disagree.

use nimo_shared::FiscalYear;
use serde::ser::{Serialize, SerializeMap as _, SerializeStruct as _, Serializer};

/// One cell of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A label (a district, a kind of training).
    Text(String),
    /// A count of people, sessions, visits …
    Count(i64),
    /// A percentage, one decimal; `None` when it cannot be computed (no target, no actual).
    Percent(Option<f64>),
    /// Nothing recorded (an indicator nimo has no records for).
    Empty,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// A count cell.
    pub fn count(count: impl Into<i64>) -> Cell {
        Cell::Count(count.into())
    }

    fn csv_text(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Count(count) => count.to_string(),
            Cell::Percent(Some(percent)) => format!("{percent:.1}"),
            Cell::Percent(None) | Cell::Empty => String::new(),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(text) => serializer.serialize_str(text),
            Cell::Count(count) => serializer.serialize_i64(*count),
            Cell::Percent(Some(percent)) => serializer.serialize_f64(*percent),
            Cell::Percent(None) | Cell::Empty => serializer.serialize_none(),
        }
    }
}

/// A column: a stable key for the JSON rows, a Japanese header for people and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The key of this column in each JSON row.
    pub key: String,
    /// The header.
    pub label: String,
}

impl Column {
    /// A column.
    pub fn new(key: impl Into<String>, label: impl Into<String>) -> Column {
        Column {
            key: key.into(),
            label: label.into(),
        }
    }
}

/// A finished report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportTable {
    /// The route name, e.g. `supporters`; also the export's file name.
    pub name: &'static str,
    /// The title, e.g. `心のサポーター養成数（圏域別）`.
    pub title: String,
    /// The fiscal year it is for.
    pub fiscal_year: FiscalYear,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Its rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl ReportTable {
    /// The file name of an export, e.g. `supporters-R6.csv`.
    pub fn file_name(&self, extension: &str) -> String {
        format!("{}-{}.{extension}", self.name, self.fiscal_year)
    }

    /// UTF-8 CSV with a byte-order mark (so Excel reads the Japanese correctly), a header line of
    /// the Japanese column labels, CRLF line ends.
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(b"\xEF\xBB\xBF".to_vec());
        writer.write_record(self.columns.iter().map(|c| c.label.as_str()))?;
        for row in &self.rows {
            writer.write_record(row.iter().map(Cell::csv_text))?;
        }
        writer
            .into_inner()
            .map_err(|error| csv::Error::from(error.into_error()))
    }

    /// An XLSX workbook with one sheet: the header row in bold, counts as numbers.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut workbook = Workbook::new();
        let bold = Format::new().set_bold();
        let percent = Format::new().set_num_format("0.0");
        let sheet = workbook.add_worksheet();
        sheet.set_name(sheet_name(&self.title))?;
        for (col, column) in (0u16..).zip(&self.columns) {
            sheet.write_string_with_format(0, col, &column.label, &bold)?;
            let width = column.label.chars().count().max(6) * 2 + 2;
            sheet.set_column_width(col, u32::try_from(width).unwrap_or(30))?;
        }
        for (row_index, row) in (1u32..).zip(&self.rows) {
            for (col, cell) in (0u16..).zip(row) {
                match cell {
                    Cell::Text(text) => {
                        sheet.write_string(row_index, col, text)?;
                    }
                    Cell::Count(count) => {
                        // Counts stay far below 2^53: exact as an f64.
                        #[allow(clippy::cast_precision_loss)]
                        sheet.write_number(row_index, col, *count as f64)?;
                    }
                    Cell::Percent(Some(value)) => {
                        sheet.write_number_with_format(row_index, col, *value, &percent)?;
                    }
                    Cell::Percent(None) | Cell::Empty => {}
                }
            }
        }
        workbook.save_to_buffer()
    }
}

/// An Excel sheet name: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(title: &str) -> String {
    title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect()
}

/// The JSON answer: `{report, title, fiscal_year, fiscal_year_label, columns, rows}` where each
/// row is an object keyed by the column keys.
impl Serialize for ReportTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Row<'a>(&'a [Column], &'a [Cell]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (column, cell) in self.0.iter().zip(self.1) {
                    map.serialize_entry(&column.key, cell)?;
                }
                map.end()
            }
        }
        struct Columns<'a>(&'a [Column]);
        impl Serialize for Columns<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0.iter().map(
                        |column| serde_json::json!({ "key": column.key, "label": column.label }),
                    ),
                )
            }
        }
        let rows: Vec<Row<'_>> = self
            .rows
            .iter()
            .map(|row| Row(&self.columns, row))
            .collect();
        let mut out = serializer.serialize_struct("ReportTable", 6)?;
        out.serialize_field("report", self.name)?;
        out.serialize_field("title", &self.title)?;
        out.serialize_field("fiscal_year", &self.fiscal_year.to_string())?;
        out.serialize_field("fiscal_year_label", &self.fiscal_year.japanese())?;
        out.serialize_field("columns", &Columns(&self.columns))?;
        out.serialize_field("rows", &rows)?;
        out.end()
    }
}

/// A percentage of `actual` against `target`, rounded to one decimal.
pub fn percent(actual: Option<i64>, target: Option<i64>) -> Option<f64> {
    match (actual, target) {
        #[allow(clippy::cast_precision_loss)]
        (Some(actual), Some(target)) if target > 0 => {
            Some((actual as f64 * 1000.0 / target as f64).round() / 10.0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ReportTable {
        ReportTable {
            name: "sample",
            title: "見本: 表/1".to_owned(),
            fiscal_year: "R6".parse().expect("year"),
            columns: vec![Column::new("label", "区分"), Column::new("n", "人数")],
            rows: vec![
                vec![Cell::text("仙南, \"県\""), Cell::count(24)],
                vec![Cell::text("合計"), Cell::Empty],
            ],
        }
    }

    #[test]
    fn csv_starts_with_a_bom_and_quotes_what_needs_quoting() {
        let csv = String::from_utf8(table().to_csv().expect("csv")).expect("utf-8");
        assert_eq!(
            csv,
            "\u{feff}区分,人数\r\n\"仙南, \"\"県\"\"\",24\r\n合計,\r\n"
        );
    }

    #[test]
    fn json_rows_are_keyed_by_column() {
        let json = serde_json::to_value(table()).expect("json");
        assert_eq!(json["fiscal_year_label"], "令和6年度");
        assert_eq!(json["rows"][0]["n"], 24);
        assert!(json["rows"][1]["n"].is_null());
    }

    #[test]
    fn percentages_need_a_positive_target() {
        assert_eq!(percent(Some(375), Some(100)), Some(375.0));
        assert_eq!(percent(Some(1), Some(3)), Some(33.3));
        assert_eq!(percent(Some(1), Some(0)), None);
        assert_eq!(percent(None, Some(3)), None);
    }

    #[test]
    fn sheet_names_drop_forbidden_characters() {
        assert_eq!(sheet_name("見本: 表/1"), "見本 表1");
    }
}
