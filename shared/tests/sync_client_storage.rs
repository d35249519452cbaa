//! Local storage: every change reaches IndexedDB as a chunk, chunks are compacted into one
//! snapshot, and a restarted device loads exactly what it had, still knowing which changes the
//! server has not confirmed.

mod sync_support;

use std::collections::BTreeMap;

use automerge::ROOT;
use automerge::transaction::Transactable;
use nimo_shared::sync::{
    ChunkKind, ClientConfig, DocStatus, DocumentId, Effect, Input, PeerId, StorageKey, SyncClient,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn device(compact_after: usize) -> (SyncClient, ChaCha8Rng) {
    let mut config = ClientConfig::new(automerge::ActorId::from(&b"tablet"[..]));
    config.compact_after_chunks = compact_after;
    (
        SyncClient::new(PeerId::from("tablet"), config),
        ChaCha8Rng::seed_from_u64(3),
    )
}

fn store(storage: &mut BTreeMap<StorageKey, Vec<u8>>, effects: &[Effect]) {
    for effect in effects {
        match effect {
            Effect::Persist { key, bytes } => {
                storage.insert(key.clone(), bytes.clone());
            }
            Effect::Compact {
                snapshot_key,
                bytes,
                remove,
                ..
            } => {
                storage.insert(snapshot_key.clone(), bytes.clone());
                for key in remove {
                    storage.remove(key);
                }
            }
            _ => {}
        }
    }
}

fn edit(client: &mut SyncClient, doc_id: DocumentId, n: i64) -> Vec<Effect> {
    let (_, effects) = client
        .change(0, doc_id, |doc| {
            doc.transact(|tx| tx.put(ROOT, "n", n)).expect("commits");
        })
        .expect("doc is here");
    effects
}

#[test]
fn every_local_change_is_persisted_as_one_incremental_chunk_named_like_automerge_repo() {
    let (mut client, mut rng) = device(100);
    let mut storage = BTreeMap::new();
    let (doc_id, (), effects) = client.create(0, &mut rng, |doc| {
        doc.transact(|tx| tx.put(ROOT, "n", 0_i64))
            .expect("commits");
    });
    store(&mut storage, &effects);
    for n in 1..5 {
        let effects = edit(&mut client, doc_id, n);
        let persisted: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist { key, bytes } => Some((key, bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(persisted.len(), 1);
        let (key, bytes) = persisted[0];
        assert_eq!(*key, StorageKey::incremental(doc_id, bytes));
        store(&mut storage, &effects);
    }
    assert_eq!(storage.len(), 5);
    assert!(storage.keys().all(|k| k.kind == ChunkKind::Incremental));
}

#[test]
fn chunks_are_compacted_into_one_snapshot_that_replaces_them() {
    let (mut client, mut rng) = device(4);
    let mut storage = BTreeMap::new();
    let (doc_id, (), effects) = client.create(0, &mut rng, |doc| {
        doc.transact(|tx| tx.put(ROOT, "n", 0_i64))
            .expect("commits");
    });
    store(&mut storage, &effects);
    let mut compactions = 0;
    for n in 1..10 {
        let effects = edit(&mut client, doc_id, n);
        compactions += effects
            .iter()
            .filter(|e| matches!(e, Effect::Compact { .. }))
            .count();
        store(&mut storage, &effects);
        assert!(storage.len() < 4, "{} chunks", storage.len());
    }
    assert!(compactions >= 2);
    let heads = client.doc(&doc_id).expect("here").get_heads();
    let mut reloaded = automerge::Automerge::new();
    for bytes in storage.values() {
        reloaded.load_incremental(bytes).expect("chunk loads");
    }
    assert_eq!(reloaded.get_heads(), heads);
}

#[test]
fn a_restarted_device_loads_its_records_and_still_owes_the_unconfirmed_ones() {
    let (mut client, mut rng) = device(100);
    let mut storage = BTreeMap::new();
    let mut ids = Vec::new();
    for n in 0..2_i64 {
        let (doc_id, (), effects) = client.create(0, &mut rng, |doc| {
            doc.transact(|tx| tx.put(ROOT, "n", n)).expect("commits");
        });
        store(&mut storage, &effects);
        ids.push(doc_id);
    }
    let confirmed = client.doc(&ids[0]).expect("here").get_heads();

    let (mut restarted, mut rng) = device(100);
    for (i, doc_id) in ids.iter().enumerate() {
        let chunks = storage
            .iter()
            .filter(|(k, _)| k.doc_id == *doc_id)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let confirmed_heads = (i == 0).then(|| confirmed.clone());
        let effects = restarted.handle(
            0,
            &mut rng,
            Input::Load {
                doc_id: *doc_id,
                chunks,
                confirmed_heads,
            },
        );
        assert!(effects.contains(&Effect::DocChanged(*doc_id)));
        assert_eq!(
            restarted.doc(doc_id).expect("loaded").get_heads(),
            client.doc(doc_id).expect("here").get_heads()
        );
    }
    assert_eq!(restarted.doc_status(&ids[0]), Some(DocStatus::Stored));
    assert_eq!(restarted.doc_status(&ids[1]), Some(DocStatus::OnlyHere));
    assert_eq!(restarted.unconfirmed_docs(), vec![ids[1]]);
}

#[test]
fn a_corrupt_chunk_does_not_stop_the_rest_from_loading() {
    let (mut client, mut rng) = device(100);
    let mut storage = BTreeMap::new();
    let (doc_id, (), effects) = client.create(0, &mut rng, |doc| {
        doc.transact(|tx| tx.put(ROOT, "n", 1_i64))
            .expect("commits");
    });
    store(&mut storage, &effects);
    let mut chunks: Vec<_> = storage.into_iter().collect();
    let bad = StorageKey::incremental(doc_id, b"garbage");
    chunks.push((bad.clone(), b"garbage".to_vec()));
    let (mut restarted, mut rng) = device(100);
    let effects = restarted.handle(
        0,
        &mut rng,
        Input::Load {
            doc_id,
            chunks,
            confirmed_heads: None,
        },
    );
    // automerge skips what it cannot parse; chunks it refuses outright are reported.
    assert!(
        effects
            .iter()
            .all(|e| !matches!(e, Effect::ChunkRejected { key, .. } if *key != bad))
    );
    assert_eq!(
        restarted.doc(&doc_id).expect("loaded").get_heads(),
        client.doc(&doc_id).expect("here").get_heads()
    );
}
