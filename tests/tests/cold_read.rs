//! Documents no shard has loaded are read straight from SQLite (`nimo_server::sync::cold_read`):
//! the device gets the document, a peer without access gets `doc-unavailable`, and a device
//! that read a document cold still hears of later changes live, without reconnecting, also when
//! several devices wrote the same cold document offline.

use std::time::Duration;

use anyhow::Context as _;

use nimo_shared::{
    AttendeeId, Timestamp,
    records::roster,
    sync::{DocStatus, DocumentId},
};
use nimo_tests::{TestServer, native_client::Device};

const WAIT: Duration = Duration::from_secs(15);

fn at() -> Timestamp {
    Timestamp::from_unix_millis(1_748_739_600_000)
}

/// Someone checked in on `doc` (a session): attendee `n`.
fn check_in(doc: &mut automerge::Automerge, n: u8) -> anyhow::Result<()> {
    let person = nimo_tests::sample::person(n);
    roster::add_attendee(doc, AttendeeId::from_random_bytes([n; 16]), person, at())
        .map_err(anyhow::Error::from)
}

/// A session created on `phone`, registered by `api`'s user and stored on the server: its id
/// and the heads stored.
async fn stored_session(
    api: &nimo_tests::ApiClient,
    phone: &Device,
) -> anyhow::Result<(DocumentId, Vec<automerge::ChangeHash>)> {
    let doc_id = phone
        .create(nimo_tests::sample::onagawa_document(
            "女川町まちなか交流館",
            40,
            7,
            at(),
        )?)
        .await?;
    api.register(&doc_id.to_string(), "training_session", &[])
        .await?;
    phone.sync_now(doc_id).await?;
    let stored = phone
        .wait_for("the session stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?
        .docs[&doc_id]
        .heads
        .clone();
    Ok((doc_id, stored))
}

/// A record made on a device reaches the server as the device's first push: nobody holds the
/// document, so the push is answered cold (samod never loads it) and stored as one snapshot,
/// and a colleague's device then reads it from that snapshot.
#[tokio::test]
async fn a_new_record_is_stored_cold_as_one_snapshot_and_read_by_a_colleague() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let (doc_id, mut stored) = stored_session(&api, &phone).await?;
    stored.sort_unstable();
    assert!(
        !server.state.sync.cold.is_hot(&doc_id),
        "samod never loaded it"
    );
    let chunks = server
        .state
        .sync
        .store
        .document_chunks(&doc_id.to_string())
        .await?;
    assert_eq!(
        (chunks.snapshots.len(), chunks.incrementals.len()),
        (1, 0),
        "one snapshot"
    );
    let (document, whole) = chunks.load_checked(&doc_id.to_string());
    assert!(whole);
    assert_eq!(document.get_heads(), stored);

    let colleague = server.trainer("colleague", "女川").await?;
    let tablet = Device::new_for(&colleague, 2);
    tablet
        .wait_for("the session on the tablet", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|view| {
                let mut heads = view.heads.clone();
                heads.sort_unstable();
                heads == stored
            })
        })
        .await?;
    assert!(!server.state.sync.cold.is_hot(&doc_id));
    server.stop().await
}

#[tokio::test]
async fn a_document_read_cold_brings_later_changes_live_and_is_refused_to_outsiders()
-> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let (doc_id, stored) = stored_session(&api, &phone).await?;

    // A restart: no shard holds the document any more.
    server.stop_serving().await?;
    server.serve_again().await?;
    phone
        .wait_for("the phone back", WAIT, |o| {
            o.connections.len() >= 2 && o.up_to_date()
        })
        .await?;
    assert!(!server.state.sync.cold.is_hot(&doc_id));

    // The colleague's tablet finds the session in the manifest and asks for it.
    let colleague = server.trainer("colleague", "女川").await?;
    let tablet = Device::new_for(&colleague, 2);
    tablet
        .wait_for("the session on the tablet", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|view| view.heads == stored)
        })
        .await?;
    assert_eq!(
        server.state.sync.cold.served(),
        1,
        "read from SQLite, not from samod"
    );
    assert!(!server.state.sync.cold.is_hot(&doc_id));

    // An outsider asking for it by id is refused from the cold path too.
    let outsider = server.trainer("outsider", "石巻").await?;
    let other = Device::new_for(&outsider, 3);
    other.want(doc_id)?;
    other
        .wait_for("the outsider refused", WAIT, |o| {
            o.docs.get(&doc_id).is_some_and(|view| view.unavailable)
        })
        .await?;
    assert!(other.storage().doc_ids().is_empty());
    assert_eq!(server.state.sync.cold.served(), 1);

    // The phone checks someone in: the document turns hot, samod learns that the tablet holds
    // it, and the tablet receives the change on the connection it already has.
    let tablet_connections = tablet.observed().connections.len();
    phone.change(doc_id, |doc| check_in(doc, 1)).await??;
    let changed = phone
        .wait_for("the check-in stored", WAIT, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?
        .docs[&doc_id]
        .heads
        .clone();
    assert_ne!(changed, stored);
    tablet
        .wait_for("the check-in on the tablet", WAIT, |o| {
            o.docs
                .get(&doc_id)
                .is_some_and(|view| view.heads == changed)
        })
        .await?;
    assert!(server.state.sync.cold.is_hot(&doc_id));
    assert_eq!(
        tablet.observed().connections.len(),
        tablet_connections,
        "live, not through a reconnect"
    );
    server.stop().await
}

/// Three phones hold a session, each checks someone in while the server is down, and all three
/// reconnect (each after its own back-off) to a server that has loaded nothing: their writes
/// reach a cold document. Each phone must end with all three check-ins on the connection it
/// opened after the restart. (Whether two exchanges overlap here is up to timing; the unit
/// tests of `cold_read` force the overlap that lost a live update once.)
#[tokio::test]
async fn phones_that_wrote_one_cold_document_offline_each_end_with_every_write_live()
-> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let mut phones = vec![Device::new_for(&api, 1)];
    let (doc_id, stored) = stored_session(&api, &phones[0]).await?;
    // The trainer's other two phones (each its own login, so its own device) find the session
    // in the manifest.
    for seed in 2..=3 {
        phones.push(Device::new_for(&server.api_client("trainer").await?, seed));
    }
    for phone in &phones[1..] {
        phone
            .wait_for("the session on every phone", WAIT, |o| {
                o.docs.get(&doc_id).is_some_and(|view| view.heads == stored)
            })
            .await?;
    }

    server.stop_serving().await?;
    for (n, phone) in (1..).zip(&phones) {
        phone.change(doc_id, move |doc| check_in(doc, n)).await??;
    }
    server.serve_again().await?;

    let mut converged = Vec::new();
    for phone in &phones {
        let seen = phone
            .wait_for("every check-in on every phone", WAIT, |o| {
                o.docs
                    .get(&doc_id)
                    .is_some_and(|view| view.heads.len() == 3)
            })
            .await?;
        assert_eq!(
            seen.connections.len(),
            2,
            "one connection before the restart and one after: live, not through a reconnect"
        );
        converged.push(seen.docs[&doc_id].heads.clone());
    }
    assert!(
        converged.windows(2).all(|pair| pair[0] == pair[1]),
        "the same three concurrent check-ins everywhere: {converged:?}"
    );
    assert!(
        server.state.sync.cold.served() >= 1,
        "the first write reached a cold document and was exchanged beside samod"
    );
    server.stop().await
}

/// A document only ever written cold (its one device syncs it once after each restart, nobody
/// else reads it) does not grow a chunk per change for good: once it is stored as more than
/// `COMPACT_ABOVE` chunks, a write stores it as one snapshot that replaces them, and the
/// document read back from storage still has every change. (A second write within one run of
/// the server goes to samod, which compacts what it holds.)
#[tokio::test]
async fn a_document_written_only_cold_is_compacted_and_keeps_every_change() -> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let api = server.trainer("trainer", "女川").await?;
    let phone = Device::new_for(&api, 1);
    let (doc_id, _) = stored_session(&api, &phone).await?;

    let writes = nimo_server::sync::cold_read::COMPACT_ABOVE + 2;
    let mut heads = Vec::new();
    for n in 1..=writes {
        server.stop_serving().await?;
        server.serve_again().await?;
        let n = u8::try_from(n)?;
        phone.change(doc_id, move |doc| check_in(doc, n)).await??;
        let expected = phone
            .read(doc_id, |doc| doc.get_heads())
            .await?
            .context("the phone has the session")?;
        phone
            .wait_for("the check-in stored", WAIT, |o| {
                o.docs.get(&doc_id).is_some_and(|view| {
                    view.heads == expected && view.status == Some(DocStatus::Stored)
                })
            })
            .await?;
        assert!(
            !server.state.sync.cold.is_hot(&doc_id),
            "write {n} was exchanged cold"
        );
        heads = expected;
    }

    let store = &server.state.sync.store;
    let chunks = store.document_chunks(&doc_id.to_string()).await?;
    assert!(
        chunks.keys.len() <= nimo_server::sync::cold_read::COMPACT_ABOVE + 1,
        "{} chunks after {writes} cold writes",
        chunks.keys.len()
    );
    assert!(!chunks.snapshots.is_empty(), "compacted into a snapshot");
    let (stored, whole) = chunks.load_checked(&doc_id.to_string());
    assert!(whole);
    assert_eq!(stored.get_heads(), heads, "every change is still stored");
    server.stop().await
}
