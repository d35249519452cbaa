//! The two servers under test as child processes: nimo's release binary and the reference's
//! minimal automerge-repo 2.5.6 server (`servers/repo2-server.mjs`, run from the reference
//! folder). Each listens on 127.0.0.1 only; each is stopped by its own pid (SIGTERM, then
//! SIGKILL after 10 s).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
};

use super::procstat::{self, Sample};

/// A free loopback port (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its process id, for `/proc` sampling.
    pub pid: u32,
    /// Its loopback port.
    pub port: u16,
}

impl Server {
    /// Peak memory and CPU so far.
    pub fn sample(&self) -> Sample {
        procstat::sample(self.pid)
    }

    /// SIGTERM, up to 10 s to finish (nimo lets in-flight writes land), then SIGKILL.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = rustix::process::Pid::from_raw(i32::try_from(self.pid)?) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// Where nimo's benchmark user lives: a trainer of one team, so every document it registers is
/// visible to every client of the benchmark (each client logs in as this user).
pub const NIMO_LOGIN: &str = "bench";
/// The benchmark user's team.
pub const NIMO_TEAM: &str = "仙南保健福祉事務所";
/// The benchmark user's password (a throwaway database).
pub const NIMO_PASSWORD: &str = "bench password, not a secret";

/// Creates the benchmark trainer in a fresh data directory (before the server starts).
pub async fn nimo_add_user(binary: &Path, data_dir: &Path) -> anyhow::Result<()> {
    nimo_add_user_as(binary, data_dir, NIMO_LOGIN, "trainer", Some(NIMO_TEAM)).await
}

/// Creates user `login` with `role` (and `team`) and the benchmark password, while no server
/// runs on `data_dir`.
pub async fn nimo_add_user_as(
    binary: &Path,
    data_dir: &Path,
    login: &str,
    role: &str,
    team: Option<&str>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let mut command = Command::new(binary);
    command
        .args([
            "user", "add", "--login", login, "--name", login, "--role", role,
        ])
        .arg("--password-stdin");
    if let Some(team) = team {
        command.args(["--team", team]);
    }
    let mut child = command
        .arg("--data-dir")
        .arg(data_dir)
        // `NIMO_BENCH_LOG` (e.g. `nimo_server::projection=debug`) to see what the server did.
        .env(
            "NIMO_LOG",
            std::env::var("NIMO_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin
        .write_all(format!("{NIMO_PASSWORD}\n").as_bytes())
        .await?;
    drop(stdin);
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "`nimo-server user add` failed: {status}");
    Ok(())
}

/// Starts `nimo-server serve` on a free loopback port over `data_dir`; waits for its
/// `nimo is listening on` line. Its log (warnings and errors) goes to `data_dir/../server.log`.
pub async fn start_nimo(binary: &Path, data_dir: &Path, dist_dir: &Path) -> anyhow::Result<Server> {
    let port = free_port()?;
    let log = log_file(data_dir)?;
    let mut child = Command::new(binary)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--dist-dir")
        .arg(dist_dir)
        // `NIMO_BENCH_LOG` (e.g. `nimo_server::projection=debug`) to see what the server did.
        .env(
            "NIMO_LOG",
            std::env::var("NIMO_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let pid = child.id().context("nimo-server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("nimo is listening on ") {
                return Ok(());
            }
        }
        bail!(
            "nimo-server exited before listening; see server.log beside {}",
            data_dir.display()
        )
    })
    .await
    .context("nimo-server did not listen within 30 s")??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { child, pid, port })
}

/// Starts the reference's repo2 server (`node servers/repo2-server.mjs`, `PORT`, `DATA_DIR`)
/// from the staged reference folder; waits until its port accepts connections.
pub async fn start_reference(reference: &Path, data_dir: &Path) -> anyhow::Result<Server> {
    std::fs::create_dir_all(data_dir)?;
    let port = free_port()?;
    let log = log_file(data_dir)?;
    let mut child = Command::new("node")
        .arg(reference.join("servers/repo2-server.mjs"))
        .current_dir(data_dir.parent().unwrap_or(data_dir))
        .env("PORT", port.to_string())
        .env("DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start node (the reference server)")?;
    let pid = child.id().context("the reference server exited at once")?;
    let started = tokio::time::Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the reference server exited during start-up ({status}); see server.log beside {}",
                data_dir.display()
            );
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the reference server did not listen within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Server { child, pid, port })
}

fn log_file(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path: PathBuf = data_dir.parent().unwrap_or(data_dir).join("server.log");
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?)
}

/// Copies a directory tree (a stopped server's data, a device's storage).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
