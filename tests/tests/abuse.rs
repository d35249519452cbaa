//! Bad input on the sync socket: malformed CBOR, text frames and oversized frames close that
//! connection, a flood of valid frames is slowed and then cut, and nobody else notices.

use std::time::{Duration, Instant};

use automerge::transaction::Transactable as _;
use futures::{SinkExt as _, StreamExt as _};
use nimo_tests::{ApiClient, TestServer, TrainerWithSession};
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
    let closed = nimo_tests::time_to_close(&mut socket, Instant::now(), Duration::from_secs(5));
    Ok(closed.await.is_some())
}

#[tokio::test]
async fn bad_frames_close_their_connection_and_harm_nothing_else() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let TrainerWithSession {
        client,
        peer: _connected,
        handle,
        doc_id,
    } = server.trainer_with_a_session().await?;

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

    // The well-behaved peer still syncs, a message far larger than the server's read buffer
    // (`READ_BUFFER_BYTES`, 16 KiB) among them: ~120 KB that deflate cannot shrink much.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bulky: String = (0..120_000)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + u8::try_from(state >> 59).expect("5 bits") % 26)
        })
        .collect();
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "研修(変更)")
            .expect("local edit");
        tx.put(automerge::ROOT, "bulky", bulky.as_str())
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

/// The frames of a peer that asks the server, over and over, for a document it does not have.
fn join_and_requests(peer_id: &str) -> (Message, Message) {
    use automerge::sync::SyncDoc as _;
    use nimo_shared::sync::{DocumentId, Message as Protocol, PeerId};
    let join = Protocol::Join {
        sender_id: PeerId::new(peer_id),
        supported_protocol_versions: vec!["1".to_owned()],
        metadata: None,
    };
    let data = automerge::Automerge::new()
        .generate_sync_message(&mut automerge::sync::State::new())
        .map(automerge::sync::Message::encode)
        .unwrap_or_default();
    let request = Protocol::Request {
        document_id: DocumentId::from_random_bytes([7; 16]),
        sender_id: PeerId::new(peer_id),
        target_id: PeerId::new("nimo-server"),
        data,
    };
    (
        Message::Binary(join.encode().into()),
        Message::Binary(request.encode().into()),
    )
}

#[tokio::test]
async fn a_flooding_connection_is_cut_while_another_keeps_syncing() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.sync_rate_limit = nimo_server::sync::rate::RateLimit {
            frames_per_second: 50,
            frame_burst: 100,
            cut_after_ms: 1_000,
            ..nimo_server::sync::rate::RateLimit::default()
        };
    })
    .await?;
    let TrainerWithSession {
        client,
        peer: _connected,
        handle,
        doc_id,
    } = server.trainer_with_a_session().await?;

    let (ticket, peer_id) = client.ticket().await?;
    let (socket, _) = tokio_tungstenite::connect_async(client.ws_url(&ticket).as_str()).await?;
    let (mut sink, mut stream) = socket.split();
    let (join, request) = join_and_requests(&peer_id);
    sink.send(join).await?;
    // Asking at a calm pace is fine: the server answers and keeps the connection.
    for _ in 0..10 {
        sink.send(request.clone()).await?;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut answers = 0;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(500), stream.next()).await
    {
        assert!(!matches!(message, Message::Close(_)), "closed while calm");
        answers += 1;
    }
    assert!(answers > 0, "the calm requests were answered");

    // Then as fast as TCP takes them.
    let flood = tokio::spawn(async move {
        for _ in 0..20_000 {
            if sink.send(request.clone()).await.is_err() {
                return true;
            }
        }
        false
    });
    // Meanwhile the well-behaved peer's change still reaches the database.
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "研修(変更)")
            .expect("local edit");
        tx.commit();
    });
    let heads: Vec<String> =
        handle.with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
    assert!(client.wait_until_stored(&doc_id, &heads).await?);
    let cut = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match stream.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(cut, "the flooding connection was cut");
    flood.abort();
    let health = reqwest::get(server.url("/healthz")).await?;
    assert_eq!(health.status(), 200);
    server.stop().await
}
