//! [`Kv`]: small string values beside the chunks (the logged-in session, confirmed heads, the
//! documents still to register), in the same database's `kv` object store. Values are JSON
//! text; writes are strict like the chunks'.

use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;
use web_sys::IdbDatabase;

use super::idb::{self, IdbError, KV};

/// The key-value store. Clones share one connection.
#[derive(Debug, Clone)]
pub struct Kv {
    db: IdbDatabase,
}

impl Kv {
    /// The connection it uses, for the chunk store to share (one connection per page: deleting
    /// the database waits for every connection to close).
    pub fn database(&self) -> IdbDatabase {
        self.db.clone()
    }

    /// A store over an open database.
    pub fn new(db: IdbDatabase) -> Self {
        Self { db }
    }

    /// The value under `key`, if any and readable as `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, IdbError> {
        let tx = idb::read(&self.db, KV)?;
        let request = tx.object_store(KV)?.get(&JsValue::from_str(key))?;
        let value = idb::request_done(&request).await?;
        Ok(value
            .as_string()
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Every `(key, value)` whose key starts with `prefix`.
    pub async fn get_prefixed<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, IdbError> {
        let tx = idb::read(&self.db, KV)?;
        let store = tx.object_store(KV)?;
        // Keys are ASCII here; '\u{ffff}' bounds every key that starts with the prefix.
        let range = web_sys::IdbKeyRange::bound(
            &JsValue::from_str(prefix),
            &JsValue::from_str(&format!("{prefix}\u{ffff}")),
        )?;
        let keys = store.get_all_keys_with_key(&range)?;
        let values = store.get_all_with_key(&range)?;
        let keys = js_sys::Array::from(&idb::request_done(&keys).await?);
        let values = js_sys::Array::from(&idb::request_done(&values).await?);
        Ok(keys
            .iter()
            .zip(values.iter())
            .filter_map(|(k, v)| {
                let key = k.as_string()?;
                let value = serde_json::from_str(&v.as_string()?).ok()?;
                Some((key, value))
            })
            .collect())
    }

    /// Stores `value` under `key`, resolving once it is on disk.
    pub async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), IdbError> {
        let text = serde_json::to_string(value).map_err(|e| IdbError(e.to_string()))?;
        self.put_json(key, &text).await
    }

    /// Stores JSON text already encoded under `key`, resolving once it is on disk.
    pub async fn put_json(&self, key: &str, text: &str) -> Result<(), IdbError> {
        let tx = idb::write_strict(&self.db, KV)?;
        tx.object_store(KV)?
            .put_with_key(&JsValue::from_str(text), &JsValue::from_str(key))?;
        idb::transaction_done(&tx).await
    }

    /// Closes the database connection (shared with the chunk store), so it can be deleted.
    pub fn close(&self) {
        self.db.close();
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), IdbError> {
        let tx = idb::write_strict(&self.db, KV)?;
        tx.object_store(KV)?.delete(&JsValue::from_str(key))?;
        idb::transaction_done(&tx).await
    }
}
