//! [`MemoryChunkStore`]: the in-memory backend, for tests and simulations.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use super::{ChunkStore, StorageKey, StoreError};

/// Chunks in a [`BTreeMap`] behind a mutex; clones share the same map.
///
/// Keys sort component by component, so a prefix load is a range scan that stops at the first
/// key outside the prefix. A `Mutex` rather than a `RefCell` keeps the store `Send + Sync`, so a
/// test can hand one to threads or to samod-style runtimes.
#[derive(Debug, Clone, Default)]
pub struct MemoryChunkStore {
    chunks: Arc<Mutex<BTreeMap<StorageKey, Vec<u8>>>>,
}

impl MemoryChunkStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many chunks are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no chunk is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<StorageKey, Vec<u8>>> {
        // Every operation validates before it mutates and nothing in it panics midway, so a
        // poisoned lock (a panic elsewhere while holding it) still guards a consistent map.
        self.chunks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChunkStore for MemoryChunkStore {
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .range(prefix.clone()..)
            .take_while(|(key, _)| prefix.is_prefix_of(key))
            .map(|(key, bytes)| (key.clone(), bytes.clone()))
            .collect())
    }

    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        self.lock().insert(key, bytes);
        Ok(())
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError> {
        // Validate everything first: after an error nothing may have changed.
        if puts.iter().any(|(key, _)| key.is_empty()) {
            return Err(StoreError::EmptyKey);
        }
        let mut chunks = self.lock();
        for key in &deletes {
            chunks.remove(key);
        }
        chunks.extend(puts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::storage::conformance;

    #[test]
    fn the_memory_store_passes_the_conformance_suite() {
        let checks = block_on(conformance::run_all(MemoryChunkStore::new));
        assert_eq!(checks, conformance::CHECK_COUNT);
    }

    #[test]
    fn clones_share_one_map() {
        let store = MemoryChunkStore::new();
        let clone = store.clone();
        let key = StorageKey::incremental("doc", "hash").expect("valid");
        block_on(clone.put(key.clone(), vec![1])).expect("put");
        assert_eq!(block_on(store.load(&key)).expect("load"), Some(vec![1]));
        assert_eq!(store.len(), 1);
    }
}
