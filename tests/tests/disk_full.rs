//! Disk full: the real `nimo-server` binary runs with its data directory on a small tmpfs
//! mounted by the test. A device streams changes of incompressible text until the filesystem is
//! full. While it is full the server must stay up, answer writes with an error, and confirm
//! nothing it did not store; when space returns (the filler file is removed, nothing is
//! restarted) every change must reach the database by itself. At the end the database passes
//! `PRAGMA integrity_check` and holds every head the server ever confirmed.
//!
//! Mounting needs root (CAP_SYS_ADMIN). Where `mount` is refused the test says so and passes
//! without checking anything: that is the only case it skips.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use automerge::{ROOT, transaction::Transactable as _};
use nimo_shared::{
    Timestamp,
    sync::{DocStatus, DocumentId},
};
use nimo_tests::{
    ApiClient, PASSWORD,
    db_check::check_database,
    native_client::{Confirmation, Device, DeviceOptions, DeviceStorage, ServerLink},
    server_process::{ServerProcess, add_trainer, minimal_dist, server_binary},
};
use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};

/// The filesystem's size: room for the server's database, and little else.
const FILESYSTEM: &str = "24m";
/// Text written by one change; random letters, so neither Automerge nor SQLite can shrink it.
const CHANGE_BYTES: usize = 16 * 1024;
/// Changes streamed while the disk is full: 640 KiB, more than the slack the database files
/// keep (the WAL of a few hundred KiB database), and far under the per-document limit.
const CHANGES_WHILE_FULL: usize = 40;
/// How long space may take to be used again: the server's retry backoff has grown meanwhile.
const RESUME: Duration = Duration::from_secs(120);

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount {
    dir: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` on `dir`; `None` (with the reason) when mounting is refused.
    fn tmpfs(dir: &Path, size: &str) -> anyhow::Result<Result<Self, String>> {
        std::fs::create_dir_all(dir)?;
        let output = match Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("nimo-disk-full")
            .arg(dir)
            .output()
        {
            Ok(output) => output,
            Err(error) => return Ok(Err(format!("cannot run `mount`: {error}"))),
        };
        if output.status.success() {
            Ok(Ok(Self {
                dir: dir.to_owned(),
            }))
        } else {
            Ok(Err(format!(
                "`mount -t tmpfs` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(&self.dir).status();
    }
}

/// Fills the filesystem holding `path` with one file until a write fails with ENOSPC.
fn fill(path: &Path) -> anyhow::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let mut written = 0_u64;
    for block in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let bytes = vec![0xA5_u8; block];
        loop {
            match file.write(&bytes) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(error) if error.raw_os_error() == Some(28) => break, // ENOSPC
                Err(error) => return Err(error).context("filling the disk"),
            }
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

/// Random letters, `len` bytes of them.
fn incompressible(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'a' + u8::try_from(rng.next_u64() % 26).unwrap_or(0)))
        .collect()
}

fn session() -> anyhow::Result<automerge::Automerge> {
    let at = Timestamp::from_unix_millis(1_748_739_600_000);
    nimo_tests::sample::onagawa_document("会場", 40, 7, at)
}

/// Asks the server whether `heads` of `doc_id` are stored; `None` when it does not answer.
async fn stored(api: &ApiClient, doc_id: DocumentId, heads: &[automerge::ChangeHash]) -> bool {
    let id = doc_id.to_string();
    let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    let body = serde_json::json!({ "documents": [{ "id": id, "heads": hex }] });
    matches!(
        tokio::time::timeout(Duration::from_secs(5), api.post("/api/sync/confirm", body)).await,
        Ok(Ok((status, answer))) if status.is_success() && answer["stored"] == serde_json::json!([id])
    )
}

/// A fresh document id, for registrations.
fn new_doc_id(rng: &mut ChaCha8Rng) -> String {
    let mut bytes = [0; 16];
    rng.fill_bytes(&mut bytes);
    DocumentId::from_random_bytes(bytes).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stores_nothing_it_confirms_and_the_server_resumes_when_space_returns()
-> anyhow::Result<()> {
    let binary = server_binary()?;
    let dir = tempfile::tempdir()?;
    let mount = match Mount::tmpfs(&dir.path().join("small-disk"), FILESYSTEM)? {
        Ok(mount) => mount,
        Err(reason) => {
            eprintln!(
                "SKIPPED disk_full: this machine does not let the test mount a small filesystem \
                 ({reason}); run it as root (CAP_SYS_ADMIN) to check the server on a full disk"
            );
            return Ok(());
        }
    };
    let data = mount.dir.join("data");
    let filler = mount.dir.join("filler");
    let dist = minimal_dist(dir.path())?;
    let log = dir.path().join("server.log");
    add_trainer(&binary, &data, "trainer", "班", PASSWORD).await?;
    let server = ServerProcess::start(&binary, &data, &dist, &log).await?;
    let api = ApiClient::login(&server.base, "trainer", PASSWORD).await?;
    let link = ServerLink::new(api.clone());
    let device = Arc::new(Device::start(
        link,
        DeviceStorage::default(),
        DeviceOptions::seeded(9),
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut confirmed: Vec<Confirmation> = Vec::new();

    // Before: a session syncs and is stored as usual.
    let doc_id = device.create(session()?).await?;
    let status = api
        .register(&doc_id.to_string(), "training_session", &[])
        .await?;
    anyhow::ensure!(
        status.is_success(),
        "registering before the disk fills: {status}"
    );
    device.sync_now(doc_id).await?;
    device
        .wait_for("the first change stored", Duration::from_secs(30), |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
        })
        .await?;

    // The disk fills up.
    let filled = fill(&filler)?;
    let full_since = Instant::now();
    for n in 0..CHANGES_WHILE_FULL {
        let text = incompressible(&mut rng, CHANGE_BYTES);
        device
            .change(doc_id, move |doc| {
                doc.transact(|tx| tx.put(ROOT, "venue", format!("会場 {n} {text}")))
                    .map(|_| ())
                    .map_err(|failure| failure.error)
            })
            .await??;
        if n % 20 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let Some(latest) = device.read(doc_id, |doc| doc.get_heads()).await? else {
        anyhow::bail!("the device lost its document");
    };

    // While full: the server stays up, refuses what it cannot write with an error, and says
    // "stored" only for what is in the database (checked at the end).
    let mut register_statuses = Vec::new();
    let mut latest_confirmed_while_full = false;
    let watch_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < watch_until {
        let health = api
            .request(reqwest::Method::GET, "/healthz")
            .send()
            .await
            .context("the server stopped answering on a full disk")?;
        anyhow::ensure!(
            health.status().is_success() || health.status().is_server_error(),
            "health on a full disk: {}",
            health.status()
        );
        let (status, body) = api
            .post(
                "/api/docs",
                serde_json::json!({ "id": new_doc_id(&mut rng), "kind": "training_session" }),
            )
            .await
            .context("the server stopped answering on a full disk")?;
        anyhow::ensure!(
            status.is_success() || status == reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "registering on a full disk answered {status} {body}"
        );
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            anyhow::ensure!(
                body["error"].as_str().is_some_and(|m| !m.is_ascii()),
                "a full disk's error has no Japanese message: {body}"
            );
        }
        register_statuses.push(status.as_u16());
        if stored(&api, doc_id, &latest).await {
            latest_confirmed_while_full = true;
            confirmed.push(Confirmation {
                doc_id,
                heads: latest.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let write_errors = log_text
        .lines()
        .filter(|line| line.contains("full"))
        .count();
    anyhow::ensure!(
        !latest_confirmed_while_full,
        "the server confirmed {} KiB of changes that cannot fit on the full disk",
        CHANGES_WHILE_FULL * CHANGE_BYTES / 1024
    );
    anyhow::ensure!(
        write_errors > 0,
        "the server logged no failed write on a full disk; log:\n{log_text}"
    );
    let refused = register_statuses.iter().filter(|s| **s == 503).count();

    // Space returns. Nothing is restarted: the server writes what it kept and the device
    // reaches "stored" by itself.
    std::fs::remove_file(&filler)?;
    let freed = Instant::now();
    let done = device
        .wait_for("every change stored once space returned", RESUME, |o| {
            o.doc_status(&doc_id) == Some(DocStatus::Stored)
                && o.docs.get(&doc_id).is_some_and(|v| v.heads == latest)
        })
        .await
        .with_context(|| {
            format!(
                "server log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })?;
    let resumed_in = freed.elapsed();
    confirmed.extend(done.confirmations.iter().cloned());
    let status = api
        .register(&new_doc_id(&mut rng), "training_session", &[])
        .await?;
    anyhow::ensure!(
        status.is_success(),
        "registering after space returned: {status}"
    );

    server.kill().await?;
    let checked = check_database(&data, &confirmed).await?;
    println!(
        "disk full: filled {} KiB, {CHANGES_WHILE_FULL} changes of {} KiB pushed while full \
         ({:.1?}), registrations while full {refused} of {} refused with 503, {write_errors} \
         failed-write log lines, resumed {resumed_in:.1?} after space returned, {} confirmed \
         heads checked, integrity ok",
        filled / 1024,
        CHANGE_BYTES / 1024,
        full_since.elapsed(),
        register_statuses.len(),
        checked.heads
    );
    if let Ok(device) = Arc::try_unwrap(device) {
        device.shut_down().await?;
    }
    drop(mount);
    Ok(())
}
