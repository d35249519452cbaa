//! The two names of the automerge-repo protocol: [`DocumentId`] and [`PeerId`].
//!
//! A document id is 16 random bytes (a UUID). On the wire, in storage keys and in URLs it is
//! written as bs58check (base58 with a 4-byte double-SHA-256 checksum), exactly as
//! automerge-repo and samod write it, so a typo in a pasted id is caught instead of naming
//! another document. `automerge:<id>` is the URL form both implementations accept.

use std::fmt;
use std::str::FromStr;

/// The URL scheme prefix of an automerge document URL.
pub const URL_PREFIX: &str = "automerge:";

/// A document's identity: 16 bytes, written as bs58check.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

/// Why a string or byte slice is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDocumentId {
    /// The text is not valid bs58check (bad alphabet or checksum).
    #[error("not a bs58check document id")]
    NotBs58Check,
    /// The decoded bytes are not 16 long.
    #[error("a document id has 16 bytes, this one has {0}")]
    WrongLength(usize),
    /// An `automerge:` URL was expected.
    #[error("not an automerge: URL")]
    NotAnAutomergeUrl,
}

impl DocumentId {
    /// Builds a document id from 16 random bytes (the caller supplies the randomness), marked
    /// as a version-4 UUID like the ids samod and automerge-repo generate.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(
            *uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .as_bytes(),
        )
    }

    /// Uses these 16 bytes as they are.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Draws a new random document id from `rng`.
    pub fn random(rng: &mut impl rand_core::RngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self::from_random_bytes(bytes)
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:<id>` URL of this document.
    pub fn to_url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }

    /// Parses `automerge:<id>` (a trailing `/path` after the id is ignored, as automerge-repo does).
    pub fn from_url(url: &str) -> Result<Self, BadDocumentId> {
        let rest = url
            .strip_prefix(URL_PREFIX)
            .ok_or(BadDocumentId::NotAnAutomergeUrl)?;
        let id = rest.split('/').next().unwrap_or(rest);
        id.parse()
    }
}

impl TryFrom<&[u8]> for DocumentId {
    type Error = BadDocumentId;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let array: [u8; 16] = bytes
            .try_into()
            .map_err(|_| BadDocumentId::WrongLength(bytes.len()))?;
        Ok(Self(array))
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = BadDocumentId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A bs58check id of 16 bytes is 22 characters; refuse long input before decoding it.
        if s.len() > 64 {
            return Err(BadDocumentId::NotBs58Check);
        }
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| BadDocumentId::NotBs58Check)?;
        Self::try_from(bytes.as_slice())
    }
}

/// A peer's name in the protocol. The server assigns the browser's peer id (bound to its
/// login ticket); any UTF-8 string is valid on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(String);

impl PeerId {
    /// Wraps a peer id string.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The peer id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for PeerId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_id_round_trips_through_its_bs58check_text_and_url() {
        let id = DocumentId::from_random_bytes([7; 16]);
        assert_eq!(id.to_string().parse::<DocumentId>(), Ok(id));
        assert_eq!(DocumentId::from_url(&id.to_url()), Ok(id));
        assert_eq!(
            DocumentId::from_url(&format!("{}/roster/3", id.to_url())),
            Ok(id)
        );
    }

    #[test]
    fn a_mistyped_document_id_is_refused_by_its_checksum() {
        let text = DocumentId::from_random_bytes([9; 16]).to_string();
        let mut chars: Vec<char> = text.chars().collect();
        chars[3] = if chars[3] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(typo.parse::<DocumentId>(), Err(BadDocumentId::NotBs58Check));
        assert_eq!(
            "automerge".parse::<DocumentId>(),
            Err(BadDocumentId::NotBs58Check)
        );
        assert_eq!(
            DocumentId::from_url(&text),
            Err(BadDocumentId::NotAnAutomergeUrl)
        );
    }
}
