//! Access decided by the server follows changes on connections that are already open: an
//! unassigned visitor stops receiving the case, a newly assigned one finds it, and a document
//! grown past its size limit accepts no more changes.

use std::time::Duration;

use automerge::{ReadDoc as _, transaction::Transactable as _};
use nimo_server::accounts::Role;
use nimo_tests::{TestServer, TrainerWithSession, hex_heads, pushed_visit_case, samod_peer};

fn title(handle: &samod::DocHandle) -> Option<String> {
    handle.with_document(|doc| {
        doc.get(automerge::ROOT, "title")
            .ok()
            .flatten()
            .and_then(|(value, _)| value.into_string().ok())
    })
}

fn set_title(handle: &samod::DocHandle, value: &str) {
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", value).expect("local edit");
        tx.commit();
    });
}

#[tokio::test]
async fn unassigning_a_visitor_stops_the_case_on_their_open_connection() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (first, second) = server.add_visiting_pair().await?;
    let third = server
        .add_user("visitor3", Role::Visitor, None, false)
        .await?;
    server.add_user("office", Role::Office, None, false).await?;
    let owner = server.api_client("visitor1").await?;
    let office = server.api_client("office").await?;

    let (_peer, handle, doc_id) = pushed_visit_case(
        &owner,
        [first.id.as_str(), second.id.as_str()],
        ("title", "事例"),
    )
    .await?;

    // visitor2 has the case open on a live connection and follows changes.
    let partner_client = server.api_client("visitor2").await?;
    let partner = samod_peer(&partner_client).await?;
    partner.connect().await?;
    let partner_copy = partner.find(&doc_id).await?.expect("assigned");
    set_title(&handle, "二回目の訪問");
    let mut followed = false;
    for _ in 0..100 {
        if title(&partner_copy).as_deref() == Some("二回目の訪問") {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(followed, "an assigned visitor receives changes live");

    // The office reassigns the pair: visitor3 in, visitor2 out.
    let status = office
        .request(reqwest::Method::PUT, &format!("/api/docs/{doc_id}/members"))
        .json(&serde_json::json!({ "members": [first.id, third.id] }))
        .send()
        .await?
        .status();
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // On visitor2's still-open connection, nothing more arrives.
    set_title(&handle, "三回目の訪問");
    assert!(
        owner
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(title(&partner_copy).as_deref(), Some("二回目の訪問"));

    // visitor3 sees it in the manifest and receives it.
    let newcomer_client = server.api_client("visitor3").await?;
    let manifest = newcomer_client.get("/api/sync/manifest").await?;
    assert_eq!(manifest["documents"][0]["id"], doc_id.as_str());
    let newcomer = samod_peer(&newcomer_client).await?;
    newcomer.connect().await?;
    let granted = newcomer.find(&doc_id).await?.expect("granted");
    assert_eq!(title(&granted).as_deref(), Some("三回目の訪問"));

    // Only office staff assign.
    let status = owner
        .request(reqwest::Method::PUT, &format!("/api/docs/{doc_id}/members"))
        .json(&serde_json::json!({ "members": [first.id] }))
        .send()
        .await?
        .status();
    assert_eq!(status, 403);
    server.stop().await
}

#[tokio::test]
async fn a_document_past_its_size_limit_stays_readable_and_takes_no_more_changes()
-> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.max_document_bytes = 4096).await?;
    let TrainerWithSession {
        client,
        peer: _connected,
        handle,
        doc_id,
    } = server.trainer_with_a_session().await?;
    // Grow it well past 4 KB with incompressible text.
    let filler: String = (0..6000u32)
        .map(|i| char::from_u32(0x4E00 + (i * 7919) % 20000).unwrap_or('字'))
        .collect();
    set_title(&handle, &filler);
    assert!(
        client
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?
    );

    // Give the projection a moment to see the size and the policy to turn read-only.
    tokio::time::sleep(Duration::from_millis(500)).await;
    set_title(&handle, "もう一度");
    let refused = handle.with_document(|d| hex_heads(d));
    assert!(
        !client.wait_until_stored(&doc_id, &refused).await?,
        "a change past the limit must not be stored"
    );
    // Still readable by a fresh peer, with the last accepted value.
    let reader = samod_peer(&client).await?;
    reader.connect().await?;
    let read = reader.find(&doc_id).await?.expect("still readable");
    assert_eq!(title(&read).as_deref(), Some(filler.as_str()));
    server.stop().await
}
