//! A panic in the server is one event in its log, in the log's format, not raw text on stderr
//! beside it: automerge 0.12 panics on some hostile sync messages, which the server catches and
//! refuses (`hostile_sync_message.rs`), and whoever reads the log must find where, with the
//! rest. The real binary runs here, as in production: the hook is installed by its `main`.

use automerge::transaction::Transactable as _;
use nimo_tests::raw_sync::{RawSync, forged_next_change, sync_message_carrying};
use nimo_tests::server_process::{ServerProcess, add_trainer, minimal_dist, server_binary};
use nimo_tests::{ApiClient, PASSWORD, hex_heads, samod_peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_panic_is_one_event_in_the_servers_log() -> anyhow::Result<()> {
    let binary = server_binary()?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let dist = minimal_dist(dir.path())?;
    let log = dir.path().join("server.log");
    add_trainer(&binary, &data, "trainer", "女川", PASSWORD).await?;
    let server = ServerProcess::start(&binary, &data, &dist, &log).await?;

    let client = ApiClient::login(&server.base, "trainer", PASSWORD).await?;
    let peer = samod_peer(&client).await?;
    let handle = peer
        .create_with(|tx| tx.put(automerge::ROOT, "title", "研修"))
        .await?;
    let doc_id = handle.document_id().to_string();
    client.register(&doc_id, "training_session", &[]).await?;
    peer.connect().await?;
    anyhow::ensure!(
        client
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?
    );
    let forged = handle.with_document(|doc| forged_next_change(&mut doc.fork()));
    // After a restart nothing has written the document yet, so a message about it goes to a
    // cold exchange first.
    server.kill().await?;
    let server = ServerProcess::start(&binary, &data, &dist, &log).await?;
    let client = ApiClient::login(&server.base, "trainer", PASSWORD).await?;
    // A change naming an actor the document never saw panics automerge applying it (an
    // `unwrap` in `import_ops`): the cold exchange catches that, and the gate in front of the
    // shard refuses the message and closes its connection.
    let hostile = sync_message_carrying(forged.raw_bytes());
    let mut attacker = RawSync::open(&client).await?;
    attacker.send(&doc_id, hostile).await?;
    anyhow::ensure!(attacker.closes().await, "the hostile message was refused");
    server.kill().await?;

    let logged = without_colours(&std::fs::read_to_string(&log)?);
    let panics: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains("panicked"))
        .collect();
    anyhow::ensure!(!panics.is_empty(), "the panic was logged: {logged}");
    for line in &panics {
        anyhow::ensure!(
            line.contains("ERROR") && line.contains("location=") && line.contains("thread="),
            "a panic logged as an event with where it happened, not as raw text: {line}"
        );
    }
    anyhow::ensure!(
        !logged
            .lines()
            .any(|line| line.starts_with("note: run with")),
        "nothing of the default panic message: {logged}"
    );
    Ok(())
}

/// `text` without the terminal colour codes of the log's pretty format.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
