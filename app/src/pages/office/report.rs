//! A report as the server sends it (`GET /api/reports/{name}`), and a plain table of it.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::sync::net::{self, NetError};

/// A column of a report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReportColumn {
    /// The key of the column's values in each row.
    pub key: String,
    /// Its Japanese header.
    pub label: String,
}

/// A report: titled columns and rows keyed by column.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Report {
    /// Its title.
    pub title: String,
    /// e.g. 令和6年度.
    pub fiscal_year_label: String,
    /// Its columns.
    pub columns: Vec<ReportColumn>,
    /// Its rows.
    pub rows: Vec<Map<String, Value>>,
}

impl Report {
    /// The count in `row` at `key` (0 when absent or not a number).
    pub fn count(row: &Map<String, Value>, key: &str) -> i64 {
        row.get(key).and_then(Value::as_i64).unwrap_or(0)
    }

    /// The text in `row` at `key`.
    pub fn text(row: &Map<String, Value>, key: &str) -> String {
        match row.get(key) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(n)) if n.is_i64() => n.to_string(),
            Some(Value::Number(n)) => format!("{:.1}", n.as_f64().unwrap_or_default()),
            _ => String::new(),
        }
    }
}

/// Fetches report `name` for `year` (e.g. `R6`).
pub async fn fetch(name: &str, year: &str) -> Result<Report, NetError> {
    net::get_json(&format!("/api/reports/{name}?year={year}")).await
}

/// The report as an HTML table (without the machine-readable indicator codes).
#[component]
pub fn ReportTable(report: Report) -> impl IntoView {
    let columns: Vec<ReportColumn> = report
        .columns
        .iter()
        .filter(|c| c.key != "indicator")
        .cloned()
        .collect();
    let header = columns
        .iter()
        .map(|c| view! { <th scope="col">{c.label.clone()}</th> })
        .collect_view();
    let rows = report
        .rows
        .iter()
        .map(|row| {
            let cells = columns
                .iter()
                .map(|c| view! { <td>{Report::text(row, &c.key)}</td> })
                .collect_view();
            view! { <tr>{cells}</tr> }
        })
        .collect_view();
    view! {
        <table class="report">
            <caption>{format!("{}（{}）", report.title, report.fiscal_year_label)}</caption>
            <thead><tr>{header}</tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
