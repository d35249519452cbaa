//! Building the app shell into `dist/`.
//!
//! cargo builds the app for wasm32 with the size profile; the `wasm-bindgen-cli-support` library,
//! at exactly the version in Cargo.lock, writes the JavaScript bindings; wasm-opt from npm's
//! binaryen (Debian's is too old, TOOLCHAIN.md) shrinks the wasm; every file that index.html
//! loads gets a content hash in its name so the server can cache it forever; text and wasm files
//! are precompressed with brotli. The new tree is assembled beside `dist/` and swapped in at the
//! end, so a failed build never leaves a half-written shell.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::{process, setup};

/// The cargo profile of the shipped wasm (see the workspace manifest).
const WASM_PROFILE: &str = "wasm-release";
/// The binding's file stem: `nimo-app.js` and `nimo-app_bg.wasm`.
const APP: &str = "nimo-app";
/// The service worker's crate and binding stem: `nimo-sw.js` and `nimo-sw_bg.wasm`.
const WORKER: &str = "nimo-sw";
/// Set to `1` to build the shell with panic messages (see `compile_wasm`).
const PANIC_MESSAGES: &str = "NIMO_PANIC_MESSAGES";

/// What the shell is built from: a file here newer than `dist/` means `dist/` is stale.
const SOURCES: &[&str] = &[
    "app",
    "shared/src",
    "sw",
    "public",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "rust-toolchain.toml",
    // How it is built: a change to the compiler's options here is a new shell.
    "xtask/src/dist.rs",
];

/// Why `dist/` does not match the sources (missing, or a source file changed after it was
/// built); `None` when it is up to date.
pub fn stale(root: &Path) -> anyhow::Result<Option<String>> {
    let manifest = root.join("dist/asset-manifest.json");
    let Ok(built) = fs::metadata(&manifest).and_then(|m| m.modified()) else {
        return Ok(Some("dist/ has not been built".to_owned()));
    };
    let mut pending: Vec<PathBuf> = SOURCES.iter().map(|s| root.join(s)).collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        } else if meta.modified()? > built {
            let changed = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            return Ok(Some(format!("{changed} changed after dist/ was built")));
        }
    }
    Ok(None)
}

/// Builds the shell and returns the path of `dist/`.
pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    setup::wasm_target(root)?;
    setup::rust_src(root)?;
    let [app_wasm, worker_wasm] = compile_wasm(root)?;
    let target = process::target_dir(root);
    // Staged beside dist/ so the final rename stays on one filesystem.
    let staging = root.join(".dist-staging");
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;

    let bound = target.join("dist-bindgen");
    if bound.exists() {
        fs::remove_dir_all(&bound)?;
    }
    let mut names = BTreeMap::new();
    for (wasm, stem) in [(&app_wasm, APP), (&worker_wasm, WORKER)] {
        bind(wasm, stem, &bound)?;
        optimise(root, &bound.join(format!("{stem}_bg.wasm")))?;
        for file in [format!("{stem}.js"), format!("{stem}_bg.wasm")] {
            let bytes = fs::read(bound.join(&file)).with_context(|| format!("reading {file}"))?;
            names.insert(file.clone(), write_hashed(&staging, &file, &bytes)?);
        }
    }
    // Leptos and its dependencies may ship JavaScript snippets, imported by relative path.
    let snippets = bound.join("snippets");
    if snippets.exists() {
        copy_tree(&snippets, &staging.join("snippets"))?;
    }

    let public = root.join("public");
    // The stylesheet and the chunk writer's worker script, as they are.
    for file in ["style.css", "idb-writer.js"] {
        let bytes = fs::read(public.join(file)).with_context(|| format!("reading {file}"))?;
        names.insert(file.into(), write_hashed(&staging, file, &bytes)?);
    }
    let boot = fill(&fs::read_to_string(public.join("boot.js"))?, &names)?;
    names.insert(
        "boot.js".into(),
        write_hashed(&staging, "boot.js", boot.as_bytes())?,
    );
    let index = fill(&fs::read_to_string(public.join("index.html"))?, &names)?;
    fs::write(staging.join("index.html"), index)?;
    fs::copy(
        public.join("manifest.webmanifest"),
        staging.join("manifest.webmanifest"),
    )?;
    copy_tree(&public.join("icons"), &staging.join("icons"))?;

    let (version, files) = write_asset_list(&staging)?;
    // The worker's script keeps its name (browsers look for updates at one URL) and carries
    // this build's version and file list, so each build is a new worker.
    let mut worker_names = names.clone();
    worker_names.insert("@version".into(), version);
    worker_names.insert("@precache".into(), serde_json::to_string(&files)?);
    let worker = fill(&fs::read_to_string(public.join("sw.js"))?, &worker_names)?;
    fs::write(staging.join("sw.js"), worker)?;
    precompress(&staging)?;

    let dist = root.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).context("removing the old dist/")?;
    }
    fs::rename(&staging, &dist).context("moving the new shell into dist/")?;
    report_sizes(&dist, &names)?;
    Ok(dist)
}

/// Builds the app and the service worker; returns their wasm files, in that order.
///
/// The standard library is compiled from source with the app, for size (BENCH-RESULTS.md,
/// "Session 19"): its size-optimised algorithms, no panic machinery (a panic traps at once, so
/// the browser reports a `RuntimeError: unreachable` without the message, as it already aborted
/// the app) and no source locations in the binary. These are unstable cargo and rustc options,
/// which the pinned stable toolchain (rust-toolchain.toml) allows only with `RUSTC_BOOTSTRAP`;
/// it is set for this one build, not for the checks and tests, which stay on plain stable.
/// `NIMO_PANIC_MESSAGES=1` keeps the standard panic machinery, so the console shows each panic's
/// message and location again (for chasing a failure; the shell is ~37 KB brotli larger).
fn compile_wasm(root: &Path) -> anyhow::Result<[PathBuf; 2]> {
    let rustflags = if std::env::var_os(PANIC_MESSAGES).is_some_and(|v| v == "1") {
        "[]"
    } else {
        r#"["-Zlocation-detail=none", "-Zunstable-options", "-Cpanic=immediate-abort"]"#
    };
    let mut cargo = process::cargo();
    cargo
        .args([
            "build",
            "--package",
            APP,
            "--package",
            WORKER,
            "--target",
            setup::WASM_TARGET,
            "--profile",
            WASM_PROFILE,
            "-Zbuild-std=std,panic_abort",
            "-Zbuild-std-features=optimize_for_size",
            // Appended to .cargo/config.toml's flags for the target (cargo joins config arrays).
            "--config",
            &format!("target.{}.rustflags = {rustflags}", setup::WASM_TARGET),
        ])
        .env("RUSTC_BOOTSTRAP", "1");
    process::run(cargo, root)?;
    let out = process::target_dir(root).join(format!("{}/{WASM_PROFILE}", setup::WASM_TARGET));
    // A library's wasm is named after the crate, with underscores.
    let wasm = [
        out.join(format!("{APP}.wasm")),
        out.join(format!("{}.wasm", WORKER.replace('-', "_"))),
    ];
    for file in &wasm {
        if !file.exists() {
            bail!("cargo finished but {} is missing", file.display());
        }
    }
    Ok(wasm)
}

fn bind(wasm: &Path, stem: &str, out: &Path) -> anyhow::Result<()> {
    eprintln!("xtask: wasm-bindgen (library) {}", wasm.display());
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .out_name(stem)
        .web(true)?
        .typescript(false)
        .generate(out)
        .context("wasm-bindgen failed")
}

/// Runs npm binaryen's wasm-opt for size. `-Os`, not `-Oz`: on this app `-Os` leaves a module
/// 2% larger raw but 2.4 KB smaller brotli, which is what is downloaded (BENCH-RESULTS.md,
/// "Session 5: app shell size"). The features listed are those rustc 1.95 emits for wasm32 by
/// default; wasm-opt must be told, or it rejects the module.
fn optimise(root: &Path, wasm: &Path) -> anyhow::Result<()> {
    let tools = root.join("xtask");
    setup::npm_packages(&tools)?;
    let wasm_opt = tools.join("node_modules/.bin/wasm-opt");
    let optimised = wasm.with_extension("opt.wasm");
    // The bound module still has its function names (wasm-opt drops them): kept beside it for
    // size analysis (`twiggy top target/dist-bindgen/nimo-app_bg.named.wasm`, BENCH-RESULTS.md).
    fs::copy(wasm, wasm.with_extension("named.wasm"))?;
    let mut command = Command::new(&wasm_opt);
    command
        .args([
            "-Os",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .arg(wasm)
        .arg("-o")
        .arg(&optimised);
    process::run(command, root)?;
    fs::rename(&optimised, wasm)?;
    Ok(())
}

/// Writes `bytes` as `stem-<16 hex digits of SHA-256>.ext` and returns that name.
fn write_hashed(dir: &Path, file: &str, bytes: &[u8]) -> anyhow::Result<String> {
    let digest = Sha256::digest(bytes);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = match file.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash}.{ext}"),
        None => format!("{file}-{hash}"),
    };
    fs::write(dir.join(&name), bytes)?;
    Ok(name)
}

/// Replaces every `{{name}}` in `template` with the hashed name of `name`; an unknown name is an
/// error, so a renamed file cannot ship a broken reference.
fn fill(template: &str, names: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .context("an unclosed {{ in a public/ template")?;
        let key = &after[..end];
        let Some(name) = names.get(key) else {
            bail!("public/ template names {{{{{key}}}}}, which the build does not produce");
        };
        out.push_str(name);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Every file of the shell, relative to `dist/`, sorted.
fn files_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// `asset-manifest.json`: the files of this build and a version derived from all of them, for
/// the service worker's precache. Returns the version and the list (paths from the root).
fn write_asset_list(dir: &Path) -> anyhow::Result<(String, Vec<String>)> {
    let files = files_in(dir)?;
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.as_bytes());
        hasher.update(fs::read(dir.join(file))?);
    }
    let version: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let files: Vec<String> = files.iter().map(|f| format!("/{f}")).collect();
    let list = serde_json::json!({ "version": version, "files": files });
    fs::write(
        dir.join("asset-manifest.json"),
        serde_json::to_vec_pretty(&list)?,
    )?;
    Ok((version, files))
}

/// Writes `file.br` beside every compressible file.
fn precompress(dir: &Path) -> anyhow::Result<()> {
    for file in files_in(dir)? {
        let compressible = [".js", ".wasm", ".css", ".html", ".json", ".webmanifest"]
            .iter()
            .any(|ext| file.ends_with(ext));
        if !compressible {
            continue;
        }
        let path = dir.join(&file);
        let bytes = fs::read(&path)?;
        fs::write(format!("{}.br", path.display()), brotli_compress(&bytes)?)?;
    }
    Ok(())
}

/// Brotli at its highest quality: the shell is compressed once and downloaded many times.
pub fn brotli_compress(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 22);
        writer.write_all(bytes)?;
    }
    Ok(out)
}

fn report_sizes(dist: &Path, names: &BTreeMap<String, String>) -> anyhow::Result<()> {
    // The page loads the app's files; the worker's load only in the worker.
    for (label, worker) in [
        ("app shell (js, wasm, css)", false),
        ("service worker", true),
    ] {
        let mut raw = 0;
        let mut compressed = 0;
        for (source, name) in names {
            if source.starts_with(WORKER) != worker {
                continue;
            }
            raw += fs::metadata(dist.join(name))?.len();
            compressed += fs::metadata(dist.join(format!("{name}.br")))?.len();
        }
        eprintln!(
            "xtask: {label} in {}: {} KB raw, {} KB brotli",
            dist.display(),
            raw / 1024,
            compressed / 1024
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_hashed_names_and_unknown_names_fail() {
        let names = BTreeMap::from([("boot.js".to_owned(), "boot-0011.js".to_owned())]);
        assert_eq!(
            fill("<script src=\"/{{boot.js}}\">", &names).expect("filled"),
            "<script src=\"/boot-0011.js\">"
        );
        assert!(fill("{{missing.js}}", &names).is_err());
        assert!(fill("{{boot.js", &names).is_err());
    }

    #[test]
    fn hashed_names_depend_on_content_only() {
        let dir = tempfile_dir();
        let a = write_hashed(&dir, "a.js", b"one").expect("a");
        let b = write_hashed(&dir, "a.js", b"one").expect("b");
        let c = write_hashed(&dir, "a.js", b"two").expect("c");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("a-") && a.ends_with(".js") && a.len() == "a-.js".len() + 16);
        let _ = fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-dist-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
