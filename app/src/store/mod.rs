//! Local storage in IndexedDB: document chunks ([`IdbChunkStore`], a
//! [`ChunkStore`](nimo_shared::storage::ChunkStore) backend that passes the shared conformance
//! suite) and small values ([`Kv`]). IO only: what to store is decided in `nimo_shared`.

mod chunks;
pub mod idb;
mod kv;

pub use chunks::IdbChunkStore;
pub use kv::Kv;

/// The app's database.
pub const DATABASE: &str = "nimo";
