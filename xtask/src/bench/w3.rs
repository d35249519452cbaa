//! W3 "office read": the documents stored on a server that has just restarted (seeded once
//! per server: nimo through the protocol, the reference straight into its storage as its
//! harness does); one lean client (`clients/read.mjs`) fetches them by id, 100 in flight, up
//! to a read cap. Documents per second.

use std::{collections::HashSet, path::PathBuf, time::Duration};

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
pub async fn compare(ctx: &Ctx) -> (String, Option<NimoSeed>) {
    let mut seeds = Vec::new();
    let mut seed_line = String::new();
    for side in ctx.sides() {
        let seeded = seed(ctx, side).await;
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
    (line, nimo_seed)
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
    let mut docs = Vec::new();
    let step = 2500;
    let mut from = 0;
    let outcome = async {
        while from < n {
            let to = (from + step).min(n);
            let part = dir.join(format!("manifest-{from}.json"));
            let result = node::run(
                clients,
                "clients/seed.mjs",
                &[
                    "--url".into(),
                    live.url.clone(),
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
            docs.extend(part["docs"].as_array().cloned().unwrap_or_default());
            from = to;
        }
        anyhow::Ok(())
    }
    .await;
    let registered = ctx.proxy.registered();
    live.server.stop().await?;
    outcome?;
    std::fs::write(
        &manifest,
        serde_json::to_vec(
            &serde_json::json!({ "attendees": super::ATTENDEES, "completed": 0, "docs": docs }),
        )?,
    )?;
    Ok((Seed { dir, registered }, started.elapsed().as_secs_f64()))
}

async fn one(ctx: &Ctx, side: Side, k: usize, seed: &Seed) -> anyhow::Result<stats::Run> {
    let dir = ctx.fresh_dir(side, &format!("w3-r{k}"))?;
    copy_tree(&seed.dir.join("server"), &dir.join("server"))?;
    let deadline = match side {
        Side::Nimo => ctx.sizes.w3_deadline,
        Side::Reference => ctx.sizes.w3_reference_deadline,
    };
    let busy = super::procstat::busy_percent(1000).await;
    let live = ctx
        .start(side, &dir.join("server"), seed.registered.clone())
        .await?;
    let before = live.server.sample();
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
