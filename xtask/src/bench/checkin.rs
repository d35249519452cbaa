//! Check-in tap → durable IndexedDB write, with a 500-person roster, in headless Chromium
//! (BENCH.md: p95 ≤ 16 ms, one frame).
//!
//! `tests/e2e/checkin-tap.bench.mjs` drives Debian's Chromium against nimo's server and the
//! app in `dist/` (the shell `cargo xtask build` or `cargo xtask test` made): a trainer logs in,
//! imports a 500-person roster, and taps 受付 for different people, one after another. The
//! times are the app's own User Timing measures (`app/src/sync/timing.rs`): from the click
//! event's time to the `complete` of the IndexedDB transaction carrying the change's chunk.
//! Raw IndexedDB transactions of the same size and durability, on the same page, are the floor.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::Context as _;
use serde_json::Value;
use tokio::process::Command;

use super::{Ctx, node};
use crate::{process, setup};

/// People on the roster.
const ROSTER: usize = 500;
/// Taps in the full run and the smoke version.
const TAPS: usize = 200;
const QUICK_TAPS: usize = 20;
/// BENCH.md's goal, milliseconds.
const GOAL_P95_MS: f64 = 16.0;

/// Runs the browser benchmark and returns its line.
pub async fn measure(ctx: &Ctx, root: &Path) -> anyhow::Result<String> {
    let dist = root.join("dist");
    anyhow::ensure!(
        dist.join("index.html").exists(),
        "dist/ is missing: run `cargo xtask build` first"
    );
    let chromium = setup::chromium(root)?;
    let tests = root.join("tests");
    setup::npm_packages(&tests)?;
    let taps = if ctx.quick { QUICK_TAPS } else { TAPS };
    let profile = std::env::var_os("NIMO_BENCH_PROFILE");
    let e2e = tests.join("e2e");
    let mut command = Command::new("node");
    command
        .arg(e2e.join("checkin-tap.bench.mjs"))
        .current_dir(&e2e)
        .env("NIMO_SERVER_BIN", &ctx.nimo_bin)
        .env("NIMO_DIST_DIR", &dist)
        .env("NIMO_CHROMIUM", &chromium)
        .env("NIMO_ARTIFACTS", process::target_dir(root).join("e2e"))
        .env("TAPS", taps.to_string())
        .env("ROSTER", ROSTER.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(profile) = &profile {
        command.env("NIMO_BENCH_PROFILE", profile);
    }
    let child = command.spawn().context("cannot start node")?;
    let limit = Duration::from_secs(if ctx.quick { 180 } else { 900 });
    let result = node::finish(child, "checkin-tap.bench.mjs", limit).await?;
    Ok(line(&result, profile.is_some()))
}

fn line(result: &Value, profiled: bool) -> String {
    let durable = &result["durable"];
    let p95 = durable["p95"].as_f64().unwrap_or(f64::NAN);
    let verdict = if p95 <= GOAL_P95_MS { "met" } else { "missed" };
    let figures = |v: &Value| format!("p50 {} / p95 {} / max {} ms", v["p50"], v["p95"], v["max"]);
    format!(
        "check-in tap → durable IndexedDB write ({} taps, {}-person roster, headless Chromium): {} \
         (goal p95 ≤ {GOAL_P95_MS} ms — {verdict}) | tap → change queued: {} | tap → the page \
         told it is durable: {} | tap → last DOM change before durable: {} | tap → row shown \
         checked in (DOM): {} | raw IDB strict put of {} B: {} | page errors: {} | {:.0} s of \
         taps{}",
        result["taps"],
        result["roster"],
        figures(durable),
        figures(&result["edit"]),
        figures(&result["heard"]),
        figures(&result["rendered"]),
        figures(&result["row_shown"]),
        result["raw_chunk_bytes"],
        figures(&result["raw_idb"]),
        result["errors"],
        result["tap_seconds"].as_f64().unwrap_or(0.0),
        if profiled {
            " | CPU profile written to $NIMO_BENCH_PROFILE"
        } else {
            ""
        }
    )
}
