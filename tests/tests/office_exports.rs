//! The office's exports (CSV with BOM, XLSX) opened back and compared with the JSON, the OpenAPI
//! document, who may read reports, and editing targets — against the real server.

use std::io::Cursor;

use calamine::{Data, Reader as _, Xlsx};
use nimo_server::accounts::Role;
use nimo_tests::{ApiClient, TestServer, fixtures};
use serde_json::{Value, json};

/// Every report the office must have; written out here, apart from the server's own list, so
/// a report dropped from the router or from the OpenAPI document fails this test.
const REPORTS: [&str; 10] = [
    "supporters",
    "supporters-by-municipality",
    "instructors",
    "instructors-by-municipality",
    "trainings",
    "trainings-monthly",
    "visits",
    "councils",
    "peer-support",
    "progress",
];

/// A server with the first sessions of the R6 fixture, synced by a trainer.
async fn server_with_some_sessions() -> anyhow::Result<(TestServer, ApiClient, ApiClient)> {
    let server = TestServer::start().await?;
    server
        .add_user(
            "trainer",
            Role::Trainer,
            Some("精神保健福祉センター"),
            false,
        )
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let trainer = server.api_client("trainer").await?;
    let fixture = fixtures::load_r6()?;
    fixtures::sync_through_a_device(&trainer, &fixture.sessions[..4], 11).await?;
    let office = server.api_client("office").await?;
    Ok((server, office, trainer))
}

async fn download(
    client: &ApiClient,
    path: &str,
) -> anyhow::Result<(reqwest::header::HeaderMap, Vec<u8>)> {
    let response = client
        .request(reqwest::Method::GET, path)
        .send()
        .await?
        .error_for_status()?;
    let headers = response.headers().clone();
    Ok((headers, response.bytes().await?.to_vec()))
}

/// A JSON cell as the CSV writes it.
fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(n) if n.is_i64() => n.to_string(),
        Value::Number(n) => format!("{:.1}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

/// The JSON report as a grid: header labels, then each row's values in column order.
fn grid(report: &Value) -> (Vec<String>, Vec<Vec<Value>>) {
    let columns = report["columns"].as_array().expect("columns");
    let labels = columns
        .iter()
        .map(|c| c["label"].as_str().expect("label").to_owned())
        .collect();
    let rows = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row[c["key"].as_str().expect("key")].clone())
                .collect()
        })
        .collect();
    (labels, rows)
}

#[tokio::test]
async fn every_report_exports_to_csv_and_xlsx_with_the_values_of_its_json() -> anyhow::Result<()> {
    let (server, office, _) = server_with_some_sessions().await?;
    for name in REPORTS {
        let report = office.get(&format!("/api/reports/{name}?year=R6")).await?;
        let (labels, rows) = grid(&report);
        assert!(!rows.is_empty(), "{name} has rows");

        let (headers, csv_bytes) =
            download(&office, &format!("/api/reports/{name}?year=R6&format=csv")).await?;
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{name}-R6.csv\"").as_str()
        );
        let body = csv_bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or_else(|| panic!("{name}.csv starts with a UTF-8 byte-order mark"));
        let mut reader = csv::Reader::from_reader(body);
        let csv_headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
        assert_eq!(csv_headers, labels, "{name}.csv headers");
        let csv_rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
            .collect::<Result<_, _>>()?;
        let expected: Vec<Vec<String>> = rows
            .iter()
            .map(|row| row.iter().map(as_text).collect())
            .collect();
        assert_eq!(csv_rows, expected, "{name}.csv values");

        let (headers, xlsx_bytes) =
            download(&office, &format!("/api/reports/{name}?year=R6&format=xlsx")).await?;
        assert_eq!(
            headers["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(xlsx_bytes))?;
        let range = workbook
            .worksheet_range_at(0)
            .ok_or_else(|| anyhow::anyhow!("{name}.xlsx has no sheet"))??;
        let mut sheet_rows = range.rows();
        let header: Vec<String> = sheet_rows
            .next()
            .expect("a header row")
            .iter()
            .map(|cell| cell.to_string())
            .collect();
        assert_eq!(header, labels, "{name}.xlsx headers");
        let sheet: Vec<Vec<Data>> = sheet_rows.map(<[Data]>::to_vec).collect();
        assert_eq!(sheet.len(), rows.len(), "{name}.xlsx row count");
        for (sheet_row, json_row) in sheet.iter().zip(&rows) {
            for (index, json_cell) in json_row.iter().enumerate() {
                let cell = sheet_row.get(index).cloned().unwrap_or(Data::Empty);
                let same = match (&cell, json_cell) {
                    (Data::Empty, Value::Null) => true,
                    (Data::String(text), Value::String(expected)) => text == expected,
                    (Data::Float(number), Value::Number(expected)) => {
                        (number - expected.as_f64().unwrap_or(f64::NAN)).abs() < 1e-9
                    }
                    (Data::Int(number), Value::Number(expected)) => {
                        Some(*number) == expected.as_i64()
                    }
                    _ => false,
                };
                assert!(same, "{name}.xlsx: {cell:?} where the JSON has {json_cell}");
            }
        }
    }

    // A figure worth checking by hand: the first session holds the 31 people of R5, 黒川 first.
    let supporters = office.get("/api/reports/supporters?year=R5").await?;
    assert_eq!(supporters["rows"][0]["total"], 31);
    let (_, csv_bytes) = download(&office, "/api/reports/supporters?year=R5&format=csv").await?;
    let text = String::from_utf8(csv_bytes)?;
    assert!(
        text.contains("\r\n令和5年度新規,0,0,0,31,0,0,0,0,0,0,31\r\n"),
        "{text}"
    );
    server.stop().await
}

#[tokio::test]
async fn the_openapi_document_lists_every_report_and_only_office_staff_read_reports()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("石巻"), false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let office = server.api_client("office").await?;
    let trainer = server.api_client("trainer").await?;

    let openapi: Value = reqwest::get(server.url("/api/openapi.json"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(openapi["openapi"], "3.1.0");
    for name in REPORTS {
        let path = &openapi["paths"][format!("/api/reports/{name}")];
        assert!(path["get"].is_object(), "{name} is documented");
        assert!(
            path["get"]["responses"]["200"]["content"]["text/csv"].is_object(),
            "{name}'s CSV export is documented"
        );
    }
    assert!(openapi["paths"]["/api/targets"]["put"].is_object());

    let listed: Vec<String> = office
        .get("/api/reports")
        .await?
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(listed, REPORTS);
    let documented = openapi["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter_map(|p| p.strip_prefix("/api/reports/"))
        .count();
    assert_eq!(documented, REPORTS.len(), "no undocumented extra");

    let refused = trainer
        .request(reqwest::Method::GET, "/api/reports/supporters?year=R6")
        .send()
        .await?;
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    let body: Value = refused.json().await?;
    assert_eq!(body["error"], "この操作を行う権限がありません。");
    let anonymous = reqwest::get(server.url("/api/reports/supporters")).await?;
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);

    let unknown = office
        .request(reqwest::Method::GET, "/api/reports/nothing?year=R6")
        .send()
        .await?;
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    let bad_year = office
        .request(reqwest::Method::GET, "/api/reports/supporters?year=2024")
        .send()
        .await?;
    assert_eq!(bad_year.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: Value = bad_year.json().await?;
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("年度「2024」")
    );
    server.stop().await
}

#[tokio::test]
async fn targets_are_seeded_from_the_plan_and_the_office_edits_them_per_year() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("石巻"), false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let office = server.api_client("office").await?;
    let trainer = server.api_client("trainer").await?;

    let targets = office.get("/api/targets").await?;
    let targets = targets.as_array().expect("a list");
    assert_eq!(targets.len(), nimo_shared::reference::targets().len());
    let r7 = targets
        .iter()
        .find(|t| t["indicator"] == "kokoro_supporters_cumulative" && t["fiscal_year"] == "R7")
        .expect("the plan's R7 target");
    assert_eq!(r7["target"], 500);
    assert_eq!(r7["unit"], "人");
    assert_eq!(r7["edited"], false);

    let progress = office.get("/api/reports/progress?year=R7").await?;
    let supporters = progress["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["indicator"] == "kokoro_supporters_cumulative")
        .expect("a supporters row")
        .clone();
    assert_eq!(supporters["target"], 500);
    assert_eq!(supporters["actual"], 0);
    assert_eq!(supporters["percent"], 0.0);
    let coordinators = progress["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["indicator"] == "coordinators")
        .expect("a coordinators row")
        .clone();
    assert!(
        coordinators["actual"].is_null(),
        "no records, no made-up zero"
    );
    assert!(coordinators["percent"].is_null());

    let (status, changed) = office
        .request(reqwest::Method::PUT, "/api/targets")
        .json(&json!({ "indicator": "kokoro_supporters_cumulative", "fiscal_year": "R7", "target": 800 }))
        .send()
        .await
        .map(|r| (r.status(), r))?;
    assert_eq!(status, reqwest::StatusCode::OK);
    let changed: Value = changed.json().await?;
    assert_eq!(changed["target"], 800);
    assert_eq!(changed["edited"], true);
    let progress = office.get("/api/reports/progress?year=R7").await?;
    assert!(
        progress["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["indicator"] == "kokoro_supporters_cumulative" && r["target"] == 800)
    );
    // A year the plan has no target for gets one.
    office
        .request(reqwest::Method::PUT, "/api/targets")
        .json(&json!({ "indicator": "peer_supporters_trained", "fiscal_year": "R9", "target": 20 }))
        .send()
        .await?
        .error_for_status()?;
    let progress = office.get("/api/reports/progress?year=R9").await?;
    let peer = progress["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["indicator"] == "peer_supporters_trained")
        .expect("the new target")
        .clone();
    assert_eq!(
        (peer["target"].clone(), peer["unit"].clone()),
        (json!(20), json!("人"))
    );

    let bad = office
        .request(reqwest::Method::PUT, "/api/targets")
        .json(&json!({ "indicator": "happiness", "fiscal_year": "R7", "target": 1 }))
        .send()
        .await?;
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await?;
    assert_eq!(body["error"], "指標「happiness」は存在しません。");
    let refused = trainer
        .request(reqwest::Method::PUT, "/api/targets")
        .json(&json!({ "indicator": "kokoro_supporters_cumulative", "fiscal_year": "R7", "target": 1 }))
        .send()
        .await?;
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);

    // Edits survive a restart: seeding from the plan never overwrites them.
    let mut server = server;
    server.stop_serving().await?;
    server.serve_again().await?;
    let targets = office.get("/api/targets").await?;
    assert!(
        targets
            .as_array()
            .expect("a list")
            .iter()
            .any(|t| t["fiscal_year"] == "R7"
                && t["indicator"] == "kokoro_supporters_cumulative"
                && t["target"] == 800)
    );
    server.stop().await
}
