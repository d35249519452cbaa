//! A sync connection driven frame by frame, for what a real client never sends: a message
//! built by hand, a forged change, a write from someone who may only read.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use nimo_shared::sync::{Message as Frame, PeerId};
use tokio_tungstenite::tungstenite::Message;

use crate::{ApiClient, ClientSocket};

/// How long the server has to answer or close.
const WITHIN: Duration = Duration::from_secs(5);

/// An automerge sync message carrying one chunk: no heads, needs or haves.
pub fn sync_message_carrying(chunk: &[u8]) -> Vec<u8> {
    let mut message = vec![0x42, 0, 0, 0, 1];
    let mut len = chunk.len();
    loop {
        let byte = u8::try_from(len & 0x7f).expect("seven bits");
        len >>= 7;
        if len == 0 {
            message.push(byte);
            break;
        }
        message.push(byte | 0x80);
    }
    message.extend_from_slice(chunk);
    message
}

/// A saved input of the fuzz targets (`fuzz/regressions/<path>`): each once harmed automerge.
pub fn fuzz_regression(path: &str) -> anyhow::Result<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/");
    Ok(std::fs::read(format!("{dir}{path}"))?)
}

/// `writer`'s next change, forged to name an actor no document has seen (automerge 0.12 panics
/// applying it; the server's gate refuses it).
pub fn forged_next_change(writer: &mut automerge::Automerge) -> automerge::Change {
    use automerge::transaction::Transactable as _;
    let mut tx = writer.transaction();
    tx.put(automerge::ROOT, "title", "偽").expect("local edit");
    tx.commit();
    let honest = writer.get_last_local_change().expect("a change");
    let mut forged = automerge::ExpandedChange::from(&honest);
    forged.operations[0].pred = vec![automerge::legacy::OpId(
        1,
        automerge::ActorId::from(b"stranger".as_slice()),
    )]
    .into();
    forged.hash = None;
    automerge::Change::from(forged)
}

/// One joined sync connection of a client's.
#[derive(Debug)]
pub struct RawSync {
    socket: ClientSocket,
    peer_id: String,
    server_id: PeerId,
}

impl RawSync {
    /// Opens a connection for `client` with a fresh ticket and joins.
    pub async fn open(client: &ApiClient) -> anyhow::Result<Self> {
        let (ticket, peer_id) = client.ticket().await?;
        let (mut socket, _) =
            tokio_tungstenite::connect_async(client.ws_url(&ticket).as_str()).await?;
        let join = Frame::Join {
            sender_id: PeerId::from(peer_id.clone()),
            supported_protocol_versions: vec!["1".to_owned()],
            metadata: None,
        };
        socket.send(Message::Binary(join.encode().into())).await?;
        let server_id = tokio::time::timeout(WITHIN, async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Binary(bytes) = message
                    && let Ok(Frame::Peer { sender_id, .. }) = Frame::decode(&bytes)
                {
                    return Some(sender_id);
                }
            }
            None
        })
        .await?
        .ok_or_else(|| anyhow::anyhow!("no peer message"))?;
        Ok(Self {
            socket,
            peer_id,
            server_id,
        })
    }

    /// Sends `data` as a `sync` message about `doc_id`. A send that fails because the server
    /// closed the socket is not an error: what the server did is for the caller to see.
    pub async fn send(&mut self, doc_id: &str, data: Vec<u8>) -> anyhow::Result<()> {
        let sync = Frame::Sync {
            document_id: doc_id.parse()?,
            sender_id: PeerId::from(self.peer_id.clone()),
            target_id: self.server_id.clone(),
            data,
        };
        let _ = self
            .socket
            .send(Message::Binary(sync.encode().into()))
            .await;
        Ok(())
    }

    /// The server's next sync protocol message on this connection; `None` if it closed the
    /// connection or said nothing in time.
    pub async fn answer(&mut self) -> Option<Frame> {
        tokio::time::timeout(WITHIN, async {
            while let Some(Ok(message)) = self.socket.next().await {
                if let Message::Binary(bytes) = message
                    && let Ok(frame) = Frame::decode(&bytes)
                {
                    return Some(frame);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// Whether the server closes the connection in time.
    pub async fn closes(mut self) -> bool {
        crate::time_to_close(&mut self.socket, Instant::now(), WITHIN)
            .await
            .is_some()
    }
}
