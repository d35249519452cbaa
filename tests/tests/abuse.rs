//! Bad input on the sync socket: malformed CBOR, text frames and oversized frames close that
//! connection, and nobody else notices.

use std::time::Duration;

use automerge::transaction::Transactable as _;
use futures::{SinkExt as _, StreamExt as _};
use nimo_server::accounts::Role;
use nimo_tests::{ApiClient, TestServer, samod_peer};
use tokio_tungstenite::tungstenite::Message;

/// Opens a raw socket with a fresh ticket, sends `frame`, and says whether the server closed the
/// connection within five seconds.
async fn server_closes_after(client: &ApiClient, frame: Message) -> anyhow::Result<bool> {
    let (ticket, _) = client.ticket().await?;
    let (mut socket, _) = tokio_tungstenite::connect_async(client.ws_url(&ticket).as_str()).await?;
    if socket.send(frame).await.is_err() {
        // The server cut the connection while the frame was still being written.
        return Ok(true);
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    Ok(closed.unwrap_or(false))
}

#[tokio::test]
async fn bad_frames_close_their_connection_and_harm_nothing_else() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    let client = server.api_client("trainer").await?;
    let peer = samod_peer(&client).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "研修"))
        .await?;
    let doc_id = handle.document_id().to_string();
    client.register(&doc_id, "training_session", &[]).await?;
    peer.connect().await?;

    let garbage = Message::Binary(vec![0xff, 0x00, 0x13, 0x37].into());
    assert!(
        server_closes_after(&client, garbage).await?,
        "malformed CBOR"
    );
    let text = Message::Text("{\"type\":\"join\"}".into());
    assert!(server_closes_after(&client, text).await?, "a text frame");
    let huge = Message::Binary(vec![0u8; nimo_server::sync::ws::MAX_MESSAGE_BYTES + 1].into());
    assert!(
        server_closes_after(&client, huge).await?,
        "an oversized frame"
    );

    // The well-behaved peer still syncs.
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "研修(変更)")
            .expect("local edit");
        tx.commit();
    });
    let heads: Vec<String> =
        handle.with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
    assert!(client.wait_until_stored(&doc_id, &heads).await?);
    let health = reqwest::get(server.url("/healthz")).await?;
    assert_eq!(health.status(), 200);
    server.stop().await
}
