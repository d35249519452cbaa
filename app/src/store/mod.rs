//! Local storage in IndexedDB: document chunks ([`IdbChunkStore`], a
//! [`ChunkStore`](nimo_shared::storage::ChunkStore) backend that passes the shared conformance
//! suite) and small values ([`Kv`]); on visitor and office devices the chunks are sealed
//! ([`SealedChunkStore`]). IO only: what to store is decided in `nimo_shared`.

mod chunks;
pub mod idb;
mod kv;
mod sealed;
pub mod writer;

pub use chunks::IdbChunkStore;
pub use kv::Kv;
pub use sealed::{DeviceChunks, SealedChunkStore};

/// The app's database.
pub const DATABASE: &str = "nimo";
