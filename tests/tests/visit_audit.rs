//! Every sync of a visit case leaves an audit row (issue #6): who (user and device), which
//! document, what access was given, and never the content; a trainer's attempt is recorded as
//! denied, and the manifest listing and the case's registration are recorded too. The chain
//! still verifies afterwards.

use automerge::transaction::Transactable as _;
use nimo_server::accounts::Role;
use nimo_tests::raw_sync::{RawSync, forged_next_change, sync_message_carrying};
use nimo_tests::{TestServer, hex_heads, pushed_visit_case, samod_peer};

type Row = (String, Option<String>, Option<String>, String);

#[tokio::test]
async fn syncing_and_listing_a_visit_case_is_audited_without_content() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    let trainer = server
        .add_user("trainer", Role::Trainer, Some("女川"), false)
        .await?;
    let owner = server.api_client("visitor1").await?;
    let (_peer, _handle, doc_id) = pushed_visit_case(
        &owner,
        [first.id.as_str(), second.id.as_str()],
        ("patient_code", "MY-2026-0001"),
    )
    .await?;

    let partner = server.api_client("visitor2").await?;
    let manifest = partner.get("/api/sync/manifest?since=0").await?;
    assert!(manifest.to_string().contains(&doc_id));
    let partner_peer = samod_peer(&partner).await?;
    partner_peer.connect().await?;
    assert!(partner_peer.find(&doc_id).await?.is_some());

    let outsider = server.api_client("trainer").await?;
    let outsider_peer = samod_peer(&outsider).await?;
    outsider_peer.connect().await?;
    assert!(outsider_peer.find(&doc_id).await?.is_none());

    // The write rows are written beside the sync, so they may land a moment after it.
    let mut rows: Vec<Row> = Vec::new();
    for _ in 0..50 {
        let id = doc_id.clone();
        rows = server
            .state
            .db
            .call(move |conn| -> Result<Vec<Row>, nimo_server::db::DbError> {
                let mut statement = conn.prepare(
                    "SELECT action, user_id, device_id, detail FROM audit_log \
                     WHERE document_id = ?1 ORDER BY seq",
                )?;
                Ok(statement
                    .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?)
            })
            .await?;
        if rows.iter().any(|(action, ..)| action == "document_written") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let by = |user: &str, detail: &str| {
        rows.iter().any(|(action, u, device, d)| {
            action == "document_read"
                && u.as_deref() == Some(user)
                && device.is_some()
                && d.starts_with(detail)
        })
    };
    assert!(by(first.id.as_str(), "sync read-write"), "{rows:?}");
    assert!(by(second.id.as_str(), "manifest"), "{rows:?}");
    assert!(by(second.id.as_str(), "sync read-write"), "{rows:?}");
    assert!(by(trainer.id.as_str(), "sync denied"), "{rows:?}");
    // The writer's sync message carried the case's changes: a write row, with user and device.
    let wrote = |user: &str| {
        rows.iter().any(|(action, u, device, d)| {
            action == "document_written"
                && u.as_deref() == Some(user)
                && device.is_some()
                && d == "sync"
        })
    };
    assert!(wrote(first.id.as_str()), "{rows:?}");
    // Opening the case was audited too: who, from which device, how many are assigned.
    assert!(
        rows.iter()
            .any(|(action, u, device, d)| action == "document_registered"
                && u.as_deref() == Some(first.id.as_str())
                && device.is_some()
                && d == "visit_case, 2 assigned"),
        "{rows:?}"
    );
    assert!(
        !wrote(trainer.id.as_str()),
        "the trainer wrote nothing: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(_, _, _, detail)| !detail.contains("MY-2026")),
        "no content in the audit log"
    );
    let verified = server
        .state
        .db
        .call(|conn| nimo_server::audit::verify(conn))
        .await?;
    assert!(verified.is_ok(), "the chain verifies: {verified:?}");
    Ok(())
}

/// The `document_written` rows of `doc_id`, by user.
async fn writes_by(server: &TestServer, doc_id: &str) -> anyhow::Result<Vec<String>> {
    let id = doc_id.to_owned();
    Ok(server
        .state
        .db
        .call(
            move |conn| -> Result<Vec<String>, nimo_server::db::DbError> {
                let mut statement = conn.prepare(
                    "SELECT user_id FROM audit_log \
                 WHERE document_id = ?1 AND action = 'document_written' ORDER BY seq",
                )?;
                Ok(statement
                    .query_map([id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?)
            },
        )
        .await?)
}

/// Waits until `user` has `count` write rows for `doc_id` (they are written beside the sync).
async fn wait_for_writes(
    server: &TestServer,
    doc_id: &str,
    user: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    for _ in 0..50 {
        let rows = writes_by(server, doc_id).await?;
        if rows.iter().filter(|u| *u == user).count() >= count {
            return Ok(rows);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{user} never had {count} write rows for {doc_id}")
}

/// A write row means changes reached the case: a change from office staff, who may only read
/// the case, is received and ignored, and a forged change the gate refuses (closing its
/// connection) wrote nothing, so neither leaves a row; the pair's own writes each leave one,
/// whether stored by a cold exchange (the first push) or by samod (later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changes_that_reach_a_visit_case_are_audited_as_writes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    let office = server.add_user("office", Role::Office, None, true).await?;
    let owner = server.api_client("visitor1").await?;
    let (_peer, handle, doc_id) = pushed_visit_case(
        &owner,
        [first.id.as_str(), second.id.as_str()],
        ("patient_code", "MY-2026-0002"),
    )
    .await?;
    anyhow::ensure!(
        !server.state.sync.cold.is_hot(&doc_id.parse()?),
        "the first push was stored by a cold exchange"
    );
    wait_for_writes(&server, &doc_id, &first.id, 1).await?;

    // Office staff with visit access read the case; their change is answered, not applied.
    let edit = |doc: &mut automerge::Automerge, text: &str| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "notes", text).expect("local edit");
        tx.commit();
        doc.get_last_local_change()
            .expect("a change")
            .raw_bytes()
            .to_vec()
    };
    let office_change = handle.with_document(|doc| edit(&mut doc.fork(), "事務局の書き込み"));
    let mut office_sync = RawSync::open(&server.api_client("office").await?).await?;
    office_sync
        .send(&doc_id, sync_message_carrying(&office_change))
        .await?;
    anyhow::ensure!(
        office_sync.answer().await.is_some(),
        "the office's message was answered"
    );

    // A member of the pair sends a forged change: refused, the connection closed.
    let forged = handle.with_document(|doc| forged_next_change(&mut doc.fork()));
    let mut forger = RawSync::open(&owner).await?;
    forger
        .send(&doc_id, sync_message_carrying(forged.raw_bytes()))
        .await?;
    anyhow::ensure!(forger.closes().await, "the forged change was refused");

    // The partner writes, through samod now: one more row, after everything above.
    let partner = server.api_client("visitor2").await?;
    let partner_peer = samod_peer(&partner).await?;
    partner_peer.connect().await?;
    let case = partner_peer
        .find(&doc_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the partner finds the case"))?;
    case.with_document(|doc| edit(doc, "面会の記録"));
    anyhow::ensure!(
        partner
            .wait_until_stored(&doc_id, &case.with_document(|d| hex_heads(d)))
            .await?
    );
    anyhow::ensure!(
        server.state.sync.cold.is_hot(&doc_id.parse()?),
        "the partner's write went through samod"
    );
    wait_for_writes(&server, &doc_id, &second.id, 1).await?;
    // Rows are written in the background: give a wrongly audited one time to land.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let rows = writes_by(&server, &doc_id).await?;
    let count = |user: &str| rows.iter().filter(|u| *u == user).count();
    assert_eq!(
        count(&first.id),
        1,
        "the owner's one push, not the forgery: {rows:?}"
    );
    assert_eq!(count(&second.id), 1, "the partner's write: {rows:?}");
    assert_eq!(count(&office.id), 0, "the office only reads: {rows:?}");
    Ok(())
}
