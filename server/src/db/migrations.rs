//! Schema migrations: `server/migrations/NNN_what.sql`, applied in order, each in its own
//! transaction, the version kept in `PRAGMA user_version`. An applied migration is never edited;
//! a change is a new file.

use rusqlite::Connection;

use super::DbError;

/// One migration step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: the file's number.
    pub version: i64,
    /// Its file name, for logs.
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/", $name)),
        }
    };
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "001_accounts.sql"),
    migration!(2, "002_chunks.sql"),
    migration!(3, "003_registry.sql"),
    migration!(4, "004_projection.sql"),
    migration!(5, "005_office.sql"),
    migration!(6, "006_security.sql"),
    migration!(7, "007_device_wipe.sql"),
    migration!(8, "008_projected_heads.sql"),
];

/// Applies every migration newer than the database's version.
pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > known {
        return Err(DbError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)?;
        tx.pragma_update(None, "user_version", migration.version)?;
        tx.commit()?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_in_increasing_order_and_named_by_their_number() {
        // Numbers are reserved per branch, so a branch may lack one that another adds; the order
        // must still be strictly increasing.
        let mut previous = 0;
        for migration in MIGRATIONS {
            assert!(migration.version > previous, "{}", migration.name);
            previous = migration.version;
            assert!(
                migration
                    .name
                    .starts_with(&format!("{:03}_", migration.version)),
                "{} does not start with its number",
                migration.name
            );
        }
    }

    #[test]
    fn applying_twice_is_a_no_op_and_records_the_version() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        apply(&mut conn).expect("first");
        apply(&mut conn).expect("second");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.last().expect("one").version);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        conn.pragma_update(None, "user_version", 999).expect("set");
        assert!(matches!(
            apply(&mut conn),
            Err(DbError::SchemaTooNew { found: 999, .. })
        ));
    }
}
