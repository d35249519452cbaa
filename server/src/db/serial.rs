//! One SQLite connection shared by async callers, owned by a thread of its own that runs their
//! calls one after another.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

/// A call to run with the connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Why a call returned no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call panicked; its transaction was rolled back and the connection serves the next.
    #[error("the database call panicked: {0}")]
    Panicked(String),
    /// The connection's thread is gone (it can only stop when every handle is dropped).
    #[error("the database connection's thread has stopped")]
    Stopped,
}

/// A connection owned by one thread, which runs the calls sent to it in the order they were
/// sent; cheap to clone (clones send to the same thread, which ends when the last is dropped).
///
/// Callers wait for their result as futures. Two earlier designs each cost something in a
/// burst of calls (BENCH-RESULTS.md, sessions 11 and 12): a mutex taken on tokio's blocking
/// pool parked one blocking thread per waiting call, up to tokio's cap of 512; an async lock
/// taken before `spawn_blocking` bounded the threads, but every hand-over went through the
/// busy runtime twice (the lock's wake-up, then the blocking pool's), and a burst of writes
/// ran ~15% slower. Here the thread takes the next call as soon as one ends.
#[derive(Clone, Debug)]
pub struct SerialConnection {
    jobs: mpsc::Sender<Job>,
}

impl SerialConnection {
    /// Moves `conn` to a thread of its own.
    ///
    /// # Panics
    /// If the operating system refuses a new thread (as `std::thread::spawn` does).
    pub fn new(conn: Connection) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("nimo-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .expect("a thread for the SQLite connection");
        Self { jobs }
    }

    /// Runs `f` with the connection once the calls sent before it have run. A caller that
    /// stopped waiting before its turn is skipped. If `f` panics, the caller gets
    /// [`CallError::Panicked`], a transaction `f` left open is rolled back, and the connection
    /// serves the next call.
    pub async fn call<T, F>(&self, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            if reply.is_closed() {
                return;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
            if outcome.is_err() && !conn.is_autocommit() {
                // A `rusqlite::Transaction` rolls back as the panic drops it; a transaction
                // begun by plain SQL does not.
                let _ = conn.execute_batch("ROLLBACK");
            }
            let _ = reply.send(outcome.map_err(|panic| panic_text(panic.as_ref())));
        });
        self.jobs.send(job).map_err(|_| CallError::Stopped)?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(text)) => Err(CallError::Panicked(text)),
            Err(_) => Err(CallError::Stopped),
        }
    }

    /// Holds the connection until the guard is dropped: calls wait meanwhile (for tests that
    /// stand in for a long commit).
    #[cfg(test)]
    pub async fn hold(&self) -> Hold {
        let (started, running) = oneshot::channel();
        let (release, released) = mpsc::channel::<()>();
        let job: Job = Box::new(move |_| {
            let _ = started.send(());
            // Returns once the guard (the only sender) is dropped.
            let _ = released.recv();
        });
        self.jobs.send(job).expect("the connection's thread runs");
        running.await.expect("the hold began");
        Hold { _release: release }
    }

    /// Runs `f` with the connection and blocks until it has (for synchronous tests).
    #[cfg(test)]
    pub fn with_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> T {
        let (reply, result) = mpsc::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.jobs.send(job).expect("the connection's thread runs");
        result.recv().expect("the call ran")
    }
}

/// Keeps the connection busy until dropped ([`SerialConnection::hold`]).
#[cfg(test)]
#[derive(Debug)]
pub struct Hold {
    _release: mpsc::Sender<()>,
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection to an in-memory database with an empty `turns (n)` table.
    async fn with_turns() -> SerialConnection {
        let shared = SerialConnection::new(Connection::open_in_memory().expect("in memory"));
        shared
            .call(|conn| conn.execute_batch("CREATE TABLE turns (n INTEGER NOT NULL)"))
            .await
            .expect("not panicked")
            .expect("created");
        shared
    }

    /// Inserts `n` into `turns` from a task of its own, which sends its call when first polled.
    fn spawn_insert(
        shared: &SerialConnection,
        n: i64,
    ) -> tokio::task::JoinHandle<Result<rusqlite::Result<usize>, CallError>> {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared
                .call(move |conn| conn.execute("INSERT INTO turns VALUES (?1)", [n]))
                .await
        })
    }

    /// The `turns` rows in the order they were inserted.
    async fn turns(shared: &SerialConnection) -> Vec<i64> {
        shared
            .call(|conn| {
                let mut rows = conn.prepare("SELECT n FROM turns ORDER BY rowid")?;
                rows.query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .await
            .expect("not panicked")
            .expect("read")
    }

    #[tokio::test]
    async fn calls_run_in_the_order_they_asked_and_a_panic_leaves_the_connection_usable() {
        let shared = with_turns().await;
        // Held, so that every call below queues before the first runs.
        let held = shared.hold().await;
        let mut calls = Vec::new();
        for n in 0..20 {
            calls.push(spawn_insert(&shared, n));
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
        assert_eq!(
            turns(&shared).await,
            (0..20).collect::<Vec<_>>(),
            "in order, and 99 rolled back"
        );
    }

    #[tokio::test]
    async fn a_caller_that_stopped_waiting_before_its_turn_is_skipped() {
        let shared = with_turns().await;
        let held = shared.hold().await;
        let given_up = spawn_insert(&shared, 1);
        let kept = spawn_insert(&shared, 2);
        // Both are queued behind the hold before one of them gives up: on the test's
        // single-threaded runtime a yield lets each spawned task send its call.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        given_up.abort();
        assert!(given_up.await.expect_err("aborted").is_cancelled());
        drop(held);
        kept.await
            .expect("joined")
            .expect("not panicked")
            .expect("inserted");
        assert_eq!(
            turns(&shared).await,
            vec![2],
            "the call nobody waited for did not run"
        );
    }
}
