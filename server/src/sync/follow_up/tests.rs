use automerge::sync::SyncDoc as _;
use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, Automerge, ROOT};

use super::*;
use crate::sync::cold_read::exchange;

const DEVICE: &str = "device-1";
const SERVER: &str = "nimo-server";

fn document() -> DocumentId {
    DocumentId::from_bytes([7; 16])
}

fn stored_document() -> Automerge {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "心のサポーター養成研修")
        .expect("put");
    doc.put(ROOT, "count", 3_i64).expect("put");
    doc.document().clone()
}

/// A device with nothing, fetching `stored`: its request, and the server's answer as sync
/// frames (what samod or a cold read sends), with the heads they bring the device to.
struct Fetching {
    device: Automerge,
    state: automerge::sync::State,
    answer: Vec<Vec<u8>>,
}

impl Fetching {
    fn start(stored: Automerge, may_write: bool, follow_ups: &mut FollowUps) -> Self {
        let device = Automerge::new();
        let mut state = automerge::sync::State::new();
        let request = device
            .generate_sync_message(&mut state)
            .expect("a device with nothing asks")
            .encode();
        let messages = exchange(stored, may_write, &request)
            .expect("answered")
            .messages;
        assert_eq!(
            follow_ups.from_device(&Message::Request {
                document_id: document(),
                sender_id: PeerId::new(DEVICE),
                target_id: PeerId::new(SERVER),
                data: request,
            }),
            None
        );
        let answer = messages.into_iter().map(server_sync).collect();
        Self {
            device,
            state,
            answer,
        }
    }

    /// The server sends its answer; the device takes it and replies.
    fn deliver(&mut self, follow_ups: &mut FollowUps) -> Vec<u8> {
        for frame in self.answer.clone() {
            follow_ups.to_device(&frame);
            let Ok(Message::Sync { data, .. }) = Message::decode(&frame) else {
                panic!("a sync frame");
            };
            self.receive(&data);
        }
        self.device
            .generate_sync_message(&mut self.state)
            .expect("the device acknowledges")
            .encode()
    }

    fn receive(&mut self, data: &[u8]) {
        let message = automerge::sync::Message::decode(data).expect("decodes");
        self.device
            .receive_sync_message(&mut self.state, message)
            .expect("applies");
    }
}

fn server_sync(data: Vec<u8>) -> Vec<u8> {
    Message::Sync {
        document_id: document(),
        sender_id: PeerId::new(SERVER),
        target_id: PeerId::new(DEVICE),
        data,
    }
    .encode()
}

fn device_sync(data: Vec<u8>) -> Message {
    Message::Sync {
        document_id: document(),
        sender_id: PeerId::new(DEVICE),
        target_id: PeerId::new(SERVER),
        data,
    }
}

/// A v1 sync message with `heads`, "everything up to `last_sync`", and no changes.
fn heads_only(heads: Vec<ChangeHash>, last_sync: Vec<ChangeHash>) -> Vec<u8> {
    automerge::sync::Message {
        heads,
        need: Vec::new(),
        have: vec![Have {
            last_sync,
            bloom: BloomFilter::default(),
        }],
        changes: ChunkList::from(Vec::<Vec<u8>>::new()),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}

#[test]
fn a_fetched_document_acknowledged_exactly_gets_one_heads_only_message_the_device_leaves_unanswered()
 {
    let stored = stored_document();
    let heads = stored.get_heads();
    let mut follow_ups = FollowUps::default();
    let mut fetching = Fetching::start(stored, false, &mut follow_ups);
    let ack = fetching.deliver(&mut follow_ups);

    let frame = follow_ups
        .from_device(&device_sync(ack.clone()))
        .expect("a follow-up");
    let Ok(Message::Sync {
        document_id,
        sender_id,
        target_id,
        data,
    }) = Message::decode(&frame)
    else {
        panic!("a sync frame");
    };
    assert_eq!(document_id, document());
    assert_eq!(sender_id, PeerId::new(SERVER));
    assert_eq!(target_id, PeerId::new(DEVICE));
    let message = automerge::sync::Message::decode(&data).expect("decodes");
    assert_eq!(message.heads, heads);
    assert!(message.need.is_empty());
    assert!(message.changes.is_empty());
    assert_eq!(message.have.len(), 1);
    assert_eq!(message.have[0].last_sync, heads);
    // The read-only peer is still told it is read-only, in the version the document came in.
    let served = automerge::sync::Message::decode(&match Message::decode(&fetching.answer[0]) {
        Ok(Message::Sync { data, .. }) => data,
        _ => unreachable!(),
    })
    .expect("decodes");
    assert_eq!(message.flags, served.flags);
    assert!(
        message
            .flags
            .is_some_and(|flags| flags.contains(MessageFlags::READ_ONLY))
    );
    assert_eq!(message.version, served.version);

    // The device takes it, stays at the served heads and has nothing more to say.
    fetching.receive(&data);
    assert_eq!(fetching.device.get_heads(), heads);
    assert!(
        fetching
            .device
            .generate_sync_message(&mut fetching.state)
            .is_none()
    );
    // Once only.
    assert_eq!(follow_ups.from_device(&device_sync(ack)), None);
    assert_eq!(follow_ups.outstanding(), 0);
}

#[test]
fn a_reply_that_does_more_than_acknowledge_ends_the_fetch_without_a_follow_up() {
    let mut follow_ups = FollowUps::default();
    let mut fetching = Fetching::start(stored_document(), true, &mut follow_ups);
    fetching.deliver(&mut follow_ups);
    // The device changed the document before replying: its heads are not the served ones.
    let mut edited = AutoCommit::load(&fetching.device.save()).expect("loads");
    edited.put(ROOT, "count", 4_i64).expect("put");
    fetching.device = edited.document().clone();
    let reply = fetching
        .device
        .generate_sync_message(&mut fetching.state)
        .expect("the device sends its change")
        .encode();
    assert_eq!(follow_ups.from_device(&device_sync(reply)), None);
    assert_eq!(follow_ups.outstanding(), 0);
}

#[test]
fn a_document_the_device_did_not_request_is_never_followed_up() {
    // A live change or a reconnect: the server sends changes to a device that already had the
    // document, and the device acknowledges them.
    let stored = stored_document();
    let heads = stored.get_heads();
    let mut follow_ups = FollowUps::default();
    let mut server_state = automerge::sync::State::new();
    let data = stored
        .generate_sync_message(&mut server_state)
        .expect("a message")
        .encode();
    follow_ups.to_device(&server_sync(data));
    let ack = heads_only(heads.clone(), heads);
    assert_eq!(follow_ups.from_device(&device_sync(ack)), None);
}

#[test]
fn a_refused_fetch_is_forgotten() {
    let mut follow_ups = FollowUps::default();
    let mut fetching = Fetching::start(stored_document(), true, &mut follow_ups);
    follow_ups.to_device(
        &Message::DocUnavailable {
            sender_id: PeerId::new(SERVER),
            target_id: PeerId::new(DEVICE),
            document_id: document(),
        }
        .encode(),
    );
    assert_eq!(follow_ups.outstanding(), 0);
    // Whatever the device says next about it is not a fetch's acknowledgement.
    let ack = fetching.deliver(&mut follow_ups);
    assert_eq!(follow_ups.from_device(&device_sync(ack)), None);
}

#[test]
fn a_message_that_only_advertises_heads_does_not_serve_the_fetch() {
    let stored = stored_document();
    let heads = stored.get_heads();
    let mut follow_ups = FollowUps::default();
    let mut fetching = Fetching::start(stored, true, &mut follow_ups);
    let advert = heads_only(heads.clone(), Vec::new());
    follow_ups.to_device(&server_sync(advert));
    // An acknowledgement of those heads before any changes went out is not a fetch's.
    let early = heads_only(heads.clone(), heads);
    let mut early_follow_ups = FollowUps::default();
    early_follow_ups.from_device(&Message::Request {
        document_id: document(),
        sender_id: PeerId::new(DEVICE),
        target_id: PeerId::new(SERVER),
        data: Vec::new(),
    });
    early_follow_ups.to_device(&server_sync(early.clone()));
    assert_eq!(early_follow_ups.from_device(&device_sync(early)), None);
    // The changes that follow serve it.
    let ack = fetching.deliver(&mut follow_ups);
    assert!(follow_ups.from_device(&device_sync(ack)).is_some());
}

#[test]
fn outstanding_fetches_are_bounded() {
    let mut follow_ups = FollowUps::default();
    for index in 0..=MAX_OUTSTANDING {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
        follow_ups.from_device(&Message::Request {
            document_id: DocumentId::from_bytes(bytes),
            sender_id: PeerId::new(DEVICE),
            target_id: PeerId::new(SERVER),
            data: Vec::new(),
        });
    }
    assert_eq!(follow_ups.outstanding(), MAX_OUTSTANDING);
}
