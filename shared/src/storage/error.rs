//! [`StoreError`]: why a chunk store could not do what was asked.

use super::InvalidStorageKey;

/// Why a [`ChunkStore`](super::ChunkStore) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A chunk was to be stored under the empty key. The empty key is the prefix of every key
    /// and names no chunk; a backend refuses it before changing anything.
    #[error("a chunk cannot be stored under the empty key")]
    EmptyKey,
    /// A key read back from the backend does not parse: the stored data is damaged or was
    /// written by something other than a chunk store.
    #[error("the stored key {key:?} is not a valid storage key")]
    CorruptKey {
        /// The key as stored.
        key: String,
        /// What is wrong with it.
        #[source]
        source: InvalidStorageKey,
    },
    /// The backend itself failed (SQLite, IndexedDB, the task running the query, …).
    #[error("the {backend} chunk store failed")]
    Backend {
        /// Which backend, for logs: `"sqlite"`, `"indexeddb"`.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// Wraps a backend's error.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Backend {
            backend,
            source: source.into(),
        }
    }
}
