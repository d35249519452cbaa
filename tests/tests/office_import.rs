//! Importing a pre-registration roster from CSV into a session (office), against the real
//! server: a file with a bad row changes nothing; a good one arrives on the trainer's device as
//! a normal synced change.

use std::time::Duration;

use nimo_server::accounts::Role;
use nimo_shared::{
    records::training::TrainingSession,
    sync::{DocStatus, DocumentId},
};
use nimo_tests::{
    ApiClient, TestServer, fixtures,
    native_client::{Device, DeviceOptions, DeviceStorage, ServerLink},
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

async fn post_csv(
    client: &ApiClient,
    doc_id: &str,
    body: impl Into<reqwest::Body>,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = client
        .request(
            reqwest::Method::POST,
            &format!("/api/sessions/{doc_id}/roster-import"),
        )
        .header("content-type", "text/csv; charset=utf-8")
        .body(body)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

async fn roster_len(device: &Device, doc_id: DocumentId) -> anyhow::Result<usize> {
    let session = device
        .read(doc_id, |doc| {
            nimo_shared::doc::hydrate::<TrainingSession>(doc).map_err(anyhow::Error::from)
        })
        .await?
        .ok_or_else(|| anyhow::anyhow!("no session on the device"))??;
    Ok(session.roster.len())
}

#[tokio::test]
async fn a_roster_with_bad_rows_adds_nobody_and_a_good_one_reaches_the_trainers_device()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("女川"), false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let trainer = server.api_client("trainer").await?;
    let office = server.api_client("office").await?;

    let phone = Device::start(
        ServerLink::new(trainer.clone()),
        DeviceStorage::default(),
        DeviceOptions::seeded(31),
    );
    let mut session = fixtures::load_r6()?.sessions[0].clone();
    session.attendees.clear();
    let actor = nimo_shared::DeviceId::from_random_bytes([0x31; 16]).actor_id();
    let doc_id = phone.create(session.to_doc(actor, 0)?).await?;
    trainer
        .register(&doc_id.to_string(), "training_session", &[])
        .await?;
    phone.sync_now(doc_id).await?;
    let stored = phone
        .wait_for("the session stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;
    let heads_before = stored.docs[&doc_id].heads.clone();
    let id = doc_id.to_string();

    // Two good rows and two bad ones: refused whole, every bad row named.
    let bad = "\u{feff}氏名,ふりがな,市町村,所属\r\n\
               宮城 花子,みやぎ はなこ,女川町,地域住民\r\n\
               宮城 太郎,Miyagi Taro,女川町,地域住民\r\n\
               宮城 次郎,みやぎ じろう,女川町,地域住民\r\n\
               宮城 三郎,みやぎ さぶろう,東京都,地域住民\r\n";
    let (status, answer) = post_csv(&office, &id, bad).await?;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["code"], "roster_invalid");
    let rows: Vec<(i64, String)> = answer["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().expect("line"),
                r["message"].as_str().expect("message").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                3,
                "3行目: ふりがな「Miyagi Taro」はひらがなかカタカナで入力してください".to_owned()
            ),
            (
                5,
                "5行目: 「東京都」は宮城県の市町村として登録されていません".to_owned()
            ),
        ]
    );
    assert!(
        answer["error"]
            .as_str()
            .expect("error")
            .contains("2件の問題")
    );

    let not_utf8 = post_csv(&office, &id, vec![0x82, 0xa0, 0x0a]).await?;
    assert_eq!(not_utf8.0, reqwest::StatusCode::BAD_REQUEST);
    let (status, _) = post_csv(&trainer, &id, "氏名,ふりがな\n宮城 花子,みやぎ はなこ\n").await?;
    assert_eq!(
        status,
        reqwest::StatusCode::FORBIDDEN,
        "trainers do not import"
    );

    // Nothing was written: the server's copy has the same heads, no roster rows are projected.
    let on_server = server
        .state
        .sync
        .store
        .load_document(&id)
        .await?
        .expect("stored");
    assert_eq!(on_server.get_heads(), heads_before);
    assert_eq!(roster_len(&phone, doc_id).await?, 0);

    let good = "氏名,ふりがな,市町村,所属\n\
                宮城 花子,みやぎ はなこ,女川町,地域住民\n\
                \"佐藤, 一郎\",サトウ イチロウ,塩釜市,企業\n\
                鈴木 三子,すずき みつこ,,\n";
    let (status, answer) = post_csv(&office, &id, good).await?;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    assert_eq!(answer["added"], 3);
    let heads_after: Vec<String> = answer["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hex").to_owned())
        .collect();

    // The change reaches the trainer's phone like any other synced change.
    phone
        .wait_for("the imported roster on the phone", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|view| {
                let mut heads: Vec<String> = view.heads.iter().map(ToString::to_string).collect();
                heads.sort();
                let mut expected = heads_after.clone();
                expected.sort();
                heads == expected
            })
        })
        .await?;
    let names = phone
        .read(doc_id, |doc| {
            nimo_shared::doc::hydrate::<TrainingSession>(doc)
                .map(|s| {
                    let mut names: Vec<String> =
                        s.roster.values().map(|a| a.person.name.clone()).collect();
                    names.sort();
                    names
                })
                .map_err(anyhow::Error::from)
        })
        .await?
        .expect("on the phone")?;
    assert_eq!(names, ["佐藤, 一郎", "宮城 花子", "鈴木 三子"]);

    let unknown = post_csv(&office, "2VxgwYdUVZpGNGvcG3ruDFfDBDnH", good).await?;
    assert_eq!(unknown.0, reqwest::StatusCode::NOT_FOUND);
    phone.shut_down().await?;
    server.stop().await
}
