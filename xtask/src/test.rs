//! `cargo xtask test`: every check CI runs, in the order that fails fastest.
//!
//! It first sets up what a fresh machine lacks (the wasm32 target, Debian's Chromium, the npm
//! packages of the Node-driven tests), so the same command works on a developer's machine and in
//! CI. Nothing is skipped silently: a missing tool is installed or the run stops and says how.

use std::{fs, path::Path, process::Command};

use anyhow::Context as _;

use crate::{bench, dist, fuzz, process, setup};

/// SIGKILLs of the server in CI's durability test (`tests/tests/durability.rs`; its default,
/// for a quick `cargo test`, is 5; `cargo xtask soak` runs 1,000).
const CI_SERVER_KILLS: u32 = 20;

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {}

/// Runs every check.
pub fn run(root: &Path, _args: &TestArgs) -> anyhow::Result<()> {
    setup::wasm_target(root)?;
    let chromium = setup::chromium(root)?;
    let e2e = root.join("tests");
    setup::npm_packages(&e2e)?;

    step(root, &["fmt", "--all", "--check"])?;
    step(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // `shared` must stay free of IO and build for the browser; the app and its service worker
    // are only ever wasm.
    step(
        root,
        &[
            "clippy",
            "--package",
            "nimo-shared",
            "--package",
            "nimo-app",
            "--package",
            "nimo-sw",
            "--target",
            setup::WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let mut doc = process::cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--exclude", "nimo-app"])
        .env("RUSTDOCFLAGS", "-D warnings");
    process::run(doc, root)?;
    // The durability test kills the real server binary, so it is built before the tests run.
    step(root, &["build", "--package", "nimo-server"])?;
    // The office dashboard's browser test loads the R6 fixture through the sync path with it.
    step(
        root,
        &[
            "build",
            "--package",
            "nimo-tests",
            "--bin",
            "nimo-load-fixture",
        ],
    )?;
    // The app's own unit tests (routes, labels, messages, counts) are pure and run natively;
    // the rest of it is tested in the browser.
    let mut test = process::cargo();
    test.args(["test", "--workspace"])
        .env("NIMO_SERVER_BIN", server_binary(root))
        .env("NIMO_SOAK_KILLS", CI_SERVER_KILLS.to_string());
    process::run(test, root)?;
    // The decoders of untrusted bytes, fuzzed briefly (the long run is `cargo xtask fuzz --long`).
    fuzz::run(root, &fuzz::FuzzArgs::short())?;

    let dist = dist::build(root)?;
    browser_tests(root, &chromium, &dist, None, &[])?;
    // The benchmarks' smoke version, so they keep working (its figures are not checked).
    bench::quick(root)
}

/// The debug server binary `cargo build --package nimo-server` makes.
fn server_binary(root: &Path) -> std::path::PathBuf {
    process::target_dir(root).join("debug/nimo-server")
}

fn step(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cargo = process::cargo();
    cargo.args(args);
    process::run(cargo, root)
}

/// Runs the Node test files under `tests/e2e/` (or only `only`) against the debug server binary
/// and `dist/`, with `env` added.
pub fn browser_tests(
    root: &Path,
    chromium: &Path,
    dist: &Path,
    only: Option<&str>,
    env: &[(&str, String)],
) -> anyhow::Result<()> {
    let dir = root.join("tests/e2e");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(".test.mjs"))
                && only.is_none_or(|only| path.file_name().is_some_and(|name| name == only))
        })
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no browser tests in {}", dir.display());
    let target = process::target_dir(root);
    let artifacts = target.join("e2e");
    fs::create_dir_all(&artifacts)?;
    let mut node = Command::new("node");
    // One browser at a time: two cores, and each test starts its own server and Chromium.
    node.args(["--test", "--test-concurrency=1"])
        .args(&files)
        .env("NIMO_SERVER_BIN", target.join("debug/nimo-server"))
        .env(
            "NIMO_FIXTURE_LOADER",
            target.join("debug/nimo-load-fixture"),
        )
        .env("NIMO_DIST_DIR", dist)
        .env("NIMO_CHROMIUM", chromium)
        .env("NIMO_ARTIFACTS", &artifacts)
        .envs(env.iter().map(|(k, v)| (*k, v)));
    process::run(node, &root.join("tests"))
}
