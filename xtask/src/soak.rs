//! `cargo xtask soak`: the long runs of the reliability tests.
//!
//! Without options: the durability test (`tests/tests/durability.rs`) as a long run. The release
//! server binary is killed with SIGKILL in the middle of a stream of changes, restarted on the
//! same data directory, and checked, `--kills` times (1000 by default).
//!
//! `--browser`: `tests/e2e/browser-crash.test.mjs` with `--runs` SIGKILLs of Chromium (100 by
//! default) right after an offline check-in; CI runs 3.
//!
//! `--sim`: the seeded network-fault simulation (`shared/tests/sync_simulation.rs`) over
//! `--seeds` seeds (10,000 by default) in release; CI runs 300 in debug.

use std::path::Path;

use crate::{dist, process, setup, test};

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How many times to kill the server.
    #[arg(long, default_value_t = 1000)]
    kills: u64,
    /// Replay a run: the seed a previous run printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run the seeded sync simulation (3–5 devices, a faulty network, restarts) instead of the
    /// SIGKILL loop.
    #[arg(long)]
    sim: bool,
    /// How many simulation seeds `--sim` runs (0..seeds).
    #[arg(long, default_value_t = 10_000)]
    seeds: u64,
    /// Kill headless Chromium right after a local save, `--runs` times, and check the change
    /// is there after a relaunch on the same profile.
    #[arg(long)]
    browser: bool,
    /// How many browser kills `--browser` makes.
    #[arg(long, default_value_t = 100)]
    runs: u64,
}

/// Builds what the chosen soak needs and runs it.
pub fn run(root: &Path, args: &SoakArgs) -> anyhow::Result<()> {
    if args.sim {
        return simulation(root, args);
    }
    if args.browser {
        return browser(root, args);
    }
    let mut build = process::cargo();
    build.args(["build", "--release", "--package", "nimo-server"]);
    process::run(build, root)?;

    let mut test = process::cargo();
    test.args([
        "test",
        "--release",
        "--package",
        "nimo-tests",
        "--test",
        "durability",
    ])
    .args(["--", "--nocapture"])
    .env(
        "NIMO_SERVER_BIN",
        process::target_dir(root).join("release/nimo-server"),
    )
    .env("NIMO_SOAK_KILLS", args.kills.to_string());
    if let Some(seed) = args.seed {
        test.env("NIMO_SOAK_SEED", seed.to_string());
    }
    process::run(test, root)
}

/// The sync simulation over many seeds; a failure prints the seed to replay with `--seed`.
fn simulation(root: &Path, args: &SoakArgs) -> anyhow::Result<()> {
    let mut test = process::cargo();
    test.args([
        "test",
        "--release",
        "--package",
        "nimo-shared",
        "--test",
        "sync_simulation",
    ])
    .args([
        "every_faulty_history_converges_to_the_same_documents_everywhere",
        "--",
        "--nocapture",
    ])
    .env("NIMO_SIM_SEEDS", args.seeds.to_string());
    if let Some(seed) = args.seed {
        test.env("NIMO_SIM_SEED", seed.to_string());
    }
    process::run(test, root)
}

/// The browser-crash test with many runs, against the debug server and a fresh `dist/`.
fn browser(root: &Path, args: &SoakArgs) -> anyhow::Result<()> {
    let chromium = setup::chromium(root)?;
    setup::npm_packages(&root.join("tests"))?;
    let mut build = process::cargo();
    build.args(["build", "--package", "nimo-server"]);
    process::run(build, root)?;
    let dist = dist::build(root)?;
    test::browser_tests(
        root,
        &chromium,
        &dist,
        Some("browser-crash.test.mjs"),
        &[("NIMO_BROWSER_CRASH_RUNS", args.runs.to_string())],
    )
}
