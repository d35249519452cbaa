//! The SQLite database: opening it with the durability settings nimo relies on, and applying
//! migrations.
//!
//! Every connection runs in WAL mode with `synchronous = FULL`: a commit that returned is on disk,
//! which is what lets the server tell a device "stored" (DESIGN.md, decision 5).

mod migrations;
mod serial;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use migrations::{MIGRATIONS, Migration, apply as apply_migrations};
pub use serial::{CallError, SerialConnection};

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer nimo than this one.
    #[error("the database schema is version {found}, newer than this server knows ({known})")]
    SchemaTooNew {
        /// Version stored in the file.
        found: i64,
        /// Highest version this build knows.
        known: i64,
    },
    /// The call panicked, or the connection's thread is gone.
    #[error("the database call did not complete")]
    Task(#[source] CallError),
}

/// A handle to the server's database, cheap to clone.
///
/// One connection on a thread of its own that runs one call at a time ([`SerialConnection`]):
/// SQLite allows one writer at a time anyway, and the server's reads are short.
#[derive(Clone, Debug)]
pub struct Db {
    conn: SerialConnection,
    path: PathBuf,
}

impl Db {
    /// The file name of the database inside the data directory.
    pub const FILE_NAME: &'static str = "nimo.sqlite3";

    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    pub fn open_in(data_dir: &Path) -> Result<Self, DbError> {
        std::fs::create_dir_all(data_dir).map_err(|source| DbError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Self::open(&data_dir.join(Self::FILE_NAME))
    }

    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let mut conn = open_connection(path)?;
        // Every transaction here takes the write lock when it begins. A deferred one that reads
        // and then writes while the chunk store's connection writes fails at once with
        // SQLITE_BUSY (SQLite cannot wait there without risking a deadlock); an immediate one
        // waits its busy timeout like any other write.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        migrations::apply(&mut conn)?;
        Ok(Self {
            conn: SerialConnection::new(conn),
            path: path.to_owned(),
        })
    }

    /// Opens another connection to the (already migrated) database at `path` that cannot write
    /// (`query_only`): the reports read on their own (`reports::reader`).
    pub fn open_read_only(path: &Path) -> Result<Self, DbError> {
        let conn = open_connection(path)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Self {
            conn: SerialConnection::new(conn),
            path: path.to_owned(),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on its thread. The error type is the caller's, so a
    /// handler can return its own errors from inside the closure.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        self.conn
            .call(f)
            .await
            .map_err(|e| E::from(DbError::Task(e)))?
    }
}

/// Opens one connection with nimo's pragmas.
pub fn open_connection(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    // First: the pragmas below read the database, and another process (the running server,
    // while `nimo-server backup` or `user add` opens the file) may hold a lock just then.
    // Without the timeout they fail at once with "database is locked" (seen in CI).
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each document written is projected with ~25 statements and each sync exchange asks the
    // registry a few more: all of them stay prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// How many prepared statements each connection keeps ([`open_connection`]).
pub const STATEMENT_CACHE: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_creates_the_file_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_in(&dir.path().join("nested")).expect("open");
        assert!(db.path().exists());
        let (mode, sync): (String, i64) = db.conn.with_blocking(|conn| {
            (
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .expect("journal_mode"),
                conn.pragma_query_value(None, "synchronous", |r| r.get(0))
                    .expect("synchronous"),
            )
        });
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous = FULL");
    }
}
