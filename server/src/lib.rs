//! nimo's office server.
//!
//! One binary holds the HTTP API, the app shell and the automerge-repo WebSocket endpoint (samod)
//! over one SQLite database. As a library it exposes [`router`] and [`serve`] so tests start the
//! real server on port 0 with a temporary database.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod backup;
pub mod config;
pub mod db;
pub mod http;
pub mod office;
pub mod projection;
pub mod registry;
pub mod reports;
pub mod session_expiry;
pub mod storage;
pub mod sync;
pub mod visits;

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
    /// samod and the sync bookkeeping.
    pub sync: sync::SyncHub,
    /// Where the office's reports are computed and kept.
    pub reports: reports::ReportReader,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Db(#[from] db::DbError),
    /// The chunk store could not be opened.
    #[error("cannot open the document store")]
    Store(#[from] storage::SqliteStoreError),
    /// The report tables could not be brought up to date.
    #[error("cannot rebuild the report tables")]
    Projection(#[from] projection::ProjectionError),
    /// samod did not start.
    #[error(transparent)]
    Sync(#[from] sync::SyncStartError),
}

impl AppState {
    /// Opens the database under the configured data directory and starts sync over it.
    pub async fn open(config: Config) -> Result<Self, StartError> {
        let db = Db::open_in(&config.data_dir)?;
        let store = storage::SqliteChunkStore::open(db.path())?;
        if let Some(projected) = projection::rebuild_if_stale(&db, &store).await? {
            tracing::info!(projected, "report rows had an older shape; rebuilt them");
        }
        reports::targets::seed_from_plan(&db).await?;
        let reports = reports::ReportReader::open(db.path())?;
        // Access decisions about a document are taken again on every message here that concerns
        // it: its registration, its assignment, its growing past the size limit; only that
        // document's share-policy streams wake (`sync::access_notifier`).
        let access_changed = sync::access_notifier::AccessNotifier::default();
        store.notify_writes_to(projection::spawn(
            db.clone(),
            store.clone(),
            access_changed.clone(),
            config.max_document_bytes,
        ));
        let sync = sync::SyncHub::start(
            db.clone(),
            store,
            access_changed,
            config.max_document_bytes,
            config.sync_shards,
        )
        .await?;
        Ok(Self {
            config: Arc::new(config),
            db,
            sync,
            reports,
        })
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests and
/// waits for samod's storage writes.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sync = state.sync.clone();
    let expiry = session_expiry::spawn(state.clone());
    // Connection info gives handlers the client address (login throttle, audit log).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    expiry.abort();
    sync.stop().await;
    served
}
