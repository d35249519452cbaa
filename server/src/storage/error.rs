//! [`SqliteStoreError`]: why the SQLite chunk store could not open or read a document.

use nimo_shared::storage::StoreError;

use crate::db::DbError;

/// Why opening the store or loading a whole document failed. Single chunk operations return
/// [`StoreError`], the shared trait's error.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The database file could not be opened or migrated.
    #[error("cannot open the chunk database")]
    Open(#[from] DbError),
    /// A chunk operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
