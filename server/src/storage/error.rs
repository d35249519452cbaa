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
    /// A document's stored chunks do not load as Automerge: a chunk is damaged, something
    /// other than samod wrote it, or changes are missing their dependencies.
    #[error("the {chunk_count} stored chunks of document {doc_id} do not load")]
    CorruptDocument {
        /// The document.
        doc_id: String,
        /// How many chunks it has.
        chunk_count: usize,
        /// Automerge's complaint (boxed: it is large, and this is the rare path).
        #[source]
        source: Box<automerge::AutomergeError>,
    },
}
