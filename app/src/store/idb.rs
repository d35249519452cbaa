//! Thin async helpers over the IndexedDB API (web-sys): open a database, await a request or a
//! whole transaction, and start a write transaction with `{durability: "strict"}`.
//!
//! Requests resolve through a `Promise` whose `resolve`/`reject` are installed directly as the
//! request's `onsuccess`/`onerror` handlers, so no Rust closure has to be kept alive.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction};

/// The object store of document chunks: key = the joined `StorageKey`, value = `Uint8Array`.
pub const CHUNKS: &str = "chunks";
/// The object store of small app values (session, confirmed heads): key = string, value = string.
pub const KV: &str = "kv";
/// The schema version of the app's database.
const VERSION: u32 = 1;

/// An IndexedDB failure, as text for logs and [`StoreError`](nimo_shared::storage::StoreError).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdbError(pub String);

impl std::fmt::Display for IdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IndexedDB: {}", self.0)
    }
}

impl std::error::Error for IdbError {}

impl From<JsValue> for IdbError {
    fn from(value: JsValue) -> Self {
        Self(describe(&value))
    }
}

/// A readable description of a thrown JavaScript value (a `DOMException`, an `Event`, …).
pub fn describe(value: &JsValue) -> String {
    if let Some(exception) = value.dyn_ref::<web_sys::DomException>() {
        return format!("{}: {}", exception.name(), exception.message());
    }
    if let Some(event) = value.dyn_ref::<web_sys::Event>()
        && let Some(target) = event.target()
    {
        if let Some(request) = target.dyn_ref::<IdbRequest>()
            && let Ok(Some(error)) = request.error()
        {
            return format!("{}: {}", error.name(), error.message());
        }
        if let Some(tx) = target.dyn_ref::<IdbTransaction>()
            && let Some(error) = tx.error()
        {
            return format!("{}: {}", error.name(), error.message());
        }
        return format!("{} event", event.type_());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// Opens (creating or upgrading) the app's database `name`.
pub async fn open(name: &str) -> Result<IdbDatabase, IdbError> {
    let window = web_sys::window().ok_or_else(|| IdbError("no window".into()))?;
    let factory = window
        .indexed_db()?
        .ok_or_else(|| IdbError("IndexedDB is not available".into()))?;
    let request: IdbOpenDbRequest = factory.open_with_u32(name, VERSION)?;
    let upgrade = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(
        move |event: web_sys::IdbVersionChangeEvent| {
            let Some(db) = event
                .target()
                .and_then(|t| t.dyn_into::<IdbRequest>().ok())
                .and_then(|r| r.result().ok())
                .and_then(|r| r.dyn_into::<IdbDatabase>().ok())
            else {
                return;
            };
            let names = db.object_store_names();
            for store in [CHUNKS, KV] {
                if !names.contains(store)
                    && let Err(error) = db.create_object_store(store)
                {
                    web_sys::console::error_1(&error);
                }
            }
        },
    );
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let result = request_done(&request).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    Ok(result?.dyn_into::<IdbDatabase>()?)
}

/// Deletes the database `name` (tests only).
pub async fn delete_database(name: &str) -> Result<(), IdbError> {
    let window = web_sys::window().ok_or_else(|| IdbError("no window".into()))?;
    let factory = window
        .indexed_db()?
        .ok_or_else(|| IdbError("IndexedDB is not available".into()))?;
    let request = factory.delete_database(name)?;
    request_done(&request).await?;
    Ok(())
}

/// Waits for a request's `success` and returns its result.
pub async fn request_done(request: &IdbRequest) -> Result<JsValue, IdbError> {
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(promise).await?;
    Ok(request.result()?)
}

/// Asks the browser to commit `tx` now, its requests all issued, instead of after the page has
/// handled each request's `success` event, a task that can wait behind a frame being drawn
/// (BENCH-RESULTS.md, sessions 6 and 11). A browser without `commit()` commits on its own.
///
/// Only for transactions that put and do not delete: with a delete and a put of the same key
/// in one transaction, an explicit commit lost the put in Chromium (session 6, the chunk
/// store's conformance suite), so those commit on their own.
pub fn commit_now(tx: &IdbTransaction) {
    if let Ok(commit) = Reflect::get(tx, &JsValue::from_str("commit"))
        && let Some(commit) = commit.dyn_ref::<Function>()
    {
        // A failure (the transaction already finishing) leaves `complete` or `abort` to answer.
        let _ = commit.call0(tx);
    }
}

/// Waits for a transaction's `complete` (with strict durability: flushed to disk).
pub async fn transaction_done(tx: &IdbTransaction) -> Result<(), IdbError> {
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    JsFuture::from(promise).await?;
    Ok(())
}

/// Starts a read-only transaction on `store`.
pub fn read(db: &IdbDatabase, store: &str) -> Result<IdbTransaction, IdbError> {
    Ok(db.transaction_with_str(store)?)
}

/// Starts a `readwrite` transaction on `store` with `{durability: "strict"}`: its `complete`
/// fires only once the data is on disk. (web-sys marks the options argument unstable, so the
/// call goes through `Reflect`.)
pub fn write_strict(db: &IdbDatabase, store: &str) -> Result<IdbTransaction, IdbError> {
    let transaction: Function = Reflect::get(db, &JsValue::from_str("transaction"))?.dyn_into()?;
    let options = Object::new();
    Reflect::set(
        &options,
        &JsValue::from_str("durability"),
        &JsValue::from_str("strict"),
    )?;
    let tx = transaction.call3(
        db,
        &JsValue::from_str(store),
        &JsValue::from_str("readwrite"),
        &options,
    )?;
    Ok(tx.dyn_into()?)
}
