//! [`IdbChunkStore`]: the browser's [`ChunkStore`], one IndexedDB object store keyed by the
//! joined [`StorageKey`] (`doc/incremental/hash`), values stored as `Uint8Array`.
//!
//! A prefix load reads the exact key plus the half-open range [`StorageKey::joined_range`]
//! (`"p/"` to `"p0"`): every string in it starts with `"p/"` in UTF-16 order as well, so
//! `doc10/…` never falls under `doc1`. Writes use `{durability: "strict"}` and resolve only on the
//! transaction's `complete`; [`put_and_delete`](ChunkStore::put_and_delete) is one transaction.
//! Reads run on the page; writes go through the chunk writer's worker ([`writer`]) where there is
//! one, on the page otherwise.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use nimo_shared::storage::{ChunkStore, StorageKey, StoreError};
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{IdbDatabase, IdbKeyRange};

use super::idb::{self, CHUNKS, IdbError};
use super::writer::{self, WriteError};

const BACKEND: &str = "indexeddb";

fn backend(error: IdbError) -> StoreError {
    StoreError::backend(BACKEND, error)
}

/// Chunks in IndexedDB. Clones share one connection.
#[derive(Debug, Clone)]
pub struct IdbChunkStore {
    name: Rc<str>,
    db: Rc<RefCell<Option<IdbDatabase>>>,
}

impl IdbChunkStore {
    /// A store over an already open database.
    pub fn new(name: &str, db: IdbDatabase) -> Self {
        writer::prepare();
        Self {
            name: name.into(),
            db: Rc::new(RefCell::new(Some(db))),
        }
    }

    /// A store that opens (creates) database `name` on first use: lets the conformance suite
    /// make a fresh store synchronously.
    pub fn lazy(name: &str) -> Self {
        Self {
            name: name.into(),
            db: Rc::new(RefCell::new(None)),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connection (so the database can be deleted).
    pub fn close(&self) {
        writer::close(&self.name);
        if let Some(db) = self.db.borrow_mut().take() {
            db.close();
        }
    }

    async fn db(&self) -> Result<IdbDatabase, StoreError> {
        if let Some(db) = self.db.borrow().as_ref() {
            return Ok(db.clone());
        }
        let db = idb::open(&self.name).await.map_err(backend)?;
        *self.db.borrow_mut() = Some(db.clone());
        Ok(db)
    }
}

fn parse_key(value: &JsValue) -> Result<StorageKey, StoreError> {
    let joined = value.as_string().unwrap_or_default();
    StorageKey::parse_joined(&joined).map_err(|source| StoreError::CorruptKey {
        key: joined,
        source,
    })
}

fn bytes_of(value: &JsValue) -> Vec<u8> {
    match value.dyn_ref::<Uint8Array>() {
        Some(array) => array.to_vec(),
        None => Uint8Array::new(value).to_vec(),
    }
}

impl ChunkStore for IdbChunkStore {
    async fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db().await?;
        let run = async {
            let tx = idb::read(&db, CHUNKS)?;
            let store = tx.object_store(CHUNKS)?;
            let request = store.get(&JsValue::from_str(&key.joined()))?;
            let value = idb::request_done(&request).await?;
            Ok::<_, IdbError>(if value.is_undefined() {
                None
            } else {
                Some(bytes_of(&value))
            })
        };
        run.await.map_err(backend)
    }

    async fn load_range(
        &self,
        prefix: &StorageKey,
    ) -> Result<BTreeMap<StorageKey, Vec<u8>>, StoreError> {
        let db = self.db().await?;
        let run = async {
            let tx = idb::read(&db, CHUNKS)?;
            let store = tx.object_store(CHUNKS)?;
            // Every request is issued before the first await, so the transaction stays active.
            let (exact, keys, values) = match prefix.joined_range() {
                None => (None, store.get_all_keys()?, store.get_all()?),
                Some((start, end)) => {
                    let range = IdbKeyRange::bound_with_lower_open_and_upper_open(
                        &JsValue::from_str(&start),
                        &JsValue::from_str(&end),
                        false,
                        true,
                    )?;
                    (
                        Some(store.get(&JsValue::from_str(&prefix.joined()))?),
                        store.get_all_keys_with_key(&range)?,
                        store.get_all_with_key(&range)?,
                    )
                }
            };
            let exact = match exact {
                Some(request) => Some(idb::request_done(&request).await?),
                None => None,
            };
            let keys: Array = idb::request_done(&keys).await?.dyn_into()?;
            let values: Array = idb::request_done(&values).await?.dyn_into()?;
            Ok::<_, IdbError>((exact, keys, values))
        };
        let (exact, keys, values) = run.await.map_err(backend)?;
        let mut out = BTreeMap::new();
        if let Some(value) = exact.filter(|v| !v.is_undefined()) {
            out.insert(prefix.clone(), bytes_of(&value));
        }
        for (key, value) in keys.iter().zip(values.iter()) {
            out.insert(parse_key(&key)?, bytes_of(&value));
        }
        Ok(out)
    }

    async fn put(&self, key: StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.put_and_delete(vec![(key, bytes)], Vec::new()).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        self.put_and_delete(Vec::new(), vec![key.clone()]).await
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
        let db = self.db().await?;
        if let Some(written) = writer::write(&self.name, db.version(), &puts, &deletes) {
            match written.await {
                Ok(()) => return Ok(()),
                Err(WriteError::Failed(error)) => return Err(backend(error)),
                // Written again below, on the page.
                Err(WriteError::Stopped) => {}
            }
        }
        let run = async {
            let tx = idb::write_strict(&db, CHUNKS)?;
            let store = tx.object_store(CHUNKS)?;
            let issued = (|| {
                for key in &deletes {
                    store.delete(&JsValue::from_str(&key.joined()))?;
                }
                for (key, bytes) in &puts {
                    let value = Uint8Array::from(bytes.as_slice());
                    store.put_with_key(&value, &JsValue::from_str(&key.joined()))?;
                }
                Ok::<_, JsValue>(())
            })();
            if let Err(error) = issued {
                // Nothing of a half-issued batch may land.
                let _ = tx.abort();
                return Err(IdbError::from(error));
            }
            if deletes.is_empty() {
                idb::commit_now(&tx);
            }
            idb::transaction_done(&tx).await
        };
        run.await.map_err(backend)
    }
}
