//! Document-chunk storage: one trait, every backend, one conformance suite.
//!
//! Every Automerge document is stored as **chunks** in automerge-repo's key layout
//! ([`StorageKey`]): incremental chunks (`[docId, "incremental", hash]`) as changes arrive, and
//! now and then a snapshot (`[docId, "snapshot", hash]`) that replaces them. Loading a document
//! means loading every chunk under `[docId]`. The browser keeps its chunks in IndexedDB, the
//! server in SQLite, tests in memory; all three implement [`ChunkStore`] and pass the same
//! [`conformance`] suite, so code written against the trait (the browser's sync client, the
//! server's confirm endpoint) behaves the same on each (DESIGN.md decisions 1 and 7).
//!
//! This module has no IO of its own and builds for `wasm32-unknown-unknown`: backends live
//! with their IO (the server crate for SQLite, the app for IndexedDB); only
//! [`MemoryChunkStore`] lives here.
//!
//! ```
//! # use nimo_shared::storage::{ChunkStore, MemoryChunkStore, StorageKey};
//! # futures::executor::block_on(async {
//! let store = MemoryChunkStore::new();
//! let key = StorageKey::incremental("3x9Ld…", "a1b2")?;
//! store.put(key.clone(), vec![1, 2, 3]).await?;
//! let chunks = store.load_range(&StorageKey::document_prefix("3x9Ld…")?).await?;
//! assert_eq!(chunks.get(&key), Some(&vec![1, 2, 3]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).expect("example");
//! ```

mod chunk_store;
pub mod conformance;
mod error;
mod key;
mod memory;

pub use chunk_store::ChunkStore;
pub use error::StoreError;
pub use key::{INCREMENTAL, InvalidStorageKey, SEPARATOR, SNAPSHOT, StorageKey};
pub use memory::MemoryChunkStore;
