//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/` (a crate outside the workspace).
//!
//! Only the stable toolchain exists here. cargo-fuzz's default sanitizer (address) needs
//! `-Zsanitizer`, which stable rustc refuses, so targets are built with `--sanitizer none`:
//! libFuzzer's coverage instrumentation (`-Cpasses=sancov-module` and `-Cllvm-args`) is stable.
//! Our code forbids `unsafe`, so what the fuzzer looks for is panics (including debug
//! assertions, which cargo-fuzz turns on), endless loops and runaway memory, not memory errors.
//!
//! Each run first replays every input kept in `fuzz/regressions/<target>/` (crashes found
//! before and fixed), then fuzzes. A crash leaves its input in `fuzz/artifacts/<target>/` and
//! fails.
//!
//! - `cargo xtask fuzz`: CI's short run, every target (the server's API bodies too, so the fuzz
//!   crate is always built with `--features server`), each for a fixed number of inputs
//!   ([`short_runs`], about a minute of each on a quiet two-core machine) from seed
//!   [`SHORT_SEED`] and an empty corpus: the same inputs on every machine, so CI never fails on a
//!   find that depends on the machine's speed or the day's luck. (A random 30 s run found a
//!   16 GiB allocation in CI once, `regressions/document_load/bundle-huge-run`; finding is the
//!   long run's job, and a find becomes a regression that every run replays.)
//! - `cargo xtask fuzz --long`: 15 minutes per target, every target, a random seed, growing
//!   `fuzz/corpus/<target>/` (not committed). `--seconds N` gives any run that shape with N
//!   seconds per target.
//!
//! cargo-fuzz is installed from crates.io at [`CARGO_FUZZ_VERSION`] when it is missing.

use std::{path::Path, process::Command};

use crate::process;

/// The cargo-fuzz release installed when none is present.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Inputs a target gets in the short run: about a minute of CPU each (their speeds differ
/// fifty-fold: a frame decodes in microseconds, a client handles one in a quarter of a
/// millisecond, and each slows down as its corpus grows, not always evenly). Sized on the
/// development machine by running each target from [`SHORT_SEED`] and timing its CPU seconds;
/// fuzz/README.md has the figures.
fn short_runs(target: &str) -> u64 {
    match target {
        "protocol_frame" => 7_000_000,
        "client_frame" => 240_000,
        "sync_message" => 600_000,
        "document_load" => 2_900_000,
        "roster_csv" => 2_400_000,
        "api_json" => 8_500_000,
        // Not reached: every target has its count above.
        _ => 1_000_000,
    }
}
/// libFuzzer's seed in the short run.
const SHORT_SEED: u64 = 20_261_122;

/// Every target. `api_json` links the server, behind the fuzz crate's `server` feature, which
/// every build here turns on (one feature set, so the short and long runs share one build).
const TARGETS: &[&str] = &[
    "protocol_frame",
    "client_frame",
    "sync_message",
    "document_load",
    "roster_csv",
    "api_json",
];

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// The long run: every target (the server's too), 15 minutes each.
    #[arg(long)]
    long: bool,
    /// Seconds per target, with a random seed and the kept corpus (900 with --long; without
    /// either, the short run's fixed inputs).
    #[arg(long)]
    seconds: Option<u64>,
    /// Fuzz only this target.
    #[arg(long)]
    target: Option<String>,
}

impl FuzzArgs {
    /// CI's short run: every target, fixed inputs.
    pub fn short() -> Self {
        Self {
            long: false,
            seconds: None,
            target: None,
        }
    }
}

/// Installs cargo-fuzz if needed, replays the regressions and fuzzes each target.
pub fn run(root: &Path, args: &FuzzArgs) -> anyhow::Result<()> {
    install_cargo_fuzz(root)?;
    let timed = args.seconds.or(args.long.then_some(900));
    let targets: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| args.target.as_deref().is_none_or(|only| only == *t))
        .collect();
    anyhow::ensure!(
        !targets.is_empty(),
        "no fuzz target named {:?}",
        args.target
    );
    let fuzz_dir = root.join("fuzz");
    // One build of every target first, so the timed runs below only fuzz.
    let mut build = fuzz_command(root, "build");
    build.args(["--sanitizer", "none"]);
    process::run(build, &fuzz_dir)?;
    for target in targets {
        let regressions = fuzz_dir.join("regressions").join(target);
        if regressions.is_dir() {
            let mut replay = fuzz_command(root, "run");
            replay
                .args(["--sanitizer", "none", target])
                .arg(&regressions)
                .args(["--", "-runs=0"]);
            process::run(replay, &fuzz_dir)?;
        }
        let (corpus, shape) = match timed {
            Some(seconds) => (
                fuzz_dir.join("corpus").join(target),
                format!("-max_total_time={seconds}"),
            ),
            None => {
                let corpus = process::target_dir(root)
                    .join("fuzz-short-corpus")
                    .join(target);
                if corpus.exists() {
                    std::fs::remove_dir_all(&corpus)?;
                }
                let runs = short_runs(target);
                (corpus, format!("-runs={runs} -seed={SHORT_SEED}"))
            }
        };
        std::fs::create_dir_all(&corpus)?;
        let mut fuzz = fuzz_command(root, "run");
        fuzz.args(["--sanitizer", "none", target])
            .arg(&corpus)
            .arg("--")
            .args(shape.split(' '))
            .args(["-print_final_stats=1", "-rss_limit_mb=2048", "-timeout=10"]);
        process::run(fuzz, &fuzz_dir)?;
    }
    Ok(())
}

/// `cargo fuzz <subcommand>` with the fuzz crate's own target directory, so its instrumented
/// build never invalidates the workspace's, and the `server` feature (`api_json`).
fn fuzz_command(root: &Path, subcommand: &str) -> Command {
    let mut command = process::cargo();
    command
        .args(["fuzz", subcommand, "--features", "server"])
        .env("CARGO_TARGET_DIR", process::target_dir(root).join("fuzz"));
    command
}

/// Installs cargo-fuzz from crates.io at the pinned version unless that version is present.
fn install_cargo_fuzz(root: &Path) -> anyhow::Result<()> {
    let mut version = process::cargo();
    version.args(["fuzz", "--version"]);
    if let Some(out) = process::output(version)
        && out.contains(CARGO_FUZZ_VERSION)
    {
        return Ok(());
    }
    let mut install = process::cargo();
    install
        .args(["install", "cargo-fuzz", "--locked", "--version"])
        .arg(CARGO_FUZZ_VERSION)
        .env(
            "CARGO_TARGET_DIR",
            process::target_dir(root).join("cargo-install"),
        );
    process::run(install, root)
}
