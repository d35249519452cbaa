//! Sync messages that harm automerge 0.12: a change chunk
//! (fuzz/regressions/document_load/bundle-delta-eof) panics `receive_sync_message` (an `unwrap`
//! in hexane's bundle decoder); a bloom filter without bits
//! (fuzz/regressions/sync_message/bloom-zero-bits) panics the next `generate_sync_message`
//! (division by zero); a 51-byte bundle (fuzz/regressions/document_load/bundle-huge-run) asks
//! it for 16 GiB; a compressed change of 65 MiB of zeros is a deflate bomb of about 64 KiB; a
//! change that names an actor the document never saw (as
//! fuzz/regressions/document_load/unknown-actor does) panics applying it (an `unwrap` in
//! `import_ops`), so only the document it is sent for can tell it apart. Sent
//! by an authenticated client on the sync socket, none may take the server down: the sender's
//! connection is closed, other peers keep syncing, the document it named keeps syncing, and the
//! server answers.

use automerge::transaction::Transactable as _;
use nimo_tests::raw_sync::{RawSync, forged_next_change, fuzz_regression, sync_message_carrying};
use nimo_tests::{TestServer, TrainerWithSession};

/// A compressed change chunk (type 2) whose body inflates to 65 MiB of zeros.
fn deflate_bomb() -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0; 65 * 1024 * 1024])?;
    let body = encoder.finish()?;
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = body.len();
    while len >= 0x80 {
        chunk.push(u8::try_from(len & 0x7f)? | 0x80);
        len >>= 7;
    }
    chunk.push(u8::try_from(len)?);
    chunk.extend(body);
    Ok(chunk)
}

/// A new writer's first change to `doc`, forged so that its operation overwrites one of an actor
/// `doc` never saw. Its dependencies are `doc`'s heads, so automerge applies it at once.
fn change_naming_a_stranger(doc: &automerge::Automerge) -> automerge::Change {
    forged_next_change(&mut doc.fork())
}

/// A trainer with a session document the server has stored.
async fn stored_session(server: &TestServer) -> anyhow::Result<TrainerWithSession> {
    let session = server.trainer_with_a_session().await?;
    let heads: Vec<String> = session
        .handle
        .with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
    anyhow::ensure!(
        session
            .client
            .wait_until_stored(&session.doc_id, &heads)
            .await?
    );
    Ok(session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sync_messages_close_their_connection_and_harm_nobody_else() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let TrainerWithSession {
        client,
        peer,
        handle,
        doc_id,
    } = stored_session(&server).await?;

    let hostile = [
        sync_message_carrying(&fuzz_regression("document_load/bundle-delta-eof")?),
        fuzz_regression("sync_message/bloom-zero-bits")?,
        sync_message_carrying(&fuzz_regression("document_load/bundle-huge-run")?),
        sync_message_carrying(&deflate_bomb()?),
        sync_message_carrying(
            handle
                .with_document(|doc| change_naming_a_stranger(doc))
                .raw_bytes(),
        ),
    ];
    // Its only writer's pushes were answered cold, so the first hostile message is received by
    // a cold exchange: its panic there hands the frame to the shard's gate, which refuses it.
    anyhow::ensure!(
        !server.state.sync.cold.is_hot(&doc_id.parse()?),
        "the document is cold"
    );
    for (round, hostile) in hostile.into_iter().enumerate() {
        anyhow::ensure!(
            attack(&client, &doc_id, hostile).await?,
            "the connection that sent hostile message {round} stayed open"
        );
        handle.with_document(|doc| {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, "title", format!("研修(変更{round})"))
                .expect("local edit");
            tx.commit();
        });
        let heads: Vec<String> =
            handle.with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
        anyhow::ensure!(
            client.wait_until_stored(&doc_id, &heads).await?,
            "after hostile message {round}, the document it named no longer syncs"
        );
    }
    let other = peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "別の研修"))
        .await?;
    let other_id = other.document_id().to_string();
    client.register(&other_id, "training_session", &[]).await?;
    let other_heads: Vec<String> =
        other.with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
    anyhow::ensure!(
        client.wait_until_stored(&other_id, &other_heads).await?,
        "another document no longer syncs"
    );
    let health = reqwest::get(server.url("/healthz")).await?;
    anyhow::ensure!(health.status() == 200, "health: {}", health.status());
    server.stop().await
}

/// The forged change sent first, depending on an honest change of the forger's not sent yet:
/// automerge queues it and would apply it when that change comes, on any connection. The
/// honest change is refused instead, and the document keeps syncing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_change_that_waits_for_its_dependency_is_caught_when_it_comes()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let TrainerWithSession {
        client,
        handle,
        doc_id,
        ..
    } = stored_session(&server).await?;
    let (bait, forged) = handle.with_document(|doc| {
        let mut forger = doc.fork();
        let mut tx = forger.transaction();
        tx.put(automerge::ROOT, "venue", "公民館")
            .expect("local edit");
        tx.commit();
        let bait = forger.get_last_local_change().expect("a change");
        (bait, forged_next_change(&mut forger))
    });
    anyhow::ensure!(
        !attack(&client, &doc_id, sync_message_carrying(forged.raw_bytes())).await?,
        "the forged change alone only waits; its connection stays open"
    );
    anyhow::ensure!(
        attack(&client, &doc_id, sync_message_carrying(bait.raw_bytes())).await?,
        "the change that would let the forged one be applied was not refused"
    );
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "研修(変更後)")
            .expect("local edit");
        tx.commit();
    });
    let heads: Vec<String> =
        handle.with_document(|doc| doc.get_heads().iter().map(ToString::to_string).collect());
    anyhow::ensure!(
        client.wait_until_stored(&doc_id, &heads).await?,
        "the document no longer syncs"
    );
    server.stop().await
}

/// Sends `data` as one sync message about `doc_id` on a fresh connection of `client`'s; whether
/// the server then closes that connection.
async fn attack(
    client: &nimo_tests::ApiClient,
    doc_id: &str,
    data: Vec<u8>,
) -> anyhow::Result<bool> {
    let mut connection = RawSync::open(client).await?;
    connection.send(doc_id, data).await?;
    Ok(connection.closes().await)
}
