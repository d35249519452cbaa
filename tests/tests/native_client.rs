//! The browser's sync client (`nimo_shared::sync::SyncClient`), built natively and driven by
//! `nimo_tests::native_client` over real WebSockets, against the real server on port 0.

use std::time::Duration;

use automerge::{ROOT, transaction::Transactable as _};
use nimo_shared::{
    AttendeeId, Timestamp, doc,
    records::{roster, training::*},
    sync::{DocStatus, DocumentId},
};
use nimo_tests::{
    ApiClient, TestServer,
    native_client::{Device, DeviceOptions, DeviceStorage, ServerLink},
};

/// Long enough for a slow CI machine, short enough to fail a stuck test quickly.
const WAIT: Duration = Duration::from_secs(15);

fn at() -> Timestamp {
    Timestamp::from_unix_millis(1_748_739_600_000)
}

/// A training session document as a trainer's device creates it.
fn session(venue: &str) -> anyhow::Result<automerge::Automerge> {
    nimo_tests::sample::onagawa_document(venue, 40, 7, at())
}

fn person(n: u8) -> Person {
    nimo_tests::sample::person(n)
}

/// Adds attendee `n` to a session on `device`.
async fn add_attendee(device: &Device, doc_id: DocumentId, n: u8) -> anyhow::Result<()> {
    device
        .change(doc_id, move |doc| {
            let id = AttendeeId::from_random_bytes([n; 16]);
            roster::add_attendee(doc, id, person(n), at()).map_err(anyhow::Error::from)
        })
        .await??;
    Ok(())
}

/// Creates a session on `device`, registers it, syncs it and waits until it is stored.
async fn stored_session(
    device: &Device,
    api: &ApiClient,
    venue: &str,
) -> anyhow::Result<DocumentId> {
    let doc_id = device.create(session(venue)?).await?;
    api.register(&doc_id.to_string(), "training_session", &[])
        .await?;
    device.sync_now(doc_id).await?;
    device
        .wait_for("the session stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;
    Ok(doc_id)
}

/// The heads the server's SQLite holds for `doc_id`, read back from the chunks.
async fn heads_on_server(
    server: &TestServer,
    doc_id: DocumentId,
) -> anyhow::Result<Vec<automerge::ChangeHash>> {
    let doc = server
        .state
        .sync
        .store
        .load_document(&doc_id.to_string())
        .await?
        .ok_or_else(|| anyhow::anyhow!("{doc_id} is not in the database"))?;
    Ok(doc.get_heads())
}

#[tokio::test]
async fn a_session_made_on_a_device_is_stored_only_once_the_server_confirms_it()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::start(
        ServerLink::new(api.clone()),
        DeviceStorage::default(),
        DeviceOptions {
            confirm_automatically: false,
            ..DeviceOptions::seeded(1)
        },
    );
    let doc_id = phone.create(session("女川町まちなか交流館")?).await?;
    assert_eq!(
        phone.observed().doc_status(&doc_id),
        Some(DocStatus::OnlyHere)
    );
    assert_eq!(
        api.register(&doc_id.to_string(), "training_session", &[])
            .await?,
        reqwest::StatusCode::CREATED
    );
    phone.sync_now(doc_id).await?;

    // The server took the changes in sync, but has not said they are on disk.
    let sent = phone
        .wait_for("the session sent", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Sent)
        })
        .await?;
    let heads = sent.docs[&doc_id].heads.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_confirm = phone.observed();
    assert_eq!(
        before_confirm.doc_status(&doc_id),
        Some(DocStatus::Sent),
        "no confirm, no Stored"
    );
    assert!(before_confirm.confirmations.is_empty());

    phone.confirm_now()?;
    let stored = phone
        .wait_for("the session stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;
    assert_eq!(
        stored
            .confirmations
            .last()
            .map(|c| (c.doc_id, c.heads.clone())),
        Some((doc_id, heads.clone())),
        "Stored follows the server's confirmation of exactly these heads"
    );
    assert_eq!(heads_on_server(&server, doc_id).await?, heads);
    server.stop().await
}

#[tokio::test]
async fn a_second_device_of_the_same_team_receives_the_session_through_the_manifest()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let doc_id = stored_session(&phone, &api, "女川町まちなか交流館").await?;
    add_attendee(&phone, doc_id, 1).await?;
    let heads = phone
        .wait_for("the attendee stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?
        .docs[&doc_id]
        .heads
        .clone();

    // The colleague's tablet never asks for the document: the manifest lists it.
    let colleague = server.trainer("colleague", "女川").await?;
    let tablet = Device::new_for(&colleague, 2);
    tablet
        .wait_for("the session on the second device", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|view| view.heads == heads)
        })
        .await?;
    let received = tablet
        .read(doc_id, |d| {
            doc::hydrate::<TrainingSession>(d).map_err(anyhow::Error::from)
        })
        .await?
        .expect("the session is on the tablet")?;
    assert_eq!(received.venue, "女川町まちなか交流館");
    assert_eq!(received.roster.len(), 1);
    assert!(
        tablet.storage().doc_ids().contains(&doc_id),
        "and it is in the tablet's storage"
    );

    // A trainer of another team is not told about it.
    let outsider = server.trainer("outsider", "石巻").await?;
    let other = Device::new_for(&outsider, 3);
    other
        .wait_for("the outsider connected", WAIT, |o| o.up_to_date())
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(other.observed().docs.is_empty());
    server.stop().await
}

#[tokio::test]
async fn reconnecting_with_nothing_changed_sends_no_sync_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let mut docs = Vec::new();
    for venue in ["女川町まちなか交流館", "石巻市役所", "塩竈市民交流センター"]
    {
        docs.push(stored_session(&phone, &api, venue).await?);
    }
    // The manifest lists the stored heads once the projection has run.
    let expected: Vec<(String, Vec<String>)> = {
        let seen = phone.observed();
        docs.iter()
            .map(|id| {
                let heads = seen.docs[id].heads.iter().map(ToString::to_string);
                (id.to_string(), heads.collect())
            })
            .collect()
    };
    let mut listed = false;
    for _ in 0..100 {
        let manifest = api.get("/api/sync/manifest").await?;
        listed = expected.iter().all(|(id, heads)| {
            manifest["documents"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["id"] == id.as_str() && d["heads"] == serde_json::json!(heads))
        });
        if listed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listed, "the manifest lists every stored head");

    phone.reconnect()?;
    phone
        .wait_for("the second connection up to date", WAIT, |o| {
            o.connections.len() == 2 && o.up_to_date()
        })
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = phone.observed();
    assert!(seen.connections[0].document_messages_sent() > 0);
    let second = &seen.connections[1];
    assert_ne!(second.peer_id, seen.connections[0].peer_id, "a new ticket");
    assert_eq!(second.sent.get("join"), Some(&1));
    assert_eq!(
        second.document_messages_sent(),
        0,
        "frames sent on the second connection: {:?}",
        second.sent
    );
    assert!(
        docs.iter()
            .all(|id| seen.doc_status(id) == Some(DocStatus::Stored))
    );
    server.stop().await
}

#[tokio::test]
async fn changes_made_while_the_server_is_stopped_are_delivered_after_it_returns_even_across_a_device_restart()
-> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let doc_id = stored_session(&phone, &api, "女川町まちなか交流館").await?;

    server.stop_serving().await?;
    phone
        .wait_for("the phone offline", WAIT, |o| !o.up_to_date())
        .await?;
    for n in 1..=3 {
        add_attendee(&phone, doc_id, n).await?;
    }
    let offline = phone.observed();
    assert_eq!(offline.doc_status(&doc_id), Some(DocStatus::OnlyHere));
    let heads = offline.docs[&doc_id].heads.clone();

    // The phone restarts while the server is away: the changes are in its storage.
    let storage = phone.shut_down().await?;
    let phone = Device::start(
        ServerLink::new(api.clone()),
        storage,
        DeviceOptions::seeded(2),
    );
    let reloaded = phone
        .wait_for("the reloaded session", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|v| v.heads == heads)
        })
        .await?;
    assert_eq!(
        reloaded.doc_status(&doc_id),
        Some(DocStatus::OnlyHere),
        "unconfirmed changes stay unconfirmed across a restart"
    );
    phone
        .wait_for("a failed attempt while the server is away", WAIT, |o| {
            o.failed_attempts > 0
        })
        .await?;

    server.serve_again().await?;
    let stored = phone
        .wait_for("the offline changes stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;
    assert!(
        stored
            .confirmations
            .iter()
            .any(|c| c.doc_id == doc_id && c.heads == heads)
    );
    assert_eq!(heads_on_server(&server, doc_id).await?, heads);
    let on_server = server
        .state
        .sync
        .store
        .load_document(&doc_id.to_string())
        .await?
        .expect("stored");
    assert_eq!(doc::hydrate::<TrainingSession>(&on_server)?.roster.len(), 3);
    server.stop().await
}

#[tokio::test]
async fn a_trainers_device_never_receives_a_visit_case() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (visitor, partner) = server.add_visiting_pair().await?;
    let visitor_api = server.api_client("visitor1").await?;
    let visitor_phone = Device::new_for(&visitor_api, 1);
    let mut case = automerge::Automerge::new();
    case.transact(|tx| tx.put(ROOT, "patient_code", "P-0001"))
        .map_err(|f| f.error)?;
    let doc_id = visitor_phone.create(case).await?;
    assert_eq!(
        visitor_api
            .register(
                &doc_id.to_string(),
                "visit_case",
                &[visitor.id.as_str(), partner.id.as_str()]
            )
            .await?,
        reqwest::StatusCode::CREATED
    );
    visitor_phone.sync_now(doc_id).await?;
    visitor_phone
        .wait_for("the visit case stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;

    let trainer_api = server.trainer("trainer", "女川").await?;
    let trainer_phone = Device::new_for(&trainer_api, 2);
    trainer_phone.want(doc_id)?;
    trainer_phone
        .wait_for("doc-unavailable for the visit case", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|v| v.unavailable)
        })
        .await?;
    assert!(trainer_phone.read(doc_id, |_| ()).await?.is_none());
    assert!(trainer_phone.storage().doc_ids().is_empty());
    assert_eq!(trainer_phone.storage().chunk_count(), 0);

    // The partner's phone, asking the same way, receives it.
    let partner_api = server.api_client("visitor2").await?;
    let partner_phone = Device::new_for(&partner_api, 3);
    partner_phone
        .wait_for("the visit case on the partner's phone", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|v| !v.heads.is_empty())
        })
        .await?;
    server.stop().await
}
