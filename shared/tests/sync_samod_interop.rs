//! The client against the real server: samod 0.16.0 (the version the server pins), running on
//! tokio with an in-memory transport in place of the WebSocket. Each frame crosses as bytes,
//! so this checks the wire format, the handshake, request/sync/doc-unavailable and the cheap
//! reconnect against samod's own code rather than against our reading of it.

use std::convert::Infallible;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use futures::StreamExt;
use futures::channel::mpsc;
use nimo_shared::sync::{
    ClientConfig, DocumentId, Effect, Input, ManifestEntry, Message, PeerId, SyncClient, SyncStatus,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// A device connected to samod through channels.
struct Device {
    client: SyncClient,
    rng: ChaCha8Rng,
    to_server: Option<mpsc::UnboundedSender<Result<Vec<u8>, Infallible>>>,
    from_server: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    sent: Vec<Message>,
    effects: Vec<Effect>,
}

impl Device {
    fn new() -> Self {
        let config = ClientConfig::new(automerge::ActorId::from(&b"phone"[..]));
        Self {
            client: SyncClient::new(PeerId::from("phone"), config),
            rng: ChaCha8Rng::seed_from_u64(1),
            to_server: None,
            from_server: None,
            sent: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn now() -> u64 {
        1_700_000_000_000
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(frame) => {
                    self.sent
                        .push(Message::decode(&frame).expect("we send valid frames"));
                    if let Some(tx) = &self.to_server {
                        tx.unbounded_send(Ok(frame)).expect("samod is listening");
                    }
                }
                other => self.effects.push(other),
            }
        }
    }

    fn input(&mut self, input: Input) {
        let effects = self.client.handle(Self::now(), &mut self.rng, input);
        self.apply(effects);
    }

    async fn connect(&mut self, acceptor: &samod::AcceptorHandle) {
        let (to_server, server_rx) = mpsc::unbounded();
        let (server_tx, from_server) = mpsc::unbounded();
        acceptor
            .accept(samod::Transport::new(server_rx, server_tx))
            .expect("samod accepts");
        self.to_server = Some(to_server);
        self.from_server = Some(from_server);
        self.input(Input::Connected);
        self.settle().await;
    }

    fn disconnect(&mut self) {
        self.to_server = None;
        self.from_server = None;
        self.input(Input::Disconnected);
    }

    /// Delivers samod's frames until it has been quiet for a while.
    async fn settle(&mut self) {
        loop {
            let Some(rx) = self.from_server.as_mut() else {
                return;
            };
            match tokio::time::timeout(Duration::from_millis(300), rx.next()).await {
                Ok(Some(frame)) => self.input(Input::Received(frame)),
                Ok(None) | Err(_) => return,
            }
        }
    }
}

async fn server() -> (samod::Repo, samod::AcceptorHandle) {
    let repo = samod::Repo::build_tokio()
        .with_peer_id(samod::PeerId::from("office"))
        .with_share_policy(samod::ShareConfig::read_write().with_announce(false))
        .load()
        .await;
    let url = samod::Url::parse("ws://office.test/sync").expect("valid url");
    let acceptor = repo.make_acceptor(url).expect("acceptor");
    (repo, acceptor)
}

fn samod_id(id: DocumentId) -> samod::DocumentId {
    id.to_string().parse().expect("samod reads our ids")
}

fn ours(id: &samod::DocumentId) -> DocumentId {
    id.to_string().parse().expect("we read samod's ids")
}

#[tokio::test]
async fn samod_completes_the_handshake_and_receives_a_record_made_on_the_device() {
    let (repo, acceptor) = server().await;
    let mut phone = Device::new();
    let (doc_id, (), effects) = phone.client.create(Device::now(), &mut phone.rng, |doc| {
        doc.transact(|tx| tx.put(ROOT, "venue", "富谷市民センター"))
            .expect("commits");
    });
    phone.apply(effects);
    phone.connect(&acceptor).await;
    assert!(matches!(
        phone.client.status(Device::now()),
        SyncStatus::UpToDate { .. }
    ));

    let handle = repo
        .find(samod_id(doc_id))
        .await
        .expect("running")
        .expect("samod has the record");
    let venue = handle.with_document(|doc| {
        doc.get(ROOT, "venue")
            .expect("readable")
            .and_then(|(v, _)| v.as_str().map(str::to_owned))
    });
    assert_eq!(venue.as_deref(), Some("富谷市民センター"));
    repo.stop().await;
}

#[tokio::test]
async fn a_record_created_on_samod_is_requested_and_arrives() {
    let (repo, acceptor) = server().await;
    let mut initial = Automerge::new();
    initial
        .transact(|tx| tx.put(ROOT, "capacity", 40_i64))
        .expect("commits");
    let handle = repo.create(initial).await.expect("created");
    let doc_id = ours(handle.document_id());

    let mut phone = Device::new();
    phone.connect(&acceptor).await;
    phone.input(Input::Want(doc_id));
    phone.settle().await;
    assert!(
        phone
            .sent
            .iter()
            .any(|m| matches!(m, Message::Request { .. }))
    );
    let doc = phone.client.doc(&doc_id).expect("arrived");
    assert_eq!(
        doc.get_heads(),
        handle.with_document(|d| d.get_heads()),
        "the device has samod's heads"
    );
    assert!(
        phone
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Persist { .. } | Effect::Compact { .. }))
    );
    repo.stop().await;
}

#[tokio::test]
async fn samod_answers_a_request_for_an_unknown_record_with_doc_unavailable() {
    let (repo, acceptor) = server().await;
    let mut phone = Device::new();
    phone.connect(&acceptor).await;
    let nowhere = DocumentId::from_random_bytes([8; 16]);
    phone.input(Input::Want(nowhere));
    phone.settle().await;
    assert!(phone.client.is_unavailable(&nowhere));
    assert!(phone.effects.contains(&Effect::DocUnavailable(nowhere)));
    repo.stop().await;
}

#[tokio::test]
async fn reconnecting_to_samod_with_nothing_changed_sends_no_sync_message() {
    let (repo, acceptor) = server().await;
    let mut phone = Device::new();
    let mut ids = Vec::new();
    for i in 0..3_i64 {
        let (id, (), effects) = phone.client.create(Device::now(), &mut phone.rng, |doc| {
            doc.transact(|tx| tx.put(ROOT, "n", i)).expect("commits");
        });
        phone.apply(effects);
        ids.push(id);
    }
    phone.connect(&acceptor).await;
    phone.disconnect();

    // The manifest (from the server's registry) lists samod's heads.
    let mut manifest = Vec::new();
    for id in &ids {
        let handle = repo
            .find(samod_id(*id))
            .await
            .expect("running")
            .expect("stored");
        manifest.push(ManifestEntry {
            doc_id: *id,
            heads: handle.with_document(|d| d.get_heads()),
        });
    }
    let mark = phone.sent.len();
    phone.input(Input::Manifest(manifest));
    phone.connect(&acceptor).await;
    let doc_frames = phone.sent[mark..]
        .iter()
        .filter(|m| matches!(m, Message::Sync { .. } | Message::Request { .. }))
        .count();
    assert_eq!(doc_frames, 0, "sent {:?}", &phone.sent[mark..]);
    assert!(matches!(
        phone.client.status(Device::now()),
        SyncStatus::UpToDate { .. }
    ));
    repo.stop().await;
}
