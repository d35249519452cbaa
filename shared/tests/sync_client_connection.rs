//! The connection's edges: handshake, timeouts, protocol errors and lost frames. Whatever the
//! server sends, the client answers with effects, never a panic.

mod sync_support;

use automerge::ROOT;
use automerge::transaction::Transactable;
use nimo_shared::sync::{ClientConfig, Effect, Input, Message, PeerId, SyncClient, SyncStatus};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use sync_support::RelayServer;
use sync_support::wired::Device;

fn client() -> (SyncClient, ChaCha8Rng) {
    let config = ClientConfig::new(automerge::ActorId::from(&b"device"[..]));
    (
        SyncClient::new(PeerId::from("device"), config),
        ChaCha8Rng::seed_from_u64(9),
    )
}

fn closes(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Close { .. }))
        && effects
            .iter()
            .any(|e| matches!(e, Effect::ReconnectAfter(_)))
}

#[test]
fn connecting_sends_a_join_for_protocol_version_1() {
    let (mut client, mut rng) = client();
    let effects = client.handle(0, &mut rng, Input::Connected);
    let Some(Effect::Send(frame)) = effects.first() else {
        panic!("expected a frame, got {effects:?}");
    };
    let Ok(Message::Join {
        sender_id,
        supported_protocol_versions,
        ..
    }) = Message::decode(frame)
    else {
        panic!("expected a join");
    };
    assert_eq!(sender_id, PeerId::from("device"));
    assert_eq!(supported_protocol_versions, vec!["1".to_owned()]);
    assert!(effects.contains(&Effect::StatusChanged(SyncStatus::Connecting)));
}

#[test]
fn a_server_that_never_answers_the_join_is_left_after_the_handshake_timeout() {
    let (mut client, mut rng) = client();
    client.handle(0, &mut rng, Input::Connected);
    assert_eq!(client.next_wakeup(), Some(10_000));
    assert!(!closes(&client.handle(9_999, &mut rng, Input::Tick)));
    let effects = client.handle(10_000, &mut rng, Input::Tick);
    assert!(closes(&effects));
    assert_eq!(client.status(10_000), SyncStatus::Offline);
    // The next attempt fails to open: it is retried later still.
    let effects = client.handle(10_500, &mut rng, Input::Disconnected);
    assert!(matches!(effects.as_slice(), [Effect::ReconnectAfter(ms)] if *ms >= 1_000));
}

#[test]
fn garbage_from_the_server_closes_the_connection_without_a_panic() {
    for frame in [
        vec![],
        vec![0xff; 10],
        vec![0xa1, 0x64, b't', b'y', b'p', b'e', 0x01],
    ] {
        let (mut client, mut rng) = client();
        client.handle(0, &mut rng, Input::Connected);
        assert!(closes(&client.handle(1, &mut rng, Input::Received(frame))));
    }
}

#[test]
fn a_peer_message_for_another_device_or_protocol_is_refused() {
    for (target, version) in [("someone-else", "1"), ("device", "2")] {
        let (mut client, mut rng) = client();
        client.handle(0, &mut rng, Input::Connected);
        let peer = Message::Peer {
            sender_id: PeerId::from("server"),
            selected_protocol_version: version.to_owned(),
            target_id: PeerId::from(target),
            metadata: None,
        };
        assert!(closes(&client.handle(
            1,
            &mut rng,
            Input::Received(peer.encode())
        )));
    }
}

#[test]
fn a_sync_message_from_an_impostor_or_with_a_corrupt_payload_closes_the_connection() {
    let doc_id = nimo_shared::sync::DocumentId::from_bytes([1; 16]);
    let frames = [
        Message::Sync {
            document_id: doc_id,
            sender_id: PeerId::from("impostor"),
            target_id: PeerId::from("device"),
            data: vec![],
        },
        Message::Sync {
            document_id: doc_id,
            sender_id: PeerId::from("server"),
            target_id: PeerId::from("device"),
            data: vec![0x42, 0xff, 0xff],
        },
        Message::Join {
            sender_id: PeerId::from("server"),
            supported_protocol_versions: vec![],
            metadata: None,
        },
    ];
    for frame in frames {
        let (mut client, mut rng) = client();
        client.handle(0, &mut rng, Input::Connected);
        let peer = Message::Peer {
            sender_id: PeerId::from("server"),
            selected_protocol_version: "1".to_owned(),
            target_id: PeerId::from("device"),
            metadata: None,
        };
        client.handle(1, &mut rng, Input::Received(peer.encode()));
        assert!(closes(&client.handle(
            2,
            &mut rng,
            Input::Received(frame.encode())
        )));
    }
}

#[test]
fn reconnect_delays_grow_while_attempts_fail_and_reset_after_a_handshake() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 11);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let effects = phone.client.handle(0, &mut phone.rng, Input::Connected);
        drop(effects);
        let effects = phone.client.handle(0, &mut phone.rng, Input::Disconnected);
        delays.extend(effects.iter().filter_map(|e| match e {
            Effect::ReconnectAfter(ms) => Some(*ms),
            _ => None,
        }));
    }
    assert_eq!(delays.len(), 6);
    assert!(delays[5] > delays[0] * 4, "{delays:?}");
    phone.connect(&mut server);
    phone.input(&mut server, Input::Disconnected);
    let Some(Effect::ReconnectAfter(ms)) = phone
        .effects
        .iter()
        .rev()
        .find(|e| matches!(e, Effect::ReconnectAfter(_)))
    else {
        panic!("no reconnect scheduled");
    };
    assert!(*ms <= 1_000, "back to the first delay: {ms}");
}

#[test]
fn a_lost_frame_is_recovered_by_a_resync_after_the_timeout() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 12);
    phone.connect(&mut server);
    let (doc_id, (), effects) = phone.client.create(phone.now, &mut phone.rng, |d| {
        d.transact(|tx| tx.put(ROOT, "k", 1)).expect("commits");
    });
    // The frames of this change are lost on the way.
    let kept: Vec<Effect> = effects
        .into_iter()
        .filter(|e| !matches!(e, Effect::Send(_)))
        .collect();
    phone.apply(&mut server, kept);
    assert!(server.doc(&doc_id).is_none());
    assert!(matches!(
        phone.client.status(phone.now),
        SyncStatus::Syncing { pending: 1, .. }
    ));

    let wake = phone.client.next_wakeup().expect("a resync is due");
    phone.now = wake;
    phone.input(&mut server, Input::Tick);
    assert_eq!(
        server.heads(&doc_id),
        phone.client.doc(&doc_id).expect("here").get_heads()
    );
    assert!(matches!(
        phone.client.status(phone.now),
        SyncStatus::UpToDate { .. }
    ));
    assert_eq!(phone.client.next_wakeup(), None);
}
