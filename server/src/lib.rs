//! nimo's office server.
//!
//! One binary holds the HTTP API, the app shell and (with the sync issue) the automerge-repo
//! WebSocket endpoint, over one SQLite database. As a library it exposes [`router`] and [`serve`]
//! so tests start the real server on port 0 with a temporary database.

pub mod config;
pub mod db;
pub mod http;

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;

pub use config::Config;
pub use db::Db;
pub use http::router;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
}

impl AppState {
    /// Opens the database under the configured data directory.
    pub fn open(config: Config) -> Result<Self, db::DbError> {
        let db = Db::open_in(&config.data_dir)?;
        Ok(Self {
            config: Arc::new(config),
            db,
        })
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
