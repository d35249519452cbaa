//! W2 "morning reconnect": N devices × M documents already on the server (prepared once per
//! server and copied for each run); offline each device marks attendees completed; the server
//! restarts cold; all devices reconnect on one `go`. Timed until every device has the server's
//! acknowledgement of its new heads; then a fresh client verifies every document.

use std::{collections::HashSet, path::PathBuf, time::Duration};

use super::{Ctx, Side, each_side, node, num, servers::copy_tree, stats};

/// Runs W2 on both sides and returns its line.
pub async fn compare(ctx: &Ctx) -> String {
    // Preparing is not timed, and the two sides share nothing (the reference does not go
    // through the ticket proxy), so both prepare at once (on two cores they overlap only
    // partly: both are CPU-bound).
    let prepared = futures::future::join_all(
        ctx.sides()
            .into_iter()
            .map(|side| async move { (side, prepare(ctx, side).await) }),
    )
    .await;
    let comparison = each_side(ctx, |side, k| {
        let prep = prepared.iter().find(|(s, _)| *s == side).map(|(_, p)| p);
        async move {
            match prep {
                Some(Ok(prep)) => one(ctx, side, k, prep).await,
                Some(Err(error)) => Err(anyhow::anyhow!("{side} W2 preparation failed: {error:#}")),
                None => Err(anyhow::anyhow!("no preparation")),
            }
        }
    })
    .await;
    let s = ctx.sizes;
    stats::line(
        &format!(
            "W2 devices={} docs={}",
            s.w2_devices,
            s.w2_devices * s.w2_docs
        ),
        &comparison,
        &[
            "wall_s",
            "up_bytes",
            "down_bytes",
            "total_bytes",
            "server_rss_mb",
            "server_cpu_s",
            "connections",
            "ready_s",
            "verify_s",
            "verify_cpu_s",
        ],
    )
}

/// A prepared state: the stopped server's data, the devices' storage, the manifest.
#[derive(Debug)]
struct Prepared {
    dir: PathBuf,
    registered: HashSet<String>,
}

fn common_args(ctx: &Ctx, url: &str, dir: &std::path::Path) -> Vec<String> {
    let s = ctx.sizes;
    vec![
        "--url".into(),
        url.to_owned(),
        "--from".into(),
        "0".into(),
        "--to".into(),
        s.w2_devices.to_string(),
        "--docs".into(),
        s.w2_docs.to_string(),
        "--dir".into(),
        dir.join("devices").display().to_string(),
        "--manifest".into(),
        dir.join("manifest.json").display().to_string(),
    ]
}

async fn prepare(ctx: &Ctx, side: Side) -> anyhow::Result<Prepared> {
    let dir = ctx.fresh_dir(side, "w2-prepared")?;
    let live = ctx.start(side, &dir.join("server"), HashSet::new()).await?;
    let mut args = common_args(ctx, &live.url, &dir);
    args.extend([
        "--phase".into(),
        "prepare".into(),
        "--edits".into(),
        ctx.sizes.w2_edits.to_string(),
        "--cache".into(),
        ctx.cache.display().to_string(),
        "--timeout".into(),
        "400".into(),
    ]);
    let result = node::run(
        ctx.clients()?,
        "clients/w2.mjs",
        &args,
        Duration::from_secs(500),
    )
    .await;
    // The JavaScript server saves throttled; let its writes land before the restart.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let registered = ctx.proxy.registered();
    live.server.stop().await?;
    let result = result?;
    anyhow::ensure!(result["ok"].as_bool() == Some(true), "prepare: {result}");
    Ok(Prepared {
        dir,
        registered: if side == Side::Nimo {
            registered
        } else {
            HashSet::new()
        },
    })
}

async fn one(ctx: &Ctx, side: Side, k: usize, prepared: &Prepared) -> anyhow::Result<stats::Run> {
    let dir = ctx.fresh_dir(side, &format!("w2-r{k}"))?;
    copy_tree(&prepared.dir, &dir)?;
    let busy = super::procstat::busy_percent(1000).await;
    // Cold: the server has the older versions on disk and nothing in memory.
    let live = ctx
        .start(side, &dir.join("server"), prepared.registered.clone())
        .await?;
    let before = live.server.sample();
    let mut args = common_args(ctx, &live.url, &dir);
    args.extend([
        "--phase".into(),
        "reconnect".into(),
        "--wait".into(),
        "stdin".into(),
        "--timeout".into(),
        "170".into(),
    ]);
    let started = std::time::Instant::now();
    let mut ready_s = 0.0;
    let result = async {
        let mut gated = node::start_gated(ctx.clients()?, "clients/w2.mjs", &args).await?;
        // The devices loading their stored repos, before the timed reconnect.
        ready_s = started.elapsed().as_secs_f64();
        gated.go().await?;
        gated.finish(Duration::from_secs(260)).await
    }
    .await;
    let after = live.server.sample();
    let verifying = std::time::Instant::now();
    // The verifier's CPU: it is the only child that exits during verification.
    let waited_before = super::procstat::sample(std::process::id()).children_cpu_s;
    let verify = node::run(
        ctx.clients()?,
        "clients/verify.mjs",
        &[
            "--url".into(),
            live.url.clone(),
            "--manifest".into(),
            dir.join("manifest.json").display().to_string(),
            "--timeout".into(),
            "170".into(),
        ],
        Duration::from_secs(200),
    )
    .await;
    let verify_s = verifying.elapsed().as_secs_f64();
    let verify_cpu_s = super::procstat::sample(std::process::id()).children_cpu_s - waited_before;
    live.server.stop().await?;
    let result = result?;
    let verify = verify?;
    let mut run = stats::Run::default();
    let (up, down) = (num(&result, "up_bytes"), num(&result, "down_bytes"));
    run.set("wall_s", num(&result, "wall_s"));
    run.set("up_bytes", up);
    run.set("down_bytes", down);
    run.set("total_bytes", up + down);
    run.set("server_rss_mb", after.peak_rss_mb);
    run.set("server_cpu_s", after.cpu_s - before.cpu_s);
    run.set("connections", num(&result, "connections"));
    run.set("other_busy_pct", busy);
    run.set("ready_s", ready_s);
    run.set("verify_s", verify_s);
    run.set("verify_cpu_s", verify_cpu_s);
    let docs = ctx.sizes.w2_devices * ctx.sizes.w2_docs;
    run.ok = result["ok"].as_bool() == Some(true)
        && verify["ok"].as_bool() == Some(true)
        && num(&verify, "fetched_ok") as usize == docs;
    if !run.ok {
        run.error = Some(format!(
            "{side} W2 run {k}: reconnect {} verify {}",
            result["err"], verify["fails"]
        ));
    }
    Ok(run)
}
