//! Helpers for nimo's cross-crate integration tests: the real server, started in-process on
//! 127.0.0.1:0 with a temporary data directory, reached over real TCP.

use std::{net::SocketAddr, path::Path};

use nimo_server::{AppState, Config};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server and the temporary directories it owns.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its state, for looking into the database directly.
    pub state: AppState,
    data: TempDir,
    dist: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with an empty database and a minimal app shell.
    pub async fn start() -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let dist = tempfile::tempdir()?;
        write_minimal_shell(dist.path())?;
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data.path().to_owned(),
            dist_dir: dist.path().to_owned(),
            ..Config::default()
        };
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let state = AppState::open(config)?;
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(nimo_server::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            state,
            data,
            dist,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The data directory holding the database.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The app shell directory.
    pub fn dist_dir(&self) -> &Path {
        self.dist.path()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

/// An index.html and one hashed asset, enough to test how the shell is served.
fn write_minimal_shell(dist: &Path) -> std::io::Result<()> {
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><html lang=\"ja\"><title>nimo</title></html>",
    )?;
    std::fs::write(dist.join("boot-0123456789abcdef.js"), "export {};")?;
    std::fs::write(dist.join("manifest.webmanifest"), "{}")
}
