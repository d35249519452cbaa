//! The heads-only sync message the server sends after a device has fetched a document (issue
//! #10, finding 17 in BENCH-RESULTS.md).
//!
//! A device that lacks a document asks for it (`request`); the server answers with the
//! document; the device acknowledges with its new heads. samod (automerge 0.12) and the cold
//! reads ([`super::cold_read`]) stop there: nothing is left to say. The JavaScript reference
//! server sends one more sync message, its heads and no changes. JavaScript automerge keeps
//! the patch of the last message that brought a document changes until the next message about
//! that document arrives; a JavaScript client that fetched many documents from nimo therefore
//! kept every one of those patches, and each further fetch cost it more (9 ms per document with
//! 200 kept, 136 ms with 1,000; W2's verifier spent four times the CPU it spends against the
//! reference). So the server now sends that message too: after the device acknowledges a
//! fetched document with exactly the heads it was sent, the server's heads come back, with the
//! capability flags of the message that brought the document and nothing else. Both Rust and
//! JavaScript automerge leave it unanswered once the heads agree, so it costs one small frame
//! per fetched document and no round trip.
//!
//! Only fetches are followed up: a document the device already had (a reconnect, a live change)
//! gets exactly what samod sends, so reconnects and pushes cost what they did.
//!
//! [`FollowUps`] is the per-connection bookkeeping, with no IO: the multiplexer
//! ([`super::mux`]) shows it every frame the device sends and every frame the server sends, and
//! writes the follow-ups it returns to the socket.

use std::collections::HashMap;

use automerge::ChangeHash;
use automerge::sync::{BloomFilter, ChunkList, Have, MessageFlags, MessageVersion};
use nimo_shared::sync::{DocumentId, Message, PeerId};

use super::cold_read::only_acknowledges;

/// How many fetches one connection may have outstanding before more go without a follow-up.
/// A device asks for at most a few dozen at once; a hostile one cannot grow this without bound.
pub const MAX_OUTSTANDING: usize = 4096;

/// Where one fetch stands.
#[derive(Debug, Clone, PartialEq)]
enum Fetch {
    /// The device asked; the document has not been sent yet.
    Requested,
    /// The server sent the document (the last sync message it sent about it is described here).
    Sent(Sent),
}

/// The last sync message the server sent about a fetched document.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    heads: Vec<ChangeHash>,
    flags: Option<MessageFlags>,
    version: MessageVersion,
    server: PeerId,
    device: PeerId,
}

impl Sent {
    /// The heads-only message: the server's heads, "everything up to them", nothing needed, no
    /// changes, in the form (version, flags) the document came in; as a `sync` frame.
    fn follow_up(self, document_id: DocumentId) -> Vec<u8> {
        let data = automerge::sync::Message {
            heads: self.heads.clone(),
            need: Vec::new(),
            have: vec![Have {
                last_sync: self.heads,
                bloom: BloomFilter::default(),
            }],
            changes: ChunkList::from(Vec::<Vec<u8>>::new()),
            flags: self.flags,
            version: self.version,
        }
        .encode();
        Message::Sync {
            document_id,
            sender_id: self.server,
            target_id: self.device,
            data,
        }
        .encode()
    }
}

/// One device connection's outstanding fetches.
#[derive(Debug, Default)]
pub struct FollowUps {
    fetches: HashMap<DocumentId, Fetch>,
}

impl FollowUps {
    /// The device sent `message`. Returns the follow-up frame to send it when `message`
    /// acknowledges a fetched document exactly.
    pub fn from_device(&mut self, message: &Message) -> Option<Vec<u8>> {
        match message {
            Message::Request { document_id, .. } => {
                if self.fetches.len() < MAX_OUTSTANDING || self.fetches.contains_key(document_id) {
                    self.fetches.insert(*document_id, Fetch::Requested);
                }
                None
            }
            // Any other message about the document ends the fetch: only the first reply to the
            // document, if it only acknowledges it, is followed up.
            Message::Sync {
                document_id, data, ..
            } => match self.fetches.remove(document_id)? {
                Fetch::Sent(sent) if only_acknowledges(&sent.heads, data) => {
                    Some(sent.follow_up(*document_id))
                }
                _ => None,
            },
            Message::DocUnavailable { document_id, .. } => {
                self.fetches.remove(document_id);
                None
            }
            _ => None,
        }
    }

    /// The server is sending the device `frame`.
    pub fn to_device(&mut self, frame: &[u8]) {
        // Most connections fetch nothing most of the time: no decoding then.
        if self.fetches.is_empty() {
            return;
        }
        match Message::decode(frame) {
            Ok(Message::Sync {
                document_id,
                sender_id,
                target_id,
                data,
            }) => {
                let Some(fetch) = self.fetches.get_mut(&document_id) else {
                    return;
                };
                let Ok(sync) = automerge::sync::Message::decode(&data) else {
                    return;
                };
                // A first message may only advertise heads; the fetch is served once changes
                // went out, and later messages (the real heads after advertised ones) update it.
                if *fetch == Fetch::Requested && sync.changes.is_empty() {
                    return;
                }
                *fetch = Fetch::Sent(Sent {
                    heads: sync.heads,
                    flags: sync.flags,
                    version: sync.version,
                    server: sender_id,
                    device: target_id,
                });
            }
            Ok(Message::DocUnavailable { document_id, .. }) => {
                self.fetches.remove(&document_id);
            }
            _ => {}
        }
    }

    /// How many fetches are outstanding.
    pub fn outstanding(&self) -> usize {
        self.fetches.len()
    }
}

#[cfg(test)]
mod tests;
