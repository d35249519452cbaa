//! [`StorageKey`]: where a chunk lives, as a path of string components.
//!
//! The layout is automerge-repo's (and samod's), because the browser and the server must agree
//! on it with the JavaScript implementation: a document's chunks live under
//! `[documentId, "incremental", changeHash]` and `[documentId, "snapshot", compactionHash]`,
//! and samod keeps one more key, `["storage-adapter-id"]`. No component is empty or contains
//! `"/"`, so joining the components with `"/"` gives a string that splits back to the same key;
//! the SQLite backend stores that joined string and IndexedDB can too.
//!
//! Keys compare component by component, so every key that starts with a prefix sorts right
//! after that prefix: a range scan over an ordered map finds a prefix's keys without visiting
//! others. Note the joined strings do not sort the same way (`"a-b" < "a/b"` but
//! `["a", "b"] < ["a-b"]`); a backend that scans joined strings must bound its scan by
//! [`StorageKey::joined_range`] instead.

use std::{fmt, str::FromStr};

/// Why a component or a joined string is not a valid key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStorageKey {
    /// A component was empty (`"a//b"` joined), which the joined form could not tell apart.
    #[error("a storage key component is empty")]
    EmptyComponent,
    /// A component contained `"/"`, the separator of the joined form.
    #[error("the storage key component {0:?} contains '/'")]
    ContainsSlash(String),
}

/// A hierarchical key: a path of non-empty string components without `"/"`.
///
/// The empty key (no components) is a valid *prefix*, the one every key starts with, but no chunk
/// is stored under it ([`StoreError::EmptyKey`](super::StoreError::EmptyKey)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey(Vec<String>);

/// The second component of an incremental chunk's key.
pub const INCREMENTAL: &str = "incremental";
/// The second component of a snapshot chunk's key.
pub const SNAPSHOT: &str = "snapshot";
/// The separator of the joined form.
pub const SEPARATOR: char = '/';

impl StorageKey {
    /// The empty key: the prefix of every key.
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// A key from its components, each checked.
    pub fn from_parts<I, S>(parts: I) -> Result<Self, InvalidStorageKey>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        parts
            .into_iter()
            .map(|part| check_component(part.as_ref()).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Splits a joined key (`"doc/incremental/hash"`) back into its components; `""` is the
    /// empty key.
    pub fn parse_joined(joined: &str) -> Result<Self, InvalidStorageKey> {
        if joined.is_empty() {
            return Ok(Self::empty());
        }
        Self::from_parts(joined.split(SEPARATOR))
    }

    /// `[doc_id]`: the prefix of all of a document's chunks.
    pub fn document_prefix(doc_id: &str) -> Result<Self, InvalidStorageKey> {
        Self::from_parts([doc_id])
    }

    /// `[doc_id, "incremental"]`: the prefix of a document's incremental chunks.
    pub fn incremental_prefix(doc_id: &str) -> Result<Self, InvalidStorageKey> {
        Self::from_parts([doc_id, INCREMENTAL])
    }

    /// `[doc_id, "snapshot"]`: the prefix of a document's snapshots.
    pub fn snapshot_prefix(doc_id: &str) -> Result<Self, InvalidStorageKey> {
        Self::from_parts([doc_id, SNAPSHOT])
    }

    /// `[doc_id, "incremental", change_hash]`: one incremental chunk.
    pub fn incremental(doc_id: &str, change_hash: &str) -> Result<Self, InvalidStorageKey> {
        Self::from_parts([doc_id, INCREMENTAL, change_hash])
    }

    /// `[doc_id, "snapshot", compaction_hash]`: one snapshot.
    pub fn snapshot(doc_id: &str, compaction_hash: &str) -> Result<Self, InvalidStorageKey> {
        Self::from_parts([doc_id, SNAPSHOT, compaction_hash])
    }

    /// This key with one more component.
    pub fn with_component(&self, component: &str) -> Result<Self, InvalidStorageKey> {
        let component = check_component(component)?;
        let mut parts = self.0.clone();
        parts.push(component.to_owned());
        Ok(Self(parts))
    }

    /// The components, in order.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// How many components the key has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the empty key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first component: for a chunk key, the document id.
    pub fn document_id(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }

    /// Whether `other` starts with every component of `self`, whole components only:
    /// `["doc1"]` is a prefix of `["doc1", "snapshot"]` and of itself, but not of `["doc10"]`.
    pub fn is_prefix_of(&self, other: &StorageKey) -> bool {
        self.0.len() <= other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a == b)
    }

    /// The components joined with `"/"`.
    pub fn joined(&self) -> String {
        self.0.join("/")
    }

    /// The joined strings of the keys below this prefix (excluding the prefix itself) form the
    /// half-open range `[start, end)` returned here: `"p/"` up to `"p0"`, `'0'` being the
    /// character after `'/'`. Every string in that range starts with `"p/"` and every string
    /// that starts with `"p/"` is in it, so `doc10/…` never falls under `doc1`. For the empty
    /// key there is no bound (`None`): every key is below it.
    pub fn joined_range(&self) -> Option<(String, String)> {
        if self.is_empty() {
            return None;
        }
        let joined = self.joined();
        Some((format!("{joined}/"), format!("{joined}0")))
    }
}

fn check_component(part: &str) -> Result<&str, InvalidStorageKey> {
    if part.is_empty() {
        Err(InvalidStorageKey::EmptyComponent)
    } else if part.contains(SEPARATOR) {
        Err(InvalidStorageKey::ContainsSlash(part.to_owned()))
    } else {
        Ok(part)
    }
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined())
    }
}

impl FromStr for StorageKey {
    type Err = InvalidStorageKey;

    fn from_str(joined: &str) -> Result<Self, Self::Err> {
        Self::parse_joined(joined)
    }
}

impl<'a> IntoIterator for &'a StorageKey {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(joined: &str) -> StorageKey {
        StorageKey::parse_joined(joined).expect("valid key")
    }

    #[test]
    fn chunk_keys_have_automerge_repos_layout() {
        let inc = StorageKey::incremental("doc", "abc").expect("valid");
        let snap = StorageKey::snapshot("doc", "def").expect("valid");
        assert_eq!(inc.components(), ["doc", "incremental", "abc"]);
        assert_eq!(snap.to_string(), "doc/snapshot/def");
        assert_eq!(inc.document_id(), Some("doc"));
        assert!(
            StorageKey::incremental_prefix("doc")
                .expect("valid")
                .is_prefix_of(&inc)
        );
        assert!(
            !StorageKey::snapshot_prefix("doc")
                .expect("valid")
                .is_prefix_of(&inc)
        );
    }

    #[test]
    fn joining_and_parsing_round_trip() {
        for joined in ["", "a", "doc/incremental/0123", "ü/日本/%_"] {
            assert_eq!(key(joined).joined(), joined);
            assert_eq!(joined.parse::<StorageKey>().expect("valid"), key(joined));
        }
    }

    #[test]
    fn empty_components_and_slashes_are_refused() {
        assert_eq!(
            StorageKey::parse_joined("a//b"),
            Err(InvalidStorageKey::EmptyComponent)
        );
        assert_eq!(
            StorageKey::parse_joined("a/"),
            Err(InvalidStorageKey::EmptyComponent)
        );
        assert_eq!(
            StorageKey::from_parts(["a/b"]),
            Err(InvalidStorageKey::ContainsSlash("a/b".into()))
        );
        assert!(key("a").with_component("").is_err());
    }

    #[test]
    fn a_prefix_matches_whole_components_only() {
        assert!(key("doc1").is_prefix_of(&key("doc1")));
        assert!(key("doc1").is_prefix_of(&key("doc1/snapshot/x")));
        assert!(!key("doc1").is_prefix_of(&key("doc10/snapshot/x")));
        assert!(!key("doc1/snapshot/x").is_prefix_of(&key("doc1")));
        assert!(StorageKey::empty().is_prefix_of(&key("anything/at/all")));
    }

    #[test]
    fn the_joined_range_holds_exactly_the_keys_below_the_prefix() {
        let (start, end) = key("doc1").joined_range().expect("non-empty");
        let inside = |s: &str| s >= start.as_str() && s < end.as_str();
        assert!(inside("doc1/snapshot/x"));
        assert!(inside("doc1/incremental/y"));
        assert!(!inside("doc1"), "the prefix itself is matched separately");
        assert!(!inside("doc10/snapshot/x"));
        assert!(!inside("doc1-2/snapshot/x"));
        assert!(!inside("doc0/snapshot/x"));
        assert_eq!(StorageKey::empty().joined_range(), None);
    }

    #[test]
    fn keys_below_a_prefix_sort_right_after_it() {
        let mut keys = vec![
            key("doc10/snapshot/a"),
            key("doc1/snapshot/a"),
            key("doc1-x"),
            key("doc1"),
            key("doc1/incremental/b"),
        ];
        keys.sort();
        let prefix = key("doc1");
        let start = keys.iter().position(|k| k == &prefix).expect("present");
        let below: Vec<_> = keys[start..]
            .iter()
            .take_while(|k| prefix.is_prefix_of(k))
            .collect();
        assert_eq!(below.len(), 3, "{keys:?}");
    }
}
