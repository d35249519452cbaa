//! The automerge-repo network protocol, version 1: the messages the browser and samod exchange
//! over the WebSocket, one CBOR map per frame.
//!
//! The shapes follow samod-core 0.16.0 (`network/wire_protocol.rs`) and automerge-repo 2.5.6
//! (`network/messages`, and the websocket adapter's join/peer/error): camelCase keys, `type`
//! naming the message, document ids as bs58check text, sync payloads as CBOR byte strings.
//! Encoding writes the same fields in the same order as samod, with minimal CBOR lengths;
//! decoding reads fields by name in any order, so it also accepts what cbor-x (the JS client)
//! writes (16-bit map headers, different key order, `undefined` for a missing storage id).
//!
//! Frames come from the network, so [`Message::decode`] treats them as untrusted: it never
//! panics, refuses frames over [`MAX_MESSAGE_BYTES`], bounds every count it reads before
//! looping on it, and only copies bytes that are present in the frame. Message types this
//! client does not use (ephemeral, remote-subscription-change, remote-heads-changed, and
//! types from future protocol revisions) decode to [`Message::Other`] and are ignored.

use minicbor::Decoder;
use minicbor::data::Type;

use super::ids::{BadDocumentId, DocumentId, PeerId};

/// The only protocol version samod and automerge-repo speak today.
pub const PROTOCOL_VERSION: &str = "1";

/// The largest frame [`Message::decode`] accepts. A whole compressed record document is far
/// below this (records stay under ~10 KB, DESIGN.md decision 2); the cap only stops a hostile
/// or broken peer from making us hold an unbounded buffer.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// The most keys a message (or its peer metadata) may have; real messages have at most 7.
const MAX_MAP_ENTRIES: u64 = 32;
/// The most protocol versions a join message may offer.
const MAX_VERSIONS: u64 = 16;

/// What a peer tells the other about its storage in join and peer messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMetadata {
    /// The id of the peer's storage, if it has one it will come back with.
    pub storage_id: Option<String>,
    /// Whether the peer will forget everything when it goes away.
    pub is_ephemeral: bool,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The connecting peer's greeting (the browser sends it first).
    Join {
        /// The browser's peer id.
        sender_id: PeerId,
        /// The protocol versions the sender speaks.
        supported_protocol_versions: Vec<String>,
        /// The sender's storage metadata.
        metadata: Option<PeerMetadata>,
    },
    /// The server's answer to [`Message::Join`]: the handshake is complete.
    Peer {
        /// The server's peer id.
        sender_id: PeerId,
        /// The version the server chose.
        selected_protocol_version: String,
        /// The browser's peer id.
        target_id: PeerId,
        /// The server's storage metadata.
        metadata: Option<PeerMetadata>,
    },
    /// The sender is about to disconnect.
    Leave {
        /// Who is leaving.
        sender_id: PeerId,
    },
    /// The sender found a protocol error and will close the connection.
    Error {
        /// A human-readable reason.
        message: String,
    },
    /// "I want this document": an automerge sync message from a peer that lacks the document.
    Request {
        /// The document.
        document_id: DocumentId,
        /// The sender.
        sender_id: PeerId,
        /// The receiver.
        target_id: PeerId,
        /// An encoded `automerge::sync::Message`.
        data: Vec<u8>,
    },
    /// An automerge sync message about one document.
    Sync {
        /// The document.
        document_id: DocumentId,
        /// The sender.
        sender_id: PeerId,
        /// The receiver.
        target_id: PeerId,
        /// An encoded `automerge::sync::Message`.
        data: Vec<u8>,
    },
    /// The sender does not have the document (or may not share it).
    DocUnavailable {
        /// The sender.
        sender_id: PeerId,
        /// The receiver.
        target_id: PeerId,
        /// The document.
        document_id: DocumentId,
    },
    /// A message type this client does not act on (ephemeral, remote-subscription-change,
    /// remote-heads-changed, or a future type); its fields are skipped, not read.
    Other {
        /// The message's `type`.
        kind: String,
    },
}

/// Why a frame is not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not well-formed CBOR of the expected shape.
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    /// A map or array has an indefinite length, which neither samod nor cbor-x writes.
    #[error("indefinite-length map or array")]
    IndefiniteLength,
    /// A map or array claims more entries than any real message has.
    #[error("{0} entries is more than a protocol message has")]
    TooManyEntries(u64),
    /// The map has no `type` key.
    #[error("message has no type")]
    MissingType,
    /// A field the message type requires is absent.
    #[error("{kind} message lacks {field}")]
    MissingField {
        /// The message type.
        kind: &'static str,
        /// The missing key.
        field: &'static str,
    },
    /// The document id is not a valid id.
    #[error("bad document id")]
    BadDocumentId(#[source] BadDocumentId),
}

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        Self::Cbor(e.to_string())
    }
}

impl Message {
    /// The message's `type` as written on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Self::Join { .. } => "join",
            Self::Peer { .. } => "peer",
            Self::Leave { .. } => "leave",
            Self::Error { .. } => "error",
            Self::Request { .. } => "request",
            Self::Sync { .. } => "sync",
            Self::DocUnavailable { .. } => "doc-unavailable",
            Self::Other { kind } => kind,
        }
    }

    /// Encodes the message as one CBOR map, field for field as samod writes it.
    ///
    /// [`Message::Other`] has no fields to write and encodes as `{type}` alone.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = CborWriter::default();
        match self {
            Self::Join {
                sender_id,
                supported_protocol_versions,
                metadata,
            } => {
                w.map(3 + u64::from(metadata.is_some()));
                w.entry_str("type", "join");
                w.entry_str("senderId", sender_id.as_str());
                w.str("supportedProtocolVersions");
                w.array(supported_protocol_versions.len() as u64);
                for version in supported_protocol_versions {
                    w.str(version);
                }
                if let Some(metadata) = metadata {
                    w.str("peerMetadata");
                    w.metadata(metadata);
                }
            }
            Self::Peer {
                sender_id,
                selected_protocol_version,
                target_id,
                metadata,
            } => {
                w.map(4 + u64::from(metadata.is_some()));
                w.entry_str("type", "peer");
                w.entry_str("senderId", sender_id.as_str());
                w.entry_str("selectedProtocolVersion", selected_protocol_version);
                w.entry_str("targetId", target_id.as_str());
                if let Some(metadata) = metadata {
                    w.str("peerMetadata");
                    w.metadata(metadata);
                }
            }
            Self::Leave { sender_id } => {
                w.map(2);
                w.entry_str("type", "leave");
                w.entry_str("senderId", sender_id.as_str());
            }
            Self::Error { message } => {
                w.map(2);
                w.entry_str("type", "error");
                w.entry_str("message", message);
            }
            Self::Request {
                document_id,
                sender_id,
                target_id,
                data,
            }
            | Self::Sync {
                document_id,
                sender_id,
                target_id,
                data,
            } => {
                w.map(5);
                w.entry_str("type", self.kind());
                w.entry_str("documentId", &document_id.to_string());
                w.entry_str("senderId", sender_id.as_str());
                w.entry_str("targetId", target_id.as_str());
                w.str("data");
                w.bytes(data);
            }
            Self::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            } => {
                w.map(4);
                w.entry_str("type", "doc-unavailable");
                w.entry_str("senderId", sender_id.as_str());
                w.entry_str("targetId", target_id.as_str());
                w.entry_str("documentId", &document_id.to_string());
            }
            Self::Other { kind } => {
                w.map(1);
                w.entry_str("type", kind);
            }
        }
        w.0
    }

    /// Decodes one frame. Never panics; see the module docs for the bounds it enforces.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        if frame.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge {
                len: frame.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let fields = Fields::read(&mut Decoder::new(frame))?;
        fields.into_message()
    }
}

/// The fields of a message map, read by name before the type decides which are required.
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    sender_id: Option<String>,
    target_id: Option<String>,
    document_id: Option<Result<DocumentId, BadDocumentId>>,
    data: Option<Vec<u8>>,
    versions: Option<Vec<String>>,
    selected_version: Option<String>,
    message: Option<String>,
    metadata: Option<PeerMetadata>,
}

impl Fields {
    fn read(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let len = bounded_len(d.map()?, MAX_MAP_ENTRIES)?;
        let mut f = Fields::default();
        for _ in 0..len {
            match d.str()? {
                "type" => f.kind = Some(d.str()?.to_owned()),
                "senderId" => f.sender_id = Some(d.str()?.to_owned()),
                "targetId" => f.target_id = Some(d.str()?.to_owned()),
                "selectedProtocolVersion" => f.selected_version = Some(d.str()?.to_owned()),
                "message" => f.message = Some(d.str()?.to_owned()),
                "documentId" => f.document_id = Some(read_document_id(d)?),
                "data" => f.data = Some(d.bytes()?.to_vec()),
                "supportedProtocolVersions" => {
                    let n = bounded_len(d.array()?, MAX_VERSIONS)?;
                    let mut versions = Vec::new();
                    for _ in 0..n {
                        versions.push(d.str()?.to_owned());
                    }
                    f.versions = Some(versions);
                }
                "peerMetadata" | "metadata" => f.metadata = Some(read_metadata(d)?),
                _ => d.skip()?,
            }
        }
        Ok(f)
    }

    fn into_message(self) -> Result<Message, DecodeError> {
        let kind = self.kind.ok_or(DecodeError::MissingType)?;
        let known: &'static str = match kind.as_str() {
            "join" => "join",
            "peer" => "peer",
            "leave" => "leave",
            "error" => "error",
            "request" => "request",
            "sync" => "sync",
            "doc-unavailable" => "doc-unavailable",
            _ => return Ok(Message::Other { kind }),
        };
        let missing = |field| DecodeError::MissingField { kind: known, field };
        let sender = |v: Option<String>| v.map(PeerId::from).ok_or(missing("senderId"));
        let target = |v: Option<String>| v.map(PeerId::from).ok_or(missing("targetId"));
        let document = |v: Option<Result<DocumentId, BadDocumentId>>| {
            v.ok_or(missing("documentId"))?
                .map_err(DecodeError::BadDocumentId)
        };
        Ok(match known {
            "join" => Message::Join {
                sender_id: sender(self.sender_id)?,
                supported_protocol_versions: self
                    .versions
                    .ok_or(missing("supportedProtocolVersions"))?,
                metadata: self.metadata,
            },
            "peer" => Message::Peer {
                sender_id: sender(self.sender_id)?,
                selected_protocol_version: self
                    .selected_version
                    .ok_or(missing("selectedProtocolVersion"))?,
                target_id: target(self.target_id)?,
                metadata: self.metadata,
            },
            "leave" => Message::Leave {
                sender_id: sender(self.sender_id)?,
            },
            "error" => Message::Error {
                message: self.message.ok_or(missing("message"))?,
            },
            "request" => Message::Request {
                document_id: document(self.document_id)?,
                sender_id: sender(self.sender_id)?,
                target_id: target(self.target_id)?,
                data: self.data.ok_or(missing("data"))?,
            },
            "sync" => Message::Sync {
                document_id: document(self.document_id)?,
                sender_id: sender(self.sender_id)?,
                target_id: target(self.target_id)?,
                data: self.data.ok_or(missing("data"))?,
            },
            _ => Message::DocUnavailable {
                sender_id: sender(self.sender_id)?,
                target_id: target(self.target_id)?,
                document_id: document(self.document_id)?,
            },
        })
    }
}

/// A definite length no larger than `max`.
fn bounded_len(len: Option<u64>, max: u64) -> Result<u64, DecodeError> {
    match len {
        None => Err(DecodeError::IndefiniteLength),
        Some(n) if n > max => Err(DecodeError::TooManyEntries(n)),
        Some(n) => Ok(n),
    }
}

/// samod writes document ids as bs58check text and accepts raw 16-byte strings too; so do we.
fn read_document_id(d: &mut Decoder<'_>) -> Result<Result<DocumentId, BadDocumentId>, DecodeError> {
    Ok(if d.datatype()? == Type::Bytes {
        DocumentId::try_from(d.bytes()?)
    } else {
        d.str()?.parse()
    })
}

fn read_metadata(d: &mut Decoder<'_>) -> Result<PeerMetadata, DecodeError> {
    let len = bounded_len(d.map()?, MAX_MAP_ENTRIES)?;
    let mut metadata = PeerMetadata {
        storage_id: None,
        is_ephemeral: false,
    };
    for _ in 0..len {
        match d.str()? {
            // cbor-x writes a JS `undefined` storage id (a peer without storage) as CBOR undefined.
            "storageId" => match d.datatype()? {
                Type::Undefined | Type::Null => d.skip()?,
                _ => metadata.storage_id = Some(d.str()?.to_owned()),
            },
            "isEphemeral" => metadata.is_ephemeral = d.bool()?,
            _ => d.skip()?,
        }
    }
    Ok(metadata)
}

/// The few CBOR items the protocol needs, written with minimal lengths like minicbor does.
/// Writing into a `Vec` cannot fail, so encoding has no error path.
#[derive(Default)]
struct CborWriter(Vec<u8>);

impl CborWriter {
    fn head(&mut self, major: u8, len: u64) {
        let m = major << 5;
        match len {
            0..=23 => self.0.push(m | len as u8),
            24..=0xff => self.0.extend([m | 24, len as u8]),
            0x100..=0xffff => {
                self.0.push(m | 25);
                self.0.extend((len as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.0.push(m | 26);
                self.0.extend((len as u32).to_be_bytes());
            }
            _ => {
                self.0.push(m | 27);
                self.0.extend(len.to_be_bytes());
            }
        }
    }

    fn map(&mut self, entries: u64) {
        self.head(5, entries);
    }

    fn array(&mut self, items: u64) {
        self.head(4, items);
    }

    fn str(&mut self, s: &str) {
        self.head(3, s.len() as u64);
        self.0.extend(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.head(2, b.len() as u64);
        self.0.extend(b);
    }

    fn entry_str(&mut self, key: &str, value: &str) {
        self.str(key);
        self.str(value);
    }

    fn metadata(&mut self, metadata: &PeerMetadata) {
        self.map(1 + u64::from(metadata.storage_id.is_some()));
        if let Some(storage_id) = &metadata.storage_id {
            self.entry_str("storageId", storage_id);
        }
        self.str("isEphemeral");
        // CBOR simple values: 0xf4 false, 0xf5 true.
        self.0.push(if metadata.is_ephemeral { 0xf5 } else { 0xf4 });
    }
}
