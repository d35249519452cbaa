//! The sync WebSocket: `GET /api/sync/ws?ticket=…` upgrades to the automerge-repo protocol v1,
//! served by samod's shards through one multiplexed connection per device ([`super::mux`]).
//!
//! Before the upgrade: the ticket is redeemed (single use, bound to a peer id) and the `Origin`
//! is checked. A browser always sends `Origin`; it must be this server's own (or an allowed one).
//! A request without `Origin` is a non-browser client and is accepted only for a ticket obtained
//! with a bearer token, which no web page can hold.

use axum::{
    extract::{
        Query, State, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    http::HeaderMap,
    response::Response,
};
use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;

use super::mux::{Ended, Incoming, Outcome};
use super::rate::{Bucket, RateLimit, Verdict};
use crate::{
    AppState,
    accounts::now_ms,
    http::{AppError, auth::Credential, origin::origin_allowed},
};

/// Why a connection's frames stopped being read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("websocket receive error: {0}")]
    Socket(#[from] axum::Error),
    /// A text frame: the protocol is binary CBOR only.
    #[error("a text frame on the sync socket; the protocol is binary")]
    Text,
    /// The connection stayed over its rate limit too long.
    #[error("a flood on the sync socket; cut")]
    Flood,
    /// The connection's session ended (logout, revoked device, disabled user, changed role).
    #[error("the session of this sync connection ended")]
    Revoked,
    /// A frame that would cost too much to decode or make automerge panic
    /// ([`super::frame_guard`]).
    #[error("a hostile sync frame: {0}")]
    Hostile(#[from] super::frame_guard::FrameRejected),
}

/// The device's side of its connection: the socket's frames, each decoded once
/// ([`Incoming`]), checked for what they would cost ([`super::frame_guard::check_costs`]; the
/// rest of the guard, and the write audit, are at the shards, [`super::shard_gate`]) and held to
/// the per-connection rate limit; and a sink writing binary frames. When `closed`
/// completes (the session was revoked) the frames yield an error, which ends the connection
/// like a malformed frame.
fn device_side(
    socket: WebSocket,
    peer_id: &str,
    limit: RateLimit,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    impl futures::Stream<Item = Result<Incoming, FrameError>> + Unpin,
    impl futures::Sink<Vec<u8>, Error = axum::Error> + Unpin,
) {
    let (sink, stream) = socket.split();
    let peer = peer_id.to_owned();
    let mut bucket = Bucket::new(limit, u64::try_from(now_ms()).unwrap_or(0));
    let frames = stream
        .filter_map(move |message| {
            async move {
                match message {
                    Ok(Message::Binary(bytes)) => {
                        let frame = Incoming::decode(bytes.to_vec());
                        Some(
                            super::frame_guard::check_costs(frame.message.as_ref())
                                .map(|()| frame)
                                .map_err(FrameError::from),
                        )
                    }
                    Ok(Message::Text(_)) => Some(Err(FrameError::Text)),
                    Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => None,
                    Err(error) => Some(Err(FrameError::Socket(error))),
                }
            }
        })
        .then(move |frame| {
            let (wait, frame) = match frame {
                Ok(frame) => match bucket
                    .admit(u64::try_from(now_ms()).unwrap_or(0), frame.bytes.len())
                {
                    Verdict::Wait(wait) => (wait, Ok(frame)),
                    Verdict::Cut => {
                        tracing::warn!(peer = %peer, "cutting a sync connection that floods");
                        (std::time::Duration::ZERO, Err(FrameError::Flood))
                    }
                },
                Err(error) => {
                    tracing::warn!(peer = %peer, %error, "closing a sync connection");
                    (std::time::Duration::ZERO, Err(error))
                }
            };
            let peer = peer.clone();
            async move {
                if !wait.is_zero() {
                    tracing::debug!(peer = %peer, ?wait, "sync connection over its rate; slowing it");
                    tokio::time::sleep(wait).await;
                }
                frame
            }
        });
    let revoked = futures::stream::once(closed).map(|()| Err(FrameError::Revoked));
    let frames = futures::stream::select(frames, revoked).boxed();
    let sink = sink
        .with(|bytes: Vec<u8>| async move { Ok::<_, axum::Error>(Message::Binary(bytes.into())) });
    (frames, Box::pin(sink))
}

/// The largest WebSocket message accepted: a sync message for one record (documents stay under
/// ~10 KB, DESIGN.md) with a wide margin for a first sync of a large roster.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Each connection's read buffer. tungstenite's default is 128 KiB, held for as long as the
/// connection is open, while a device's frames are sync messages of a few KB: an office's
/// busy hour keeps a thousand connections open. A larger message is read in several steps.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// `?ticket=…`
#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    ticket: String,
}

/// Redeems the ticket, checks the origin and hands the socket to samod.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<TicketQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let Some((peer_id, owner)) = state.sync.tickets.redeem(&query.ticket) else {
        tracing::info!("sync upgrade refused: unknown, used or expired ticket");
        return Err(AppError::Unauthenticated);
    };
    let origin_ok = match origin_allowed(&headers, &state.config) {
        Some(allowed) => allowed,
        None => owner.credential == Credential::Bearer,
    };
    if !origin_ok {
        state.sync.tickets.forget(&peer_id);
        tracing::warn!(user = %owner.user_id, "sync upgrade refused: foreign or missing Origin");
        return Err(AppError::ForeignOrigin);
    }
    let device_id = owner.device_id.clone();
    let live = state
        .db
        .call(move |conn| -> Result<_, AppError> {
            Ok(crate::accounts::Session::device_is_live(conn, &device_id)?)
        })
        .await?;
    if !live {
        state.sync.tickets.forget(&peer_id);
        tracing::info!(user = %owner.user_id, "sync upgrade refused: the session has ended");
        return Err(AppError::Unauthenticated);
    }
    let sync = state.sync.clone();
    // Subscribe now, so a revocation between this check and the upgrade is not missed.
    let closed = sync.closed_for(owner.clone());
    let limit = state.config.sync_rate_limit;
    let db = state.db.clone();
    Ok(upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            tracing::info!(peer = %peer_id, user = %owner.user_id, device = %owner.device_id, "sync connected");
            let writes = super::write_audit::WriteAudit::new(
                db,
                sync.policy.clone(),
                peer_id.clone(),
                owner.user_id.clone(),
                owner.device_id.clone(),
            );
            let actors = std::sync::Arc::new(sync.actors.connection());
            let gate = super::shard_gate::ShardGate::new(actors, writes.clone());
            let (frames, sink) = device_side(socket, &peer_id, limit, closed);
            let acceptors = sync.shards.acceptors();
            let cold = (
                sync.cold.clone(),
                nimo_shared::sync::PeerId::new(&peer_id),
                writes as std::sync::Arc<dyn super::cold_read::VisitWrites>,
            );
            let outcome = super::mux::serve(
                frames,
                sink,
                acceptors.len(),
                Some(cold),
                &gate,
                |shard, frames, replies| {
                    super::mux::connect_to_shard(&acceptors[shard], &peer_id, frames, replies)
                },
            )
            .await;
            match outcome {
                Outcome { ended: Ended::Refused, .. } => {
                    tracing::warn!(peer = %peer_id, "sync refused: the repo is stopping");
                }
                Outcome { handshake: false, ended } => {
                    tracing::info!(peer = %peer_id, reason = %ended, "sync ended before its handshake");
                }
                Outcome { handshake: true, ended } => {
                    tracing::info!(peer = %peer_id, reason = %ended, "sync disconnected");
                }
            }
            sync.tickets.forget(&peer_id);
        }))
}
