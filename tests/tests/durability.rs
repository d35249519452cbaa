//! Durability: the real `nimo-server` binary is killed with SIGKILL in the middle of a stream of
//! changes from several devices, then started again on the same data directory. Every head the
//! server confirmed before (or after) must be in the database, and the database must pass
//! `PRAGMA integrity_check`; then every device's changes must reach "stored" again.
//!
//! - `NIMO_SOAK_KILLS` (default 5) sets how many times; `cargo xtask test` runs 20 (CI),
//!   `cargo xtask soak` 1000 in release.
//! - `NIMO_SOAK_SEED` replays a run: the seed picks when the server dies and how fast devices
//!   write, and is printed at the start.
//! - The binary is found as `nimo_tests::server_process::server_binary` says
//!   (`NIMO_SERVER_BIN`, else `target/debug/nimo-server`).

use std::{
    collections::{BTreeMap, VecDeque},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use automerge::{Automerge, ChangeHash};
use nimo_shared::{
    AttendeeId, Timestamp,
    records::roster,
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
use tokio::{sync::watch, task::JoinHandle};

/// Devices writing at once, each its own trainer in its own team.
const DEVICES: u64 = 3;
/// Attendees in each session; changes check them in and out in turn.
const ATTENDEES: u8 = 5;
/// Bounds one device's stream in one round, whatever the timing.
const MAX_CHANGES_PER_ROUND: usize = 2_000;
/// How long devices may take to get every change stored after a restart.
const CONVERGE: Duration = Duration::from_secs(30);

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .with_context(|| format!("{name}={value} is not a number")),
        Err(_) => Ok(default),
    }
}

fn at(n: usize) -> Timestamp {
    Timestamp::from_unix_millis(1_748_739_600_000 + i64::try_from(n).unwrap_or(i64::MAX))
}

/// A session with [`ATTENDEES`] people on its roster.
fn session(round: u64, device: u64) -> anyhow::Result<Automerge> {
    let venue = format!("会場 {round}-{device}");
    let mut document = nimo_tests::sample::onagawa_document(&venue, 40, 7, at(0))?;
    for n in 0..ATTENDEES {
        let person = nimo_tests::sample::person(n);
        roster::add_attendee(&mut document, attendee(n), person, at(0))?;
    }
    Ok(document)
}

fn attendee(n: u8) -> AttendeeId {
    AttendeeId::from_random_bytes([n + 1; 16])
}

/// Change `n` of a stream: check attendee `n mod 5` in, or out again on the next lap.
fn toggle(doc: &mut Automerge, n: usize) -> anyhow::Result<()> {
    let laps = n / usize::from(ATTENDEES);
    let who = attendee(u8::try_from(n % usize::from(ATTENDEES)).unwrap_or(0));
    if laps.is_multiple_of(2) {
        roster::check_in(doc, who, at(n + 1), &"trainer-1".parse()?)?;
    } else {
        roster::undo_check_in(doc, who, at(n + 1))?;
    }
    Ok(())
}

/// Changes `doc_id` every `pace` until told to stop; returns how many changes it made.
fn stream(
    device: Arc<Device>,
    doc_id: DocumentId,
    pace: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<anyhow::Result<usize>> {
    tokio::spawn(async move {
        let mut made = 0;
        while made < MAX_CHANGES_PER_ROUND && !*stop.borrow() {
            device
                .change(doc_id, move |doc| toggle(doc, made))
                .await??;
            made += 1;
            tokio::select! {
                _ = stop.changed() => {}
                () = tokio::time::sleep(pace) => {}
            }
        }
        Ok(made)
    })
}

/// Confirmed heads, shared between the prober and the test.
type Confirmed = Arc<Mutex<Vec<Confirmation>>>;

/// How old a device's heads must be before the prober asks about them: the server needs a
/// moment to receive and write them.
const PROBE_LAG: Duration = Duration::from_millis(30);

/// Besides the devices' own confirmations (which come only when a device catches up), samples
/// each device's heads every few milliseconds and asks the server whether the heads sampled
/// [`PROBE_LAG`] ago are stored, recording every "stored": confirmed heads right up to the kill.
fn probe(
    targets: Vec<(Arc<Device>, ServerLink, DocumentId)>,
    confirmed: Confirmed,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut samples: BTreeMap<DocumentId, VecDeque<(Instant, Vec<ChangeHash>)>> =
            BTreeMap::new();
        for _ in 0..100_000 {
            if *stop.borrow() {
                break;
            }
            for (device, link, doc_id) in &targets {
                let queue = samples.entry(*doc_id).or_default();
                if let Some(view) = device.observed().docs.get(doc_id)
                    && !view.heads.is_empty()
                    && queue.back().is_none_or(|(_, last)| *last != view.heads)
                {
                    queue.push_back((Instant::now(), view.heads.clone()));
                }
                // The newest sample old enough; older ones are not asked about any more.
                let Some(ripe) = queue.iter().rposition(|(t, _)| t.elapsed() >= PROBE_LAG) else {
                    continue;
                };
                let heads = queue
                    .drain(..=ripe)
                    .next_back()
                    .map(|(_, h)| h)
                    .unwrap_or_default();
                let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
                let id = doc_id.to_string();
                let body = serde_json::json!({ "documents": [{ "id": id, "heads": hex }] });
                let api = link.api();
                let request = api.post("/api/sync/confirm", body);
                let Ok(Ok((status, answer))) =
                    tokio::time::timeout(Duration::from_secs(2), request).await
                else {
                    continue; // The server is down: nothing confirmed.
                };
                if status.is_success() && answer["stored"] == serde_json::json!([id]) {
                    let confirmation = Confirmation {
                        doc_id: *doc_id,
                        heads,
                    };
                    confirmed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(confirmation);
                }
            }
            tokio::select! {
                _ = stop.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    })
}

/// The last lines of the server's log, for a failure message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

struct Writer {
    device: Arc<Device>,
    link: ServerLink,
    /// How many of the device's confirmations have been checked.
    checked: usize,
}

impl Writer {
    /// The confirmations made since the last call.
    fn new_confirmations(&mut self) -> Vec<Confirmation> {
        let all = self.device.observed().confirmations;
        let fresh = all[self.checked.min(all.len())..].to_vec();
        self.checked = all.len();
        fresh
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_the_server_confirmed_survives_a_sigkill_in_the_middle_of_a_stream()
-> anyhow::Result<()> {
    let kills = env_number("NIMO_SOAK_KILLS", 5)?;
    let seed = env_number(
        "NIMO_SOAK_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos())),
    )?;
    println!("durability: {kills} kills, seed {seed} (replay with NIMO_SOAK_SEED={seed})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let binary = server_binary()?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let dist = minimal_dist(dir.path())?;
    let log = dir.path().join("server.log");
    for d in 0..DEVICES {
        add_trainer(
            &binary,
            &data,
            &format!("trainer{d}"),
            &format!("班{d}"),
            PASSWORD,
        )
        .await?;
    }
    let mut server = ServerProcess::start(&binary, &data, &dist, &log).await?;
    let mut writers = Vec::new();
    for d in 0..DEVICES {
        let api = ApiClient::login(&server.base, &format!("trainer{d}"), PASSWORD).await?;
        let link = ServerLink::new(api);
        let options = DeviceOptions::seeded(seed.wrapping_add(d));
        writers.push(Writer {
            device: Arc::new(Device::start(
                link.clone(),
                DeviceStorage::default(),
                options,
            )),
            link,
            checked: 0,
        });
    }

    let started = Instant::now();
    let mut heads_checked = 0;
    let mut holes = 0;
    let mut changes = 0;
    let mut latest: Vec<Confirmation> = Vec::new();
    let probed: Confirmed = Arc::default();
    let mut probes = 0;
    for round in 0..kills {
        // Each device starts a session and streams changes into it.
        let (stop, stopped) = watch::channel(false);
        let mut streams = Vec::new();
        let mut targets = Vec::new();
        for (d, writer) in (0..).zip(&writers) {
            let doc_id = writer.device.create(session(round, d)?).await?;
            writer
                .link
                .api()
                .register(&doc_id.to_string(), "training_session", &[])
                .await?;
            writer.device.sync_now(doc_id).await?;
            let pace = Duration::from_millis(2 + rng.next_u64() % 5);
            let handle = stream(writer.device.clone(), doc_id, pace, stopped.clone());
            streams.push((doc_id, handle));
            targets.push((writer.device.clone(), writer.link.clone(), doc_id));
        }
        let prober = probe(targets, probed.clone(), stopped.clone());

        // Somewhere in the stream, the power goes.
        let kill_after = Duration::from_millis(50 + rng.next_u64() % 450);
        tokio::time::sleep(kill_after).await;
        server.kill().await?;
        let mut confirmed: Vec<Confirmation> = writers
            .iter_mut()
            .flat_map(Writer::new_confirmations)
            .collect();
        let from_probe =
            std::mem::take(&mut *probed.lock().unwrap_or_else(PoisonError::into_inner));
        probes += from_probe.len();
        confirmed.extend(from_probe);
        let checked = check_database(&data, &confirmed)
            .await
            .with_context(|| format!("after kill {} of {kills} (seed {seed})", round + 1))?;
        heads_checked += checked.heads;
        holes += checked.with_holes;

        // Back on a new port; the devices keep writing for a moment, then stop.
        server = ServerProcess::start(&binary, &data, &dist, &log).await?;
        for writer in &writers {
            writer.link.point_at(&server.base);
        }
        tokio::time::sleep(Duration::from_millis(rng.next_u64() % 100)).await;
        stop.send(true)?;
        prober.await?;
        for ((doc_id, handle), writer) in streams.into_iter().zip(&writers) {
            changes += handle.await??;
            let done = writer
                .device
                .wait_for("every change stored after the restart", CONVERGE, |o| {
                    o.doc_status(&doc_id) == Some(DocStatus::Stored)
                })
                .await
                .with_context(|| {
                    format!(
                        "round {} (seed {seed}); server log:\n{}",
                        round + 1,
                        log_tail(&log)
                    )
                })?;
            latest.push(Confirmation {
                doc_id,
                heads: done.docs[&doc_id].heads.clone(),
            });
        }
    }

    // The end of the run is one more kill: everything confirmed since must be there too,
    // and so must the final heads of every session.
    server.kill().await?;
    let mut confirmed: Vec<Confirmation> = writers
        .iter_mut()
        .flat_map(Writer::new_confirmations)
        .collect();
    confirmed.extend(latest);
    let from_probe = std::mem::take(&mut *probed.lock().unwrap_or_else(PoisonError::into_inner));
    probes += from_probe.len();
    confirmed.extend(from_probe);
    let checked = check_database(&data, &confirmed).await?;
    heads_checked += checked.heads;
    holes += checked.with_holes;
    let elapsed = started.elapsed();
    println!(
        "durability: {kills} kills mid-stream (+1 at the end), {changes} changes from {DEVICES} devices, \
         {heads_checked} confirmed heads checked ({probes} confirmations by the prober, the rest \
         by the devices), integrity ok, {elapsed:.1?}; {holes} times a confirmed document had \
         a hole in its unconfirmed tail after a kill (strict load_document refused it)"
    );
    anyhow::ensure!(
        heads_checked > 0,
        "nothing was confirmed: the test checked nothing"
    );
    for writer in writers {
        if let Ok(device) = Arc::try_unwrap(writer.device) {
            device.shut_down().await?;
        }
    }
    Ok(())
}
