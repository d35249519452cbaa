//! The ticket proxy: how the reference's unmodified Node clients drive nimo.
//!
//! The reference clients open `ws://HOST:PORT/` with a peer id of their own choosing and push
//! documents nobody registered. nimo wants a bearer login, `POST /api/docs` before a document's
//! first sync, and `GET /api/sync/ws?ticket=…` with a single-use ticket bound to a peer id the
//! server assigns. A URL handed to a client once cannot carry that: W2's 50 devices share one
//! URL, and automerge-repo's adapter re-dials the same URL on every retry.
//!
//! So this loopback proxy accepts the client's WebSocket, reads its `join`, asks nimo for a
//! ticket (as the benchmark trainer), opens nimo's socket with it and then relays frames both
//! ways, rewriting only the peer id (client id ↔ ticket id, a byte substitution of the CBOR
//! text, so every other byte of the envelope passes unchanged). The first `sync` a client sends
//! for an unregistered document makes the proxy register it first, together with the other
//! documents first named by the frames already arrived (`POST /api/docs/batch`, kind
//! `training_session`), as nimo's own client registers what it made offline in one request
//! before it syncs; those requests are inside the timed window. The workload, its messages and its byte counts (taken by the clients at
//! their own sockets) are those of the reference run; the proxy runs in the bench process, not
//! in the measured server process.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context as _, bail};
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use nimo_shared::sync::protocol::Message;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig};

use super::api::NimoApi;

/// The proxy's view of one nimo server.
#[derive(Debug)]
struct Upstream {
    api: NimoApi,
    registered: Arc<Mutex<HashSet<String>>>,
}

/// A running proxy; it stays up while the nimo servers behind it come and go.
#[derive(Debug, Clone)]
pub struct TicketProxy {
    /// `ws://127.0.0.1:PORT` for the clients.
    pub url: String,
    upstream: Arc<RwLock<Option<Arc<Upstream>>>>,
    registrations: Arc<AtomicU64>,
}

impl TicketProxy {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}", listener.local_addr()?);
        let proxy = Self {
            url,
            upstream: Arc::new(RwLock::new(None)),
            registrations: Arc::new(AtomicU64::new(0)),
        };
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let proxy = accepting.clone();
                tokio::spawn(async move {
                    if let Err(error) = proxy.relay(socket).await {
                        // Clients that exit when done drop their socket without a close frame.
                        let reset =
                            matches!(
                            error.downcast_ref::<tungstenite::Error>(),
                            Some(tungstenite::Error::Protocol(
                                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                            ) | tungstenite::Error::ConnectionClosed)
                        );
                        if !reset {
                            eprintln!("bench proxy: a connection ended: {error:#}");
                        }
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Points the proxy at a (re)started nimo server; `registered` are the documents its
    /// database already has (the proxy registers the others on first sight).
    pub fn set_upstream(&self, api: NimoApi, registered: HashSet<String>) {
        *self.upstream.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Upstream {
            api,
            registered: Arc::new(Mutex::new(registered)),
        }));
    }

    /// The documents registered in the current upstream's database.
    pub fn registered(&self) -> HashSet<String> {
        self.current()
            .map(|u| {
                u.registered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .unwrap_or_default()
    }

    /// How many `POST /api/docs` the proxy made so far.
    pub fn registrations(&self) -> u64 {
        self.registrations.load(Ordering::Relaxed)
    }

    fn current(&self) -> Option<Arc<Upstream>> {
        self.upstream
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn relay(&self, socket: tokio::net::TcpStream) -> anyhow::Result<()> {
        socket.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let client = tokio_tungstenite::accept_async_with_config(socket, Some(config)).await?;
        let (mut to_client, mut from_client) = client.split();
        // The client speaks first: its join carries the peer id it chose.
        let join = loop {
            match from_client.next().await {
                Some(Ok(tungstenite::Message::Binary(bytes))) => break bytes.to_vec(),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            }
        };
        let Ok(Message::Join { sender_id, .. }) = Message::decode(&join) else {
            bail!("the first frame was not a join");
        };
        let client_peer = sender_id.as_str().to_owned();
        let upstream = self.current().context("no nimo server behind the proxy")?;
        let ticket = upstream.api.ticket().await?;
        let (server, _) = tokio_tungstenite::connect_async_with_config(
            upstream.api.ws_url(&ticket.ticket),
            Some(config),
            true,
        )
        .await
        .context("opening nimo's sync socket")?;
        let (mut to_server, mut from_server) = server.split();
        let client_text = cbor_text(&client_peer);
        let server_text = cbor_text(&ticket.peer_id);
        to_server
            .send(tungstenite::Message::Binary(
                replace_all(&join, &client_text, &server_text).into(),
            ))
            .await?;

        let registrations = self.registrations.clone();
        let up = async {
            let mut ended = false;
            while !ended {
                let Some(first) = from_client.next().await else {
                    break;
                };
                // The frames already here go together: the documents they are the first to
                // name are registered in one request, as nimo's own client registers what it
                // made offline in one request before it syncs.
                let mut frames = vec![first?];
                while frames.len() < REGISTER_BATCH {
                    match from_client.next().now_or_never() {
                        Some(Some(frame)) => frames.push(frame?),
                        Some(None) => {
                            ended = true;
                            break;
                        }
                        None => break,
                    }
                }
                let new_ids: Vec<String> = {
                    let registered = upstream
                        .registered
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    let mut new_ids: Vec<String> = Vec::new();
                    for frame in &frames {
                        if let tungstenite::Message::Binary(bytes) = frame
                            && let Ok(Message::Sync { document_id, .. }) = Message::decode(bytes)
                        {
                            let id = document_id.to_string();
                            if !registered.contains(&id) && !new_ids.contains(&id) {
                                new_ids.push(id);
                            }
                        }
                    }
                    new_ids
                };
                if !new_ids.is_empty() {
                    upstream.api.register_all(&new_ids).await?;
                    registrations.fetch_add(new_ids.len() as u64, Ordering::Relaxed);
                    upstream
                        .registered
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(new_ids);
                }
                for frame in frames {
                    match frame {
                        tungstenite::Message::Binary(bytes) => {
                            to_server
                                .feed(tungstenite::Message::Binary(
                                    replace_all(&bytes, &client_text, &server_text).into(),
                                ))
                                .await?;
                        }
                        tungstenite::Message::Close(_) => {
                            ended = true;
                            break;
                        }
                        _ => {}
                    }
                }
                to_server.flush().await?;
            }
            let _ = to_server.close().await;
            anyhow::Ok(())
        };
        let down = async {
            while let Some(frame) = from_server.next().await {
                match frame? {
                    tungstenite::Message::Binary(bytes) => {
                        to_client
                            .send(tungstenite::Message::Binary(
                                replace_all(&bytes, &server_text, &client_text).into(),
                            ))
                            .await?;
                    }
                    tungstenite::Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = to_client.close().await;
            anyhow::Ok(())
        };
        // Either side ending ends the relay (the other half is dropped, closing its socket).
        tokio::select! {
            result = up => result,
            result = down => result,
        }
    }
}

/// The most first-seen documents registered in one request (the server's batch limit).
const REGISTER_BATCH: usize = 500;

/// A string as a CBOR text item (major type 3), as both sides encode peer ids.
fn cbor_text(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut out = Vec::with_capacity(len + 3);
    match len {
        0..=23 => out.push(0x60 | len as u8),
        24..=255 => out.extend([0x78, len as u8]),
        _ => {
            out.push(0x79);
            out.extend((len as u16).to_be_bytes());
        }
    }
    out.extend(text.as_bytes());
    out
}

/// `bytes` with every occurrence of `from` replaced by `to`.
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + to.len());
    let mut rest = bytes;
    while let Some(at) = (!from.is_empty())
        .then(|| rest.windows(from.len()).position(|w| w == from))
        .flatten()
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_id_is_replaced_inside_a_cbor_envelope() {
        let from = cbor_text("client-peer-0123456789");
        let to = cbor_text("nimo-short");
        let mut frame = vec![0xa2];
        frame.extend(cbor_text("senderId"));
        frame.extend(&from);
        frame.extend(cbor_text("type"));
        frame.extend(cbor_text("join"));
        let mut expected = vec![0xa2];
        expected.extend(cbor_text("senderId"));
        expected.extend(&to);
        expected.extend(cbor_text("type"));
        expected.extend(cbor_text("join"));
        assert_eq!(replace_all(&frame, &from, &to), expected);
    }

    #[test]
    fn long_texts_get_a_length_byte() {
        let text = "x".repeat(30);
        assert_eq!(&cbor_text(&text)[..2], &[0x78, 30]);
    }
}
