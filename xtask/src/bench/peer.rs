//! A minimal Rust device for the limits, the load benchmark and W3's Rust reader: logs in
//! (shared bearer token), takes a ticket, opens nimo's sync socket, joins with the ticket's peer
//! id and pushes small Automerge changes, or fetches documents, with automerge's own sync
//! protocol, using nimo's protocol codec (`nimo_shared::sync::protocol`). It speaks to the
//! reference server as well (any peer id, no ticket). It is not the app's `SyncClient`: it
//! measures the server.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use automerge::{
    AutoCommit, Automerge, ChangeHash, ROOT,
    sync::{self, SyncDoc as _},
    transaction::Transactable as _,
};
use futures::{SinkExt as _, StreamExt as _};
use nimo_shared::sync::{
    ids::{DocumentId, PeerId},
    protocol::Message,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

use super::{api::NimoApi, loaders::Loaders};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One device's document and its sync state with the server.
#[derive(Debug)]
pub struct Doc {
    /// The document id.
    pub id: DocumentId,
    /// The document.
    pub doc: AutoCommit,
    state: sync::State,
    changes: u64,
}

impl Doc {
    /// A new document whose id comes from `seed` (distinct seeds, distinct ids).
    pub fn new(seed: u64) -> anyhow::Result<Self> {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("nimo-bench-doc:{seed}:{}", std::process::id()));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "kind", "bench")?;
        doc.put(ROOT, "checkins", 0_i64)?;
        Ok(Self {
            id: DocumentId::from_random_bytes(bytes),
            doc,
            state: sync::State::new(),
            changes: 0,
        })
    }

    /// One small change: a check-in (one counter field and one new key), as a tap would make.
    pub fn change(&mut self) -> anyhow::Result<()> {
        self.changes += 1;
        self.doc
            .put(ROOT, "checkins", i64::try_from(self.changes)?)?;
        self.doc.put(ROOT, format!("a{}", self.changes), true)?;
        self.doc.commit();
        Ok(())
    }

    /// Whether the server reported heads covering ours.
    pub fn acknowledged(&mut self) -> bool {
        let ours = self.doc.get_heads();
        self.state
            .their_heads
            .as_ref()
            .is_some_and(|theirs| ours.iter().all(|h| theirs.contains(h)))
    }
}

/// An open, joined sync connection.
#[derive(Debug)]
pub struct Peer {
    socket: Socket,
    peer_id: PeerId,
    server_id: PeerId,
    /// Frames and bytes this peer sent and received.
    pub counters: Counters,
}

/// Traffic of one peer.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Frames sent.
    pub frames_up: u64,
    /// Frames received.
    pub frames_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
}

impl Peer {
    /// Takes a ticket and joins.
    pub async fn connect(api: &NimoApi) -> anyhow::Result<Self> {
        let ticket = api.ticket().await?;
        Self::join(&api.ws_url(&ticket.ticket), PeerId::new(ticket.peer_id)).await
    }

    /// Opens the sync socket at `url` and joins as `peer_id` (nimo's url carries a ticket
    /// bound to that id; the reference takes any).
    pub async fn join(url: &str, peer_id: PeerId) -> anyhow::Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("opening the sync socket")?;
        let mut peer = Self {
            socket,
            peer_id,
            server_id: PeerId::new("nimo-server"),
            counters: Counters::default(),
        };
        peer.send(&Message::Join {
            sender_id: peer.peer_id.clone(),
            supported_protocol_versions: vec!["1".to_owned()],
            metadata: None,
        })
        .await?;
        match peer.receive(Duration::from_secs(30)).await? {
            Message::Peer { sender_id, .. } => peer.server_id = sender_id,
            other => bail!("expected a peer message, got {}", other.kind()),
        }
        Ok(peer)
    }

    async fn send(&mut self, message: &Message) -> anyhow::Result<()> {
        let bytes = message.encode();
        self.counters.frames_up += 1;
        self.counters.bytes_up += bytes.len() as u64;
        self.socket
            .send(tungstenite::Message::Binary(bytes.into()))
            .await?;
        Ok(())
    }

    async fn receive(&mut self, limit: Duration) -> anyhow::Result<Message> {
        loop {
            let frame = tokio::time::timeout(limit, self.socket.next())
                .await
                .context("no answer from the server")?
                .context("the server closed the socket")??;
            if let tungstenite::Message::Binary(bytes) = frame {
                self.counters.frames_down += 1;
                self.counters.bytes_down += bytes.len() as u64;
                return Ok(Message::decode(&bytes)?);
            }
        }
    }

    /// Sends what the server lacks of `doc` and waits until the server acknowledges our heads.
    pub async fn push(&mut self, doc: &mut Doc) -> anyhow::Result<()> {
        loop {
            if let Some(message) = doc.doc.sync().generate_sync_message(&mut doc.state) {
                self.send(&Message::Sync {
                    document_id: doc.id,
                    sender_id: self.peer_id.clone(),
                    target_id: self.server_id.clone(),
                    data: message.encode(),
                })
                .await?;
            }
            if doc.acknowledged() {
                return Ok(());
            }
            match self.receive(Duration::from_secs(60)).await? {
                Message::Sync {
                    document_id, data, ..
                } if document_id == doc.id => {
                    doc.doc
                        .sync()
                        .receive_sync_message(&mut doc.state, sync::Message::decode(&data)?)?;
                }
                Message::DocUnavailable { .. } => bail!("the server refused {}", doc.id),
                Message::Error { message } => bail!("server error: {message}"),
                _ => {}
            }
        }
    }

    /// Fetches `docs` (id and expected heads) with `request`s, `in_flight` at a time, issuing no
    /// new request after `deadline`; each received document answers with its acknowledgement
    /// and counts once its heads are the expected ones. As the reference's lean reader
    /// (`clients/read.mjs`), in Rust, with one difference: what it receives is loaded on
    /// [`Loaders`] threads, one per core, instead of in the loop that reads the socket.
    pub async fn fetch_all(
        &mut self,
        docs: &[(DocumentId, Vec<ChangeHash>)],
        in_flight: usize,
        deadline: Duration,
    ) -> anyhow::Result<Fetched> {
        let mut loaders = Loaders::for_this_machine();
        let fetched = self
            .fetch_with(&mut loaders, docs, in_flight, deadline)
            .await;
        loaders.close();
        fetched
    }

    async fn fetch_with(
        &mut self,
        loaders: &mut Loaders,
        docs: &[(DocumentId, Vec<ChangeHash>)],
        in_flight: usize,
        deadline: Duration,
    ) -> anyhow::Result<Fetched> {
        let started = Instant::now();
        let mut fetched = Fetched::default();
        let mut pending: HashSet<DocumentId> = HashSet::new();
        let mut next = docs.iter();
        loop {
            while pending.len() < in_flight && started.elapsed() < deadline {
                let Some((id, heads)) = next.next() else {
                    break;
                };
                let doc = Automerge::new();
                let mut state = sync::State::new();
                let request = doc
                    .generate_sync_message(&mut state)
                    .context("a fresh document says nothing")?;
                self.send(&Message::Request {
                    document_id: *id,
                    sender_id: self.peer_id.clone(),
                    target_id: self.server_id.clone(),
                    data: request.encode(),
                })
                .await?;
                loaders.start(*id, doc, state, heads.clone());
                pending.insert(*id);
            }
            if pending.is_empty() {
                break;
            }
            tokio::select! {
                message = self.receive(Duration::from_secs(60)) => match message? {
                    Message::Sync {
                        document_id, data, ..
                    } if pending.contains(&document_id) => loaders.receive(document_id, data),
                    Message::DocUnavailable { document_id, .. }
                        if pending.remove(&document_id) =>
                    {
                        loaders.forget(document_id);
                        fetched.fail(format!("{document_id}: unavailable"));
                    }
                    Message::Error { message } => bail!("server error: {message}"),
                    _ => {}
                },
                outcome = loaders.outcomes.recv() => {
                    let outcome = outcome.context("the loader threads stopped")?;
                    if let Some(reply) = outcome.reply {
                        self.send(&Message::Sync {
                            document_id: outcome.id,
                            sender_id: self.peer_id.clone(),
                            target_id: self.server_id.clone(),
                            data: reply,
                        })
                        .await?;
                    }
                    if let Some(verdict) = outcome.verdict
                        && pending.remove(&outcome.id)
                    {
                        match verdict {
                            Ok(()) => {
                                fetched.ok += 1;
                                fetched.wall_s = started.elapsed().as_secs_f64();
                            }
                            Err(why) => fetched.fail(why),
                        }
                    }
                }
            }
        }
        Ok(fetched)
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// What [`Peer::fetch_all`] got.
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    /// Documents received with the expected heads.
    pub ok: u64,
    /// Documents refused or received with other heads.
    pub failed: u64,
    /// The first few failures.
    pub failures: Vec<String>,
    /// Seconds from the first request to the last document verified.
    pub wall_s: f64,
}

impl Fetched {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(why);
        }
    }
}
