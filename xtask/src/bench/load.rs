//! `cargo xtask bench load` (the reliability issue's load figure): many authenticated WebSocket
//! connections held open for a duration while some of them push one-change sync messages at a
//! steady rate and an API client reads at another; latency percentiles, drops and the server's
//! memory are reported. It is a benchmark: nothing here fails on a slow figure.
//!
//! The read is the office report `GET /api/reports/supporters` (心のサポーター by district), asked
//! as an office user over projection tables filled with attendance rows before the server
//! starts ([`report::fill`]: 100,000 rows, 5,000 with `--quick`), as the office's browser asks
//! it: the server computes it again only after a commit (every push is one), and reads that
//! arrive while it computes share the next computation (`server::reports::reader`).
//!
//! The open-file limit: every held connection costs the server one descriptor and this process
//! one; the soft `RLIMIT_NOFILE` is raised to the hard limit here (children inherit it), and the
//! run stops with the command to raise the hard limit when that is still too low.

use std::{
    collections::HashSet,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{api::NimoApi, peer, procstat, report, servers};

/// Options of `cargo xtask bench load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// A short smoke version (100 connections for 15 s).
    #[arg(long)]
    pub quick: bool,
    /// How long the connections are held, in seconds (default 600; 15 with --quick).
    #[arg(long)]
    duration: Option<u64>,
    /// Connections held (default 1000; 100 with --quick).
    #[arg(long)]
    connections: Option<usize>,
    /// Sync pushes per second over all connections.
    #[arg(long, default_value_t = 100)]
    pushes_per_second: u64,
    /// Report reads per second.
    #[arg(long, default_value_t = 20)]
    reads_per_second: u64,
}

fn raise_fd_limit(needed: u64) -> anyhow::Result<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft < hard {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: limit.maximum,
            },
        )?;
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    anyhow::ensure!(
        now >= needed,
        "the open-file limit is {now}, {needed} are needed: raise the hard limit (as root: `ulimit -Hn {needed}` in this shell, or `LimitNOFILE=` for a service) and run again"
    );
    Ok(now)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs the load benchmark against a fresh nimo server built from `binary`.
pub async fn run(binary: &Path, work: &Path, args: &LoadArgs) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.duration.unwrap_or(if args.quick { 15 } else { 600 }));
    let connections = args
        .connections
        .unwrap_or(if args.quick { 100 } else { 1000 });
    let fd_limit = raise_fd_limit(2 * connections as u64 + 256)?;
    let dir = work.join("load");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let data = dir.join("server");
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist)?;
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>nimo bench</title>",
    )?;
    // Start and stop once, so the migrations create the schema and mark the empty projection
    // current (the next start must not rebuild it from the absent chunks); then fill it.
    servers::start_nimo(binary, &data, &dist)
        .await?
        .stop()
        .await?;
    servers::nimo_add_user(binary, &data).await?;
    servers::nimo_add_user_as(binary, &data, report::OFFICE_LOGIN, "office", None).await?;
    let rows = if args.quick { 5_000 } else { 100_000 };
    let path = data.join("nimo.sqlite3");
    let filled = tokio::task::spawn_blocking(move || report::fill(&path, rows)).await??;
    println!(
        "load: report tables filled with {rows} attendance rows ({} sessions, {} people)",
        filled.sessions, filled.people
    );
    let server = servers::start_nimo(binary, &data, &dist).await?;
    let outcome = drive(&server, connections, duration, args).await;
    let end = server.sample();
    server.stop().await?;
    let report = outcome?;
    println!(
        "load: {connections} connections (fd limit {fd_limit}) held {:.0} s | {} | server peak RSS {:.1} MB, CPU {:.1} s",
        duration.as_secs_f64(),
        report,
        end.peak_rss_mb,
        end.cpu_s
    );
    Ok(())
}

async fn drive(
    server: &servers::Server,
    connections: usize,
    duration: Duration,
    args: &LoadArgs,
) -> anyhow::Result<String> {
    let api = NimoApi::login(server.port).await?;
    // Open and prime every connection (register its document and push it once).
    let setup = Instant::now();
    let mut peers = Vec::with_capacity(connections);
    for i in 0..connections {
        let mut doc = peer::Doc::new(i as u64)?;
        doc.change()?;
        api.register(&doc.id.to_string()).await?;
        let mut peer = peer::Peer::connect(&api)
            .await
            .with_context(|| format!("connection {i}"))?;
        peer.push(&mut doc).await?;
        peers.push((peer, doc));
    }
    let setup_s = setup.elapsed().as_secs_f64();
    // Logged in only now: an office session lapses after 30 idle minutes, and a full set-up
    // can take longer than that.
    let office = Arc::new(
        NimoApi::login_as(server.port, report::OFFICE_LOGIN, servers::NIMO_PASSWORD).await?,
    );
    let after_setup = server.sample();

    let push_latencies = Arc::new(Mutex::new(Vec::new()));
    let read_latencies = Arc::new(Mutex::new(Vec::new()));
    let drops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(HashSet::new()));
    let started = Instant::now();
    let end = started + duration;
    // Each connection pushes once every `period`; offsets spread the pushes evenly.
    let period = Duration::from_secs_f64(connections as f64 / args.pushes_per_second.max(1) as f64);
    let mut tasks = Vec::new();
    for (i, (mut peer, mut doc)) in peers.into_iter().enumerate() {
        let latencies = push_latencies.clone();
        let drops = drops.clone();
        let errors = errors.clone();
        let offset = period.mul_f64(i as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut next = tokio::time::Instant::from_std(started) + offset;
            loop {
                tokio::time::sleep_until(next).await;
                if Instant::now() >= end {
                    break;
                }
                let t = Instant::now();
                let result = async {
                    doc.change()?;
                    peer.push(&mut doc).await
                }
                .await;
                match result {
                    Ok(()) => latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(error) => {
                        drops.fetch_add(1, Ordering::Relaxed);
                        errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(format!("{error:#}"));
                        return;
                    }
                }
                next += period;
            }
            peer.close().await;
        }));
    }
    // Reads at their own rate, each on its own task so a slow one does not delay the next.
    let read_every = Duration::from_secs_f64(1.0 / args.reads_per_second.max(1) as f64);
    let mut reads = Vec::new();
    let mut next = tokio::time::Instant::now();
    let mut peak_rss: f64 = 0.0;
    let mut last_sample = Instant::now();
    while Instant::now() < end {
        tokio::time::sleep_until(next).await;
        next += read_every;
        let office = office.clone();
        let latencies = read_latencies.clone();
        let errors = errors.clone();
        reads.push(tokio::spawn(async move {
            let t = Instant::now();
            let path = format!(
                "/api/reports/{}?year=R{}&format=json",
                report::REPORT,
                report::YEAR
            );
            match office.get(&path).await {
                Ok(_) => latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(t.elapsed().as_secs_f64() * 1000.0),
                Err(error) => {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(format!("read: {error:#}"));
                }
            }
        }));
        if last_sample.elapsed() >= Duration::from_secs(1) {
            peak_rss = peak_rss.max(procstat::sample(server.pid).rss_mb);
            last_sample = Instant::now();
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    for read in reads {
        let _ = read.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut pushes = push_latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut readings = read_latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    pushes.sort_by(f64::total_cmp);
    readings.sort_by(f64::total_cmp);
    let errors = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(format!(
        "set-up {setup_s:.1} s (RSS after {:.1} MB) | drops {} | pushes {} ({:.1}/s) p50 {:.1} ms p99 {:.1} ms max {:.1} ms | report reads {} ({:.1}/s) p50 {:.1} ms p99 {:.1} ms max {:.1} ms (goal p99 < 250 ms) | RSS sampled peak {peak_rss:.1} MB{}",
        after_setup.rss_mb,
        drops.load(Ordering::Relaxed),
        pushes.len(),
        pushes.len() as f64 / elapsed,
        percentile(&pushes, 50.0),
        percentile(&pushes, 99.0),
        pushes.last().copied().unwrap_or(f64::NAN),
        readings.len(),
        readings.len() as f64 / elapsed,
        percentile(&readings, 50.0),
        percentile(&readings, 99.0),
        readings.last().copied().unwrap_or(f64::NAN),
        if errors.is_empty() {
            String::new()
        } else {
            format!(
                " | errors: {}",
                errors.into_iter().take(3).collect::<Vec<_>>().join("; ")
            )
        }
    ))
}
