//! W3 "office read": the documents stored on a server that has just restarted (seeded once
//! per server: nimo through the protocol, the reference straight into its storage as its
//! harness does); one lean client (`clients/read.mjs`) fetches them by id, 100 in flight, up
//! to a read cap. Documents per second.
//!
//! The lean JavaScript reader spends ~1.2 ms of its own CPU per document (automerge's wasm
//! build loading what it receives), which caps it near 800 documents per second whatever the
//! server does. W3 runs a second time with the same reader written in Rust
//! ([`super::peer::Peer::fetch_all`]: the same requests, acknowledgements and checks, nimo's
//! native automerge) against both servers, "W3 Rust reader": nimo's own client on the same
//! workload. Loading is ~0.8 ms of its CPU per document (automerge rebuilding each change to
//! check its hash), against the server's ~0.2 ms to serve it, so it loads on one thread per
//! core ([`super::loaders`]) while one loop keeps the socket and the 100 requests in flight;
//! the JavaScript reader has one thread. Both lines still measure a reader as much as a server.

use std::{collections::HashSet, path::PathBuf, time::Duration};

use anyhow::Context as _;

use super::{Ctx, Side, each_side, node, num, servers::copy_tree, stats};

/// nimo's seeded W3 data, reused by the reconnect limit.
#[derive(Debug)]
pub struct NimoSeed {
    /// The stopped server's data directory.
    pub server_dir: PathBuf,
    /// The documents registered in it.
    pub registered: HashSet<String>,
}

/// Runs W3 on both sides; returns its line and nimo's seed.
pub async fn compare(ctx: &Ctx) -> (Vec<String>, Option<NimoSeed>) {
    // Seeding is not timed and the sides share nothing, so both seed at once; each side's
    // seeding time is then measured beside the other's.
    let seeded_sides = futures::future::join_all(
        ctx.sides()
            .into_iter()
            .map(|side| async move { (side, seed(ctx, side).await) }),
    )
    .await;
    let mut seeds = Vec::new();
    let mut seed_line = String::new();
    for (side, seeded) in seeded_sides {
        match &seeded {
            Ok((_, secs)) => seed_line.push_str(&format!(" {side} seeded in {secs:.1} s;")),
            Err(error) => seed_line.push_str(&format!(" {side} seeding failed: {error:#};")),
        }
        seeds.push((side, seeded.map(|(s, _)| s)));
    }
    let comparison = each_side(ctx, |side, k| {
        let seed = seeds.iter().find(|(s, _)| *s == side).map(|(_, p)| p);
        async move {
            match seed {
                Some(Ok(seed)) => one(ctx, side, k, seed).await,
                Some(Err(error)) => Err(anyhow::anyhow!("{side} W3 seeding failed: {error:#}")),
                None => Err(anyhow::anyhow!("no seed")),
            }
        }
    })
    .await;
    let s = ctx.sizes;
    let line = stats::line(
        &format!(
            "W3 stored={} cap nimo {} s / ref {} s;{seed_line}",
            s.w3_docs, s.w3_deadline, s.w3_reference_deadline
        ),
        &comparison,
        &[
            "fetched",
            "wall_s",
            "docs_per_s",
            "down_bytes",
            "server_rss_mb",
            "server_cpu_s",
            "client_cpu_s",
            "bench_cpu_s",
        ],
    );
    let rust = each_side(ctx, |side, k| {
        let seed = seeds.iter().find(|(s, _)| *s == side).map(|(_, p)| p);
        async move {
            match seed {
                Some(Ok(seed)) => one_with_rust_reader(ctx, side, k, seed).await,
                _ => Err(anyhow::anyhow!("{side} W3 was not seeded")),
            }
        }
    })
    .await;
    let rust_line = stats::line(
        "W3 Rust reader (same workload, the reader in Rust)",
        &rust,
        &[
            "fetched",
            "wall_s",
            "docs_per_s",
            "server_rss_mb",
            "server_cpu_s",
            "client_cpu_s",
        ],
    );
    let nimo_seed = seeds
        .into_iter()
        .find(|(side, _)| *side == Side::Nimo)
        .and_then(|(_, seed)| seed.ok())
        .map(|seed| NimoSeed {
            server_dir: seed.dir.join("server"),
            registered: seed.registered,
        });
    (vec![line, rust_line], nimo_seed)
}

#[derive(Debug)]
struct Seed {
    dir: PathBuf,
    registered: HashSet<String>,
}

async fn seed(ctx: &Ctx, side: Side) -> anyhow::Result<(Seed, f64)> {
    let dir = ctx.fresh_dir(side, "w3-seed")?;
    let clients = ctx.clients()?;
    let started = std::time::Instant::now();
    let n = ctx.sizes.w3_docs;
    let manifest = dir.join("manifest.json");
    if side == Side::Reference {
        let result = node::run(
            clients,
            "servers/seed-storage.mjs",
            &[
                "--flavor".into(),
                "v2".into(),
                "--dir".into(),
                dir.join("server").display().to_string(),
                "--prefix".into(),
                "w3".into(),
                "--count".into(),
                n.to_string(),
                "--attendees".into(),
                super::ATTENDEES.to_string(),
                "--manifest".into(),
                manifest.display().to_string(),
                "--cache".into(),
                ctx.cache.display().to_string(),
            ],
            Duration::from_secs(600),
        )
        .await?;
        let _ = result;
        return Ok((
            Seed {
                dir,
                registered: HashSet::new(),
            },
            started.elapsed().as_secs_f64(),
        ));
    }
    let live = ctx.start(side, &dir.join("server"), HashSet::new()).await?;
    // Batches of 2,500 (four at full size), two at a time: one Node client and the server's
    // work per document each take about a core, and the seeding is the longest part of the
    // bench that is not timed. The smoke size is one batch: a client's start-up would dominate.
    let step = n.div_ceil(4).max(2_500);
    let batches = (0..n).step_by(step).map(|from| {
        let to = (from + step).min(n);
        let part = dir.join(format!("manifest-{from}.json"));
        let url = live.url.clone();
        async move {
            let result = node::run(
                clients,
                "clients/seed.mjs",
                &[
                    "--url".into(),
                    url,
                    "--prefix".into(),
                    "w3".into(),
                    "--from".into(),
                    from.to_string(),
                    "--to".into(),
                    to.to_string(),
                    "--manifest".into(),
                    part.display().to_string(),
                    "--cache".into(),
                    ctx.cache.display().to_string(),
                    "--timeout".into(),
                    "550".into(),
                ],
                Duration::from_secs(590),
            )
            .await?;
            anyhow::ensure!(result["ok"].as_bool() == Some(true), "seeding: {result}");
            let part: serde_json::Value = serde_json::from_slice(&std::fs::read(&part)?)?;
            anyhow::Ok(part["docs"].as_array().cloned().unwrap_or_default())
        }
    });
    let outcome: anyhow::Result<Vec<Vec<serde_json::Value>>> = {
        use futures::StreamExt as _;
        futures::stream::iter(batches)
            .buffered(2)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    };
    let registered = ctx.proxy.registered();
    live.server.stop().await?;
    let docs: Vec<serde_json::Value> = outcome?.into_iter().flatten().collect();
    std::fs::write(
        &manifest,
        serde_json::to_vec(
            &serde_json::json!({ "attendees": super::ATTENDEES, "completed": 0, "docs": docs }),
        )?,
    )?;
    Ok((Seed { dir, registered }, started.elapsed().as_secs_f64()))
}

/// A run's server: a fresh copy of the seeded one, started once the machine's load is noted.
struct Restarted {
    dir: PathBuf,
    live: super::Live,
    /// How busy the machine was just before (other processes), percent.
    busy: f64,
    /// The read cap, seconds.
    deadline: u64,
}

async fn restart(ctx: &Ctx, side: Side, name: &str, seed: &Seed) -> anyhow::Result<Restarted> {
    let dir = ctx.fresh_dir(side, name)?;
    copy_tree(&seed.dir.join("server"), &dir.join("server"))?;
    let deadline = match side {
        Side::Nimo => ctx.sizes.w3_deadline,
        Side::Reference => ctx.sizes.w3_reference_deadline,
    };
    let busy = super::procstat::busy_percent(1000).await;
    let live = ctx
        .start(side, &dir.join("server"), seed.registered.clone())
        .await?;
    Ok(Restarted {
        dir,
        live,
        busy,
        deadline,
    })
}

async fn one(ctx: &Ctx, side: Side, k: usize, seed: &Seed) -> anyhow::Result<stats::Run> {
    let Restarted {
        dir,
        live,
        busy,
        deadline,
    } = restart(ctx, side, &format!("w3-r{k}"), seed).await?;
    let before = live.server.sample();
    // The bench process relays nimo's frames (the ticket proxy): its CPU is part of the path.
    let bench_before = super::procstat::sample(std::process::id());
    let result = node::run(
        ctx.clients()?,
        "clients/read.mjs",
        &[
            "--url".into(),
            live.url.clone(),
            "--manifest".into(),
            seed.dir.join("manifest.json").display().to_string(),
            "--deadline".into(),
            deadline.to_string(),
            "--concurrency".into(),
            "100".into(),
            "--timeout".into(),
            (deadline + 40).to_string(),
        ],
        Duration::from_secs(deadline + 90),
    )
    .await;
    let after = live.server.sample();
    let bench_after = super::procstat::sample(std::process::id());
    live.server.stop().await?;
    let _ = std::fs::remove_dir_all(dir.join("server"));
    let result = result?;
    let mut run = stats::Run::default();
    run.set("fetched", num(&result, "fetched_ok"));
    run.set("wall_s", num(&result, "wall_s"));
    run.set("docs_per_s", num(&result, "docs_per_s"));
    run.set("down_bytes", num(&result, "down_bytes"));
    run.set("server_rss_mb", after.peak_rss_mb);
    run.set("server_cpu_s", after.cpu_s - before.cpu_s);
    run.set("client_cpu_s", num(&result, "client_cpu_s"));
    run.set("bench_cpu_s", bench_after.cpu_s - bench_before.cpu_s);
    run.set("other_busy_pct", busy);
    run.ok = num(&result, "failed") == 0.0 && result["err"].as_str().unwrap_or("").is_empty();
    if !run.ok {
        run.error = Some(format!(
            "{side} W3 run {k}: {} {}",
            result["err"], result["fails"]
        ));
    }
    Ok(run)
}

/// One W3 run with the Rust reader: nimo directly with a ticket (no proxy), the reference at
/// its own URL.
async fn one_with_rust_reader(
    ctx: &Ctx,
    side: Side,
    k: usize,
    seed: &Seed,
) -> anyhow::Result<stats::Run> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(seed.dir.join("manifest.json"))?)?;
    let docs = manifest["docs"]
        .as_array()
        .context("a manifest lists its documents")?
        .iter()
        .map(|doc| {
            let url = doc["url"].as_str().context("a document url")?;
            let id = url.strip_prefix("automerge:").unwrap_or(url).parse()?;
            let heads = doc["heads"]
                .as_array()
                .context("heads")?
                .iter()
                .map(|h| Ok(h.as_str().context("a head")?.parse()?))
                .collect::<anyhow::Result<Vec<automerge::ChangeHash>>>()?;
            Ok((id, heads))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Restarted {
        dir,
        live,
        busy,
        deadline,
    } = restart(ctx, side, &format!("w3-rust-r{k}"), seed).await?;
    let before = live.server.sample();
    let reader_before = super::procstat::sample(std::process::id());
    let fetched = async {
        let mut peer = match &live.api {
            Some(api) => super::peer::Peer::connect(api).await?,
            None => {
                let id = format!("rust-reader-{}-{k}", std::process::id());
                super::peer::Peer::join(&live.url, nimo_shared::sync::ids::PeerId::new(id)).await?
            }
        };
        let fetched = peer
            .fetch_all(&docs, 100, Duration::from_secs(deadline))
            .await?;
        peer.close().await;
        anyhow::Ok(fetched)
    }
    .await;
    let after = live.server.sample();
    let reader_after = super::procstat::sample(std::process::id());
    live.server.stop().await?;
    let _ = std::fs::remove_dir_all(dir.join("server"));
    let fetched = fetched?;
    let mut run = stats::Run::default();
    run.set("fetched", fetched.ok as f64);
    run.set("wall_s", fetched.wall_s);
    run.set(
        "docs_per_s",
        if fetched.wall_s > 0.0 {
            fetched.ok as f64 / fetched.wall_s
        } else {
            0.0
        },
    );
    run.set("server_rss_mb", after.peak_rss_mb);
    run.set("server_cpu_s", after.cpu_s - before.cpu_s);
    run.set("client_cpu_s", reader_after.cpu_s - reader_before.cpu_s);
    run.set("other_busy_pct", busy);
    run.ok = fetched.failed == 0 && fetched.ok > 0;
    if !run.ok {
        run.error = Some(format!(
            "{side} W3 Rust reader run {k}: {} failed {:?}",
            fetched.failed, fetched.failures
        ));
    }
    Ok(run)
}
