//! `cargo xtask soak`: the durability test (`tests/tests/durability.rs`) as a long run. The
//! release server binary is killed with SIGKILL in the middle of a stream of changes, restarted
//! on the same data directory, and checked, `--kills` times (1000 by default).

use std::path::Path;

use crate::process;

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How many times to kill the server.
    #[arg(long, default_value_t = 1000)]
    kills: u64,
    /// Replay a run: the seed a previous run printed.
    #[arg(long)]
    seed: Option<u64>,
}

/// Builds the release server and runs the durability test against it.
pub fn run(root: &Path, args: &SoakArgs) -> anyhow::Result<()> {
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
