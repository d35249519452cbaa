//! Every sync of a visit case leaves an audit row (issue #6): who (user and device), which
//! document, what access was given, and never the content; a trainer's attempt is recorded as
//! denied, and the manifest listing and the case's registration are recorded too. The chain
//! still verifies afterwards.

use automerge::transaction::Transactable as _;
use nimo_server::accounts::Role;
use nimo_tests::{TestServer, hex_heads, samod_peer};

type Row = (String, Option<String>, Option<String>, String);

#[tokio::test]
async fn syncing_and_listing_a_visit_case_is_audited_without_content() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    let trainer = server
        .add_user("trainer", Role::Trainer, Some("女川"), false)
        .await?;
    let owner = server.api_client("visitor1").await?;

    let peer = samod_peer(&owner).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "patient_code", "MY-2026-0001"))
        .await?;
    let doc_id = handle.document_id().to_string();
    owner
        .register(
            &doc_id,
            "visit_case",
            &[first.id.as_str(), second.id.as_str()],
        )
        .await?;
    peer.connect().await?;
    assert!(
        owner
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?
    );

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
