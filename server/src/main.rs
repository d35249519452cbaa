//! `nimo-server`: the command line around the server library.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nimo_server::{AppState, Config, config::LogFormat};
use tokio::net::TcpListener;

/// nimo's office server: sync endpoint, API, reports and the app shell over one SQLite database.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; NIMO_* environment variables override it.
    #[arg(long, global = true, env = "NIMO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the app shell (the default).
    Serve(ServeArgs),
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080; port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Directory of the built app shell.
    #[arg(long)]
    dist_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if let Some(dir) = args.data_dir {
                config.data_dir = dir;
            }
            if let Some(dir) = args.dist_dir {
                config.dist_dir = dir;
            }
            runtime.block_on(serve(config))
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(?config, "starting");
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::open(config).context("cannot open the database")?;
    // Tests and `cargo xtask serve` read this line to learn the port: keep its shape.
    println!("nimo is listening on http://{address}");
    nimo_server::serve(state, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NIMO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
