//! Interop with the official JavaScript automerge-repo client (2.5.6, pinned by
//! tests/package-lock.json): it syncs a training session in nimo's schema to nimo's server, and
//! reads one back that a Rust peer wrote. Needs `npm ci` in tests/ (`cargo xtask test` does it).

use std::{path::PathBuf, process::Command};

use automerge::Automerge;
use nimo_server::accounts::Role;
use nimo_shared::{
    AttendeeId, DeviceId, Timestamp, doc,
    records::{roster, training::*},
};
use nimo_tests::{ApiClient, TestServer, samod_peer, typed_tree::typed_tree};

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the JavaScript peer and returns its JSON answer; fails loudly when Node or the npm
/// packages are missing, so the interop proof is never skipped silently.
fn js_peer(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let dir = tests_dir();
    anyhow::ensure!(
        dir.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript automerge-repo client is not installed: run `cargo xtask test`, or \
         `npm ci` in {}",
        dir.display()
    );
    let output = Command::new("node")
        .arg(dir.join("interop/automerge-repo-peer.mjs"))
        .args(args)
        .current_dir(&dir)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "the JavaScript peer failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn session_with_roster() -> anyhow::Result<(TrainingSession, Automerge)> {
    let at: Timestamp = "2025-11-03T13:30:00+09:00".parse()?;
    let session = TrainingSession {
        course: TrainingKind::KokoroSupporter,
        audience: Some(Audience::Company),
        scope: None,
        host: Host::Prefecture,
        date: "2025-11-03".parse()?,
        start: "13:30".parse()?,
        end: "15:30".parse()?,
        venue: "七ヶ宿町公民館".into(),
        venue_municipality: "七ヶ宿町".parse()?,
        trainers: ["保健師 一".to_owned(), "保健師 二".to_owned()].into(),
        capacity: 60,
        roster: Default::default(),
    };
    let mut document = doc::create(
        &session,
        DeviceId::from_random_bytes([3; 16]).actor_id(),
        at,
    )?;
    let id = AttendeeId::from_random_bytes([9; 16]);
    let person = Person {
        name: "蔵王 太郎".into(),
        kana: "ざおう たろう".into(),
        affiliation: Affiliation::Company,
        residence: None,
        workplace: Some("白石市".parse()?),
        birth_year: Some(1975),
    };
    roster::add_attendee(&mut document, id, person, at)?;
    roster::check_in(&mut document, id, at, &"trainer-1".parse()?)?;
    roster::mark_completed(&mut document, id, true, at)?;
    let expected = doc::hydrate(&document)?;
    Ok((expected, document))
}

async fn trainer(server: &TestServer) -> anyhow::Result<ApiClient> {
    server
        .add_user("trainer", Role::Trainer, Some("仙南"), false)
        .await?;
    server.api_client("trainer").await
}

#[tokio::test]
async fn the_javascript_client_syncs_a_session_in_our_schema_to_our_server() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = trainer(&server).await?;
    let (expected, document) = session_with_roster()?;
    let tree_file = tempfile::NamedTempFile::new()?;
    std::fs::write(
        tree_file.path(),
        serde_json::to_vec(&typed_tree(&document))?,
    )?;
    let token = client.token().to_owned();
    let base = server.url("");
    let path = tree_file.path().to_string_lossy().into_owned();
    let pushed = tokio::task::spawn_blocking(move || {
        js_peer(&["push", &base, &token, "training_session", &path])
    })
    .await??;
    let doc_id = pushed["id"].as_str().expect("an id").to_owned();

    // What the server stored, read back from SQLite, hydrates to the same record.
    let stored = server
        .state
        .sync
        .store
        .load_document(&doc_id)
        .await?
        .expect("stored");
    // Same structure and same scalar types, value for value.
    assert_eq!(typed_tree(&stored), typed_tree(&document));
    let hydrated: TrainingSession = doc::hydrate(&stored)?;
    assert_eq!(hydrated, expected);

    // A fresh Rust peer reads it through the server.
    let reader = samod_peer(&client).await?;
    reader.connect().await?;
    let handle = reader.find(&doc_id).await?.expect("the session is served");
    let read: TrainingSession = handle.with_document(|d| doc::hydrate(d).map_err(Box::new))?;
    assert_eq!(read, expected);
    server.stop().await
}

#[tokio::test]
async fn the_javascript_client_reads_a_session_a_rust_peer_wrote() -> anyhow::Result<()> {
    let mut server = TestServer::start().await?;
    let client = trainer(&server).await?;
    let (expected, document) = session_with_roster()?;
    let heads: Vec<String> = document
        .get_heads()
        .iter()
        .map(ToString::to_string)
        .collect();
    let writer = samod_peer(&client).await?;
    let handle = writer.create_doc(document).await?;
    let doc_id = handle.document_id().to_string();
    client.register(&doc_id, "training_session", &[]).await?;
    writer.connect().await?;
    assert!(
        client.wait_until_stored(&doc_id, &heads).await?,
        "the server confirms the Rust peer's session"
    );

    let fetch = |server: &TestServer| {
        let token = client.token().to_owned();
        let base = server.url("");
        let id = doc_id.clone();
        tokio::task::spawn_blocking(move || js_peer(&["fetch", &base, &token, &id]))
    };
    let read_back = |fetched: serde_json::Value| -> anyhow::Result<TrainingSession> {
        assert_eq!(fetched["heads"], serde_json::json!(heads));
        // The document came with changes, and the server then said its heads once more with
        // none (`nimo_server::sync::follow_up`), as the JavaScript reference server does:
        // without it the JavaScript client keeps the fetch's patch and slows as it fetches more.
        let received = fetched["received"]
            .as_array()
            .expect("the messages received");
        assert!(
            received.iter().any(|m| m["changes"].as_u64() > Some(0)),
            "the document arrived: {received:?}"
        );
        assert_eq!(
            received.last(),
            Some(&serde_json::json!({ "heads": heads, "changes": 0 })),
            "the heads-only follow-up came last: {received:?}"
        );
        let bytes = base64_decode(fetched["save"].as_str().expect("saved bytes"))?;
        Ok(doc::hydrate(&Automerge::load(&bytes)?)?)
    };
    // The writer's push was answered cold (nobody else held the document). Once a message
    // about it has reached its shard, samod answers, and the official client reads the session
    // from samod.
    server
        .state
        .sync
        .cold
        .mark_hot(doc_id.parse().expect("a document id"));
    let served = server.state.sync.cold.served();
    assert_eq!(read_back(fetch(&server).await??)?, expected);
    assert_eq!(server.state.sync.cold.served(), served, "samod served it");

    // After a restart no shard has it loaded: the server answers from SQLite, and the official
    // client reads the same session.
    drop(writer);
    server.stop_serving().await?;
    server.serve_again().await?;
    let served = server.state.sync.cold.served();
    assert_eq!(read_back(fetch(&server).await??)?, expected);
    assert_eq!(server.state.sync.cold.served(), served + 1, "read cold");
    server.stop().await
}

fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET
            .iter()
            .position(|c| *c == byte)
            .ok_or_else(|| anyhow::anyhow!("not base64: {byte}"))?;
        buffer = (buffer << 6) | u32::try_from(value)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff)?);
        }
    }
    Ok(out)
}
