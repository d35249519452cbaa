//! [`SealedChunkStore`]: the chunk store of visitor and office devices. Every chunk is sealed
//! with the device's data key ([`nimo_shared::crypto`]) before it reaches IndexedDB, with its
//! storage key as associated data, so the profile of a lost phone holds no note text and no
//! patient code. The key exists only in memory while the app is unlocked.
//!
//! Storage keys (random document ids and change hashes) stay in the clear: IndexedDB must index
//! them, and they say nothing about a patient.

use std::collections::BTreeMap;
use std::rc::Rc;

use nimo_shared::crypto::{self, DataKey, NONCE_BYTES};
use nimo_shared::storage::{ChunkStore, StorageKey, StoreError};

use super::IdbChunkStore;

const BACKEND: &str = "sealed";

/// An [`IdbChunkStore`] whose values are sealed. Clones share the key.
#[derive(Debug, Clone)]
pub struct SealedChunkStore {
    inner: IdbChunkStore,
    key: Rc<DataKey>,
}

impl SealedChunkStore {
    /// Seals into `inner` with `key`.
    pub fn new(inner: IdbChunkStore, key: DataKey) -> Self {
        Self {
            inner,
            key: Rc::new(key),
        }
    }

    fn seal(&self, key: &StorageKey, bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = crate::sync::rng::random_bytes::<NONCE_BYTES>();
        crypto::seal_chunk(&self.key, nonce, &key.joined(), bytes)
            .map_err(|e| StoreError::backend(BACKEND, e))
    }

    fn open(&self, key: &StorageKey, bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
        crypto::open_chunk(&self.key, &key.joined(), bytes)
            .map_err(|e| StoreError::backend(BACKEND, format!("{key}: {e}")))
    }
}

impl ChunkStore for SealedChunkStore {
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.load(key).await? {
            Some(bytes) => self.open(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        let mut out = BTreeMap::new();
        for (key, bytes) in self.inner.load_range(prefix).await? {
            let plain = self.open(&key, &bytes)?;
            out.insert(key, plain);
        }
        Ok(out)
    }

    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.put_and_delete(vec![(key, bytes)], Vec::new()).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }

    async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError> {
        let sealed = puts
            .into_iter()
            .map(|(key, bytes)| {
                let sealed = self.seal(&key, &bytes)?;
                Ok((key, sealed))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.inner.put_and_delete(sealed, deletes).await
    }
}

/// The chunk store a device uses: plain on trainer devices (training data may stay
/// unencrypted), sealed on visitor and office devices.
#[derive(Debug, Clone)]
pub enum DeviceChunks {
    /// Chunks as they are.
    Plain(IdbChunkStore),
    /// Chunks sealed under the unlocked data key.
    Sealed(SealedChunkStore),
}

impl DeviceChunks {
    /// Closes the database connection (so the database can be deleted).
    pub fn close(&self) {
        match self {
            DeviceChunks::Plain(store) => store.close(),
            DeviceChunks::Sealed(store) => store.inner.close(),
        }
    }
}

impl ChunkStore for DeviceChunks {
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            DeviceChunks::Plain(store) => store.load(key).await,
            DeviceChunks::Sealed(store) => store.load(key).await,
        }
    }

    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        match self {
            DeviceChunks::Plain(store) => store.load_range(prefix).await,
            DeviceChunks::Sealed(store) => store.load_range(prefix).await,
        }
    }

    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        match self {
            DeviceChunks::Plain(store) => store.put(key, bytes).await,
            DeviceChunks::Sealed(store) => store.put(key, bytes).await,
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        match self {
            DeviceChunks::Plain(store) => store.delete(key).await,
            DeviceChunks::Sealed(store) => store.delete(key).await,
        }
    }

    async fn put_and_delete(
        &self,
        puts: Vec<(StorageKey, Vec<u8>)>,
        deletes: Vec<StorageKey>,
    ) -> Result<(), StoreError> {
        match self {
            DeviceChunks::Plain(store) => store.put_and_delete(puts, deletes).await,
            DeviceChunks::Sealed(store) => store.put_and_delete(puts, deletes).await,
        }
    }
}
