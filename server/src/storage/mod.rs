//! Document chunks in the server's SQLite file.
//!
//! [`SqliteChunkStore`] is the server's backend of the shared
//! [`ChunkStore`](nimo_shared::storage::ChunkStore) trait and passes the same conformance suite
//! as every other backend; it is also what samod writes through (`samod_storage.rs`, where failed
//! writes are retried rather than dropped) and what the confirm endpoint and the projection read
//! whole documents from ([`SqliteChunkStore::load_document`]).
//!
//! Durability: the store's connection runs in WAL mode with `synchronous = FULL`, so a chunk
//! write that returned is on disk. The confirm endpoint relies on this when it reads heads back
//! from the `chunks` table and tells a device its changes are stored (DESIGN.md decision 5).

mod document;
mod error;
mod samod_storage;
mod sqlite;

pub use document::StoredChunks;
pub use error::SqliteStoreError;
pub use sqlite::SqliteChunkStore;
