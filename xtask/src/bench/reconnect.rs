//! Reconnect with nothing changed: a device that already holds every document asks nimo's
//! manifest what changed since its cursor (`GET /api/sync/manifest?since=…`) and, when nothing
//! did, opens no sync socket at all. Counted at the TCP socket: the HTTP request and response
//! bytes, and the number of messages (one request, one response, no sync frames).
//! BENCH.md's naive protocol (every document re-synced) costs ~121 B and 2 messages per document.

use std::{collections::HashSet, time::Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Ctx, Side, peer, servers::copy_tree, w3::NimoSeed};

/// Measures over W3's seeded nimo data when there is one (10,000 documents), else over
/// documents pushed here by the Rust peer (5,000; 200 in the smoke version).
pub async fn measure(ctx: &Ctx, seed: Option<&NimoSeed>) -> anyhow::Result<String> {
    let dir = ctx.fresh_dir(Side::Nimo, "reconnect")?;
    let data = dir.join("server");
    let registered = match seed {
        Some(seed) => {
            copy_tree(&seed.server_dir, &data)?;
            seed.registered.clone()
        }
        None => HashSet::new(),
    };
    let live = ctx.start(Side::Nimo, &data, registered.clone()).await?;
    let api = live.api.clone().context("nimo has an API")?;
    let outcome = async {
        if registered.is_empty() {
            let n = if ctx.quick { 200 } else { 5_000 };
            let mut peer = peer::Peer::connect(&api).await?;
            for i in 0..n {
                let mut doc = peer::Doc::new(1_000_000 + i)?;
                doc.change()?;
                api.register(&doc.id.to_string()).await?;
                peer.push(&mut doc).await?;
            }
            peer.close().await;
            // The projection records heads after each write; let it catch up.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        // The device's last sync before it went offline: everything, and the cursor.
        let (full_bytes, full) = raw_get(api.base(), api.token(), "/api/sync/manifest?since=0").await?;
        let manifest: serde_json::Value = serde_json::from_str(&full)?;
        let documents = manifest["documents"].as_array().map_or(0, Vec::len);
        let cursor = manifest["cursor"].as_i64().unwrap_or(0);
        // The reconnect.
        let started = Instant::now();
        let (bytes, body) = raw_get(api.base(), api.token(), &format!("/api/sync/manifest?since={cursor}")).await?;
        let secs = started.elapsed().as_secs_f64();
        let changed: serde_json::Value = serde_json::from_str(&body)?;
        let listed = changed["documents"].as_array().map_or(0, Vec::len);
        anyhow::Ok(format!(
            "reconnect, nothing changed, {documents} documents: {} B total ({} B up, {} B down), 2 HTTP messages, 0 sync messages, {listed} documents listed, {:.1} ms (goal ≤ 5 KB; naive protocol ≈ {} B and {} messages) | first full manifest: {} B",
            bytes.0 + bytes.1, bytes.0, bytes.1, secs * 1000.0, documents * 121, documents * 2, full_bytes.0 + full_bytes.1
        ))
    }
    .await;
    live.server.stop().await?;
    outcome
}

/// A GET over a fresh TCP connection, written and read by hand so every byte on the socket is
/// counted: ((up, down), body).
async fn raw_get(base: &str, token: &str, path: &str) -> anyhow::Result<((usize, usize), String)> {
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    // A browser-like request: the headers a real fetch would carry matter for the byte count.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\nAccept-Encoding: br, gzip\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "manifest answered {}",
        text.lines().next().unwrap_or("")
    );
    Ok(((request.len(), response.len()), body))
}
