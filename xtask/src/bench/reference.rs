//! Staging the reference folder: its files are copied (never into the project) to
//! `<target>/bench/anchor-js`, because the shared folder is read-only and its scripts need their
//! `node_modules` beside them; its pinned npm packages are installed there once.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

use super::{ATTENDEES, Ctx};
use crate::process;

/// Stages `source` into `staged`; None when `source` is absent.
pub fn stage(source: &Path, staged: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !source.join("bench.mjs").is_file() {
        return Ok(None);
    }
    copy_scripts(source, staged)?;
    if !staged.join("node_modules/.package-lock.json").is_file() {
        let mut ci = Command::new("npm");
        ci.args(["ci", "--no-audit", "--no-fund"]);
        if process::run(ci, staged).is_err() {
            // The folder's lock file was written by an older npm, which newer npm's `ci`
            // rejects (optional platform packages); `install` honours the exact versions of
            // package.json and the lock file otherwise.
            let mut install = Command::new("npm");
            install.args(["install", "--no-audit", "--no-fund"]);
            process::run(install, staged)?;
        }
    }
    Ok(Some(staged.to_owned()))
}

fn copy_scripts(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if ["node_modules", "data", "results"]
            .iter()
            .any(|n| name == *n)
        {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_scripts(&entry.path(), &target)?;
        } else {
            let bytes = fs::read(entry.path())?;
            if fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
                let _ = fs::remove_file(&target);
                fs::write(&target, bytes)
                    .with_context(|| format!("staging {}", target.display()))?;
            }
        }
    }
    Ok(())
}

/// Builds the deterministic corpus (cached) the way the reference harness does.
pub fn build_corpus(ctx: &Ctx) -> anyhow::Result<()> {
    let reference = ctx.clients()?;
    let sizes = ctx.sizes;
    for (prefix, count) in [
        ("w1", sizes.w1_docs),
        ("w2", sizes.w2_devices * sizes.w2_docs),
        ("w3", sizes.w3_docs),
    ] {
        let mut node = Command::new("node");
        node.arg("lib/docs.mjs")
            .args([
                "--build",
                prefix,
                &count.to_string(),
                &ATTENDEES.to_string(),
            ])
            .arg(&ctx.cache)
            .arg("2");
        process::run(node, reference)?;
    }
    Ok(())
}
