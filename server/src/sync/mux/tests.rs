use std::sync::{Arc, Mutex};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use nimo_shared::sync::{PeerId as WirePeerId, PeerMetadata};

use super::*;

const SHARDS: usize = 4;
const DEVICE: &str = "device-1";

fn join() -> Vec<u8> {
    Message::Join {
        sender_id: WirePeerId::new(DEVICE),
        supported_protocol_versions: vec!["1".to_owned()],
        metadata: None,
    }
    .encode()
}

fn peer(storage: &str) -> Vec<u8> {
    Message::Peer {
        sender_id: WirePeerId::new("nimo-server"),
        selected_protocol_version: "1".to_owned(),
        target_id: WirePeerId::new(DEVICE),
        metadata: Some(PeerMetadata {
            storage_id: Some(storage.to_owned()),
            is_ephemeral: false,
        }),
    }
    .encode()
}

fn sync_about(document_id: DocumentId) -> Vec<u8> {
    Message::Sync {
        document_id,
        sender_id: WirePeerId::new(DEVICE),
        target_id: WirePeerId::new("nimo-server"),
        data: vec![0x42, 0, 0, 0, 0],
    }
    .encode()
}

/// Two documents that live in different shards of [`SHARDS`].
fn documents_in_two_shards() -> (DocumentId, DocumentId) {
    let first = DocumentId::from_bytes([1; 16]);
    let second = (2..=255)
        .map(|byte| DocumentId::from_bytes([byte; 16]))
        .find(|id| shard_of(id.as_bytes(), SHARDS) != shard_of(first.as_bytes(), SHARDS))
        .expect("some id lands elsewhere");
    (first, second)
}

/// A document that does not live in `shard` (of [`SHARDS`]).
fn document_outside(shard: usize) -> DocumentId {
    let (first, second) = documents_in_two_shards();
    if shard_of(first.as_bytes(), SHARDS) == shard {
        second
    } else {
        first
    }
}

/// What the fake shards saw.
#[derive(Default)]
struct Seen {
    /// (shard, frame) in arrival order.
    frames: Vec<(usize, Vec<u8>)>,
    /// Shards whose virtual connection was opened, in order.
    connected: Vec<usize>,
    /// Shards whose frames ended.
    ended: Vec<usize>,
}

/// A stand-in for a samod shard: answers `join` with a `peer` naming `storage(index)`,
/// records every frame, and closes its virtual connection on the frame `[0xff]`.
fn fake_shard(
    index: usize,
    mut frames: mpsc::Receiver<Vec<u8>>,
    mut replies: mpsc::Sender<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
    storage: String,
) -> Option<ShardEnded> {
    seen.lock().expect("not poisoned").connected.push(index);
    Some(
        async move {
            while let Some(frame) = frames.next().await {
                if frame == [0xff] {
                    return "malformed frame".to_owned();
                }
                let is_join = matches!(Message::decode(&frame), Ok(Message::Join { .. }));
                seen.lock()
                    .expect("not poisoned")
                    .frames
                    .push((index, frame));
                if is_join {
                    let _ = replies.send(peer(&storage)).await;
                }
            }
            seen.lock().expect("not poisoned").ended.push(index);
            "frames ended".to_owned()
        }
        .boxed(),
    )
}

/// A device connection served over fake shards: the device's frame sender, what reaches its
/// socket, what the shards saw, and the serving task.
type Served = (
    UnboundedSender<Result<Incoming, String>>,
    UnboundedReceiver<Vec<u8>>,
    Arc<Mutex<Seen>>,
    tokio::task::JoinHandle<Outcome>,
);

fn serve_fake(storage: fn(usize) -> String) -> Served {
    serve_fake_accepting(storage, |_| true)
}

/// [`serve_fake`] whose shards refuse a connection (as a stopping repository does) unless
/// `accepts(index)`.
fn serve_fake_accepting(
    storage: fn(usize) -> String,
    accepts: impl Fn(usize) -> bool + Send + 'static,
) -> Served {
    let (device, frames) = unbounded();
    let (socket, received) = unbounded();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shards_seen = seen.clone();
    let served = tokio::spawn(serve(
        frames,
        socket,
        SHARDS,
        None,
        &AdmitAll,
        move |index, frames, replies| {
            accepts(index)
                .then(|| fake_shard(index, frames, replies, shards_seen.clone(), storage(index)))
                .flatten()
        },
    ));
    (device, received, seen, served)
}

fn send(device: &UnboundedSender<Result<Incoming, String>>, frame: Vec<u8>) {
    device
        .unbounded_send(Ok(Incoming::decode(frame)))
        .expect("the mux reads");
}

fn kinds(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|frame| Message::decode(frame).map_or("?".to_owned(), |m| m.kind().to_owned()))
        .collect()
}

#[test]
fn join_is_connection_wide_and_document_messages_go_to_their_shard() {
    let (first, second) = documents_in_two_shards();
    let frame = join();
    assert_eq!(
        route(Message::decode(&frame).ok().as_ref(), &frame, 16),
        Route::All
    );
    for id in [first, second] {
        let frame = sync_about(id);
        assert_eq!(
            route(Message::decode(&frame).ok().as_ref(), &frame, SHARDS),
            Route::One(shard_of(id.as_bytes(), SHARDS))
        );
    }
}

#[test]
fn an_ephemeral_message_goes_to_its_documents_shard_and_one_without_a_document_to_shard_0() {
    let (_, second) = documents_in_two_shards();
    let mut ephemeral = minicbor::Encoder::new(Vec::new());
    ephemeral
        .map(3)
        .and_then(|e| e.str("type")?.str("ephemeral"))
        .and_then(|e| e.str("documentId")?.str(&second.to_string()))
        .and_then(|e| e.str("data")?.bytes(&[1, 2, 3]))
        .expect("writing to a Vec cannot fail");
    let ephemeral = ephemeral.into_writer();
    let message = Message::decode(&ephemeral).expect("decodes as another type");
    assert_eq!(
        route(Some(&message), &ephemeral, SHARDS),
        Route::One(shard_of(second.as_bytes(), SHARDS))
    );
    let subscription = Message::Other {
        kind: "remote-subscription-change".to_owned(),
    };
    assert_eq!(
        route(Some(&subscription), &subscription.encode(), SHARDS),
        Route::One(0)
    );
    assert_eq!(route(None, &[0xff, 0x00], SHARDS), Route::One(0));
}

#[tokio::test]
async fn the_device_sees_one_peer_reply_and_each_shard_only_its_documents() {
    let (device, mut received, seen, served) = serve_fake(|_| "storage-1".to_owned());
    let (first, second) = documents_in_two_shards();
    send(&device, join());
    send(&device, sync_about(first));
    send(&device, sync_about(second));
    let reply = received.next().await.expect("a reply");
    assert_eq!(reply, peer("storage-1"));
    // The device's frames end: the connection ends, every shard's frames end with it.
    drop(device);
    let outcome = served.await.expect("serving does not panic");
    assert_eq!(
        outcome,
        Outcome {
            handshake: true,
            ended: Ended::Socket("closed".to_owned())
        }
    );
    let rest: Vec<Vec<u8>> = received.collect().await;
    assert_eq!(kinds(&rest), Vec::<String>::new(), "no second peer reply");
    let seen = seen.lock().expect("not poisoned");
    // The handshake shard hears the join at once, a document's shard right before its first
    // message, and a shard the device never uses not at all: it is not even connected.
    let handshake_shard = shard_of(DEVICE.as_bytes(), SHARDS);
    let mut reached: Vec<usize> = [DEVICE.as_bytes(), first.as_bytes(), second.as_bytes()]
        .iter()
        .map(|bytes| shard_of(bytes, SHARDS))
        .collect();
    reached.sort_unstable();
    reached.dedup();
    assert!(reached.len() < SHARDS, "the test needs a shard left unused");
    let mut connected = seen.connected.clone();
    connected.sort_unstable();
    assert_eq!(connected, reached, "each reached shard connected once");
    for shard in 0..SHARDS {
        let mut expected = Vec::new();
        for id in [first, second] {
            if shard_of(id.as_bytes(), SHARDS) == shard {
                expected.push(sync_about(id));
            }
        }
        if shard == handshake_shard || !expected.is_empty() {
            expected.insert(0, join());
        }
        let got: Vec<Vec<u8>> = seen
            .frames
            .iter()
            .filter(|(index, _)| *index == shard)
            .map(|(_, frame)| frame.clone())
            .collect();
        assert_eq!(got, expected, "shard {shard}");
    }
    let mut ended = seen.ended.clone();
    ended.sort_unstable();
    assert_eq!(ended, reached, "every connected shard's frames ended");
}

#[tokio::test]
async fn a_shard_closing_its_connection_closes_the_device_connection() {
    let (device, mut received, seen, served) = serve_fake(|_| "storage-1".to_owned());
    send(&device, join());
    assert_eq!(received.next().await, Some(peer("storage-1")));
    // A document outside shard 0 links its shard too.
    let elsewhere = document_outside(0);
    let other_shard = shard_of(elsewhere.as_bytes(), SHARDS);
    send(&device, sync_about(elsewhere));
    // Undecodable: routed to shard 0, which closes its virtual connection over it.
    send(&device, vec![0xff]);
    let outcome = served.await.expect("serving does not panic");
    assert_eq!(
        outcome.ended,
        Ended::Shard {
            shard: 0,
            reason: "malformed frame".to_owned()
        }
    );
    // The socket is closed and the other linked shards' connections ended; the shards the
    // device never reached were never connected.
    assert_eq!(received.next().await, None);
    assert!(device.is_closed());
    let seen = seen.lock().expect("not poisoned");
    let mut linked = vec![0, shard_of(DEVICE.as_bytes(), SHARDS), other_shard];
    linked.sort_unstable();
    linked.dedup();
    let mut connected = seen.connected.clone();
    connected.sort_unstable();
    assert_eq!(connected, linked);
    let mut ended = seen.ended.clone();
    ended.sort_unstable();
    linked.retain(|&shard| shard != 0);
    assert_eq!(ended, linked);
}

#[tokio::test]
async fn shards_answering_the_join_differently_close_the_connection() {
    let (device, mut received, _seen, served) = serve_fake(|index| format!("storage-{index}"));
    send(&device, join());
    // A document in another shard than the handshake's makes that shard hear the join too.
    send(
        &device,
        sync_about(document_outside(shard_of(DEVICE.as_bytes(), SHARDS))),
    );
    let outcome = served.await.expect("serving does not panic");
    assert_eq!(outcome.ended, Ended::PeersDisagree);
    // Only the first answer reached the device.
    let replies: Vec<Vec<u8>> = (&mut received).collect().await;
    assert_eq!(kinds(&replies), vec!["peer".to_owned()]);
}

#[tokio::test]
async fn real_samod_shards_over_one_storage_answer_with_one_peer() {
    let storage = samod::storage::InMemoryStorage::new();
    let url = url::Url::parse("ws://nimo/api/sync/ws").expect("a url");
    let mut acceptors = Vec::new();
    let mut repos = Vec::new();
    for _ in 0..SHARDS {
        let repo = samod::Repo::build_tokio()
            .with_storage(storage.clone())
            .with_peer_id(samod::PeerId::from("nimo-server"))
            .load()
            .await;
        acceptors.push(repo.make_acceptor(url.clone()).expect("running"));
        repos.push(repo);
    }
    let (device, frames) = unbounded::<Result<Incoming, String>>();
    let (socket, mut received) = unbounded();
    let served = tokio::spawn(serve(
        frames,
        socket,
        SHARDS,
        None,
        &AdmitAll,
        move |index, frames, replies| connect_to_shard(&acceptors[index], DEVICE, frames, replies),
    ));
    send(&device, join());
    let reply = received.next().await.expect("a reply");
    assert!(
        matches!(Message::decode(&reply), Ok(Message::Peer { ref target_id, .. }) if target_id.as_str() == DEVICE),
        "{reply:?}"
    );
    drop(device);
    let outcome = served.await.expect("serving does not panic");
    assert!(outcome.handshake);
    let rest: Vec<Vec<u8>> = received.collect().await;
    assert_eq!(kinds(&rest), Vec::<String>::new(), "no second peer reply");
    for repo in &repos {
        repo.stop().await;
    }
}

#[tokio::test]
async fn a_shard_refusing_its_late_connection_ends_the_device_connection_as_refused() {
    // Every shard but the handshake's is stopping: the join succeeds, the first document in
    // another shard finds its shard refusing.
    let handshake_shard = shard_of(DEVICE.as_bytes(), SHARDS);
    let (device, mut received, _seen, served) = serve_fake_accepting(
        |_| "storage-1".to_owned(),
        move |index| index == handshake_shard,
    );
    send(&device, join());
    assert_eq!(received.next().await, Some(peer("storage-1")));
    send(&device, sync_about(document_outside(handshake_shard)));
    let outcome = served.await.expect("serving does not panic");
    assert_eq!(
        outcome,
        Outcome {
            handshake: true,
            ended: Ended::Refused
        }
    );
    assert_eq!(received.next().await, None, "the socket is closed");
}

/// The multiplexer's frames here are not automerge's: every one may reach its shard.
struct AdmitAll;

impl crate::sync::shard_gate::Gate for AdmitAll {
    fn admit<'a>(
        &'a self,
        _: &'a Incoming,
    ) -> BoxFuture<'a, Result<(), crate::sync::frame_guard::FrameRejected>> {
        futures::future::ready(Ok(())).boxed()
    }
}
