//! A flaky network: the native sync client reaches the real server (over real TCP and
//! WebSockets) only through [`FlakyProxy`]: 300 ms added to every chunk each way, 5% of chunks
//! breaking or stalling their connection, and every connection reset every few seconds
//! (`NIMO_FLAKY_RESET_SECS`, default 5 here; the field figure is 30 s). The
//! device makes many changes meanwhile. Every change must reach the server's database exactly
//! once, the server's document must equal the device's, and the device must have reconnected
//! by itself, with jittered delays.
//!
//! One connection costs about four round trips before any document moves (ticket, manifest,
//! WebSocket upgrade, join/peer: ~2.4 s at this latency); with resets every 3 s nothing synced
//! in four minutes, so resets much more frequent than that starve any client.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use automerge::Automerge;
use nimo_server::accounts::Role;
use nimo_shared::sync::BackoffConfig;
use nimo_shared::{
    AttendeeId, Timestamp, doc,
    records::{roster, training::*},
    sync::DocStatus,
};
use nimo_tests::{
    TestServer,
    flaky_proxy::{FlakyConfig, FlakyProxy},
    native_client::{Device, DeviceOptions, DeviceStorage, ServerLink},
};

/// Attendees checked in, one change each (plus one change adding each).
const ATTENDEES: u8 = 60;
/// How long the whole sync may take through the proxy.
const CONVERGE: Duration = Duration::from_secs(240);

fn at(n: u64) -> Timestamp {
    Timestamp::from_unix_millis(1_748_739_600_000 + i64::try_from(n).unwrap_or(i64::MAX))
}

fn attendee(n: u8) -> AttendeeId {
    AttendeeId::from_random_bytes([n + 1; 16])
}

fn session() -> anyhow::Result<Automerge> {
    nimo_tests::sample::onagawa_document("会場", 200, 3, at(0))
}

fn reset_every() -> anyhow::Result<Duration> {
    match std::env::var("NIMO_FLAKY_RESET_SECS") {
        Ok(value) => Ok(Duration::from_secs_f64(value.trim().parse().with_context(
            || format!("NIMO_FLAKY_RESET_SECS={value} is not a number"),
        )?)),
        Err(_) => Ok(Duration::from_secs(5)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_changes_sync_exactly_once_through_a_flaky_network() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .add_user("trainer", Role::Trainer, Some("班"), false)
        .await?;
    let direct = server.api_client("trainer").await?;
    let config = FlakyConfig {
        latency: Duration::from_millis(300),
        loss: 0.05,
        reset_every: reset_every()?,
        seed: 11,
    };
    let proxy = FlakyProxy::start(server.address, config.clone()).await?;
    // The device's every request (ticket, manifest, WebSocket, confirm) goes through the proxy.
    let link = ServerLink::new(direct.with_base(&proxy.base()));
    let mut options = DeviceOptions::seeded(11);
    options.backoff = BackoffConfig {
        base_ms: 200,
        cap_ms: 3_000,
    };
    let device = Device::start(link, DeviceStorage::default(), options);

    let doc_id = device.create(session()?).await?;
    let status = direct
        .register(&doc_id.to_string(), "training_session", &[])
        .await?;
    anyhow::ensure!(status.is_success(), "registering: {status}");
    device.sync_now(doc_id).await?;
    let started = Instant::now();
    for n in 0..ATTENDEES {
        let person = nimo_tests::sample::person(n);
        device
            .change(doc_id, move |doc| {
                roster::add_attendee(doc, attendee(n), person, at(u64::from(n) * 2 + 1))
                    .map_err(anyhow::Error::from)
            })
            .await??;
        device
            .change(doc_id, move |doc| {
                roster::check_in(
                    doc,
                    attendee(n),
                    at(u64::from(n) * 2 + 2),
                    &"trainer-1".parse()?,
                )
                .map_err(anyhow::Error::from)
            })
            .await??;
        // A person taps every few hundred milliseconds; the network misbehaves meanwhile.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some((heads, changes)) = device
        .read(doc_id, |doc| (doc.get_heads(), doc.get_changes(&[]).len()))
        .await?
    else {
        anyhow::bail!("the device lost its document");
    };
    let observed = device
        .wait_for(
            "every change stored through the flaky proxy",
            CONVERGE,
            |o| {
                o.doc_status(&doc_id) == Some(DocStatus::Stored)
                    && o.docs.get(&doc_id).is_some_and(|v| v.heads == heads)
            },
        )
        .await
        .with_context(|| format!("proxy: {:?}", proxy.stats()))?;
    let elapsed = started.elapsed();

    // The server's copy, from its database: the same history, each change once.
    let stored = server
        .state
        .sync
        .store
        .load_document(&doc_id.to_string())
        .await?
        .context("the server has no document")?;
    anyhow::ensure!(stored.get_heads() == heads, "the server's heads differ");
    anyhow::ensure!(
        stored.get_changes(&[]).len() == changes,
        "the server holds {} changes, the device made {changes}",
        stored.get_changes(&[]).len()
    );
    let session: TrainingSession = doc::hydrate(&stored)?;
    anyhow::ensure!(
        session.roster.len() == usize::from(ATTENDEES),
        "the roster has {} attendees, not {ATTENDEES}",
        session.roster.len()
    );
    let checked_in = session
        .roster
        .values()
        .filter(|a| a.checked_in_at.is_some())
        .count();
    anyhow::ensure!(
        checked_in == usize::from(ATTENDEES),
        "{checked_in} of {ATTENDEES} checked in"
    );

    // The network did misbehave, and the client came back by itself with jittered delays.
    let stats = proxy.stats();
    anyhow::ensure!(stats.resets > 0, "the proxy never reset: {stats:?}");
    anyhow::ensure!(
        stats.broken + stats.stalled + stats.reset_connections > 0,
        "no connection was broken: {stats:?}"
    );
    let connections = observed.connections.len();
    anyhow::ensure!(
        connections > 1,
        "the device never reconnected ({connections} connection)"
    );
    let delays = &observed.reconnect_delays;
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    anyhow::ensure!(
        distinct.len() > 1,
        "reconnect delays show no jitter: {delays:?}"
    );
    anyhow::ensure!(
        delays.iter().all(|d| *d <= 3_000),
        "a reconnect delay passed the cap: {delays:?}"
    );
    println!(
        "flaky network: {changes} changes stored exactly once in {elapsed:.1?} through {} ms \
         latency, {:.0}% loss, resets every {:?}; proxy: {} connections, {} chunks, {} broken, \
         {} stalled, {} resets closing {} connections; device: {connections} WebSockets, {} \
         failed attempts, reconnect delays {}..{} ms over {} reconnects",
        config.latency.as_millis(),
        config.loss * 100.0,
        config.reset_every,
        stats.connections,
        stats.chunks,
        stats.broken,
        stats.stalled,
        stats.resets,
        stats.reset_connections,
        observed.failed_attempts,
        delays.iter().min().copied().unwrap_or(0),
        delays.iter().max().copied().unwrap_or(0),
        delays.len()
    );
    device.shut_down().await?;
    server.stop().await
}
