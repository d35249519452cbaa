//! W1 "a month offline": one device (a full automerge-repo `Repo`, the reference's
//! `clients/upload.mjs`) pushes D documents made offline to a fresh server; timed until the
//! server's own sync messages acknowledge every head; then a fresh client
//! (`clients/verify.mjs`) fetches all D and checks every field.

use std::{collections::HashSet, time::Duration};

use super::{ATTENDEES, Ctx, Side, each_side, node, num, stats};

/// Runs W1 on both sides and returns its line.
pub async fn compare(ctx: &Ctx) -> String {
    let comparison = each_side(ctx, |side, k| one(ctx, side, k)).await;
    stats::line(
        &format!("W1 docs={}", ctx.sizes.w1_docs),
        &comparison,
        &[
            "wall_s",
            "up_bytes",
            "down_bytes",
            "server_rss_mb",
            "server_cpu_s",
            "client_cpu_s",
            "bench_cpu_s",
            "verify_s",
        ],
    )
}

async fn one(ctx: &Ctx, side: Side, k: usize) -> anyhow::Result<stats::Run> {
    let dir = ctx.fresh_dir(side, &format!("w1-r{k}"))?;
    let clients = ctx.clients()?;
    let live = ctx.start(side, &dir.join("server"), HashSet::new()).await?;
    let before = live.server.sample();
    // The ticket proxy relays nimo's frames in this process: its CPU is part of nimo's path.
    let bench_before = super::procstat::sample(std::process::id());
    let manifest = dir.join("manifest.json");
    let docs = ctx.sizes.w1_docs.to_string();
    let upload = node::run(
        clients,
        "clients/upload.mjs",
        &[
            "--url".into(),
            live.url.clone(),
            "--docs".into(),
            docs,
            "--attendees".into(),
            ATTENDEES.to_string(),
            "--prefix".into(),
            "w1".into(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--cache".into(),
            ctx.cache.display().to_string(),
            "--timeout".into(),
            "170".into(),
        ],
        Duration::from_secs(260),
    )
    .await;
    let after = live.server.sample();
    let bench_after = super::procstat::sample(std::process::id());
    let verify = match &upload {
        Ok(_) => Some(
            node::run(
                clients,
                "clients/verify.mjs",
                &[
                    "--url".into(),
                    live.url.clone(),
                    "--manifest".into(),
                    manifest.display().to_string(),
                    "--timeout".into(),
                    "170".into(),
                ],
                Duration::from_secs(200),
            )
            .await,
        ),
        Err(_) => None,
    };
    live.server.stop().await?;
    let upload = upload?;
    let verify = verify.transpose()?.unwrap_or_default();
    let mut run = stats::Run::default();
    run.set("wall_s", num(&upload, "wall_s"));
    run.set("up_bytes", num(&upload, "up_bytes"));
    run.set("down_bytes", num(&upload, "down_bytes"));
    run.set("server_rss_mb", after.peak_rss_mb);
    run.set("server_cpu_s", after.cpu_s - before.cpu_s);
    run.set("client_cpu_s", num(&upload, "client_cpu_s"));
    run.set("bench_cpu_s", bench_after.cpu_s - bench_before.cpu_s);
    run.set("verify_s", num(&verify, "wall_s"));
    run.set("connections", num(&upload, "connections"));
    let verified = num(&verify, "fetched_ok") as usize;
    run.ok = upload["ok"].as_bool() == Some(true)
        && verify["ok"].as_bool() == Some(true)
        && verified == ctx.sizes.w1_docs;
    if !run.ok {
        run.error = Some(format!(
            "{side} W1 run {k}: upload {} verify {}",
            upload["err"], verify["fails"]
        ));
    }
    Ok(run)
}
