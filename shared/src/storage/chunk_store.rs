//! [`ChunkStore`]: the one trait every chunk backend implements.

use std::collections::BTreeMap;

use super::{StorageKey, StoreError};

/// A key-value store of document chunks with prefix loads and an atomic batch.
///
/// This is samod's `Storage` contract plus errors and one batch operation:
///
/// - **errors are returned**, never swallowed: a caller that shows "saved" must know a write
///   failed. (samod's own trait returns `()`; the server's samod adapter retries instead.)
/// - [`put_and_delete`](Self::put_and_delete) applies all its puts and deletes or none, so a
///   compaction never leaves a document with its incremental chunks deleted and no snapshot.
///
/// The methods are plain `async fn` and their futures are **not** required to be `Send`: the
/// browser's IndexedDB futures hold JavaScript values and are not. The server, whose samod needs
/// `Send` futures, implements samod's trait directly on its concrete SQLite store.
///
/// Every backend is checked by the same [conformance suite](super::conformance).
#[allow(
    async_fn_in_trait,
    reason = "the futures are deliberately not required to be Send (IndexedDB's are not)"
)]
pub trait ChunkStore {
    /// The bytes stored under exactly `key`, or `None`.
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every chunk whose key starts with `prefix`, whole components only (`["doc1"]` does not
    /// match `["doc10", …]`), the key equal to `prefix` included. The empty prefix loads all.
    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError>;

    /// Stores `bytes` under `key`, replacing what was there. The empty key is refused with
    /// [`StoreError::EmptyKey`].
    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// Removes the chunk under exactly `key`; removing a missing key is not an error.
    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError>;

    /// Applies every delete, then every put, atomically: after an error nothing has changed.
    /// A key both deleted and put ends up holding the put's bytes.
    async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError>;
}
