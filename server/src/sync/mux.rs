//! One device's sync WebSocket multiplexed over the shards ([`super::shards`]).
//!
//! Each shard the device reaches gets its own virtual connection, opened when the device first
//! sends it something: two channels, handed to that shard's samod acceptor as a
//! [`samod::Transport`] bound to the device's peer id. The device's frames (past
//! the guard, the write audit and the rate limit in [`super::ws`]) are routed by what they
//! concern ([`route`]): a message about a document to that document's shard only, and the
//! connection-wide ones to the shards the device has joined. A shard hears the device's `join`
//! only when the device first needs it (`ShardLinks`): samod subscribes every joined
//! connection to every document its repository holds, so a device that uses two shards costs
//! the other shards nothing. Everything the shards send goes to the one socket, except that the
//! device sees a single `peer` reply: each shard answers the `join` it hears, the first answer
//! is forwarded and the others, which must be identical, are dropped. Requests for documents
//! no shard has loaded are answered beside the shards ([`super::cold_read`]). A fetched
//! document the device acknowledges gets one heads-only message more ([`super::follow_up`]),
//! written beside the shards' replies.
//!
//! The device connection ends as a whole: when the socket ends or fails, or the session is
//! revoked, every virtual connection ends; when any shard closes its virtual connection (samod
//! does on a malformed frame), the socket closes too, as it did with a single repository.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesUnordered, SelectAll, select_all};
use futures::{FutureExt as _, Sink, SinkExt as _, Stream, StreamExt as _};
use minicbor::Decoder;
use minicbor::data::Type;
use nimo_shared::sync::{DocumentId, Message, PeerId};
use samod::{AcceptorEvent, AcceptorHandle};

use super::cold_read::{ColdConnection, ColdReads, Decision, VisitWrites};
use super::follow_up::FollowUps;
use super::shard_gate::Gate;
use super::shards::shard_of;

/// How many frames wait for one shard in each direction before the other side waits: enough
/// to keep a shard busy, small enough that a flood stays bounded.
const SHARD_QUEUE: usize = 32;

/// How long the shards get to see their virtual connections end before the device
/// connection is counted as gone anyway.
const SHARDS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// One incoming frame from the device, decoded once (the guard, the write audit and the
/// routing all read the decoded message).
#[derive(Debug)]
pub struct Incoming {
    /// The frame as the device sent it; this is what the shard receives.
    pub bytes: Vec<u8>,
    /// The frame's protocol message, if it decodes.
    pub message: Option<Message>,
}

impl Incoming {
    /// Decodes `bytes`.
    pub fn decode(bytes: Vec<u8>) -> Self {
        let message = Message::decode(&bytes).ok();
        Self { bytes, message }
    }
}

/// Which shards a device frame goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The connection-wide messages (`join`, `leave`, `error`): see `ShardLinks`.
    All,
    /// This shard only.
    One(usize),
}

/// Where a device frame goes among `shards` shards.
///
/// A message naming a document goes to the document's shard. A message naming none
/// (remote-subscription-change, remote-heads-changed: samod 0.16 ignores both), a `peer` (which
/// a device never sends) and a frame that does not decode go to shard 0 alone: one shard is
/// enough to ignore it, or to close the connection over it exactly as a single repository
/// did, which closes the whole device connection.
pub fn route(message: Option<&Message>, frame: &[u8], shards: usize) -> Route {
    match message {
        Some(Message::Join { .. } | Message::Leave { .. } | Message::Error { .. }) => Route::All,
        _ => document_of(message, frame).map_or(Route::One(0), |id| {
            Route::One(shard_of(id.as_bytes(), shards))
        }),
    }
}

/// The document a device frame is about, if any: a document message's, or the `documentId` of
/// a type the shared codec does not read (`ephemeral`, which samod hands to that document).
fn document_of(message: Option<&Message>, frame: &[u8]) -> Option<DocumentId> {
    match message {
        Some(
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. },
        ) => Some(*document_id),
        Some(Message::Other { .. }) => document_id_field(frame),
        _ => None,
    }
}

/// The `documentId` of a frame whose type the shared codec does not read (such as
/// `ephemeral`), as text (bs58check) or 16 raw bytes.
fn document_id_field(frame: &[u8]) -> Option<DocumentId> {
    let mut d = Decoder::new(frame);
    let entries = d.map().ok()??;
    // A real message has under ten keys; a hostile one gets no more attention than that.
    for _ in 0..entries.min(32) {
        if d.str().ok()? == "documentId" {
            return match d.datatype().ok()? {
                Type::Bytes => DocumentId::try_from(d.bytes().ok()?).ok(),
                _ => d.str().ok()?.parse().ok(),
            };
        }
        d.skip().ok()?;
    }
    None
}

/// A shard's virtual connection ended, with samod's reason.
pub type ShardEnded = BoxFuture<'static, String>;

/// Why a device connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The socket closed, or its frames stopped (error, hostile frame, flood, revocation:
    /// [`super::ws`] logs which).
    Socket(String),
    /// Writing to the socket failed.
    Write(String),
    /// A shard closed its virtual connection.
    Shard {
        /// Which shard.
        shard: usize,
        /// samod's reason.
        reason: String,
    },
    /// Two shards answered the `join` differently (they share one storage and peer id, so
    /// this is a bug).
    PeersDisagree,
    /// A shard refused the connection: the server is stopping.
    Refused,
}

impl Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(reason) => write!(f, "socket: {reason}"),
            Self::Write(reason) => write!(f, "writing to the socket: {reason}"),
            Self::Shard { shard, reason } => write!(f, "shard {shard} closed it: {reason}"),
            Self::PeersDisagree => f.write_str("the shards answered the join differently"),
            Self::Refused => f.write_str("a shard refused it: the server is stopping"),
        }
    }
}

/// How the device connection went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the device got its `peer` reply.
    pub handshake: bool,
    /// Why it ended.
    pub ended: Ended,
}

/// Connects shard `index` through samod's acceptor, bound to `peer_id`: the shard reads
/// `frames` and writes `replies`. `None` when the shard is stopping.
pub fn connect_to_shard(
    acceptor: &AcceptorHandle,
    peer_id: &str,
    frames: mpsc::Receiver<Vec<u8>>,
    replies: mpsc::Sender<Vec<u8>>,
) -> Option<ShardEnded> {
    let transport = samod::Transport::new(frames.map(Ok::<_, std::convert::Infallible>), replies)
        .with_expected_peer_id(samod::PeerId::from(peer_id));
    let connection = acceptor.accept(transport).ok()?;
    Some(
        async move {
            // Subscribe before waiting, so a disconnect right after the handshake is seen; one
            // before it (even before this first poll) shows up as the handshake's error.
            let mut events = connection.events();
            if let Err(reason) = connection.handshake_complete().await {
                return format!("before its handshake: {reason}");
            }
            while let Some(event) = events.next().await {
                if let AcceptorEvent::ClientDisconnected { reason, .. } = event {
                    return reason.to_string();
                }
            }
            "the repository stopped".to_owned()
        }
        .boxed(),
    )
}

/// Serves one device connection over `shards` shards until it ends: `frames` are the device's
/// (already guarded), `socket` takes the replies, and `connect(index, frames, replies)` opens
/// shard `index`'s virtual connection ([`connect_to_shard`]) when the device first needs that
/// shard, returning a future that completes when the shard ends it. With `cold` (the server's
/// cold reads and the device's peer id), requests for documents no shard has loaded are
/// answered without the shards ([`super::cold_read`]).
pub async fn serve<Frames, FrameError, Socket, Connect>(
    frames: Frames,
    socket: Socket,
    shards: usize,
    cold: Option<(ColdReads, PeerId, Arc<dyn VisitWrites>)>,
    gate: &dyn Gate,
    connect: Connect,
) -> Outcome
where
    Frames: Stream<Item = Result<Incoming, FrameError>> + Unpin,
    FrameError: Display,
    Socket: Sink<Vec<u8>> + Unpin,
    Socket::Error: Display,
    Connect: FnMut(usize, mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) -> Option<ShardEnded>,
{
    // The shards the device reaches are linked as it goes: their replies join the writing
    // side's streams and their ends the watched ones through these two channels.
    let (linked_replies, mut replies_to_add) = mpsc::unbounded();
    let (linked_ends, mut ends_to_add) = mpsc::unbounded();
    let mut ends = FuturesUnordered::new();
    // Cold reads answer on a channel of their own, written to the socket like a shard's, and
    // hand frames for the shards back to the reading side.
    let (cold_replies, cold_answers) = mpsc::channel(SHARD_QUEUE);
    let (replays_tx, replays) = mpsc::channel(SHARD_QUEUE);
    let cold =
        cold.map(|(reads, peer, writes)| reads.connection(peer, writes, cold_replies, replays_tx));
    // The follow-ups come from the reading side and are written like a shard's replies.
    let (follow_up_frames, follow_ups_out) = mpsc::channel(SHARD_QUEUE);
    let replies = select_all([
        cold_answers.map(move |reply| (shards, reply)).boxed(),
        follow_ups_out.map(move |frame| (shards + 1, frame)).boxed(),
    ]);
    let follow_ups = std::sync::Mutex::new(FollowUps::default());
    let mut handshake = false;
    let ended = {
        let links = ShardLinks::new(shards, connect, linked_replies, linked_ends);
        let reading = forward_frames(
            frames,
            replays,
            links,
            cold.as_ref(),
            gate,
            (&follow_ups, follow_up_frames),
        );
        let writing = write_replies(
            replies,
            &mut replies_to_add,
            socket,
            shards,
            &follow_ups,
            &mut handshake,
        );
        let watching = first_shard_end(&mut ends, &mut ends_to_add);
        tokio::select! {
            ended = reading => ended,
            ended = writing => ended,
            ended = watching => ended,
        }
        // The socket's halves and the links to the shards are dropped here, which closes the
        // socket and ends every linked shard's frames.
    };
    // The shards see their frames end and close their virtual connections.
    drop(cold);
    while let Ok(end) = ends_to_add.try_recv() {
        ends.push(end);
    }
    let all_closed = async { while ends.next().await.is_some() {} };
    if tokio::time::timeout(SHARDS_CLOSE_WITHIN, all_closed)
        .await
        .is_err()
    {
        tracing::warn!("a shard did not close its virtual connection in time");
    }
    Outcome { handshake, ended }
}

/// A linked shard's replies, tagged with its index.
type ShardReplies = BoxStream<'static, (usize, Vec<u8>)>;

/// A linked shard's end, tagged with its index.
type TaggedEnd = BoxFuture<'static, (usize, String)>;

/// Waits for the first linked shard to end its virtual connection; shards linked meanwhile
/// arrive on `to_add`.
async fn first_shard_end(
    ends: &mut FuturesUnordered<TaggedEnd>,
    to_add: &mut mpsc::UnboundedReceiver<TaggedEnd>,
) -> Ended {
    loop {
        tokio::select! {
            Some(end) = to_add.next() => ends.push(end),
            Some((shard, reason)) = ends.next(), if !ends.is_empty() => {
                return Ended::Shard { shard, reason };
            }
            // The links are gone only when the reading side is, which ends the connection.
            else => std::future::pending::<()>().await,
        }
    }
}

/// The device connection's links to the shards, made as the device reaches them. A shard's
/// virtual connection opens when the device first sends it something (the handshake shard,
/// chosen by the device's peer id, with the `join`): with many shards a device reaches few,
/// and an idle device connection costs the others nothing. A shard hears the device's `join`
/// before anything else it is sent: samod subscribes every joined connection to every
/// document its repository has loaded (`ensure_connections`), so a shard the device never
/// uses must not know it.
struct ShardLinks<Connect> {
    connect: Connect,
    /// Each shard's frames, once linked.
    to_shards: Vec<Option<mpsc::Sender<Vec<u8>>>>,
    joined: Vec<bool>,
    join: Option<Vec<u8>>,
    /// Where a new link's replies and end go (see [`serve`]).
    replies: mpsc::UnboundedSender<ShardReplies>,
    ends: mpsc::UnboundedSender<TaggedEnd>,
}

impl<Connect> ShardLinks<Connect>
where
    Connect: FnMut(usize, mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) -> Option<ShardEnded>,
{
    fn new(
        shards: usize,
        connect: Connect,
        replies: mpsc::UnboundedSender<ShardReplies>,
        ends: mpsc::UnboundedSender<TaggedEnd>,
    ) -> Self {
        Self {
            connect,
            to_shards: (0..shards).map(|_| None).collect(),
            joined: vec![false; shards],
            join: None,
            replies,
            ends,
        }
    }

    fn shards(&self) -> usize {
        self.to_shards.len()
    }

    /// `shard`'s frames, opening its virtual connection if the device has not reached it yet.
    fn link(&mut self, shard: usize) -> Result<&mut mpsc::Sender<Vec<u8>>, Ended> {
        let link = &mut self.to_shards[shard];
        if link.is_none() {
            let (frames_tx, frames_rx) = mpsc::channel(SHARD_QUEUE);
            let (replies_tx, replies_rx) = mpsc::channel(SHARD_QUEUE);
            let end = (self.connect)(shard, frames_rx, replies_tx).ok_or(Ended::Refused)?;
            // Both receivers live as long as the connection's `serve`, which outlives the links.
            let _ = self
                .replies
                .unbounded_send(replies_rx.map(move |reply| (shard, reply)).boxed());
            let _ = self
                .ends
                .unbounded_send(end.map(move |reason| (shard, reason)).boxed());
            *link = Some(frames_tx);
        }
        Ok(link.as_mut().expect("linked above"))
    }

    /// Sends `frame` to `shard`, after the device's `join` if the shard has not had it.
    async fn send(&mut self, shard: usize, frame: Vec<u8>) -> Result<(), Ended> {
        if !self.joined[shard]
            && let Some(join) = self.join.clone()
        {
            self.joined[shard] = true;
            Self::send_to(self.link(shard)?, shard, join).await?;
        }
        Self::send_to(self.link(shard)?, shard, frame).await
    }

    /// A connection-wide frame: the first `join` goes to the handshake shard and is kept for
    /// the others; a later one (and `leave`, `error`) goes to every shard that has joined.
    async fn send_to_all(
        &mut self,
        message: Option<&Message>,
        frame: Vec<u8>,
    ) -> Result<(), Ended> {
        if self.join.is_none()
            && let Some(Message::Join { sender_id, .. }) = message
        {
            self.join = Some(frame.clone());
            let shard = shard_of(sender_id.as_str().as_bytes(), self.shards());
            self.joined[shard] = true;
            return Self::send_to(self.link(shard)?, shard, frame).await;
        }
        for shard in 0..self.shards() {
            if self.joined[shard] {
                Self::send_to(self.link(shard)?, shard, frame.clone()).await?;
            }
        }
        Ok(())
    }

    async fn send_to(
        sender: &mut mpsc::Sender<Vec<u8>>,
        shard: usize,
        frame: Vec<u8>,
    ) -> Result<(), Ended> {
        sender.send(frame).await.map_err(|_| Ended::Shard {
            shard,
            reason: "it stopped reading".to_owned(),
        })
    }
}

/// Routes the device's frames to the shards until they stop; with `cold`, a request for a
/// cold document is read without its shard, an acknowledgement of such a read is held, and
/// what the cold reads hand back (`replays`) is routed like the device's own frames
/// ([`super::cold_read`]). The device's own frames (not the replayed ones, which it sent
/// before) are shown to the follow-ups, whose frames go out on the sender beside them.
async fn forward_frames<Frames, FrameError, Connect>(
    mut frames: Frames,
    mut replays: mpsc::Receiver<Vec<u8>>,
    mut links: ShardLinks<Connect>,
    cold: Option<&ColdConnection>,
    gate: &dyn Gate,
    (follow_ups, mut follow_up_frames): (&std::sync::Mutex<FollowUps>, mpsc::Sender<Vec<u8>>),
) -> Ended
where
    Frames: Stream<Item = Result<Incoming, FrameError>> + Unpin,
    FrameError: Display,
    Connect: FnMut(usize, mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) -> Option<ShardEnded>,
{
    loop {
        let frame = tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(frame)) => {
                    let follow_up = frame.message.as_ref().and_then(|message| {
                        lock(follow_ups).from_device(message)
                    });
                    if let Some(follow_up) = follow_up {
                        // Only fails when the writing side has ended, which ends this too.
                        let _ = follow_up_frames.send(follow_up).await;
                    }
                    frame
                }
                Some(Err(error)) => return Ended::Socket(error.to_string()),
                None => return Ended::Socket("closed".to_owned()),
            },
            Some(replayed) = replays.next() => Incoming::decode(replayed),
        };
        let sent = match route(frame.message.as_ref(), &frame.bytes, links.shards()) {
            Route::All => links.send_to_all(frame.message.as_ref(), frame.bytes).await,
            Route::One(shard) => {
                let document = document_of(frame.message.as_ref(), &frame.bytes);
                if let (Some(cold), Some(document)) = (cold, document) {
                    match cold.decide(document, frame.message.as_ref(), &frame.bytes) {
                        Decision::Shard => {}
                        Decision::Held => continue,
                        Decision::Exchange(data) => {
                            let slot = cold.slot().await;
                            tokio::spawn(cold.exchange(document, frame.bytes, data, slot));
                            continue;
                        }
                    }
                }
                if let Err(rejected) = gate.admit(&frame).await {
                    tracing::warn!(%rejected, "closing a sync connection: a hostile frame");
                    return Ended::Socket(format!("a hostile sync frame: {rejected}"));
                }
                links.send(shard, frame.bytes).await
            }
        };
        if let Err(ended) = sent {
            return ended;
        }
    }
}

/// Writes the shards' replies to the socket, forwarding the first `peer` reply and dropping
/// the other shards' (identical) ones, and showing each to the follow-ups before it goes.
/// `replies` starts with the cold reads' and the follow-ups' streams; each shard's joins it
/// from `to_add` when the shard is linked.
async fn write_replies<Socket>(
    mut replies: SelectAll<ShardReplies>,
    to_add: &mut mpsc::UnboundedReceiver<ShardReplies>,
    mut socket: Socket,
    shards: usize,
    follow_ups: &std::sync::Mutex<FollowUps>,
    handshake: &mut bool,
) -> Ended
where
    Socket: Sink<Vec<u8>> + Unpin,
    Socket::Error: Display,
{
    // samod's acceptor answers the join before anything else; until a shard has, its frames
    // are decoded to find its `peer`.
    // The cold reads' and the follow-ups' channels come last and never send a `peer`.
    let mut answered = vec![false; shards + 2];
    let mut first_peer: Option<Message> = None;
    loop {
        let (shard, reply) = tokio::select! {
            Some(linked) = to_add.next() => {
                replies.push(linked);
                continue;
            }
            // The cold reads' and follow-ups' senders live as long as the reading side.
            next = replies.next() => match next {
                Some(reply) => reply,
                None => break,
            },
        };
        if !answered[shard]
            && let Ok(peer @ Message::Peer { .. }) = Message::decode(&reply)
        {
            answered[shard] = true;
            match &first_peer {
                None => first_peer = Some(peer),
                Some(first) if *first == peer => continue,
                Some(_) => return Ended::PeersDisagree,
            }
            *handshake = true;
        }
        lock(follow_ups).to_device(&reply);
        if let Err(error) = socket.send(reply).await {
            return Ended::Write(error.to_string());
        }
    }
    Ended::Shard {
        shard: 0,
        reason: "every shard stopped writing".to_owned(),
    }
}

/// The follow-ups' lock: held for one frame's bookkeeping, never across a wait, and every
/// critical section leaves it consistent, so a panic elsewhere poisons nothing that matters.
fn lock(follow_ups: &std::sync::Mutex<FollowUps>) -> std::sync::MutexGuard<'_, FollowUps> {
    follow_ups
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
