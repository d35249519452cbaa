//! Sync: the browser's side of the automerge-repo protocol, with no IO.
//!
//! The server runs samod (the Rust automerge-repo); samod does not run in the browser yet, so
//! the browser speaks the same protocol with this small client (DESIGN.md decision 1):
//!
//! - [`ids`]: document and peer ids ([`DocumentId`] is bs58check, like automerge-repo's);
//! - [`protocol`]: the CBOR wire messages (join, peer, request, sync, doc-unavailable, error);
//! - [`storage_key`]: automerge-repo's storage key layout for the browser's IndexedDB;
//! - [`backoff`]: reconnect delays;
//! - [`chunk_bounds`]: what decoding received automerge chunks may cost, checked first;
//! - [`bloom_guard`]: bloom filters automerge would divide by zero on, refused first too;
//! - [`status`]: what the UI shows;
//! - [`client`]: [`SyncClient`], the sans-IO state machine that ties them together.
//!
//! Everything here takes time and randomness as parameters, so the same code runs in the
//! browser (wasm32), in the server's tests, and in the seeded simulation of
//! `shared/tests/sync_simulation.rs`.

pub mod backoff;
pub mod bloom_guard;
pub mod chunk_bounds;
pub mod client;
pub mod ids;
pub mod protocol;
pub mod status;
pub mod storage_key;

pub use backoff::{BackoffConfig, backoff_delay};
pub use bloom_guard::BloomRefused;
pub use chunk_bounds::{ChunkBounds, ChunkRefused};
pub use client::{ClientConfig, ClientError, Effect, Input, ManifestEntry, SyncClient};
pub use ids::{BadDocumentId, DocumentId, PeerId};
pub use protocol::{DecodeError, Message, PeerMetadata};
pub use status::{DocStatus, SyncStatus};
pub use storage_key::{ChunkKind, StorageKey};
