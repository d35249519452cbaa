//! One SQLite connection shared by async callers and lent to one call at a time.

use std::sync::Arc;

use rusqlite::Connection;

/// A connection behind an async lock, lent to one call at a time on tokio's blocking pool;
/// cheap to clone (clones share the connection).
///
/// Callers wait for their turn as futures, in order (tokio's lock is fair), and only the call
/// whose turn it is occupies a blocking thread. With the lock taken on the blocking thread
/// instead, a burst of calls (W2: a thousand documents loaded, and their access decided, at
/// once) parked one blocking thread per call on the lock, up to tokio's cap of 512, each
/// with its stack (BENCH-RESULTS.md, session 11).
#[derive(Clone, Debug)]
pub struct SerialConnection(Arc<tokio::sync::Mutex<Connection>>);

impl SerialConnection {
    /// Shares `conn`.
    pub fn new(conn: Connection) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(conn)))
    }

    /// Runs `f` with the connection on the blocking pool once the calls before it have run.
    /// An error means `f` panicked (or the runtime is shutting down); the connection is lent
    /// again to the next call, a `rusqlite::Transaction` that `f` held rolled back as the
    /// panic unwound it.
    pub async fn call<T, F>(&self, f: F) -> Result<T, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let mut conn = Arc::clone(&self.0).lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut conn)).await
    }

    /// Holds the connection until the guard is dropped: calls wait meanwhile (for tests that
    /// stand in for a long commit).
    #[cfg(test)]
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, Connection> {
        self.0.lock().await
    }

    /// Runs `f` with the connection on the current thread (for synchronous tests).
    #[cfg(test)]
    pub fn with_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.0.blocking_lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_run_in_the_order_they_asked_and_a_panic_leaves_the_connection_usable() {
        let shared = SerialConnection::new(Connection::open_in_memory().expect("in memory"));
        shared
            .call(|conn| conn.execute_batch("CREATE TABLE turns (n INTEGER NOT NULL)"))
            .await
            .expect("not panicked")
            .expect("created");
        // Held, so that every call below queues before the first runs.
        let held = shared.hold().await;
        let mut calls = Vec::new();
        for n in 0..20 {
            let shared = shared.clone();
            calls.push(tokio::spawn(async move {
                shared
                    .call(move |conn| conn.execute("INSERT INTO turns VALUES (?1)", [n]))
                    .await
            }));
            // Each call is waiting for its turn before the next is made.
            tokio::task::yield_now().await;
        }
        drop(held);
        for call in calls {
            call.await
                .expect("joined")
                .expect("not panicked")
                .expect("inserted");
        }
        let panicked = shared
            .call(|conn| {
                let tx = conn.transaction().expect("begun");
                tx.execute("INSERT INTO turns VALUES (99)", [])
                    .expect("inserted");
                panic!("a call that panics inside its transaction");
            })
            .await;
        assert!(panicked.is_err(), "the panic is reported, not propagated");
        let order: Vec<i64> = shared
            .call(|conn| {
                let mut rows = conn.prepare("SELECT n FROM turns ORDER BY rowid")?;
                rows.query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .await
            .expect("not panicked")
            .expect("read");
        assert_eq!(
            order,
            (0..20).collect::<Vec<_>>(),
            "in order, and 99 rolled back"
        );
    }
}
