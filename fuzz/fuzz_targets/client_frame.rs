//! Bytes from the server reaching a connected `SyncClient`: either a whole frame, or an
//! automerge sync message wrapped in a well-formed `sync` frame for a document the device holds,
//! so the fuzzer reaches past the CBOR layer into automerge's sync protocol and the client's
//! handling of what it decodes. The client must never panic.
#![no_main]

use automerge::transaction::Transactable;
use automerge::{ActorId, ROOT};
use libfuzzer_sys::fuzz_target;
use nimo_fuzz::tolerating_upstream;
use nimo_shared::sync::{ClientConfig, Effect, Input, Message, PeerId, SyncClient};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

const NOW: u64 = 1_700_000_000_000;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, bytes)) = input.split_first() else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let me = PeerId::from("device".to_owned());
    let server = PeerId::from("server".to_owned());
    let mut client = SyncClient::new(me.clone(), ClientConfig::new(ActorId::from(&[1u8; 16][..])));
    let (doc_id, (), _) = client.create(NOW, &mut rng, |doc| {
        doc.transact(|tx| tx.put(ROOT, "kind", "training_session").map(|_| ()))
            .map(|_| ())
            .expect("a put commits");
    });
    client.handle(NOW, &mut rng, Input::Connected);
    let peer = Message::Peer {
        sender_id: server.clone(),
        selected_protocol_version: "1".to_owned(),
        target_id: me.clone(),
        metadata: None,
    };
    client.handle(NOW, &mut rng, Input::Received(peer.encode()));
    let frame = if mode % 2 == 0 {
        bytes.to_vec()
    } else {
        Message::Sync {
            document_id: doc_id,
            sender_id: server,
            target_id: me,
            data: bytes.to_vec(),
        }
        .encode()
    };
    // A known panic inside automerge is tolerated (src/lib.rs; the server's frame guard catches
    // them, and the device refuses the zero-bit bloom filter first, `bloom_guard`); a panic
    // anywhere else is a crash.
    let Some(effects) =
        tolerating_upstream(|| client.handle(NOW + 1, &mut rng, Input::Received(frame)))
    else {
        return;
    };
    // What the client persists after a hostile frame must load again.
    for effect in effects {
        if let Effect::Persist { bytes, .. } = effect {
            let mut doc = automerge::Automerge::new();
            doc.load_incremental(&bytes)
                .expect("a chunk the client wrote loads");
        }
    }
    client.handle(NOW + 60_000, &mut rng, Input::Tick);
});
