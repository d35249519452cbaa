//! Setting up a fresh machine: everything here is idempotent and asks only the package registries
//! (rustup's wasm32 target and rust-src, Debian's Chromium, npm packages from a committed lock file).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::bail;

use crate::process;

/// The wasm target the app builds for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Adds the wasm32 target with rustup when it is missing (`RUSTUP_AUTO_INSTALL=0` here means a
/// rust-toolchain.toml target is not added by itself).
pub fn wasm_target(root: &Path) -> anyhow::Result<()> {
    rustup_install(root, "target", WASM_TARGET)
}

/// Adds rustup's `rust-src` component when it is missing: the shipped wasm is built with the
/// standard library compiled from source (`dist::compile_wasm`).
pub fn rust_src(root: &Path) -> anyhow::Result<()> {
    rustup_install(root, "component", "rust-src")
}

/// `rustup <kind> add <name>` unless `rustup <kind> list --installed` already names it.
fn rustup_install(root: &Path, kind: &str, name: &str) -> anyhow::Result<()> {
    let mut list = Command::new("rustup");
    list.args([kind, "list", "--installed"]).current_dir(root);
    match process::output(list) {
        Some(installed) if installed.lines().any(|l| l.trim() == name) => Ok(()),
        Some(_) => {
            let mut add = Command::new("rustup");
            add.args([kind, "add", name]);
            process::run(add, root)
        }
        None => bail!(
            "rustup is not available, so the {kind} {name} cannot be checked; \
             install it with `rustup {kind} add {name}`"
        ),
    }
}

/// Installs the npm packages of `dir` from its committed lock file when they are missing or stale.
pub fn npm_packages(dir: &Path) -> anyhow::Result<()> {
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (installed.metadata(), lock.metadata()) {
        (Ok(i), Ok(l)) => match (i.modified(), l.modified()) {
            (Ok(i), Ok(l)) => i >= l,
            _ => false,
        },
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    if which("npm").is_none() {
        bail!(
            "npm is needed for {} but is not installed; run `apt-get install nodejs npm`",
            dir.display()
        );
    }
    let mut ci = Command::new("npm");
    ci.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    process::run(ci, dir)
}

/// Debian's Chromium, its ChromeDriver, and a Japanese font (without one every screenshot of a
/// Japanese UI shows empty boxes), installed with apt when missing.
pub fn chromium(root: &Path) -> anyhow::Result<PathBuf> {
    const CHROMIUM: &str = "/usr/bin/chromium";
    const JAPANESE_FONT: &str = "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf";
    if [CHROMIUM, "/usr/bin/chromedriver", JAPANESE_FONT]
        .iter()
        .all(|path| Path::new(path).exists())
    {
        return Ok(PathBuf::from(CHROMIUM));
    }
    let is_root = process::output({
        let mut id = Command::new("id");
        id.arg("-u");
        id
    })
    .is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        bail!(
            "the browser tests need Debian's Chromium; run \
             `sudo apt-get update && sudo apt-get install -y chromium chromium-driver \
             fonts-ipafont-gothic`"
        );
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    process::run(update, root)?;
    let mut install = Command::new("apt-get");
    install
        .args([
            "install",
            "-y",
            "-qq",
            "chromium",
            "chromium-driver",
            "fonts-ipafont-gothic",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive");
    process::run(install, root)?;
    if !Path::new(CHROMIUM).exists() {
        bail!("apt-get installed chromium but {CHROMIUM} is missing");
    }
    Ok(PathBuf::from(CHROMIUM))
}

/// The path of `program` on `PATH`, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
