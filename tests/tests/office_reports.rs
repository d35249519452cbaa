//! The office's reports, against the real server: the R6 fixture is written on a trainer's device
//! (the native sync client), synced over the real WebSocket into SQLite, projected, and the
//! reports must reproduce the prefecture's R6 tables exactly.

use nimo_server::accounts::Role;
use nimo_shared::reference::{Indicator, r6_by_district, r6_trainings};
use nimo_tests::{ApiClient, TestServer, fixtures};
use serde_json::Value;

#[test]
fn the_committed_fixture_is_what_the_generator_makes() -> anyhow::Result<()> {
    let generated = fixtures::generate_r6();
    if std::env::var_os("NIMO_WRITE_FIXTURES").is_some() {
        let mut text = serde_json::to_string_pretty(&generated)?;
        text.push('\n');
        std::fs::write(fixtures::r6_path(), text)?;
    }
    assert_eq!(
        fixtures::load_r6()?,
        generated,
        "tests/fixtures/r6_attendees.json is stale: regenerate it (see nimo_tests::fixtures)"
    );
    Ok(())
}

/// A server holding the R6 fixture, synced by a trainer; returns an office client.
async fn server_with_r6() -> anyhow::Result<(TestServer, ApiClient)> {
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
    fixtures::sync_through_a_device(&trainer, &fixture.sessions, 7).await?;
    let office = server.api_client("office").await?;
    Ok((server, office))
}

/// The `key` values of a report row whose first column is `label`.
fn row<'a>(report: &'a Value, key: &str, label: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row[key] == label))
        .unwrap_or_else(|| panic!("no row {label} in {report}"))
}

/// The district columns of a people report's row, in the table's order, with 合計.
fn district_columns(report: &Value, row_index: usize) -> Vec<(String, i64)> {
    report["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .skip(1)
        .map(|column| {
            let key = column["key"].as_str().expect("key");
            (
                column["label"].as_str().expect("label").to_owned(),
                report["rows"][row_index][key].as_i64().expect("a count"),
            )
        })
        .collect()
}

fn seed_table(indicator: Indicator) -> Vec<(String, i64)> {
    let mut columns: Vec<(String, i64)> = r6_by_district(indicator)
        .into_iter()
        .map(|(district, n)| (district.label_ja().to_owned(), i64::from(n)))
        .collect();
    let total = columns.iter().map(|(_, n)| n).sum();
    columns.push(("合計".to_owned(), total));
    columns
}

#[tokio::test]
async fn records_synced_from_a_device_reproduce_the_r6_tables_exactly() -> anyhow::Result<()> {
    let (server, office) = server_with_r6().await?;

    let supporters = office.get("/api/reports/supporters?year=R6").await?;
    let cumulative = district_columns(&supporters, 1);
    assert_eq!(
        cumulative,
        seed_table(Indicator::KokoroSupportersCumulative)
    );
    assert_eq!(
        cumulative,
        [
            ("仙南", 24),
            ("塩釜", 19),
            ("岩沼", 16),
            ("黒川", 173),
            ("大崎", 22),
            ("栗原", 5),
            ("石巻", 43),
            ("登米", 6),
            ("気仙沼", 9),
            ("その他", 58),
            ("合計", 375),
        ]
        .map(|(d, n)| (d.to_owned(), n))
    );
    assert_eq!(supporters["rows"][0]["total"], 344, "前年比344人増");
    assert_eq!(supporters["rows"][1]["measure"], "令和6年度末 累計");

    let instructors = office.get("/api/reports/instructors?year=R6").await?;
    assert_eq!(
        district_columns(&instructors, 1),
        seed_table(Indicator::KokoroInstructorsCumulative)
    );
    assert_eq!(instructors["rows"][1]["total"], 132);
    assert_eq!(instructors["rows"][0]["total"], 110, "前年比110人増");

    // R7: 20 people came again (kana in katakana) and 10 are new: a person counts once.
    let r7 = office.get("/api/reports/supporters?year=R7").await?;
    assert_eq!(r7["rows"][0]["total"], 10);
    assert_eq!(r7["rows"][1]["total"], 385);
    assert_eq!(r7["rows"][0]["sennan"], 10);

    // By 市町村: the rows add up to the district table, 仙台市 under その他.
    let by_municipality = office
        .get("/api/reports/supporters-by-municipality?year=R6")
        .await?;
    assert_eq!(
        row(&by_municipality, "municipality", "合計")["cumulative"],
        375
    );
    assert_eq!(
        row(&by_municipality, "municipality", "仙台市")["district"],
        "その他"
    );
    let kurokawa: i64 = by_municipality["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["district"] == "黒川")
        .map(|r| r["cumulative"].as_i64().expect("count"))
        .sum();
    assert_eq!(kurokawa, 173);
    let other: i64 = ["仙台市", "県外", "不明"]
        .iter()
        .map(|m| {
            row(&by_municipality, "municipality", m)["cumulative"]
                .as_i64()
                .expect("count")
        })
        .sum();
    assert_eq!(other, 58);

    // Trainings: the seed's R6 table, by host and audience, sessions and attendees (the no-shows
    // and withdrawn entries of each session do not count).
    let trainings = office.get("/api/reports/trainings?year=R6").await?;
    let mut reported: Vec<(String, String, i64, i64)> = trainings["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["course"] == "心のサポーター養成研修")
        .map(|r| {
            (
                r["host"].as_str().expect("host").to_owned(),
                r["audience"].as_str().expect("audience").to_owned(),
                r["sessions"].as_i64().expect("sessions"),
                r["attendees"].as_i64().expect("attendees"),
            )
        })
        .collect();
    reported.sort();
    let mut expected: Vec<(String, String, i64, i64)> = r6_trainings()
        .iter()
        .map(|row| {
            (
                row.host.label_ja(),
                row.audience.label_ja().to_owned(),
                i64::from(row.sessions),
                i64::from(row.attendees),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(reported, expected);

    // Progress: R6's target was 100 supporters by the end of the year.
    let progress = office.get("/api/reports/progress?year=R6").await?;
    let supporters_target = row(&progress, "indicator", "kokoro_supporters_cumulative");
    assert_eq!(supporters_target["target"], 100);
    assert_eq!(supporters_target["actual"], 375);
    assert_eq!(supporters_target["percent"], 375.0);

    // Counts only: no name or kana of the fixture appears in any report.
    for report in [
        "supporters",
        "supporters-by-municipality",
        "instructors",
        "trainings",
    ] {
        let text = office
            .get(&format!("/api/reports/{report}?year=R6"))
            .await?
            .to_string();
        assert!(
            !text.contains("サポーター 1") && !text.contains("さぽーたー"),
            "{report} shows a name"
        );
    }
    server.stop().await
}
