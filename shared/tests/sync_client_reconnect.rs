//! Stories of one device and the server: a record travels up, is confirmed stored, and a
//! reconnect with nothing changed costs no sync message at all (DESIGN.md decision 3).

mod sync_support;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use nimo_shared::sync::{DocStatus, Effect, Input, SyncStatus};
use sync_support::RelayServer;
use sync_support::wired::Device;

fn put(doc: &mut automerge::Automerge, key: &str, value: i64) {
    doc.transact(|tx| tx.put(ROOT, key, value))
        .expect("transaction commits");
}

#[test]
fn a_record_made_offline_is_only_here_then_sent_then_stored() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 1);
    let (doc_id, (), effects) = phone
        .client
        .create(phone.now, &mut phone.rng, |doc| put(doc, "visits", 1));
    phone.apply(&mut server, effects);
    assert_eq!(phone.client.doc_status(&doc_id), Some(DocStatus::OnlyHere));
    assert_eq!(phone.client.unconfirmed_docs(), vec![doc_id]);

    phone.connect(&mut server);
    assert_eq!(
        server.heads(&doc_id),
        phone.client.doc(&doc_id).expect("here").get_heads()
    );
    assert_eq!(phone.client.doc_status(&doc_id), Some(DocStatus::Sent));
    assert!(matches!(
        phone.client.status(phone.now),
        SyncStatus::UpToDate { .. }
    ));
    assert_eq!(
        phone.client.unconfirmed_docs(),
        vec![doc_id],
        "sent is not stored"
    );

    let heads = server.heads(&doc_id);
    phone.input(
        &mut server,
        Input::Confirmed {
            doc_id,
            heads: heads.clone(),
        },
    );
    assert_eq!(phone.client.doc_status(&doc_id), Some(DocStatus::Stored));
    assert!(phone.client.unconfirmed_docs().is_empty());
    assert!(
        phone
            .effects
            .contains(&Effect::RememberConfirmed { doc_id, heads })
    );
}

#[test]
fn a_confirmation_of_older_heads_does_not_store_a_newer_change() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 2);
    phone.connect(&mut server);
    let (doc_id, (), effects) = phone
        .client
        .create(phone.now, &mut phone.rng, |d| put(d, "a", 1));
    phone.apply(&mut server, effects);
    let old_heads = server.heads(&doc_id);
    let (_, effects) = phone
        .client
        .change(phone.now, doc_id, |d| put(d, "a", 2))
        .expect("doc exists");
    phone.apply(&mut server, effects);
    phone.input(
        &mut server,
        Input::Confirmed {
            doc_id,
            heads: old_heads,
        },
    );
    assert_eq!(phone.client.doc_status(&doc_id), Some(DocStatus::Sent));
    assert_eq!(phone.client.unconfirmed_docs(), vec![doc_id]);
}

#[test]
fn a_reconnect_with_nothing_changed_sends_no_sync_message() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 3);
    phone.connect(&mut server);
    for i in 0..5 {
        let (_, (), effects) = phone
            .client
            .create(phone.now, &mut phone.rng, |d| put(d, "n", i));
        phone.apply(&mut server, effects);
    }
    phone.input(&mut server, Input::Disconnected);
    server.disconnect(phone.conn);

    let mark = phone.sent.len();
    phone.connect(&mut server);
    let manifest = server.manifest();
    phone.input(&mut server, Input::Manifest(manifest));
    assert_eq!(phone.doc_frames_since(mark), 0);
    assert!(matches!(
        phone.client.status(phone.now),
        SyncStatus::UpToDate { .. }
    ));
}

#[test]
fn a_reconnect_syncs_only_the_documents_that_changed_on_either_side() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 4);
    let mut tablet = Device::new("tablet", 5);
    phone.connect(&mut server);
    let mut ids = Vec::new();
    for i in 0..4 {
        let (id, (), effects) = phone
            .client
            .create(phone.now, &mut phone.rng, |d| put(d, "n", i));
        phone.apply(&mut server, effects);
        ids.push(id);
    }
    phone.input(&mut server, Input::Disconnected);
    server.disconnect(phone.conn);

    // While the phone is away, the tablet changes one record and the phone another.
    tablet.connect(&mut server);
    let manifest = server.manifest();
    tablet.input(&mut server, Input::Manifest(manifest));
    let (_, effects) = tablet
        .client
        .change(tablet.now, ids[0], |d| put(d, "t", 1))
        .expect("synced");
    tablet.apply(&mut server, effects);
    let (_, effects) = phone
        .client
        .change(phone.now, ids[1], |d| put(d, "p", 1))
        .expect("here");
    phone.apply(&mut server, effects);

    let mark = phone.sent.len();
    phone.connect(&mut server);
    let manifest = server.manifest();
    phone.input(&mut server, Input::Manifest(manifest));
    let touched: std::collections::BTreeSet<_> = phone.sent[mark..]
        .iter()
        .filter_map(|m| match m {
            nimo_shared::sync::Message::Sync { document_id, .. } => Some(*document_id),
            _ => None,
        })
        .collect();
    assert_eq!(touched, [ids[0], ids[1]].into_iter().collect());
    for id in &ids {
        assert_eq!(
            phone.client.doc(id).expect("here").get_heads(),
            server.heads(id)
        );
    }
    let doc = phone.client.doc(&ids[0]).expect("here");
    assert!(
        doc.get(ROOT, "t").expect("readable").is_some(),
        "the tablet's change arrived"
    );
}

#[test]
fn a_document_listed_in_the_manifest_is_requested_and_persisted() {
    let mut server = RelayServer::new();
    let mut office = Device::new("office", 6);
    office.connect(&mut server);
    let (doc_id, (), effects) = office
        .client
        .create(office.now, &mut office.rng, |d| put(d, "x", 7));
    office.apply(&mut server, effects);

    let mut phone = Device::new("phone", 7);
    phone.connect(&mut server);
    let manifest = server.manifest();
    phone.input(&mut server, Input::Manifest(manifest));
    assert!(
        phone
            .sent
            .iter()
            .any(|m| matches!(m, nimo_shared::sync::Message::Request { .. }))
    );
    assert_eq!(
        phone.client.doc(&doc_id).expect("arrived").get_heads(),
        server.heads(&doc_id)
    );
    assert!(phone.effects.contains(&Effect::DocChanged(doc_id)));
    assert!(!phone.storage.is_empty(), "what was received is persisted");
    assert_eq!(phone.client.doc_status(&doc_id), Some(DocStatus::Stored));
}

#[test]
fn a_document_the_server_lacks_is_marked_unavailable() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 8);
    phone.connect(&mut server);
    let doc_id = nimo_shared::sync::DocumentId::from_bytes([5; 16]);
    phone.input(&mut server, Input::Want(doc_id));
    assert!(phone.client.is_unavailable(&doc_id));
    assert!(phone.client.doc(&doc_id).is_none());
    assert!(phone.effects.contains(&Effect::DocUnavailable(doc_id)));
    assert!(matches!(
        phone.client.status(phone.now),
        SyncStatus::UpToDate { .. }
    ));
}

/// A restarted app (all state rebuilt from storage) that reconnects with a manifest cursor gets
/// an empty manifest when nothing changed; documents whose confirmed heads are their heads must
/// then cost no exchange at all.
#[test]
fn a_restart_with_everything_confirmed_and_an_empty_manifest_sends_no_sync_message() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 5);
    phone.connect(&mut server);
    let mut ids = Vec::new();
    for i in 0..3 {
        let (doc_id, (), effects) = phone
            .client
            .create(phone.now, &mut phone.rng, |d| put(d, "n", i));
        phone.apply(&mut server, effects);
        ids.push(doc_id);
    }
    let confirmed: Vec<_> = ids.iter().map(|id| (*id, server.heads(id))).collect();
    let storage = phone.storage.clone();
    server.disconnect(phone.conn);

    let mut restarted = Device::new("phone", 6);
    for (doc_id, heads) in &confirmed {
        let chunks = storage
            .iter()
            .filter(|(key, _)| key.doc_id == *doc_id)
            .map(|(key, bytes)| (key.clone(), bytes.clone()))
            .collect();
        restarted.input(
            &mut server,
            Input::Load {
                doc_id: *doc_id,
                chunks,
                confirmed_heads: Some(heads.clone()),
            },
        );
        assert_eq!(restarted.client.doc_status(doc_id), Some(DocStatus::Stored));
    }
    let mark = restarted.sent.len();
    restarted.connect(&mut server);
    restarted.input(&mut server, Input::Manifest(Vec::new()));
    assert_eq!(restarted.doc_frames_since(mark), 0);

    // A document changed on the server since the cursor is listed, and only it is synced.
    let manifest: Vec<_> = server
        .manifest()
        .into_iter()
        .filter(|entry| entry.doc_id == ids[0])
        .collect();
    let mark = restarted.sent.len();
    restarted.input(&mut server, Input::Manifest(manifest));
    assert_eq!(
        restarted.doc_frames_since(mark),
        0,
        "same heads: nothing to do"
    );
}

#[test]
fn the_peer_id_changes_only_between_connections() {
    let mut server = RelayServer::new();
    let mut phone = Device::new("phone", 7);
    phone
        .client
        .set_peer_id(nimo_shared::sync::PeerId::from("ticket-peer"))
        .expect("offline: allowed");
    assert_eq!(phone.client.peer_id().as_str(), "ticket-peer");
    phone.connect(&mut server);
    assert!(
        phone
            .client
            .set_peer_id(nimo_shared::sync::PeerId::from("other"))
            .is_err(),
        "connected: refused"
    );
    phone.input(&mut server, Input::Disconnected);
    phone
        .client
        .set_peer_id(nimo_shared::sync::PeerId::from("next-ticket"))
        .expect("offline again: allowed");
}
