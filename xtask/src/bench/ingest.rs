//! Durable ingest: changes per second nimo takes in and stores (each an Automerge change in its
//! own sync message, acknowledged, then confirmed durable by `POST /api/sync/confirm`), against
//! raw SQLite inserts of rows of the same size, one transaction each, WAL with
//! `synchronous = FULL` (nimo's settings), in a database on the same disk.

use std::{collections::HashSet, time::Instant};

use anyhow::Context as _;
use serde_json::json;

use super::{Ctx, Side, peer};

/// Concurrent devices pushing.
const DEVICES: usize = 8;

/// Measures both and returns the line.
pub async fn measure(ctx: &Ctx) -> anyhow::Result<String> {
    let per_device = if ctx.quick { 25 } else { 250 };
    let dir = ctx.fresh_dir(Side::Nimo, "ingest")?;
    let live = ctx
        .start(Side::Nimo, &dir.join("server"), HashSet::new())
        .await?;
    let api = live.api.clone().context("nimo has an API")?;
    let before = live.server.sample();
    let outcome = async {
        let mut devices = Vec::new();
        for d in 0..DEVICES {
            let mut doc = peer::Doc::new(d as u64)?;
            api.register(&doc.id.to_string()).await?;
            let mut peer = peer::Peer::connect(&api).await?;
            peer.push(&mut doc).await?;
            devices.push((peer, doc));
        }
        // Confirm the initial documents so only the timed changes remain.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (mut peer, mut doc) in devices {
            tasks.push(tokio::spawn(async move {
                // Nothing else in the timed loop: the clients share the machine's two cores
                // with the server (a whole `save()` before and after each push used to be here,
                // for a byte count nobody read).
                for _ in 0..per_device {
                    doc.change()?;
                    peer.push(&mut doc).await?;
                }
                peer.close().await;
                anyhow::Ok(doc)
            }));
        }
        let mut docs = Vec::new();
        for task in tasks {
            docs.push(task.await??);
        }
        // Durable: every head confirmed by the database.
        let body = json!({ "documents": docs.iter_mut().map(|d| json!({
            "id": d.id.to_string(),
            "heads": d.doc.get_heads().iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>() });
        loop {
            let answer = api.post_json("/api/sync/confirm", &body).await?;
            if answer["missing"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            anyhow::ensure!(
                started.elapsed().as_secs() < 120,
                "changes not confirmed within 120 s: {answer}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        anyhow::Ok(started.elapsed().as_secs_f64())
    }
    .await;
    let after = live.server.sample();
    live.server.stop().await?;
    let secs = outcome?;
    let changes = (DEVICES * per_device) as f64;
    let nimo_rate = changes / secs;
    // A change's sync message carries ~150 bytes; the raw rows are that size.
    let raw_rate = tokio::task::spawn_blocking({
        let path = dir.join("raw.sqlite3");
        let n = DEVICES * per_device;
        move || raw_sqlite(&path, n, 150)
    })
    .await??;
    Ok(format!(
        "ingest: nimo {nimo_rate:.0} changes/s durable ({DEVICES} devices × {per_device} one-change sync messages, acked then confirmed; server CPU {:.2} s) | raw SQLite {raw_rate:.0} inserts/s (one row per transaction, WAL, synchronous=FULL, same disk) | ratio ×{:.2} (goal ≥ 0.5)",
        after.cpu_s - before.cpu_s,
        nimo_rate / raw_rate
    ))
}

/// Inserts `n` rows of `size` bytes, one transaction each; rows per second.
fn raw_sqlite(path: &std::path::Path, n: usize, size: usize) -> anyhow::Result<f64> {
    let _ = std::fs::remove_file(path);
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute("CREATE TABLE chunks (key TEXT PRIMARY KEY NOT NULL, doc_id TEXT NOT NULL, data BLOB NOT NULL, updated_at TEXT NOT NULL)", [])?;
    let blob = vec![7u8; size];
    let started = Instant::now();
    let mut insert = conn.prepare("INSERT INTO chunks VALUES (?1, ?2, ?3, '2026-11-22')")?;
    for i in 0..n {
        insert.execute(rusqlite::params![
            format!("doc/incremental/{i:064}"),
            "doc",
            blob
        ])?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}
