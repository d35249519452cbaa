//! Sync through the real server: samod peers over real WebSockets, tickets, the share policy
//! backed by the registry, and the confirm call reading back from SQLite.

use std::time::Duration;

use automerge::{ReadDoc as _, transaction::Transactable as _};
use nimo_server::accounts::Role;
use nimo_tests::{TestServer, hex_heads, samod_peer};

#[tokio::test]
async fn a_registered_session_syncs_and_is_confirmed_from_the_database() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let trainer = server.api_client("trainer").await?;
    let peer = samod_peer(&trainer).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "心のサポーター養成研修"))
        .await?;
    let doc_id = handle.document_id().to_string();
    assert_eq!(
        trainer.register(&doc_id, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    peer.connect().await?;
    let heads = handle.with_document(|doc| hex_heads(doc));
    assert!(
        trainer.wait_until_stored(&doc_id, &heads).await?,
        "the server confirms the heads"
    );
    // A fresh peer of the same team reads it back from the server.
    let colleague_login = "colleague";
    server
        .add_user(colleague_login, Role::Trainer, Some("仙南"), false)
        .await?;
    let colleague = server.api_client(colleague_login).await?;
    let reader = samod_peer(&colleague).await?;
    reader.connect().await?;
    let found = reader
        .find(&doc_id)
        .await?
        .expect("the colleague receives the session");
    let title = found.with_document(|doc| {
        doc.get(automerge::ROOT, "title")
            .ok()
            .flatten()
            .and_then(|(value, _)| value.into_string().ok())
    });
    assert_eq!(title.as_deref(), Some("心のサポーター養成研修"));
    server.stop().await
}

#[tokio::test]
async fn a_trainer_never_receives_a_visit_case() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (visitor, partner) = server.add_visiting_pair().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server
        .add_user("outsider", Role::Visitor, None, false)
        .await?;
    let visitor_client = server.api_client("visitor1").await?;
    let peer = samod_peer(&visitor_client).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "patient_code", "P-0001"))
        .await?;
    let doc_id = handle.document_id().to_string();
    let members = [visitor.id.as_str(), partner.id.as_str()];
    assert_eq!(
        visitor_client
            .register(&doc_id, "visit_case", &members)
            .await?,
        reqwest::StatusCode::CREATED
    );
    peer.connect().await?;
    let heads = handle.with_document(|doc| hex_heads(doc));
    assert!(visitor_client.wait_until_stored(&doc_id, &heads).await?);

    for login in ["trainer", "outsider"] {
        let client = server.api_client(login).await?;
        let other = samod_peer(&client).await?;
        other.connect().await?;
        assert!(
            other.find(&doc_id).await?.is_none(),
            "{login} must not receive the visit case"
        );
        let (_, answer) = client
            .post(
                "/api/sync/confirm",
                serde_json::json!({ "documents": [{ "id": doc_id, "heads": heads }] }),
            )
            .await?;
        assert_eq!(answer["stored"], serde_json::json!([]), "{login}: {answer}");
        let manifest = client.get("/api/sync/manifest").await?;
        assert_eq!(
            manifest["documents"],
            serde_json::json!([]),
            "{login}: {manifest}"
        );
    }
    // The partner receives it.
    let partner_client = server.api_client("visitor2").await?;
    let partner_peer = samod_peer(&partner_client).await?;
    partner_peer.connect().await?;
    assert!(partner_peer.find(&doc_id).await?.is_some());
    server.stop().await
}

#[tokio::test]
async fn a_read_only_peers_changes_are_not_applied() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (visitor, partner) = server.add_visiting_pair().await?;
    server.add_user("office", Role::Office, None, true).await?;
    let visitor_client = server.api_client("visitor1").await?;
    let peer = samod_peer(&visitor_client).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "notes", "傾聴"))
        .await?;
    let doc_id = handle.document_id().to_string();
    visitor_client
        .register(
            &doc_id,
            "visit_case",
            &[visitor.id.as_str(), partner.id.as_str()],
        )
        .await?;
    peer.connect().await?;
    assert!(
        visitor_client
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?
    );

    let office_client = server.api_client("office").await?;
    let office = samod_peer(&office_client).await?;
    office.connect().await?;
    let office_handle = office
        .find(&doc_id)
        .await?
        .expect("office with visit access reads it");
    office_handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "notes", "書き換え")
            .expect("local edit");
        tx.commit();
    });
    let office_heads = office_handle.with_document(|d| hex_heads(d));
    assert!(
        !office_client
            .wait_until_stored(&doc_id, &office_heads)
            .await?,
        "the office's change must not be stored"
    );
    server.stop().await
}

#[tokio::test]
async fn a_ticket_works_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let client = server.api_client("trainer").await?;
    let (ticket, _) = client.ticket().await?;
    let url = client.ws_url(&ticket);
    let (first, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    drop(first);
    let second = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(second.is_err(), "a used ticket is refused");
    server.stop().await
}

#[tokio::test]
async fn an_upgrade_from_a_foreign_origin_is_refused() -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let client = server.api_client("trainer").await?;
    let (ticket, _) = client.ticket().await?;
    let mut request = client.ws_url(&ticket).into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse()?);
    let refused = tokio_tungstenite::connect_async(request).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    server.stop().await
}

#[tokio::test]
async fn registering_needs_a_valid_id_and_the_right_role() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server.add_user("admin2", Role::Admin, None, false).await?;
    let trainer = server.api_client("trainer").await?;
    assert_eq!(
        trainer
            .register("not-an-id", "training_session", &[])
            .await?,
        reqwest::StatusCode::BAD_REQUEST
    );
    let id = samod::DocumentId::try_from(nimo_server::accounts::random_bytes::<16>().to_vec())?
        .to_string();
    assert_eq!(
        trainer.register(&id, "visit_case", &[]).await?,
        reqwest::StatusCode::FORBIDDEN
    );
    assert_eq!(
        trainer.register(&id, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    assert_eq!(
        trainer.register(&id, "training_session", &[]).await?,
        reqwest::StatusCode::OK,
        "repeating a registration is harmless"
    );
    let admin = server.api_client("admin2").await?;
    assert_eq!(
        admin.register(&id, "training_session", &[]).await?,
        reqwest::StatusCode::FORBIDDEN
    );
    server.stop().await
}

#[tokio::test]
async fn a_batch_registers_each_document_as_one_would_and_refuses_only_the_bad_ones()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server
        .add_user("other", Role::Trainer, Some("女川"), false)
        .await?;
    let trainer = server.api_client("trainer").await?;
    let other = server.api_client("other").await?;
    let new_id = || -> anyhow::Result<String> {
        Ok(
            samod::DocumentId::try_from(nimo_server::accounts::random_bytes::<16>().to_vec())?
                .to_string(),
        )
    };
    let (fresh, repeated, theirs, case) = (new_id()?, new_id()?, new_id()?, new_id()?);
    assert_eq!(
        trainer.register(&repeated, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    assert_eq!(
        other.register(&theirs, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    let session = |id: &str| serde_json::json!({ "id": id, "kind": "training_session" });
    let (status, answer) = trainer
        .post(
            "/api/docs/batch",
            serde_json::json!({ "docs": [
                session(&fresh),
                session("not-an-id"),
                { "id": case, "kind": "visit_case" },
                session(&repeated),
                session(&theirs),
            ] }),
        )
        .await?;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    let seen: Vec<(&str, u64, &str)> = results
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default(),
                r["status"].as_u64().unwrap_or_default(),
                r["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (fresh.as_str(), 201, ""),
            ("not-an-id", 400, "bad_request"),
            (case.as_str(), 403, "forbidden"),
            (repeated.as_str(), 200, ""),
            (theirs.as_str(), 409, "conflict"),
        ],
        "each document is answered as `POST /api/docs` would answer it, in order"
    );
    assert!(
        results[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("文書ID")),
        "a refusal says why, in Japanese: {answer}"
    );
    // The batch's new document is registered (to this trainer), the refused ones are not.
    assert_eq!(
        trainer.register(&fresh, "training_session", &[]).await?,
        reqwest::StatusCode::OK
    );
    assert_eq!(
        other.register(&fresh, "training_session", &[]).await?,
        reqwest::StatusCode::CONFLICT
    );
    assert_eq!(
        other.register(&case, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED,
        "a refused id stays free"
    );
    // Too many at once is refused as a whole, with the limit.
    let too_many: Vec<_> = (0..=nimo_server::sync::registration::MAX_BATCH)
        .map(|_| new_id().map(|id| session(&id)))
        .collect::<anyhow::Result<_>>()?;
    let (status, answer) = trainer
        .post("/api/docs/batch", serde_json::json!({ "docs": too_many }))
        .await?;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("500")),
        "{answer}"
    );
    server.stop().await
}

#[tokio::test]
async fn a_stored_session_is_projected_and_listed_in_the_manifest() -> anyhow::Result<()> {
    use nimo_shared::{
        AttendeeId, Timestamp,
        records::{roster, training::*},
    };
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("女川"), false)
        .await?;
    let trainer = server.api_client("trainer").await?;
    let at: Timestamp = "2025-06-01T10:00:00+09:00".parse()?;
    let mut document = nimo_tests::sample::onagawa_document("女川町まちなか交流館", 40, 7, at)?;
    for (n, kana) in ["みやぎ はなこ", "おながわ たろう", "いしのまき じろう"]
        .iter()
        .enumerate()
    {
        let id = AttendeeId::from_random_bytes([u8::try_from(n)? + 1; 16]);
        let person = Person {
            name: format!("参加者{n}"),
            kana: (*kana).to_owned(),
            affiliation: Affiliation::CommunityResident,
            residence: Some("女川町".parse()?),
            workplace: None,
            birth_year: None,
        };
        roster::add_attendee(&mut document, id, person, at)?;
        roster::check_in(&mut document, id, at, &"trainer-1".parse()?)?;
        if n < 2 {
            roster::mark_completed(&mut document, id, true, at)?;
        }
    }
    let heads = hex_heads(&document);
    let peer = samod_peer(&trainer).await?;
    let handle = peer.create_doc(document).await?;
    let doc_id = handle.document_id().to_string();
    trainer.register(&doc_id, "training_session", &[]).await?;
    peer.connect().await?;
    assert!(trainer.wait_until_stored(&doc_id, &heads).await?);

    // The projection runs after the write; give it a moment.
    let mut counts = (0, 0, 0);
    for _ in 0..100 {
        counts = server
            .state
            .db
            .call(
                move |conn| -> Result<(i64, i64, i64), nimo_server::db::DbError> {
                    Ok(conn.query_row(
                        "SELECT COUNT(*), SUM(checked_in), SUM(completed) FROM proj_attendees",
                        [],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                                r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                            ))
                        },
                    )?)
                },
            )
            .await?;
        if counts == (3, 3, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        counts,
        (3, 3, 2),
        "three attendees, all present, two completed"
    );
    let manifest = trainer.get("/api/sync/manifest").await?;
    let entry = &manifest["documents"][0];
    assert_eq!(entry["id"], doc_id.as_str());
    assert_eq!(entry["heads"], serde_json::json!(heads));
    // Nothing changed since the cursor: an empty manifest.
    let cursor = manifest["cursor"].as_i64().expect("cursor");
    let again = trainer
        .get(&format!("/api/sync/manifest?since={cursor}"))
        .await?;
    assert_eq!(again["documents"], serde_json::json!([]));

    // The tables are derived: a rebuild from the chunks gives the same rows.
    let rebuilt =
        nimo_server::projection::rebuild(&server.state.db, &server.state.sync.store).await?;
    assert_eq!(rebuilt, 1);
    let after: (i64, i64) = server
        .state
        .db
        .call(|conn| -> Result<(i64, i64), nimo_server::db::DbError> {
            Ok(conn.query_row(
                "SELECT COUNT(*), SUM(completed) FROM proj_attendees",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await?;
    assert_eq!(after, (3, 2));
    server.stop().await
}

/// A training session with `attendees` attendees, each checked in and all but the last
/// completed: one change to create it, three per attendee (two for the last).
fn session_with_roster(attendees: u8) -> anyhow::Result<automerge::Automerge> {
    use nimo_shared::{
        AttendeeId, Timestamp,
        records::{roster, training::*},
    };
    let at: Timestamp = "2025-06-01T10:00:00+09:00".parse()?;
    let mut document = nimo_tests::sample::onagawa_document("女川町まちなか交流館", 40, 7, at)?;
    let kana = [
        "みやぎ はなこ",
        "おながわ たろう",
        "いしのまき じろう",
        "けせんぬま さぶろう",
        "とめ しろう",
    ];
    for (n, kana) in (0..attendees).zip(kana) {
        let id = AttendeeId::from_random_bytes([n + 1; 16]);
        let person = Person {
            name: format!("参加者{n}"),
            kana: kana.to_owned(),
            affiliation: Affiliation::CommunityResident,
            residence: Some("女川町".parse()?),
            workplace: None,
            birth_year: None,
        };
        roster::add_attendee(&mut document, id, person, at)?;
        roster::check_in(&mut document, id, at, &"trainer-1".parse()?)?;
        if n + 1 < attendees {
            roster::mark_completed(&mut document, id, true, at)?;
        }
    }
    Ok(document)
}

/// Every chunk row of `doc_id`: key and when it was last written.
async fn chunk_rows(server: &TestServer, doc_id: &str) -> anyhow::Result<Vec<(String, String)>> {
    let doc_id = doc_id.to_owned();
    Ok(server
        .state
        .db
        .call(
            move |conn| -> Result<Vec<(String, String)>, nimo_server::db::DbError> {
                let mut statement = conn.prepare(
                    "SELECT key, CAST(updated_at AS TEXT) FROM chunks WHERE doc_id = ?1 \
                     ORDER BY key",
                )?;
                let rows = statement
                    .query_map([doc_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            },
        )
        .await?)
}

/// Waits (up to five seconds) until the session's projected capacity is `capacity`.
async fn wait_for_capacity(server: &TestServer, doc_id: &str, capacity: i64) -> anyhow::Result<()> {
    for _ in 0..100 {
        if projected_capacity(server, doc_id).await? == Some(capacity) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{doc_id} was not projected with capacity {capacity} within five seconds")
}

/// The session's projected capacity, `None` before it is projected.
async fn projected_capacity(server: &TestServer, doc_id: &str) -> anyhow::Result<Option<i64>> {
    use rusqlite::OptionalExtension as _;
    let doc_id = doc_id.to_owned();
    Ok(server
        .state
        .db
        .call(
            move |conn| -> Result<Option<i64>, nimo_server::db::DbError> {
                Ok(conn
                    .query_row(
                        "SELECT capacity FROM proj_sessions WHERE doc_id = ?1",
                        [doc_id],
                        |r| r.get(0),
                    )
                    .optional()?)
            },
        )
        .await?)
}

/// A device reading a document the restarted server holds only on disk makes samod load it and
/// write it back (every change, or one snapshot); nothing in it is new, so no chunk row may be
/// rewritten and the report rows must stay as they are (a rewrite would restore the capacity
/// this test scribbles over). A real change afterwards is still projected.
async fn a_cold_read_rewrites_nothing(attendees: u8) -> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    for login in ["trainer", "colleague"] {
        server
            .add_user(login, Role::Trainer, Some("女川"), false)
            .await?;
    }
    let trainer = server.api_client("trainer").await?;
    let colleague = server.api_client("colleague").await?;
    let document = session_with_roster(attendees)?;
    let heads = hex_heads(&document);
    let peer = samod_peer(&trainer).await?;
    let handle = peer.create_doc(document).await?;
    let doc_id = handle.document_id().to_string();
    trainer.register(&doc_id, "training_session", &[]).await?;
    peer.connect().await?;
    assert!(trainer.wait_until_stored(&doc_id, &heads).await?);
    wait_for_capacity(&server, &doc_id, 40).await?;
    drop(peer);
    // Stopping flushes samod's writes; whatever is on disk now is what a cold start finds.
    server.stop_serving().await?;
    let stored = chunk_rows(&server, &doc_id).await?;
    assert!(!stored.is_empty());
    server
        .state
        .db
        .call(|conn| -> Result<usize, nimo_server::db::DbError> {
            Ok(conn.execute("UPDATE proj_sessions SET capacity = -1", [])?)
        })
        .await?;

    server.serve_again().await?;
    let reader = samod_peer(&colleague).await?;
    reader.connect().await?;
    let found = reader
        .find(&doc_id)
        .await?
        .expect("the colleague receives the session");
    assert_eq!(found.with_document(|doc| hex_heads(doc)), heads);
    drop(reader);
    server.stop_serving().await?;
    assert_eq!(
        chunk_rows(&server, &doc_id).await?,
        stored,
        "reading a stored document rewrote its chunks"
    );
    assert_eq!(
        projected_capacity(&server, &doc_id).await?,
        Some(-1),
        "reading a stored document rewrote its report rows"
    );

    // A real change is projected (and the whole row with it).
    server.serve_again().await?;
    let writer = samod_peer(&trainer).await?;
    writer.connect().await?;
    let handle = writer.find(&doc_id).await?.expect("the trainer's session");
    handle.with_document(|doc| {
        doc.transact(|tx| tx.put(automerge::ROOT, "venue", "女川町生涯学習センター"))
            .map(drop)
            .map_err(|failure| failure.error)
    })?;
    let changed = handle.with_document(|doc| hex_heads(doc));
    assert!(trainer.wait_until_stored(&doc_id, &changed).await?);
    wait_for_capacity(&server, &doc_id, 40).await?;
    server.stop().await
}

#[tokio::test]
async fn a_cold_read_of_a_document_stored_as_changes_rewrites_nothing() -> anyhow::Result<()> {
    // Three changes: samod stores each as its own chunk.
    a_cold_read_rewrites_nothing(1).await
}

#[tokio::test]
async fn a_cold_read_of_a_document_stored_as_a_snapshot_rewrites_nothing() -> anyhow::Result<()> {
    // Fifteen changes: more than ten, so samod stores one compacted snapshot.
    a_cold_read_rewrites_nothing(5).await
}

/// Reads the string at `key` of the document's root.
fn root_string(handle: &samod::DocHandle, key: &str) -> Option<String> {
    handle.with_document(|doc| {
        doc.get(automerge::ROOT, key)
            .ok()
            .flatten()
            .and_then(|(value, _)| value.into_string().ok())
    })
}

/// Writes `value` at `key` of the document's root as one change.
fn put_root(handle: &samod::DocHandle, key: &str, value: &str) -> anyhow::Result<()> {
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, value)?;
        tx.commit();
        Ok(())
    })
}

/// Waits up to ten seconds for `key` of the document to read `value`.
async fn until_reads(handle: &samod::DocHandle, key: &str, value: &str) -> bool {
    for _ in 0..200 {
        if root_string(handle, key).as_deref() == Some(value) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn two_devices_co_edit_documents_of_different_shards_live() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let shards = server.state.config.sync_shards;
    assert!(shards > 1, "the default configuration shards the documents");
    for login in ["first", "second"] {
        server
            .add_user(login, Role::Trainer, Some("仙南"), false)
            .await?;
    }
    let first = server.api_client("first").await?;
    let second = server.api_client("second").await?;
    let first_peer = samod_peer(&first).await?;
    let second_peer = samod_peer(&second).await?;
    let shard_of = |handle: &samod::DocHandle| {
        nimo_server::sync::shards::shard_of(handle.document_id().as_bytes(), shards)
    };
    // One document made on each device, in two different shards.
    let one = first_peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "研修A"))
        .await?;
    let mut other = second_peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "研修B"))
        .await?;
    while shard_of(&other) == shard_of(&one) {
        other = second_peer
            .create_with(|tx| tx.put(automerge::ROOT, "title", "研修B"))
            .await?;
    }
    let one_id = one.document_id().to_string();
    let other_id = other.document_id().to_string();
    assert_eq!(
        first.register(&one_id, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    assert_eq!(
        second.register(&other_id, "training_session", &[]).await?,
        reqwest::StatusCode::CREATED
    );
    first_peer.connect().await?;
    second_peer.connect().await?;
    // Each device's document reaches the server first: a device asking for a document the
    // server has not received yet is told it is unavailable (and gets it when it comes), which
    // is not what this test is about.
    for (client, handle, id) in [(&first, &one, &one_id), (&second, &other, &other_id)] {
        let heads = handle.with_document(|doc| hex_heads(doc));
        assert!(client.wait_until_stored(id, &heads).await?);
    }
    // Each device reads the other's document over its one connection.
    let one_on_second = second_peer
        .find(&one_id)
        .await?
        .expect("the second device receives the first's document");
    let other_on_first = first_peer
        .find(&other_id)
        .await?
        .expect("the first device receives the second's document");
    // Both edit both documents while connected; every edit reaches the other device live.
    put_root(&one, "venue", "仙台")?;
    put_root(&other_on_first, "venue", "白石")?;
    assert!(until_reads(&one_on_second, "venue", "仙台").await);
    assert!(until_reads(&other, "venue", "白石").await);
    put_root(&one_on_second, "note", "second wrote")?;
    put_root(&other, "note", "second wrote too")?;
    assert!(until_reads(&one, "note", "second wrote").await);
    assert!(until_reads(&other_on_first, "note", "second wrote too").await);
    // The server's copies, in their own shards, hold every change.
    for (handle, id) in [(&one, &one_id), (&other, &other_id)] {
        let heads = handle.with_document(|doc| hex_heads(doc));
        assert!(first.wait_until_stored(id, &heads).await?);
    }
    server.stop().await
}
