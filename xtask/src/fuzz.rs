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
//! - `cargo xtask fuzz`: CI's short run, the targets of `shared`, each for a fixed number of
//!   inputs ([`short_runs`]) from seed [`SHORT_SEED`] and an empty corpus: the same inputs on every machine, so
//!   CI never fails on a find that depends on the machine's speed or the day's luck. (A random
//!   30 s run found a 16 GiB allocation in CI once, `regressions/document_load/bundle-huge-run`;
//!   finding is the long run's job, and a find becomes a regression that every run replays.)
//! - `cargo xtask fuzz --long`: 15 minutes per target, every target including the server's API
//!   bodies (`--features server`), a random seed, growing `fuzz/corpus/<target>/` (not
//!   committed). `--seconds N` gives any run that shape with N seconds per target.
//!
//! cargo-fuzz is installed from crates.io at [`CARGO_FUZZ_VERSION`] when it is missing.

use std::{path::Path, process::Command};

use crate::process;

/// The cargo-fuzz release installed when none is present.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Inputs a target gets in the short run: about 15 s of each on this machine (their speeds
/// differ fifty-fold: a frame decodes in microseconds, a client handles one in a third of a
/// millisecond).
fn short_runs(target: &str) -> u64 {
    match target {
        "protocol_frame" => 2_000_000, // ~200,000 inputs/s
        "client_frame" => 50_000,      // ~3,000/s
        "sync_message" => 150_000,     // ~10,000/s
        "document_load" => 600_000,    // ~40,000/s
        _ => 1_500_000,                // roster_csv: ~100,000/s
    }
}
/// libFuzzer's seed in the short run.
const SHORT_SEED: u64 = 20_261_122;

/// Targets that need only `shared`: fast to build, run in CI.
const SHARED_TARGETS: &[&str] = &[
    "protocol_frame",
    "client_frame",
    "sync_message",
    "document_load",
    "roster_csv",
];
/// Targets that link the server (behind the fuzz crate's `server` feature).
const SERVER_TARGETS: &[&str] = &["api_json"];

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
    /// Include the targets that link the server in a short run.
    #[arg(long)]
    all: bool,
    /// Fuzz only this target.
    #[arg(long)]
    target: Option<String>,
}

impl FuzzArgs {
    /// CI's short run: the `shared` targets, fixed inputs.
    pub fn short() -> Self {
        Self {
            long: false,
            seconds: None,
            all: false,
            target: None,
        }
    }
}

/// Installs cargo-fuzz if needed, replays the regressions and fuzzes each target.
pub fn run(root: &Path, args: &FuzzArgs) -> anyhow::Result<()> {
    install_cargo_fuzz(root)?;
    let with_server = args.long || args.all || args.target.as_deref().is_some_and(is_server);
    let timed = args.seconds.or(args.long.then_some(900));
    let targets: Vec<&str> = SHARED_TARGETS
        .iter()
        .chain(if with_server { SERVER_TARGETS } else { &[] })
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
    let mut build = fuzz_command(root, "build", with_server);
    build.args(["--sanitizer", "none"]);
    process::run(build, &fuzz_dir)?;
    for target in targets {
        let regressions = fuzz_dir.join("regressions").join(target);
        if regressions.is_dir() {
            let mut replay = fuzz_command(root, "run", with_server);
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
        let mut fuzz = fuzz_command(root, "run", with_server);
        fuzz.args(["--sanitizer", "none", target])
            .arg(&corpus)
            .arg("--")
            .args(shape.split(' '))
            .args(["-print_final_stats=1", "-rss_limit_mb=2048", "-timeout=10"]);
        process::run(fuzz, &fuzz_dir)?;
    }
    Ok(())
}

fn is_server(target: &str) -> bool {
    SERVER_TARGETS.contains(&target)
}

/// `cargo fuzz <subcommand>` with the fuzz crate's own target directory, so its instrumented
/// build never invalidates the workspace's.
fn fuzz_command(root: &Path, subcommand: &str, with_server: bool) -> Command {
    let mut command = process::cargo();
    command
        .args(["fuzz", subcommand])
        .env("CARGO_TARGET_DIR", process::target_dir(root).join("fuzz"));
    if with_server {
        command.args(["--features", "server"]);
    }
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
