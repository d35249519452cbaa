//! nimo's task runner (`cargo xtask …`): builds the app shell without tools fetched from the
//! internet, sets up what the tests need on a fresh machine, and runs every check.

mod bench;
mod dist;
mod fuzz;
mod process;
mod serve;
mod setup;
mod soak;
mod test;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "nimo's task runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the app shell into dist/ (wasm, bindings, size optimisation, hashed names).
    Build,
    /// Build the app shell and the server, then serve on http://127.0.0.1:8080.
    Serve(serve::ServeArgs),
    /// Run every check CI runs: format, lints, wasm32 builds, unit, integration and browser tests.
    Test(test::TestArgs),
    /// Kill the release server with SIGKILL mid-sync many times (default 1000) and check that
    /// every confirmed change survives; `--sim` runs 10,000 seeds of the sync simulation,
    /// `--browser` kills Chromium 100 times right after a local save.
    Soak(soak::SoakArgs),
    /// Benchmarks: BENCH.md's workloads against nimo and the JavaScript reference, the limits,
    /// and `bench load`.
    Bench(bench::BenchArgs),
    /// Fuzz every decoder of untrusted bytes with cargo-fuzz (`fuzz/`): the same inputs on every
    /// run (about a minute per target), or 15 minutes each from a random seed with `--long`.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Command::Build => dist::build(&root).map(|_| ()),
        Command::Serve(args) => serve::run(&root, &args),
        Command::Test(args) => test::run(&root, &args),
        Command::Soak(args) => soak::run(&root, &args),
        Command::Bench(args) => bench::run(&root, &args),
        Command::Fuzz(args) => fuzz::run(&root, &args),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
