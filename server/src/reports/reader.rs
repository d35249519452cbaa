//! Where reports are computed, and how reads of the same report share one computation.
//!
//! A report is a GROUP BY over the projection tables: ~0.4 s of CPU at 100,000 attendance rows.
//! On the server's one connection every report held up logins, registrations and the projection
//! behind it, and reads that came faster than that queued without bound (`cargo xtask bench
//! load`: 20 reads a second, p50 488 s). The office asks for the same few reports again and again,
//! mostly while nothing has changed.
//!
//! So reports run on a read-only connection of their own (WAL lets it read while the server
//! writes), each inside one read transaction, so its queries see one state. The last table of
//! each report and year is kept with the database's `PRAGMA data_version` read just before it was
//! computed: SQLite changes that number whenever another connection commits, and neither of the
//! reader's connections ever writes, so an unchanged number means nothing the table was computed
//! from has changed. A read wants a table computed from a state at least as new as the one it
//! found when it arrived: it takes the kept table if that is so, and otherwise computes one, or
//! waits for the computation under way and takes its result if that started late enough. All
//! reads that arrive while one computation runs are answered by the next.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use nimo_shared::FiscalYear;
use rusqlite::TransactionBehavior;

use super::{REPORTS, ReportTable};
use crate::{Db, db::DbError};

/// How fresh a read's table must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Computed from the database as it was when the read arrived, or newer (a kept table
    /// qualifies while nothing has been committed since it was computed).
    AsOfArrival,
    /// Computed for this read (`Cache-Control: no-cache`; the report benchmark measures the
    /// computation this way).
    Recomputed,
}

/// A table and the `data_version` read before it was computed.
#[derive(Debug, Clone)]
struct Kept {
    version: u64,
    table: Arc<ReportTable>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Kept>>>;

/// Computes reports on its own read-only connection and keeps the last table of each; cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct ReportReader {
    /// Where reports are computed.
    reports: Db,
    /// Where `data_version` is read, so asking for it never waits for a computation.
    versions: Db,
    slots: Arc<Mutex<HashMap<(&'static str, FiscalYear), Slot>>>,
    computed: Arc<AtomicU64>,
}

impl ReportReader {
    /// Opens the reader's two connections to the (already migrated) database at `path`.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Ok(Self {
            reports: Db::open_read_only(path)?,
            versions: Db::open_read_only(path)?,
            slots: Arc::default(),
            computed: Arc::default(),
        })
    }

    /// Report `name` for `year`; `None` for a report that does not exist.
    pub async fn read(
        &self,
        name: &str,
        year: FiscalYear,
        freshness: Freshness,
    ) -> Result<Option<Arc<ReportTable>>, DbError> {
        let Some(report) = REPORTS.iter().find(|report| report.name == name) else {
            return Ok(None);
        };
        let wanted = match freshness {
            Freshness::AsOfArrival => Some(self.data_version().await?),
            Freshness::Recomputed => None,
        };
        let slot = Arc::clone(
            self.slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry((report.name, year))
                .or_default(),
        );
        let mut kept = slot.lock().await;
        if let (Some(kept), Some(wanted)) = (kept.as_ref(), wanted)
            && kept.version >= wanted
        {
            return Ok(Some(Arc::clone(&kept.table)));
        }
        // Read before the computation's own read transaction starts: its table reflects at least
        // this state.
        let version = self.data_version().await?;
        let build = report.build;
        let table = Arc::new(
            self.reports
                .call(move |conn| -> Result<_, DbError> {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                    let table = build(&tx, year)?;
                    tx.finish()?;
                    Ok(table)
                })
                .await?,
        );
        self.computed.fetch_add(1, Ordering::Relaxed);
        *kept = Some(Kept {
            version,
            table: Arc::clone(&table),
        });
        Ok(Some(table))
    }

    /// How many reports were computed since the reader opened (the others were kept tables).
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    async fn data_version(&self) -> Result<u64, DbError> {
        self.versions
            .call(|conn| -> Result<_, DbError> {
                Ok(conn.pragma_query_value(None, "data_version", |row| row.get::<_, i64>(0))?)
            })
            .await
            // SQLite counts up from 1.
            .map(|version| u64::try_from(version).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use nimo_shared::reference::Indicator;

    use super::*;
    use crate::{
        Db,
        accounts::{NewUser, Role, User},
        reports::targets,
    };

    fn year(reiwa: u16) -> FiscalYear {
        FiscalYear::reiwa(reiwa).expect("a fiscal year")
    }

    async fn opened() -> (tempfile::TempDir, Db, ReportReader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_in(dir.path()).expect("a database");
        let reader = ReportReader::open(db.path()).expect("a reader");
        (dir, db, reader)
    }

    /// Sets the R6 supporters target, as an office user, on the server's own connection.
    async fn set_target(db: &Db, target: u32) {
        db.call(move |conn| -> Result<_, DbError> {
            let new = NewUser {
                login: format!("office-{target}"),
                display_name: "事務局".to_owned(),
                role: Role::Office,
                team: None,
                visit_access: false,
                must_change_password: false,
            };
            let office = User::create(conn, &new, "a long enough password").expect("a user");
            Ok(targets::set(
                conn,
                Indicator::KokoroSupportersCumulative,
                year(6),
                target,
                &office.id,
            )?)
        })
        .await
        .expect("a target is set");
    }

    async fn read(reader: &ReportReader, name: &str, year: FiscalYear) -> Arc<ReportTable> {
        reader
            .read(name, year, Freshness::AsOfArrival)
            .await
            .expect("read")
            .expect("a report")
    }

    fn target_cell(table: &ReportTable) -> String {
        format!("{:?}", table.rows)
    }

    #[tokio::test]
    async fn a_report_is_computed_once_while_nothing_is_committed() {
        let (_dir, _db, reader) = opened().await;
        let first = read(&reader, "supporters", year(6)).await;
        let second = read(&reader, "supporters", year(6)).await;
        assert_eq!(reader.computed(), 1);
        assert_eq!(first, second);
        // Another year, another report: their own tables.
        read(&reader, "supporters", year(5)).await;
        read(&reader, "trainings", year(6)).await;
        assert_eq!(reader.computed(), 3);
    }

    #[tokio::test]
    async fn a_commit_on_the_servers_connection_makes_the_next_read_compute_again() {
        let (_dir, db, reader) = opened().await;
        set_target(&db, 1_000).await;
        let before = read(&reader, "progress", year(6)).await;
        assert!(target_cell(&before).contains("1000"), "{before:?}");

        set_target(&db, 2_345).await;
        let after = read(&reader, "progress", year(6)).await;
        assert_eq!(reader.computed(), 2);
        assert!(target_cell(&after).contains("2345"), "{after:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_arriving_together_share_one_computation() {
        let (_dir, _db, reader) = opened().await;
        let reads: Vec<_> = (0..8)
            .map(|_| {
                let reader = reader.clone();
                tokio::spawn(async move { read(&reader, "supporters", year(6)).await })
            })
            .collect();
        let mut tables = Vec::new();
        for read in reads {
            tables.push(read.await.expect("the read finishes"));
        }
        assert_eq!(reader.computed(), 1);
        assert!(tables.windows(2).all(|pair| pair[0] == pair[1]));
    }

    #[tokio::test]
    async fn a_recomputed_read_never_takes_the_kept_table_and_unknown_reports_are_none() {
        let (_dir, _db, reader) = opened().await;
        for _ in 0..2 {
            reader
                .read("supporters", year(6), Freshness::Recomputed)
                .await
                .expect("read");
        }
        assert_eq!(reader.computed(), 2);
        assert!(
            reader
                .read("no-such-report", year(6), Freshness::AsOfArrival)
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_reader_cannot_write() {
        let (_dir, _db, reader) = opened().await;
        let refused = reader
            .reports
            .call(|conn| -> Result<_, DbError> { Ok(conn.execute("DELETE FROM targets", [])?) })
            .await;
        assert!(refused.is_err(), "query_only refuses writes");
    }
}
