//! `nimo-server`: the command line around the server library.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nimo_server::{
    AppState, Config, Db,
    accounts::{NewUser, Role, User, random_bytes},
    config::LogFormat,
};
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
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the report tables projected from the documents.
    #[command(subcommand)]
    Projection(ProjectionCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copy the database online (the server may keep running) to a new file, and check it.
    Backup {
        /// The backup file to write; must not exist.
        target: PathBuf,
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Replace the database with a backup after checking it (integrity, audit chain, every
    /// document's heads). Stop the server first; the replaced database is kept beside it.
    Restore {
        /// The backup file to restore.
        backup: PathBuf,
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain of the audit log and report the first broken row (exit status 1).
    Verify {
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionCommand {
    /// Recreate every report table row and registry head from the stored documents.
    Rebuild {
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. A one-time password is generated and printed unless --password-stdin is
    /// given; the user must change a generated password at first login.
    Add(UserAddArgs),
    /// Remove a user's second factor (lost phone and recovery codes, e.g. the only admin's);
    /// they enrol a new one at their next login. Written to the audit log.
    ResetMfa {
        /// The user's login.
        #[arg(long)]
        login: String,
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct UserAddArgs {
    /// Login name: letters, digits, '.', '_' or '-'.
    #[arg(long)]
    login: String,
    /// Name shown to colleagues.
    #[arg(long)]
    name: String,
    /// trainer, visitor, office or admin.
    #[arg(long)]
    role: Role,
    /// Team name (created if new), e.g. the trainer's health office.
    #[arg(long)]
    team: Option<String>,
    /// Office staff only: may read visit cases.
    #[arg(long)]
    visit_access: bool,
    /// Read the password from standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    /// Directory of the SQLite database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
        Command::Projection(ProjectionCommand::Rebuild { data_dir }) => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            runtime.block_on(rebuild_projection(&config))
        }
        Command::Backup { target, data_dir } => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            let report =
                runtime.block_on(nimo_server::backup::backup(&config.data_dir, &target))?;
            println!(
                "backup written to {}: integrity ok, {} documents with their heads, audit log \
                 intact ({} rows, head {})",
                target.display(),
                report.documents,
                report.audit_rows,
                report.audit_head
            );
            Ok(())
        }
        Command::Restore { backup, data_dir } => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            let report =
                runtime.block_on(nimo_server::backup::restore(&backup, &config.data_dir))?;
            println!(
                "restored {}: integrity ok, {} documents with their heads, audit log intact \
                 ({} rows, head {})",
                backup.display(),
                report.check.documents,
                report.check.audit_rows,
                report.check.audit_head
            );
            if let Some(previous) = report.previous {
                println!("the replaced database is kept as {}", previous.display());
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { data_dir }) => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            verify_audit_log(&config)
        }
        Command::User(UserCommand::ResetMfa { login, data_dir }) => {
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            reset_mfa(&config, &login)
        }
        Command::User(UserCommand::Add(args)) => {
            if let Some(dir) = &args.data_dir {
                config.data_dir.clone_from(dir);
            }
            add_user(&config, args)
        }
    }
}

async fn rebuild_projection(config: &Config) -> anyhow::Result<()> {
    let db = Db::open_in(&config.data_dir)?;
    let store = nimo_server::storage::SqliteChunkStore::open(db.path())?;
    let count = nimo_server::projection::rebuild(&db, &store).await?;
    println!("projected {count} documents");
    Ok(())
}

fn verify_audit_log(config: &Config) -> anyhow::Result<()> {
    let db = Db::open_in(&config.data_dir)?;
    let conn = nimo_server::db::open_connection(db.path())?;
    match nimo_server::audit::verify(&conn)? {
        Ok(verified) => {
            println!(
                "audit log intact: {} rows, head {}",
                verified.rows, verified.head
            );
            Ok(())
        }
        Err(broken) => anyhow::bail!("the audit log is broken at {broken}"),
    }
}

fn reset_mfa(config: &Config, login: &str) -> anyhow::Result<()> {
    use nimo_server::audit::{self, Action, AuditEvent};
    let db = Db::open_in(&config.data_dir)?;
    let mut conn = nimo_server::db::open_connection(db.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (user, _) = User::find_for_login(&tx, login)?
        .with_context(|| format!("no user with the login {login:?}"))?;
    nimo_server::accounts::mfa::reset(&tx, &user.id)?;
    audit::append(
        &tx,
        &AuditEvent::new(Action::MfaReset)
            .user(&user.id)
            .detail("command line"),
    )?;
    tx.commit()?;
    println!("the second factor of {login} was removed; they enrol again at their next login");
    Ok(())
}

fn one_time_password() -> String {
    bs58::encode(random_bytes::<12>()).into_string()
}

fn add_user(config: &Config, args: UserAddArgs) -> anyhow::Result<()> {
    let db = Db::open_in(&config.data_dir)?;
    let mut conn = nimo_server::db::open_connection(db.path())?;
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (one_time_password(), true)
    };
    let user = User::create(
        &mut conn,
        &NewUser {
            login: args.login,
            display_name: args.name,
            role: args.role,
            team: args.team,
            visit_access: args.visit_access,
            must_change_password: generated,
        },
        &password,
    )?;
    println!("created {} ({}, id {})", user.login, user.role, user.id);
    if generated {
        println!("one-time password: {password}");
        println!("(shown once; it must be changed at first login)");
    }
    Ok(())
}

/// On a database with no users, creates `admin` with a one-time password printed once.
fn bootstrap_admin(db: &Db) -> anyhow::Result<()> {
    let mut conn = nimo_server::db::open_connection(db.path())?;
    if User::count(&conn)? > 0 {
        return Ok(());
    }
    let password = one_time_password();
    User::create(
        &mut conn,
        &NewUser {
            login: "admin".to_owned(),
            display_name: "管理者".to_owned(),
            role: Role::Admin,
            team: None,
            visit_access: false,
            must_change_password: true,
        },
        &password,
    )?;
    println!("nimo created the first administrator account:");
    println!("  login:    admin");
    println!("  password: {password}");
    println!("  (shown once; it must be changed at first login. Create more users with");
    println!("   `nimo-server user add --login NAME --name 氏名 --role trainer --team TEAM`.)");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(?config, "starting");
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::open(config)
        .await
        .context("cannot open the database")?;
    bootstrap_admin(&state.db)?;
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
    std::panic::set_hook(Box::new(log_panic));
}

/// Panics go to the log as one event in its format, not as raw text on stderr beside it. Most
/// are caught and harmless: automerge 0.12 panics on some hostile sync messages, which the
/// frame guard and the cold exchanges catch and refuse; the event says where, for a report.
/// With `RUST_BACKTRACE` set, it carries the backtrace too.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let location = info.location().map(ToString::to_string).unwrap_or_default();
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        tracing::error!(thread, %location, %backtrace, "panicked: {message}");
    } else {
        tracing::error!(thread, %location, "panicked: {message}");
    }
}
