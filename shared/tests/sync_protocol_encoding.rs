//! The wire messages as bytes: what this client sends is pinned by snapshots (a change to the
//! bytes is a change to the protocol contract with samod), every message survives a round trip,
//! and no byte string, however hostile, makes the decoder panic.

use nimo_shared::sync::protocol::MAX_MESSAGE_BYTES;
use nimo_shared::sync::{DecodeError, DocumentId, Message, PeerId, PeerMetadata};
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn doc() -> DocumentId {
    DocumentId::from_bytes([0x11; 16])
}

#[test]
fn the_join_the_browser_sends_is_pinned() {
    let join = Message::Join {
        sender_id: PeerId::from("device-1"),
        supported_protocol_versions: vec!["1".to_owned()],
        metadata: Some(PeerMetadata {
            storage_id: None,
            is_ephemeral: false,
        }),
    };
    insta::assert_snapshot!(hex(&join.encode()));
}

#[test]
fn the_document_messages_the_browser_sends_are_pinned() {
    let sync = Message::Sync {
        document_id: doc(),
        sender_id: PeerId::from("device-1"),
        target_id: PeerId::from("server"),
        data: vec![0x42, 0x00],
    };
    let request = Message::Request {
        document_id: doc(),
        sender_id: PeerId::from("device-1"),
        target_id: PeerId::from("server"),
        data: vec![0x42, 0x00],
    };
    let unavailable = Message::DocUnavailable {
        sender_id: PeerId::from("device-1"),
        target_id: PeerId::from("server"),
        document_id: doc(),
    };
    let error = Message::Error {
        message: "undecodable frame".to_owned(),
    };
    insta::assert_snapshot!(
        [sync, request, unavailable, error]
            .iter()
            .map(|m| format!("{}: {}", m.kind(), hex(&m.encode())))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn frames_that_are_not_messages_are_refused_with_a_reason() {
    let cases: [(&[u8], &str); 6] = [
        (&[], "empty"),
        (&[0x80], "an array, not a map"),
        (&[0xbf, 0xff], "an indefinite map"),
        (&[0xa1, 0x64, b'd', b'a', b't', b'a', 0x40], "no type"),
        (
            &[
                0xa1, 0x64, b't', b'y', b'p', b'e', 0x64, b's', b'y', b'n', b'c',
            ],
            "sync without fields",
        ),
        (
            &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "2^64 entries",
        ),
    ];
    for (frame, why) in cases {
        assert!(Message::decode(frame).is_err(), "{why} was accepted");
    }
    let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        Message::decode(&huge),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn a_document_id_with_a_bad_checksum_is_refused() {
    let mut frame = Message::DocUnavailable {
        sender_id: PeerId::from("a"),
        target_id: PeerId::from("b"),
        document_id: doc(),
    }
    .encode();
    let last = frame.len() - 1;
    frame[last] = if frame[last] == b'2' { b'3' } else { b'2' };
    assert!(matches!(
        Message::decode(&frame),
        Err(DecodeError::BadDocumentId(_))
    ));
}

fn peer_id() -> impl Strategy<Value = PeerId> {
    "[a-z0-9-]{0,24}".prop_map(PeerId::from)
}

fn message() -> impl Strategy<Value = Message> {
    let doc_id = any::<[u8; 16]>().prop_map(DocumentId::from_bytes);
    let data = proptest::collection::vec(any::<u8>(), 0..300);
    let metadata = proptest::option::of(
        (proptest::option::of("[a-f0-9-]{1,36}"), any::<bool>()).prop_map(
            |(storage_id, is_ephemeral)| PeerMetadata {
                storage_id,
                is_ephemeral,
            },
        ),
    );
    prop_oneof![
        (
            peer_id(),
            proptest::collection::vec("[0-9]{1,3}", 0..4),
            metadata.clone()
        )
            .prop_map(
                |(sender_id, supported_protocol_versions, metadata)| Message::Join {
                    sender_id,
                    supported_protocol_versions,
                    metadata,
                }
            ),
        (peer_id(), "[0-9]{1,3}", peer_id(), metadata).prop_map(
            |(sender_id, selected_protocol_version, target_id, metadata)| Message::Peer {
                sender_id,
                selected_protocol_version,
                target_id,
                metadata,
            }
        ),
        peer_id().prop_map(|sender_id| Message::Leave { sender_id }),
        ".{0,80}".prop_map(|message| Message::Error { message }),
        (doc_id.clone(), peer_id(), peer_id(), data.clone()).prop_map(
            |(document_id, sender_id, target_id, data)| Message::Request {
                document_id,
                sender_id,
                target_id,
                data,
            }
        ),
        (doc_id.clone(), peer_id(), peer_id(), data).prop_map(
            |(document_id, sender_id, target_id, data)| Message::Sync {
                document_id,
                sender_id,
                target_id,
                data,
            }
        ),
        (doc_id, peer_id(), peer_id()).prop_map(|(document_id, sender_id, target_id)| {
            Message::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            }
        }),
        "(ephemeral|remote-heads-changed|future-[a-z]{1,8})"
            .prop_map(|kind| Message::Other { kind }),
    ]
}

proptest! {
    #[test]
    fn every_message_survives_an_encode_decode_round_trip(msg in message()) {
        prop_assert_eq!(Message::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(frame in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::decode(&frame);
    }

    #[test]
    fn a_corrupted_message_never_panics_the_decoder(
        msg in message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = msg.encode();
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let keep = cut.index(frame.len() + 1);
        frame.truncate(keep);
        let _ = Message::decode(&frame);
    }
}
