//! The office's reports, against the real server: the R6 fixture is written on a trainer's device
//! (the native sync client), synced over the real WebSocket into SQLite, projected, and the
//! reports must reproduce the prefecture's R6 tables exactly.

use nimo_server::accounts::Role;
use nimo_shared::reference::{Indicator, r6_by_district, r6_trainings};
use nimo_tests::{ApiClient, TestServer, fixtures};
use serde_json::{Value, json};

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

/// Writes visit cases (as a visitor), council meetings and peer-support groups (as the office)
/// through the sync path, and checks the visit, council and peer-support reports and the
/// targets they feed.
#[tokio::test]
async fn visit_council_and_peer_support_reports_count_what_was_synced() -> anyhow::Result<()> {
    use nimo_shared::{
        ActivityId, DeviceId, Timestamp, UserId, VisitId,
        records::{council::*, peer::*, visit::*},
    };
    let mut server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    server.add_user("office", Role::Office, None, false).await?;
    let office = server.api_client("office").await?;
    let visitor = server.api_client(&first.login).await?;
    let actor = DeviceId::from_random_bytes([0x71; 16]).actor_id();
    let at = Timestamp::from_unix_millis(1_720_000_000_000);
    let pair = VisitorPair {
        professional: first.id.parse::<UserId>()?,
        non_professional: second.id.parse::<UserId>()?,
    };
    let case = |code: &str, visits: &[&str], discharged: Option<&str>| -> anyhow::Result<_> {
        let visits = visits
            .iter()
            .enumerate()
            .map(|(n, on)| {
                Ok((
                    VisitId::from_random_bytes([u8::try_from(n)?; 16]),
                    Visit {
                        date: on.parse()?,
                        visitors: pair.clone(),
                        duration_minutes: 40,
                        topics: [VisitTopic::Listening].into(),
                        notes: "病棟での生活について傾聴".into(),
                        follow_up: None,
                        next_visit_on: None,
                    },
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let case = VisitCase {
            patient_code: code.parse()?,
            hospital: "県立精神医療センター".into(),
            hospital_municipality: "名取市".parse()?,
            eligibility: Eligibility::MayorConsentMedicalProtection,
            requested_on: "2024-05-01".parse()?,
            assigned: pair.clone(),
            status: CaseStatus::Open,
            discharged_on: discharged.map(str::parse).transpose()?,
            visits,
        };
        Ok(fixtures::NewDocument {
            doc: nimo_shared::doc::create(&case, actor.clone(), at)?,
            kind: "visit_case",
            members: vec![first.id.clone(), second.id.clone()],
        })
    };
    fixtures::sync_documents(
        &visitor,
        vec![
            // Discharged 245 days after the first visit: within a year.
            case(
                "MY-2024-0001",
                &["2024-06-01", "2024-07-01"],
                Some("2025-02-01"),
            )?,
            // The same patient again: a second dispatch, still one patient.
            case("MY-2024-0001", &["2025-01-10"], None)?,
            // First visited on the last day of R6; discharged 367 days later: not within a year.
            case("MY-2024-0002", &["2025-03-31"], Some("2026-04-02"))?,
        ],
        21,
    )
    .await?;

    let council = |level, area: Option<&str>, municipality: Option<&str>, on: &str, lived: u32| {
        let meeting = CouncilMeeting {
            level,
            area: area.map(str::parse).transpose()?,
            municipality: municipality.map(str::parse).transpose()?,
            title: "協議の場".into(),
            date: on.parse()?,
            attendance: [
                (ParticipantCategory::Government, 5),
                (ParticipantCategory::LivedExperience, lived),
            ]
            .into(),
        };
        anyhow::Ok(fixtures::NewDocument {
            doc: nimo_shared::doc::create(&meeting, actor.clone(), at)?,
            kind: "council_meeting",
            members: Vec::new(),
        })
    };
    let group =
        |organisation, municipality: &str, subsidy: Option<u64>, activities: &[(&str, u32)]| {
            let group = PeerSupportGroup {
                name: "ピアの会".into(),
                organisation,
                municipality: municipality.parse()?,
                subsidies: subsidy
                    .map(|yen| "R6".parse().map(|year| (year, yen)))
                    .transpose()?
                    .into_iter()
                    .collect(),
                activities: activities
                    .iter()
                    .enumerate()
                    .map(|(n, (on, participants))| {
                        Ok((
                            ActivityId::from_random_bytes([u8::try_from(n)? + 1; 16]),
                            PeerActivity {
                                activity: PeerActivityKind::Exchange,
                                date: on.parse()?,
                                participants: *participants,
                                note: None,
                            },
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?,
            };
            anyhow::Ok(fixtures::NewDocument {
                doc: nimo_shared::doc::create(&group, actor.clone(), at)?,
                kind: "peer_support_group",
                members: Vec::new(),
            })
        };
    fixtures::sync_documents(
        &office,
        vec![
            council(
                CouncilLevel::Municipality,
                None,
                Some("富谷市"),
                "2024-06-10",
                0,
            )?,
            council(
                CouncilLevel::Municipality,
                None,
                Some("富谷市"),
                "2024-11-10",
                0,
            )?,
            council(
                CouncilLevel::Municipality,
                None,
                Some("女川町"),
                "2024-09-01",
                2,
            )?,
            council(CouncilLevel::Area, Some("sennan"), None, "2024-10-01", 0)?,
            // R7: not counted in R6.
            council(
                CouncilLevel::Municipality,
                None,
                Some("登米市"),
                "2025-04-01",
                1,
            )?,
            group(
                PeerOrganisation::Group,
                "石巻市",
                Some(200_000),
                &[("2024-05-01", 5), ("2024-12-01", 7)],
            )?,
            group(
                PeerOrganisation::ServiceOffice,
                "登米市",
                None,
                &[("2025-03-01", 3)],
            )?,
            // Subsidised but with no activity in R6: not "using" peer support this year.
            group(
                PeerOrganisation::Group,
                "気仙沼市",
                Some(150_000),
                &[("2025-04-10", 4)],
            )?,
        ],
        22,
    )
    .await?;

    let visits = office.get("/api/reports/visits?year=R6").await?;
    let figure = |report: &Value, label: &str, column: &str| {
        row(report, "measure", label)[column]
            .as_i64()
            .expect("a count")
    };
    assert_eq!(figure(&visits, "支援を受けた入院者数（人）", "year"), 2);
    assert_eq!(figure(&visits, "訪問回数（回）", "year"), 4);
    assert_eq!(figure(&visits, "支援員の派遣件数（件）", "year"), 3);
    assert_eq!(
        figure(&visits, "初回訪問から1年以内の退院者数（人）", "year"),
        1
    );
    assert!(
        !visits.to_string().contains("MY-2024"),
        "no patient code in a report"
    );
    let r7 = office.get("/api/reports/visits?year=R7").await?;
    assert_eq!(figure(&r7, "支援を受けた入院者数（人）", "year"), 0);
    assert_eq!(figure(&r7, "支援を受けた入院者数（人）", "cumulative"), 2);
    assert_eq!(
        figure(&r7, "初回訪問から1年以内の退院者数（人）", "cumulative"),
        1
    );

    let councils = office.get("/api/reports/councils?year=R6").await?;
    let municipal = row(&councils, "level", "市町村");
    assert_eq!(municipal["meetings"], 3);
    assert_eq!(municipal["places"], 2);
    assert_eq!(municipal["meetings_with_lived_experience"], 1);
    assert_eq!(municipal["places_with_lived_experience"], 1);
    let area = row(&councils, "level", "圏域");
    assert_eq!(
        (area["meetings"].clone(), area["places"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        area["meetings_with_lived_experience"], 0,
        "the seed's gap: no 当事者 at 圏域 level"
    );

    let peer = office.get("/api/reports/peer-support?year=R6").await?;
    let value = |label: &str| {
        row(&peer, "measure", label)["value"]
            .as_i64()
            .expect("a count")
    };
    assert_eq!(value("ピアサポートを活用した市町村数"), 2);
    assert_eq!(value("ピアサポートを活用した事業所数"), 1);
    assert_eq!(value("補助金交付団体数"), 2);
    assert_eq!(value("補助金交付額"), 350_000);
    assert_eq!(value("活動回数"), 3);
    assert_eq!(value("活動参加者数"), 15);

    // The R7 council target counts 市町村 whose council met in R7.
    let progress = office.get("/api/reports/progress?year=R7").await?;
    let municipalities = row(&progress, "indicator", "council_municipalities");
    assert_eq!(
        (
            municipalities["target"].clone(),
            municipalities["actual"].clone()
        ),
        (json!(35), json!(1))
    );
    assert_eq!(municipalities["percent"], 2.9);
    let patients = row(&progress, "indicator", "visit_support_patients");
    assert_eq!(
        (patients["target"].clone(), patients["actual"].clone()),
        (json!(10), json!(2))
    );

    // Rows of an older shape are rebuilt at start: drop them and mark them old.
    server
        .state
        .db
        .call(|conn| -> Result<(), nimo_server::db::DbError> {
            conn.execute_batch(
                "DELETE FROM proj_visits; DELETE FROM proj_visit_cases; \
                 UPDATE projection_state SET version = 1;",
            )?;
            Ok(())
        })
        .await?;
    server.stop_serving().await?;
    server.serve_again().await?;
    let rebuilt = office.get("/api/reports/visits?year=R6").await?;
    assert_eq!(rebuilt, visits);
    server.stop().await
}
