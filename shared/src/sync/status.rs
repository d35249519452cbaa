//! What the UI shows about sync: one status for the connection, one per document.
//!
//! The per-document status answers the question a visitor asks before leaving a household
//! with a weak signal: "is what I wrote safe on the office server?" Only the server's confirm
//! endpoint (which checks heads against SQLite, DESIGN.md decision 5) can say yes: samod may
//! answer a sync message before its storage write is durable.

/// Where a document's local changes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocStatus {
    /// Some local changes have not reached the server, as far as this device knows.
    OnlyHere,
    /// The server has acknowledged every local change in the sync protocol (or listed heads
    /// that include them in its manifest), but has not yet confirmed they are stored.
    Sent,
    /// The server confirmed that every local change is stored (or there are none).
    Stored,
}

/// The connection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// No connection (waiting to reconnect).
    Offline,
    /// The transport is open and the handshake is under way.
    Connecting,
    /// Connected; `pending` of the `total` documents in this connection are still exchanging
    /// changes with the server.
    Syncing {
        /// Documents whose exchange is not finished.
        pending: usize,
        /// Documents synced in this connection.
        total: usize,
    },
    /// Connected, and every document synced in this connection agrees with the server.
    UpToDate {
        /// When that became true (milliseconds since the epoch).
        at_ms: u64,
    },
}
