//! A lost device's wipe (issue #6): after an admin asks for it, the device can still upload
//! what it has not synced; the manifest tells it to wipe; its report of the wipe revokes it.
//! A device that was not asked cannot revoke itself this way, and other devices are untouched.

use automerge::transaction::Transactable as _;
use nimo_server::accounts::Role;
use nimo_tests::{TestServer, hex_heads, samod_peer};

#[tokio::test]
async fn unsynced_notes_reach_the_server_before_the_wipe_revokes_the_device() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    server.add_user("admin2", Role::Admin, None, false).await?;
    let device = server.api_client("visitor1").await?;
    let partner = server.api_client("visitor2").await?;
    let admin = server.api_client("admin2").await?;

    // Notes written on the device, not yet synced.
    let peer = samod_peer(&device).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "notes", "未送信の記録"))
        .await?;
    let doc_id = handle.document_id().to_string();
    device
        .register(
            &doc_id,
            "visit_case",
            &[first.id.as_str(), second.id.as_str()],
        )
        .await?;

    let user = first.id.to_string();
    let device_id: String = server
        .state
        .db
        .call(move |conn| -> Result<String, nimo_server::db::DbError> {
            Ok(conn.query_row(
                "SELECT id FROM devices WHERE user_id = ?1 ORDER BY created_at DESC LIMIT 1",
                [user],
                |r| r.get(0),
            )?)
        })
        .await?;

    // Only an admin asks for a wipe; the device was not asked yet, so it cannot report one.
    let (status, _) = partner
        .post(
            &format!("/api/admin/devices/{device_id}/wipe"),
            serde_json::json!({}),
        )
        .await?;
    assert_eq!(status, 403);
    assert_eq!(device.get("/api/device").await?["wipe"], false);
    let (status, _) = admin
        .post(
            &format!("/api/admin/devices/{device_id}/wipe"),
            serde_json::json!({}),
        )
        .await?;
    assert_eq!(status, 204);

    // The device's next contact: it is told to wipe, and still uploads first.
    let manifest = device.get("/api/sync/manifest?since=0").await?;
    assert_eq!(manifest["wipe"], true);
    assert_eq!(device.get("/api/device").await?["wipe"], true);
    peer.connect().await?;
    assert!(
        device
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?,
        "the unsynced notes reached the server"
    );

    // Everything confirmed: it reports the wipe and is revoked.
    let (status, _) = device
        .post("/api/device/wiped", serde_json::json!({}))
        .await?;
    assert_eq!(status, 204);
    let me = device
        .request(reqwest::Method::GET, "/api/me")
        .send()
        .await?
        .status();
    assert_eq!(me, 401, "the wiped device's session is gone");
    assert!(device.ticket().await.is_err());

    // The partner's device is untouched, was never asked, and reads the uploaded notes.
    assert_eq!(partner.get("/api/device").await?["wipe"], false);
    let (status, _) = partner
        .post("/api/device/wiped", serde_json::json!({}))
        .await?;
    assert_eq!(status, 400);
    let reader = samod_peer(&partner).await?;
    reader.connect().await?;
    let copy = reader
        .find(&doc_id)
        .await?
        .expect("the pair reads the case");
    let notes = copy.with_document(|d| {
        use automerge::ReadDoc as _;
        d.get(automerge::ROOT, "notes")
            .ok()
            .flatten()
            .and_then(|(v, _)| v.into_string().ok())
    });
    assert_eq!(notes.as_deref(), Some("未送信の記録"));

    let details: Vec<String> = server
        .state
        .db
        .call(|conn| -> Result<Vec<String>, nimo_server::db::DbError> {
            let mut statement = conn.prepare(
                "SELECT detail FROM audit_log WHERE action = 'device_revoked' ORDER BY seq",
            )?;
            Ok(statement
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await?;
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].starts_with("wipe requested"));
    assert_eq!(details[1], "device wiped after its last upload");
    Ok(())
}
