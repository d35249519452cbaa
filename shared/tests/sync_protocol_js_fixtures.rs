//! The wire format against the real JavaScript client: frames produced by automerge-repo 2.5.6
//! (cbor-x) decode into the messages they mean, and the document inside a live capture loads
//! into Rust automerge.
//!
//! The hex was produced once by `sync_fixtures/generate_js_fixtures.mjs` (node 20, the
//! packages of `tests/package.json`): handshake frames built exactly as the websocket adapter
//! builds them, and a live capture of two JS Repos (alice has a document with `title: "hello"`,
//! bob asks for it, then asks for `automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu` which nobody has), each
//! message cbor-encoded by automerge-repo's own `helpers/cbor.js`.

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ReadDoc};
use nimo_shared::sync::{DocumentId, Message, PeerId, PeerMetadata};

/// The document of the live capture.
const LIVE_DOC_URL: &str = "automerge:3idZ9NctbkV7gUz1cEDbkSnG3zPN";
/// The document bob asked for and alice did not have.
const MISSING_DOC_URL: &str = "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu";

/// `join` with a storage id, as automerge-repo-network-websocket builds it.
const JOIN_WITH_STORAGE: &str = concat!(
    "b900046474797065646a6f696e6873656e646572496468636c69656e742d316c706565724d65746164617461b9000269",
    "73746f726167654964782433373630646633372d613463362d346636362d396563642d3733323033396139333835646b",
    "6973457068656d6572616cf47819737570706f7274656450726f746f636f6c56657273696f6e73816131",
);

/// `join` from a repo without storage: cbor-x writes the storage id as `undefined`.
const JOIN_WITHOUT_STORAGE: &str = concat!(
    "b900046474797065646a6f696e6873656e646572496468636c69656e742d316c706565724d65746164617461b9000269",
    "73746f726167654964f76b6973457068656d6572616cf57819737570706f7274656450726f746f636f6c56657273696f",
    "6e73816131",
);

/// `peer`, as automerge-repo-network-websocket's server adapter builds it.
const PEER: &str = concat!(
    "b90005647479706564706565726873656e6465724964667365727665726c706565724d65746164617461b90002697374",
    "6f726167654964782433373630646633372d613463362d346636362d396563642d3733323033396139333835646b6973",
    "457068656d6572616cf47773656c656374656450726f746f636f6c56657273696f6e613168746172676574496468636c",
    "69656e742d31",
);

/// `error`, as automerge-repo-network-websocket's server adapter builds it.
const ERROR: &str = concat!(
    "b900046474797065656572726f726873656e646572496466736572766572676d657373616765781c756e737570706f72",
    "7465642070726f746f636f6c2076657273696f6e68746172676574496468636c69656e742d31",
);

/// `ephemeral`, as automerge-repo's NetworkSubsystem sends it.
const EPHEMERAL: &str = concat!(
    "b90007647479706569657068656d6572616c68746172676574496468636c69656e742d316a646f63756d656e74496478",
    "1b4763426146465a6654624734434738734d53376241716d7a59336f64646174614bb9000166637572736f720165636f",
    "756e74036973657373696f6e49646973657373696f6e2d316873656e646572496466736572766572",
);

/// `remote-subscription-change` with `remove: undefined`.
const REMOTE_SUBSCRIPTION_CHANGE: &str = concat!(
    "b900056474797065781a72656d6f74652d737562736372697074696f6e2d6368616e6765687461726765744964667365",
    "7276657263616464816973746f726167652d616672656d6f7665f76873656e646572496468636c69656e742d31",
);

/// `remote-heads-changed`; cbor-x writes the timestamp as a float64.
const REMOTE_HEADS_CHANGED: &str = concat!(
    "b9000564747970657472656d6f74652d68656164732d6368616e67656468746172676574496468636c69656e742d316a",
    "646f63756d656e744964781b4763426146465a6654624734434738734d53376241716d7a59336f686e65774865616473",
    "b900016973746f726167652d61b900026568656164738168327739634e38684a6974696d657374616d70fb4279aaaac2",
    "67b0006873656e646572496466736572766572",
);

/// Live capture #0: bob sent `request`.
const LIVE_BOB_REQUEST: &str = concat!(
    "b900056474797065677265717565737468746172676574496465616c6963656a646f63756d656e744964781c3369645a",
    "394e6374626b563767557a31634544626b536e47337a504e64646174614a420000010000000202846873656e64657249",
    "6463626f62",
);

/// Live capture #1: alice sent `sync`.
const LIVE_ALICE_SYNC: &str = concat!(
    "b9000564747970656473796e6368746172676574496463626f62646461746158d8430128ad245be873d2b868222c9a48",
    "8c725aed2cc96e3fe9d9594f7af119fea86a2a00010005010a07010101a701856f4a83f44c7be6009c01011014255f58",
    "da3b2bd4ccf661d5cd5954500128ad245be873d2b868222c9a488c725aed2cc96e3fe9d9594f7af119fea86a2a060102",
    "030213022306400256020c010402041104130715092102230234024204560457058001027f007f017f067f849e8cd806",
    "7f007f0700010500000105010002040000017e000203017f057469746c6500050600060101057f0405017f0005166865",
    "6c6c6f0600000202846a646f63756d656e744964781c3369645a394e6374626b563767557a31634544626b536e47337a",
    "504e6873656e646572496465616c696365",
);

/// Live capture #2: bob sent `sync`.
const LIVE_BOB_SYNC: &str = concat!(
    "b9000564747970656473796e6368746172676574496465616c6963656464617461584a430128ad245be873d2b868222c",
    "9a488c725aed2cc96e3fe9d9594f7af119fea86a2a00010128ad245be873d2b868222c9a488c725aed2cc96e3fe9d959",
    "4f7af119fea86a2a00000202846a646f63756d656e744964781c3369645a394e6374626b563767557a31634544626b53",
    "6e47337a504e6873656e646572496463626f62",
);

/// Live capture #3: bob sent `request`.
const LIVE_BOB_REQUEST_MISSING: &str = concat!(
    "b900056474797065677265717565737468746172676574496465616c6963656a646f63756d656e744964781c344e4d4e",
    "6e6b4d684c386a5872644a396a616d53353850415664587564646174614a420000010000000202846873656e64657249",
    "6463626f62",
);

/// Live capture #4: alice sent `sync`.
const LIVE_ALICE_SYNC_2: &str = concat!(
    "b9000564747970656473796e6368746172676574496463626f626464617461584a430128ad245be873d2b868222c9a48",
    "8c725aed2cc96e3fe9d9594f7af119fea86a2a00010128ad245be873d2b868222c9a488c725aed2cc96e3fe9d9594f7a",
    "f119fea86a2a00000202846a646f63756d656e744964781c3369645a394e6374626b563767557a31634544626b536e47",
    "337a504e6873656e646572496465616c696365",
);

/// Live capture #5: alice sent `sync`.
const LIVE_ALICE_SYNC_3: &str = concat!(
    "b9000564747970656473796e6368746172676574496463626f6264646174615819430000010000010e856f4a83b81a95",
    "440004000000000202846a646f63756d656e744964781c344e4d4e6e6b4d684c386a5872644a396a616d533538504156",
    "6458756873656e646572496465616c696365",
);

/// Live capture #6: alice sent `doc-unavailable`.
const LIVE_ALICE_DOC_UNAVAILABLE: &str = concat!(
    "b9000464747970656f646f632d756e617661696c61626c656a646f63756d656e744964781c344e4d4e6e6b4d684c386a",
    "5872644a396a616d53353850415664587568746172676574496463626f626873656e646572496465616c696365",
);

fn decode(hex: &str) -> Message {
    let bytes = unhex(hex);
    match Message::decode(&bytes) {
        Ok(msg) => msg,
        Err(e) => panic!("fixture does not decode: {e}"),
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture is hex"))
        .collect()
}

fn doc_id(url: &str) -> DocumentId {
    DocumentId::from_url(url).expect("fixture URL is valid")
}

#[test]
fn a_js_join_with_a_storage_id_decodes_with_its_metadata() {
    assert_eq!(
        decode(JOIN_WITH_STORAGE),
        Message::Join {
            sender_id: PeerId::from("client-1"),
            supported_protocol_versions: vec!["1".to_owned()],
            metadata: Some(PeerMetadata {
                storage_id: Some("3760df37-a4c6-4f66-9ecd-732039a9385d".to_owned()),
                is_ephemeral: false,
            }),
        }
    );
}

#[test]
fn a_js_join_with_an_undefined_storage_id_decodes_as_no_storage() {
    assert_eq!(
        decode(JOIN_WITHOUT_STORAGE),
        Message::Join {
            sender_id: PeerId::from("client-1"),
            supported_protocol_versions: vec!["1".to_owned()],
            metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            }),
        }
    );
}

#[test]
fn a_js_peer_and_error_decode_ignoring_the_fields_samod_does_not_read() {
    assert_eq!(
        decode(PEER),
        Message::Peer {
            sender_id: PeerId::from("server"),
            selected_protocol_version: "1".to_owned(),
            target_id: PeerId::from("client-1"),
            metadata: Some(PeerMetadata {
                storage_id: Some("3760df37-a4c6-4f66-9ecd-732039a9385d".to_owned()),
                is_ephemeral: false,
            }),
        }
    );
    assert_eq!(
        decode(ERROR),
        Message::Error {
            message: "unsupported protocol version".to_owned()
        }
    );
}

#[test]
fn messages_the_client_does_not_use_decode_as_other_and_are_skipped_whole() {
    for (hex, kind) in [
        (EPHEMERAL, "ephemeral"),
        (REMOTE_SUBSCRIPTION_CHANGE, "remote-subscription-change"),
        (REMOTE_HEADS_CHANGED, "remote-heads-changed"),
    ] {
        assert_eq!(
            decode(hex),
            Message::Other {
                kind: kind.to_owned()
            }
        );
    }
}

#[test]
fn a_live_js_request_names_the_document_by_its_bs58check_id() {
    let Message::Request {
        document_id,
        sender_id,
        target_id,
        data,
    } = decode(LIVE_BOB_REQUEST)
    else {
        panic!("expected a request");
    };
    assert_eq!(document_id, doc_id(LIVE_DOC_URL));
    assert_eq!((sender_id.as_str(), target_id.as_str()), ("bob", "alice"));
    let msg = sync::Message::decode(&data).expect("the payload is an automerge sync message");
    assert!(msg.heads.is_empty(), "bob has nothing yet");
}

#[test]
fn the_document_inside_a_live_js_sync_loads_into_rust_automerge() {
    let mut doc = Automerge::new();
    let mut state = sync::State::new();
    for hex in [LIVE_ALICE_SYNC, LIVE_ALICE_SYNC_2] {
        let Message::Sync {
            document_id, data, ..
        } = decode(hex)
        else {
            panic!("expected a sync message");
        };
        assert_eq!(document_id, doc_id(LIVE_DOC_URL));
        let msg = sync::Message::decode(&data).expect("automerge sync message");
        doc.receive_sync_message(&mut state, msg).expect("applies");
    }
    // automerge 3 (JS) stores a string field as a Text object.
    let (_, title) = doc
        .get(automerge::ROOT, "title")
        .expect("readable")
        .expect("alice's title arrived");
    assert_eq!(doc.text(&title).expect("title is text"), "hello");
}

#[test]
fn every_live_frame_decodes_and_doc_unavailable_names_the_missing_document() {
    for hex in [
        LIVE_BOB_REQUEST,
        LIVE_ALICE_SYNC,
        LIVE_BOB_SYNC,
        LIVE_BOB_REQUEST_MISSING,
        LIVE_ALICE_SYNC_2,
        LIVE_ALICE_SYNC_3,
    ] {
        let (Message::Sync { data, .. } | Message::Request { data, .. }) = decode(hex) else {
            panic!("expected sync or request");
        };
        sync::Message::decode(&data).expect("automerge sync message");
    }
    assert_eq!(
        decode(LIVE_ALICE_DOC_UNAVAILABLE),
        Message::DocUnavailable {
            sender_id: PeerId::from("alice"),
            target_id: PeerId::from("bob"),
            document_id: doc_id(MISSING_DOC_URL),
        }
    );
}

#[test]
fn our_encoding_of_a_js_message_decodes_to_the_same_message() {
    for hex in [
        JOIN_WITH_STORAGE,
        JOIN_WITHOUT_STORAGE,
        PEER,
        LIVE_BOB_REQUEST,
        LIVE_ALICE_SYNC,
        LIVE_ALICE_DOC_UNAVAILABLE,
    ] {
        let msg = decode(hex);
        assert_eq!(Message::decode(&msg.encode()), Ok(msg));
    }
}
