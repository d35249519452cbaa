//! Online backup and checked restore of the database (docs/operations.md has the schedule).
//!
//! `backup` copies the live database with SQLite's online backup API: a consistent snapshot
//! even while the server writes (WAL readers are never blocked), written beside the target
//! and renamed into place only once complete and checked.
//!
//! `restore` never swaps in a file it has not checked: a copy of the backup must pass
//! `PRAGMA integrity_check`, its audit chain must verify, and every registered document must
//! load from its chunks with every head the registry recorded as stored. Only then is the
//! current database moved aside (kept, never deleted) and the copy put in its place. The server
//! must be stopped while restoring.

use std::{
    path::{Path, PathBuf},
    str::FromStr as _,
};

use automerge::{ChangeHash, ReadDoc as _};

use crate::{
    Db, audit,
    db::{CallError, DbError, open_connection},
    storage::{SqliteChunkStore, SqliteStoreError},
};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target of a backup exists already; backups are never overwritten.
    #[error("{0} exists already; choose a new file name")]
    TargetExists(PathBuf),
    /// A file could not be copied, renamed or removed.
    #[error("file operation on {path} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The chunk store failed.
    #[error(transparent)]
    Store(#[from] SqliteStoreError),
    /// The audit log could not be read.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The copy failed a check; nothing was swapped in.
    #[error("the backup failed its check: {0}")]
    CheckFailed(String),
}

impl From<rusqlite::Error> for BackupError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(error))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a check found in a database file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Registered documents, all loaded with their recorded heads.
    pub documents: usize,
    /// Documents holding changes newer than their recorded heads (the projection had not run
    /// yet when the copy was taken; `projection rebuild` or the next write catches up).
    pub documents_ahead_of_registry: usize,
    /// Rows in the audit log, whose chain verified.
    pub audit_rows: i64,
    /// The audit log's last hash, worth writing down with the backup.
    pub audit_head: String,
}

/// Copies the database in `data_dir` to `target` online, then checks the copy.
pub async fn backup(data_dir: &Path, target: &Path) -> Result<CheckReport, BackupError> {
    if target.exists() {
        return Err(BackupError::TargetExists(target.to_owned()));
    }
    let source = data_dir.join(Db::FILE_NAME);
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    {
        let source = source.clone();
        let partial = partial.clone();
        tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
            let src = open_connection(&source)?;
            let mut dst = rusqlite::Connection::open(&partial)?;
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
            // 256 pages (1 MiB) per step with a short pause lets the server write in between.
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
            Ok(())
        })
        .await
        .map_err(|e| BackupError::Db(DbError::Task(CallError::Panicked(e.to_string()))))??;
    }
    let report = match check(&partial).await {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    checkpoint(&partial)?;
    leave_wal(&partial)?;
    std::fs::rename(&partial, target).map_err(io(target))?;
    Ok(report)
}

/// Makes the copy one self-contained file: no WAL beside it. Leaving WAL mode needs the only
/// connection to the file, and the check's chunk store closes its own on its thread a moment
/// after it is dropped ("database is locked" in CI): retried meanwhile, for up to 5 s.
fn leave_wal(path: &Path) -> Result<(), BackupError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match open_connection(path)?.pragma_update(None, "journal_mode", "DELETE") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done => return Ok(done?),
        }
    }
}

/// Folds the WAL into the main file, so the main file alone holds every commit.
fn checkpoint(path: &Path) -> Result<(), BackupError> {
    let conn = open_connection(path)?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        return Err(BackupError::CheckFailed(format!(
            "{} is in use; stop the server before restoring",
            path.display()
        )));
    }
    Ok(())
}

/// Checks the database file at `path`: integrity, the audit chain, and every registered
/// document's heads. Applies pending migrations first (as the server would at start).
pub async fn check(path: &Path) -> Result<CheckReport, BackupError> {
    let conn = open_connection(path)?;
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if integrity != ["ok"] {
        return Err(BackupError::CheckFailed(format!(
            "integrity_check: {}",
            integrity.join("; ")
        )));
    }
    drop(conn);
    let store = SqliteChunkStore::open(path)?;
    let conn = open_connection(path)?;
    let verified = audit::verify(&conn)?
        .map_err(|broken| BackupError::CheckFailed(format!("audit log broken at {broken}")))?;
    let registered: Vec<(String, String)> = conn
        .prepare("SELECT id, heads FROM documents WHERE deleted_at IS NULL ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(conn);
    let mut ahead = 0;
    for (doc_id, heads) in &registered {
        let heads: Vec<String> = serde_json::from_str(heads).map_err(|_| {
            BackupError::CheckFailed(format!("document {doc_id}: unreadable heads"))
        })?;
        let Some(doc) = store.load_document(doc_id).await? else {
            if heads.is_empty() {
                continue; // Registered, never synced.
            }
            return Err(BackupError::CheckFailed(format!(
                "document {doc_id}: no chunks but {} recorded heads",
                heads.len()
            )));
        };
        for head in &heads {
            let hash = ChangeHash::from_str(head).map_err(|_| {
                BackupError::CheckFailed(format!("document {doc_id}: malformed head"))
            })?;
            if doc.get_change_by_hash(&hash).is_none() {
                return Err(BackupError::CheckFailed(format!(
                    "document {doc_id}: recorded head {head} is missing"
                )));
            }
        }
        let mut loaded: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
        let mut recorded = heads.clone();
        loaded.sort();
        recorded.sort();
        if loaded != recorded {
            ahead += 1;
        }
    }
    Ok(CheckReport {
        documents: registered.len(),
        documents_ahead_of_registry: ahead,
        audit_rows: verified.rows,
        audit_head: verified.head,
    })
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    /// What the check of the restored copy found.
    pub check: CheckReport,
    /// Where the database that was replaced now lies (`None` if there was none).
    pub previous: Option<PathBuf>,
}

/// Restores `backup_file` into `data_dir` after checking a copy of it. The server must be
/// stopped.
pub async fn restore(backup_file: &Path, data_dir: &Path) -> Result<RestoreReport, BackupError> {
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let live = data_dir.join(Db::FILE_NAME);
    let candidate = data_dir.join(format!("{}.restoring", Db::FILE_NAME));
    for stale in sidecars(&candidate) {
        let _ = std::fs::remove_file(stale);
    }
    std::fs::copy(backup_file, &candidate).map_err(io(&candidate))?;
    let report = match check(&candidate).await {
        Ok(report) => report,
        Err(error) => {
            for file in sidecars(&candidate) {
                let _ = std::fs::remove_file(file);
            }
            return Err(error);
        }
    };
    checkpoint(&candidate)?;
    let previous = if live.exists() {
        // Fold the live WAL in first, then move the three files aside together.
        checkpoint(&live)?;
        let aside = data_dir.join(format!(
            "{}.before-restore-{}",
            Db::FILE_NAME,
            crate::accounts::now_ms()
        ));
        for (from, to) in sidecars(&live).iter().zip(sidecars(&aside).iter()) {
            if from.exists() {
                std::fs::rename(from, to).map_err(io(to))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    for (from, to) in sidecars(&candidate).iter().zip(sidecars(&live).iter()) {
        if from.exists() {
            std::fs::rename(from, to).map_err(io(to))?;
        }
    }
    Ok(RestoreReport {
        check: report,
        previous,
    })
}

/// A database file and its WAL and shared-memory files.
fn sidecars(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}
