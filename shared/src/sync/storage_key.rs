//! Where a document's bytes live in local storage: automerge-repo's key layout.
//!
//! automerge-repo stores each document as chunks under three-part keys,
//! `[documentId, "incremental", hash]` for a batch of changes and `[documentId, "snapshot", hash]`
//! for a whole saved document; loading a document concatenates every chunk under
//! `[documentId]` (snapshots first) and loads them as one. samod uses the same layout. The hash
//! only names a chunk, content-addressed so that writing the same bytes twice is harmless; the
//! two implementations compute it differently, and both are here:
//!
//! | chunk        | automerge-repo 2.5.6 (`storage/keyHash.js`)                 | samod-core 0.16.0                         |
//! |--------------|-------------------------------------------------------------|-------------------------------------------|
//! | incremental  | hex SHA-256 of the chunk's bytes ([`key_hash`])             | the change's hash (one change per chunk)  |
//! | snapshot     | hex SHA-256 of the heads' hex strings joined ([`heads_hash`]) | hex SHA-256 of the heads' raw bytes ([`samod_compaction_hash`]) |
//!
//! The browser writes batches of changes per chunk, like automerge-repo, so [`StorageKey`]
//! uses automerge-repo's hashes: the browser's IndexedDB then has exactly the keys the JS
//! automerge-repo would write, and a loader of either implementation reads it.

use std::fmt;

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use super::ids::{BadDocumentId, DocumentId};

/// The two kinds of chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChunkKind {
    /// A batch of changes (`automerge::Automerge::save_after`).
    Incremental,
    /// A whole document (`automerge::Automerge::save`).
    Snapshot,
}

impl ChunkKind {
    /// The key segment: `"incremental"` or `"snapshot"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Snapshot => "snapshot",
        }
    }
}

/// One chunk's key: `[documentId, kind, hash]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey {
    /// The document the chunk belongs to.
    pub doc_id: DocumentId,
    /// Incremental or snapshot.
    pub kind: ChunkKind,
    /// The chunk's name (lower-case hex).
    pub hash: String,
}

/// Why a key read back from storage is not a chunk key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadStorageKey {
    /// Not three parts.
    #[error("a chunk key has 3 parts, this one has {0}")]
    WrongLength(usize),
    /// The first part is not a document id.
    #[error("bad document id in storage key")]
    DocumentId(#[source] BadDocumentId),
    /// The middle part is neither `incremental` nor `snapshot`.
    #[error("unknown chunk kind {0:?}")]
    Kind(String),
}

impl StorageKey {
    /// The key automerge-repo gives an incremental chunk holding `bytes`.
    pub fn incremental(doc_id: DocumentId, bytes: &[u8]) -> Self {
        Self {
            doc_id,
            kind: ChunkKind::Incremental,
            hash: key_hash(bytes),
        }
    }

    /// The key automerge-repo gives a snapshot of the document at `heads` (sorted, as
    /// `get_heads` returns them).
    pub fn snapshot(doc_id: DocumentId, heads: &[ChangeHash]) -> Self {
        Self {
            doc_id,
            kind: ChunkKind::Snapshot,
            hash: heads_hash(heads),
        }
    }

    /// The key as automerge-repo's storage adapters see it: `[documentId, kind, hash]`.
    pub fn to_parts(&self) -> [String; 3] {
        [
            self.doc_id.to_string(),
            self.kind.as_str().to_owned(),
            self.hash.clone(),
        ]
    }

    /// Reads a key back from its parts.
    pub fn from_parts<S: AsRef<str>>(parts: &[S]) -> Result<Self, BadStorageKey> {
        let [doc, kind, hash] = parts else {
            return Err(BadStorageKey::WrongLength(parts.len()));
        };
        let doc_id = doc.as_ref().parse().map_err(BadStorageKey::DocumentId)?;
        let kind = match kind.as_ref() {
            "incremental" => ChunkKind::Incremental,
            "snapshot" => ChunkKind::Snapshot,
            other => return Err(BadStorageKey::Kind(other.to_owned())),
        };
        Ok(Self {
            doc_id,
            kind,
            hash: hash.as_ref().to_owned(),
        })
    }
}

/// `docId/kind/hash`, the form samod's `StorageKey` displays.
impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.doc_id, self.kind.as_str(), self.hash)
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageKey({self})")
    }
}

/// automerge-repo's `keyHash`: lower-case hex SHA-256 of the bytes.
pub fn key_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// automerge-repo's `headsHash`: [`key_hash`] of the heads' hex strings concatenated.
pub fn heads_hash(heads: &[ChangeHash]) -> String {
    let mut hasher = Sha256::new();
    for head in heads {
        hasher.update(head.to_string().as_bytes());
    }
    hex(&hasher.finalize())
}

/// samod-core's `CompactionHash`: lower-case hex SHA-256 of the heads' 32-byte hashes
/// concatenated (the name samod gives a snapshot on the server).
pub fn samod_compaction_hash(heads: &[ChangeHash]) -> String {
    let mut hasher = Sha256::new();
    for head in heads {
        hasher.update(head.as_ref());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}
