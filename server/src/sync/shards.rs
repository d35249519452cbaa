//! The documents sharded over K samod repositories (issue #10).
//!
//! samod-core 0.16's hub walks every established connection × every loaded document after each
//! of its events (`State::ensure_connections`), and samod never unloads a document: with many
//! devices and documents that walk took half the server's CPU. Each shard is a whole samod
//! repository (its own hub) over the same SQLite chunk store and the same share policy, all
//! with the peer id `nimo-server`; a document lives in exactly one of them, chosen by
//! [`shard_of`]. Every device connection reaches all shards through one WebSocket
//! ([`super::mux`]), so each hub walks its connections × a K-th of the documents.
//!
//! Changing K between starts is safe: a document then belongs to another shard, which loads it
//! from the shared storage when it is first asked for. K must only not change while the server
//! runs (it cannot).

use std::sync::Arc;

use futures::future::join_all;
use samod::{AcceptorHandle, DocumentId, PeerId, Repo};

use super::SyncStartError;
use super::policy::RegistryPolicy;
use crate::storage::SqliteChunkStore;

/// The peer id every shard speaks as: devices see one server.
pub const SERVER_PEER_ID: &str = "nimo-server";

/// Which of `shards` shards holds the document with these id bytes: FNV-1a (64-bit) of the
/// bytes, its high half folded into the low one (FNV's low bits depend only on the low bits
/// of each byte), modulo `shards`. Written out rather than `std`'s hasher, whose output may
/// change between Rust releases; this choice must never change for a given `shards`. Ids are
/// random UUIDs, so a fixed mixing of all their bits spreads them evenly.
pub fn shard_of(id_bytes: &[u8], shards: usize) -> usize {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = id_bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    });
    let hash = hash ^ (hash >> 32);
    let shards = u64::try_from(shards.max(1)).unwrap_or(u64::MAX);
    usize::try_from(hash % shards).unwrap_or(0)
}

/// The running shards: one samod repository and acceptor each.
#[derive(Clone)]
pub struct Shards {
    // Shared, not owned: every request clones the app state, and 256 shards cloned and dropped
    // per request were 3% of W1's server CPU (BENCH-RESULTS.md, "Session 16").
    repos: Arc<[Repo]>,
    acceptors: Arc<[AcceptorHandle]>,
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("count", &self.repos.len())
            .finish_non_exhaustive()
    }
}

impl Shards {
    /// Starts `count` (at least one) repositories over `store` with `policy`. They start one
    /// after another: the first creates the storage id samod keeps in storage, the others read
    /// it, so every shard's `peer` reply names the same storage.
    pub async fn start(
        count: usize,
        store: &SqliteChunkStore,
        policy: &RegistryPolicy,
    ) -> Result<Self, SyncStartError> {
        let url = url::Url::parse("ws://nimo/api/sync/ws").map_err(|_| SyncStartError::Stopped)?;
        let mut repos = Vec::new();
        let mut acceptors = Vec::new();
        for _ in 0..count.max(1) {
            let repo = Repo::build_tokio()
                .with_storage(store.clone())
                .with_share_policy(policy.clone())
                .with_peer_id(PeerId::from(SERVER_PEER_ID))
                .load()
                .await;
            acceptors.push(
                repo.make_acceptor(url.clone())
                    .map_err(|samod::Stopped| SyncStartError::Stopped)?,
            );
            repos.push(repo);
        }
        Ok(Self {
            repos: repos.into(),
            acceptors: acceptors.into(),
        })
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.repos.len()
    }

    /// Always false: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty()
    }

    /// The repository holding `doc_id`.
    pub fn repo_for(&self, doc_id: &DocumentId) -> &Repo {
        &self.repos[shard_of(doc_id.as_bytes(), self.repos.len())]
    }

    /// Where connections are handed to each shard, in shard order.
    pub fn acceptors(&self) -> &[AcceptorHandle] {
        &self.acceptors
    }

    /// Stops every shard, waiting for their storage writes to finish.
    pub async fn stop(&self) {
        join_all(self.repos.iter().map(Repo::stop)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_of_an_id_never_changes() {
        // Pinned: a change to the hash moves documents between shards at the next start
        // (harmless, samod reloads them from storage, but it must be deliberate).
        let id = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        assert_eq!(shard_of(&id, 16), 6);
        assert_eq!(shard_of(&id, 64), 54);
        assert_eq!(shard_of(&[], 16), 1);
        assert_eq!(shard_of(&[0], 7), 1);
        assert_eq!(shard_of(&id, 1), 0);
    }

    #[test]
    fn random_ids_spread_over_the_shards() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut counts = [0_usize; 16];
        for _ in 0..16_000 {
            let mut id = [0_u8; 16];
            for byte in &mut id {
                // xorshift64: a fixed sequence of well-mixed bytes.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                *byte = rng.to_le_bytes()[0];
            }
            // Version 4 UUID bits, as the app writes them.
            id[6] = (id[6] & 0x0f) | 0x40;
            id[8] = (id[8] & 0x3f) | 0x80;
            counts[shard_of(&id, 16)] += 1;
        }
        // 1,000 expected per shard; a fair split stays well within ±20 %.
        for count in counts {
            assert!((800..=1200).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn every_shard_is_within_range() {
        for shards in 1..40 {
            for first in 0..=255_u8 {
                assert!(shard_of(&[first, 1, 2, 3], shards) < shards);
            }
        }
    }
}
