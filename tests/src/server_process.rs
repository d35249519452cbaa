//! The real `nimo-server` binary as a child process, for tests that must kill it (SIGKILL) and
//! start it again on the same data directory.
//!
//! The binary is `NIMO_SERVER_BIN` when set (`cargo xtask test` and `cargo xtask soak` set it),
//! else `<target dir>/debug/nimo-server`, built by `cargo build -p nimo-server`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
};

/// How long the server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The server binary to run; fails saying how to build it when it is missing.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    let binary = match std::env::var_os("NIMO_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .context("the tests crate has no parent directory")?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
            target.join("debug").join("nimo-server")
        }
    };
    anyhow::ensure!(
        binary.is_file(),
        "the server binary {} is missing: run `cargo build -p nimo-server` first (with the same \
         CARGO_TARGET_DIR), or set NIMO_SERVER_BIN to it",
        binary.display()
    );
    Ok(binary)
}

/// A `dist` folder in `dir` with a one-line index.html: enough of an app shell for the server
/// to start.
pub fn minimal_dist(dir: &Path) -> std::io::Result<PathBuf> {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist)?;
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>nimo</title>",
    )?;
    Ok(dist)
}

/// Creates a trainer with `password` in the database under `data_dir`, through the binary's
/// `user add` command (before the server starts).
pub async fn add_trainer(
    binary: &Path,
    data_dir: &Path,
    login: &str,
    team: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut child = Command::new(binary)
        .args(["user", "add", "--login", login, "--name", login])
        .args(["--role", "trainer", "--team", team, "--password-stdin"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("NIMO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin.write_all(format!("{password}\n").as_bytes()).await?;
    drop(stdin);
    let status = child.wait().await?;
    anyhow::ensure!(
        status.success(),
        "`user add --login {login}` failed: {status}"
    );
    Ok(())
}

/// A running `nimo-server serve` on 127.0.0.1:0. Dropping it kills the process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The base URL it printed, e.g. `http://127.0.0.1:41234`.
    pub base: String,
}

impl ServerProcess {
    /// Starts the server over `data_dir` and waits for its `nimo is listening on` line. Its
    /// log (stderr, warnings and errors) is appended to `log`.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        dist_dir: &Path,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--dist-dir")
            .arg(dist_dir)
            .env("NIMO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(base) = line.strip_prefix("nimo is listening on ") {
                    return Ok(base.trim().to_owned());
                }
            }
            anyhow::bail!("the server exited before listening; see {}", log.display())
        })
        .await
        .with_context(|| format!("the server did not listen within {START_TIMEOUT:?}"))??;
        // Keep reading so a later line can never block the server on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills the server with SIGKILL (no shutdown, no flush: a power cut) and waits for it.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
