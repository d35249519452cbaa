//! The office's reconciliation, against the real server: devices with their last sync and
//! unconfirmed documents, the conflict queue resolved as a normal change, and likely duplicate
//! people merged without losing either source entry.

use std::time::Duration;

use nimo_server::accounts::Role;
use nimo_shared::{AttendeeId, DeviceId, Timestamp, records::roster};
use nimo_tests::{
    ApiClient, TestServer,
    fixtures::{self, FixtureAttendee, FixtureSession, NewDocument},
};
use serde_json::{Value, json};

async fn server() -> anyhow::Result<(TestServer, ApiClient, ApiClient)> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("女川"), false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let trainer = server.api_client("trainer").await?;
    let office = server.api_client("office").await?;
    Ok((server, trainer, office))
}

fn attendee(name: &str, kana: &str, place: &str, birth_year: Option<u16>) -> FixtureAttendee {
    FixtureAttendee {
        name: name.to_owned(),
        kana: kana.to_owned(),
        affiliation: "community_resident".to_owned(),
        residence: Some(place.to_owned()),
        workplace: None,
        birth_year,
        checked_in: true,
        completed: true,
        withdrawn: false,
    }
}

fn session(date: &str, attendees: Vec<FixtureAttendee>) -> FixtureSession {
    FixtureSession {
        course: "kokoro_supporter".to_owned(),
        audience: Some("community".to_owned()),
        host: "co_hosted:女川町".to_owned(),
        date: date.to_owned(),
        venue_municipality: "女川町".to_owned(),
        attendees,
    }
}

async fn post(client: &ApiClient, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let (status, answer) = client.post(path, body).await?;
    Ok((status.as_u16(), answer))
}

/// Polls `path` until `done` holds, for up to ten seconds.
async fn poll(
    client: &ApiClient,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    for _ in 0..200 {
        let value = client.get(path).await?;
        if done(&value) {
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path} never reached the expected state")
}

#[tokio::test]
async fn a_conflict_is_listed_and_the_value_a_person_picks_is_written_back() -> anyhow::Result<()> {
    let (server, trainer, office) = server().await?;
    // Two tablets of the session, offline: one marks 宮城 花子 修了, the other takes it back.
    let mut not_yet = attendee("宮城 花子", "みやぎ はなこ", "女川町", None);
    not_yet.completed = false;
    let fixture = session("2024-06-01", vec![not_yet]);
    let mut doc = fixture.to_doc(DeviceId::from_random_bytes([1; 16]).actor_id(), 0)?;
    let mut other = doc
        .fork()
        .with_actor(DeviceId::from_random_bytes([2; 16]).actor_id());
    let id = AttendeeId::from_random_bytes([0; 16]);
    let at = Timestamp::from_unix_millis(1_717_200_000_000);
    roster::mark_completed(&mut doc, id, true, at)?;
    // (A write of the value a field already has is skipped, so the other tablet marks and
    // unmarks: its last write is 未修了.)
    roster::mark_completed(&mut other, id, true, at)?;
    roster::mark_completed(&mut other, id, false, at)?;
    doc.merge(&mut other)?;
    let ids = fixtures::sync_documents(
        &trainer,
        vec![NewDocument {
            doc,
            kind: "training_session",
            members: Vec::new(),
        }],
        41,
    )
    .await?;
    let doc_id = ids[0].to_string();

    let queue = office.get("/api/office/conflicts").await?;
    let queue = queue.as_array().expect("a list");
    assert_eq!(queue.len(), 1, "{queue:?}");
    let item = &queue[0];
    assert_eq!(item["doc_id"], doc_id);
    assert_eq!(item["path"], format!("roster/{id}/completed"));
    assert_eq!(item["attendee"], "宮城 花子");
    assert_eq!(item["context"], "研修 2024-06-01 女川町 会場");
    let mut values: Vec<String> = item["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v.as_str().expect("text").to_owned())
        .collect();
    let mut sorted = values.clone();
    sorted.sort();
    assert_eq!(sorted, ["いいえ", "はい"]);

    // A choice made on an outdated list is refused.
    values.reverse();
    let (status, answer) = post(
        &office,
        "/api/office/conflicts/resolve",
        json!({ "doc_id": doc_id, "path": item["path"], "values": values, "choice": 0 }),
    )
    .await?;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "outdated");
    values.reverse();
    let refused = post(
        &trainer,
        "/api/office/conflicts/resolve",
        json!({ "doc_id": doc_id, "path": item["path"], "values": values, "choice": 0 }),
    )
    .await?;
    assert_eq!(refused.0, 403, "trainers use their own device for this");

    let yes = values.iter().position(|v| v == "はい").expect("はい");
    let (status, answer) = post(
        &office,
        "/api/office/conflicts/resolve",
        json!({ "doc_id": doc_id, "path": item["path"], "values": values, "choice": yes }),
    )
    .await?;
    assert_eq!(status, 200, "{answer}");

    // The queue empties once the change is stored (the stored document has no conflict left),
    // and the choice counts once the projection has passed over it (it trails the chunks).
    poll(&office, "/api/office/conflicts", |q| {
        q.as_array().is_some_and(Vec::is_empty)
    })
    .await?;
    let stored = server
        .state
        .sync
        .store
        .load_document(&doc_id)
        .await?
        .expect("stored");
    assert!(nimo_shared::conflicts::conflicts(&stored).is_empty());
    let supporters = poll(&office, "/api/reports/supporters?year=R6", |r| {
        r["rows"][0]["total"] == 1
    })
    .await;
    assert!(supporters.is_ok(), "修了 as chosen: {supporters:?}");
    server.stop().await
}

#[tokio::test]
async fn devices_show_their_last_sync_and_unconfirmed_documents() -> anyhow::Result<()> {
    let (server, trainer, office) = server().await?;
    let before = office.get("/api/office/devices").await?;
    let trainer_row = |list: &Value| {
        list.as_array()
            .expect("users")
            .iter()
            .find(|u| u["login"] == "trainer")
            .cloned()
            .expect("the trainer")
    };
    assert!(trainer_row(&before)["last_sync_at"].is_null());

    let ids = fixtures::sync_through_a_device(
        &trainer,
        &[session(
            "2024-07-01",
            vec![attendee("宮城 花子", "みやぎ はなこ", "女川町", None)],
        )],
        42,
    )
    .await?;
    let after = office.get("/api/office/devices").await?;
    let row = trainer_row(&after);
    assert!(row["last_sync_at"].as_i64().is_some());
    assert_eq!(row["team"], "女川");
    assert_eq!(row["documents_unconfirmed"], 0);
    assert!(row["devices"][0]["documents_confirmed"].as_i64() >= Some(1));

    // The device holds a change the server has not got: it shows as unconfirmed.
    trainer
        .post(
            "/api/sync/confirm",
            json!({ "documents": [{ "id": ids[0].to_string(), "heads": ["00".repeat(32)] }] }),
        )
        .await?;
    let row = trainer_row(&office.get("/api/office/devices").await?);
    assert_eq!(row["documents_unconfirmed"], 1);
    let refused = trainer
        .request(reqwest::Method::GET, "/api/office/devices")
        .send()
        .await?;
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    server.stop().await
}

#[tokio::test]
async fn likely_duplicates_merge_into_one_person_and_keep_every_entry() -> anyhow::Result<()> {
    let (server, trainer, office) = server().await?;
    fixtures::sync_through_a_device(
        &trainer,
        &[
            session(
                "2024-06-01",
                vec![attendee("宮城 花子", "みやぎ はなこ", "女川町", Some(1960))],
            ),
            // Katakana, no birth year written.
            session(
                "2024-09-01",
                vec![attendee("宮城 花子", "ミヤギ ハナコ", "女川町", None)],
            ),
            // A typo in the kana.
            session(
                "2024-12-01",
                vec![
                    attendee("宮城 花子", "みやぎ はなご", "女川町", Some(1960)),
                    attendee("別の 人", "べつの ひと", "女川町", Some(1960)),
                ],
            ),
        ],
        43,
    )
    .await?;
    let supporters = office.get("/api/reports/supporters?year=R6").await?;
    assert_eq!(
        supporters["rows"][0]["total"], 4,
        "counted as four people before the merge"
    );

    let pairs = office.get("/api/office/duplicates").await?;
    let mut reasons: Vec<&str> = pairs
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| p["reason"].as_str().expect("reason"))
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["birth_year_missing", "close_kana", "close_kana"]);
    assert!(
        !pairs.to_string().contains("べつの"),
        "the other person is not a candidate"
    );

    let mut entries: Vec<Value> = pairs
        .as_array()
        .expect("pairs")
        .iter()
        .flat_map(|p| p["entries"].as_array().cloned().unwrap_or_default())
        .map(|e| json!({ "doc_id": e["doc_id"], "attendee_id": e["attendee_id"] }))
        .collect();
    entries.sort_by_key(ToString::to_string);
    entries.dedup();
    assert_eq!(entries.len(), 3);
    let (status, merged) = post(
        &office,
        "/api/office/duplicates/merge",
        json!({ "entries": entries, "reason": "close_kana" }),
    )
    .await?;
    assert_eq!(status, 200, "{merged}");
    let person_id = merged["person_id"].as_str().expect("an id").to_owned();

    // Counted once, in the year of the first completion; every entry is still in its session.
    let supporters = poll(&office, "/api/reports/supporters?year=R6", |r| {
        r["rows"][0]["total"] == 2
    })
    .await?;
    assert_eq!(supporters["rows"][1]["total"], 2);
    let trainings = office.get("/api/reports/trainings?year=R6").await?;
    assert_eq!(trainings["rows"][0]["attendees"], 4, "no entry was removed");
    assert!(
        office
            .get("/api/office/duplicates")
            .await?
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let traced: Vec<(String, String)> = server
        .state
        .db
        .call(|conn| -> Result<_, nimo_server::db::DbError> {
            let mut statement = conn.prepare(
                "SELECT person_id, reason FROM person_merges ORDER BY doc_id, attendee_id",
            )?;
            Ok(statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await?;
    assert_eq!(traced.len(), 3);
    assert!(
        traced
            .iter()
            .all(|(p, r)| p == &person_id && r == "close_kana")
    );

    let (status, answer) = post(
        &office,
        "/api/office/duplicates/merge",
        json!({ "entries": [entries[0]], "reason": "" }),
    )
    .await?;
    assert_eq!(
        (status, answer["error"].clone()),
        (400, json!("統合する参加者を2人以上選んでください。"))
    );
    server.stop().await
}
