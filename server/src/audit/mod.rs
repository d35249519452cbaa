//! The audit log: who did what to which document, when, from which device, in an append-only
//! SQLite table whose rows are hash-chained so that an edited or deleted row is detectable
//! (`nimo-server audit verify`).
//!
//! Recording is one call from any handler or from the sync layer:
//!
//! ```no_run
//! # async fn example(db: &nimo_server::Db) -> Result<(), nimo_server::audit::AuditError> {
//! use nimo_server::audit::{self, Action, AuditEvent};
//! audit::record(
//!     db,
//!     AuditEvent::new(Action::DocumentRead)
//!         .user("user-id")
//!         .device("device-id")
//!         .document("document-id")
//!         .detail("sync"),
//! )
//! .await?;
//! # Ok(()) }
//! ```
//!
//! Inside a transaction of your own, call [`append`] with the transaction instead, so the audit
//! row commits (or rolls back) with the change it describes.
//!
//! **Never put record content in `detail`**: no note text, no names, no patient codes. It is a
//! short machine-written note ("sync", "api", "role trainer→office", "bad password").

mod chain;

use rusqlite::{Connection, TransactionBehavior, params};

pub use chain::{ChainBreak, Verified, verify};

use crate::{Db, accounts::now_ms, db::DbError};

/// What happened. Stored as its [`Action::as_str`] name; new actions are added at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A login got past password and second factor and started a session.
    LoginSucceeded,
    /// A login's password was wrong, or its login unknown.
    LoginFailed,
    /// A login attempt was refused by the throttle before its password was checked.
    LoginThrottled,
    /// A second-factor code or recovery code was wrong.
    MfaFailed,
    /// A TOTP secret was confirmed (enrolment finished) and recovery codes issued.
    MfaEnrolled,
    /// A recovery code was used in place of a TOTP code.
    MfaRecoveryCodeUsed,
    /// An admin removed a user's second factor so they enrol again.
    MfaReset,
    /// A session was ended by its user.
    Logout,
    /// A user changed their password.
    PasswordChanged,
    /// A device was revoked; its sessions ended.
    DeviceRevoked,
    /// A user was disabled; their sessions ended.
    UserDisabled,
    /// A user's role or visit access changed; their sessions ended.
    RoleChanged,
    /// A document's members (the visiting pair) changed.
    MembersChanged,
    /// A document was registered.
    DocumentRegistered,
    /// A document (or part of it) was sent to a user.
    DocumentRead,
    /// A user's change to a document was received.
    DocumentWritten,
    /// A document was erased.
    DocumentErased,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::MfaFailed => "mfa_failed",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaRecoveryCodeUsed => "mfa_recovery_code_used",
            Self::MfaReset => "mfa_reset",
            Self::Logout => "logout",
            Self::PasswordChanged => "password_changed",
            Self::DeviceRevoked => "device_revoked",
            Self::UserDisabled => "user_disabled",
            Self::RoleChanged => "role_changed",
            Self::MembersChanged => "members_changed",
            Self::DocumentRegistered => "document_registered",
            Self::DocumentRead => "document_read",
            Self::DocumentWritten => "document_written",
            Self::DocumentErased => "document_erased",
        }
    }
}

/// One audit row to be written. Build it with [`AuditEvent::new`] and the setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub action: Action,
    /// The acting (or, for a failed login, the targeted) user's id, if known.
    pub user_id: Option<String>,
    /// The device, if known.
    pub device_id: Option<String>,
    /// The document concerned, if any.
    pub document_id: Option<String>,
    /// A short note without record content.
    pub detail: String,
}

impl AuditEvent {
    /// An event with no user, device, document or detail yet.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            user_id: None,
            device_id: None,
            document_id: None,
            detail: String::new(),
        }
    }

    /// Sets the user.
    #[must_use]
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the device.
    #[must_use]
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// Sets the document.
    #[must_use]
    pub fn document(mut self, document_id: impl Into<String>) -> Self {
        self.document_id = Some(document_id.into());
        self
    }

    /// Sets the detail: a short note, never record content.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for AuditError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(error))
    }
}

/// Writes `event` as the next row of the chain, on the blocking pool. Returns its sequence
/// number.
pub async fn record(db: &Db, event: AuditEvent) -> Result<i64, AuditError> {
    db.call(move |conn| append(conn, &event)).await
}

/// Writes `event` as the next row of the chain on `conn`.
///
/// Outside a transaction this opens an immediate (write-locking) one, so two connections can
/// never chain onto the same previous row. Inside the caller's transaction the row commits with
/// it; that transaction should have been begun `IMMEDIATE` (or already written), for the same
/// reason.
pub fn append(conn: &Connection, event: &AuditEvent) -> Result<i64, AuditError> {
    if conn.is_autocommit() {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let seq = append_in_transaction(&tx, event)?;
        tx.commit()?;
        Ok(seq)
    } else {
        append_in_transaction(conn, event)
    }
}

fn append_in_transaction(conn: &Connection, event: &AuditEvent) -> Result<i64, AuditError> {
    let (last_seq, prev_hash) = chain::last(conn)?;
    let row = chain::Row {
        seq: last_seq + 1,
        at: now_ms(),
        user_id: event.user_id.clone(),
        device_id: event.device_id.clone(),
        document_id: event.document_id.clone(),
        action: event.action.as_str().to_owned(),
        detail: event.detail.clone(),
    };
    let hash = chain::hash(&prev_hash, &row);
    conn.execute(
        "INSERT INTO audit_log (seq, at, user_id, device_id, document_id, action, detail, \
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.seq,
            row.at,
            row.user_id,
            row.device_id,
            row.document_id,
            row.action,
            row.detail,
            prev_hash.as_slice(),
            hash.as_slice()
        ],
    )?;
    Ok(row.seq)
}

/// Records `event`, logging instead of failing when the log cannot be written: for events
/// whose request must still get its answer (a failed login still gets its 401).
pub async fn record_or_log(db: &Db, event: AuditEvent) {
    let action = event.action;
    if let Err(error) = record(db, event).await {
        tracing::error!(%error, action = action.as_str(), "cannot write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrations");
        conn
    }

    #[test]
    fn rows_chain_onto_each_other_and_verify() {
        let conn = conn();
        for action in [Action::LoginFailed, Action::LoginSucceeded, Action::Logout] {
            append(&conn, &AuditEvent::new(action).user("u1").detail("test")).expect("append");
        }
        let verified = verify(&conn).expect("readable").expect("intact");
        assert_eq!(verified.rows, 3);
    }

    #[test]
    fn an_edited_row_breaks_the_chain_at_that_row() {
        let conn = conn();
        for n in 0..4 {
            append(
                &conn,
                &AuditEvent::new(Action::DocumentRead)
                    .user("u1")
                    .document(format!("doc{n}")),
            )
            .expect("append");
        }
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_update; \
             UPDATE audit_log SET user_id = 'someone else' WHERE seq = 3;",
        )
        .expect("tamper");
        let broken = verify(&conn)
            .expect("readable")
            .expect_err("tampering detected");
        assert_eq!(broken.seq, 3);
    }

    #[test]
    fn a_deleted_row_in_the_middle_breaks_the_chain() {
        let conn = conn();
        for _ in 0..3 {
            append(&conn, &AuditEvent::new(Action::LoginFailed)).expect("append");
        }
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;",
        )
        .expect("tamper");
        let broken = verify(&conn).expect("readable").expect_err("gap detected");
        assert_eq!(broken.seq, 3);
    }

    #[test]
    fn the_table_refuses_updates_and_deletes_through_sql() {
        let conn = conn();
        append(&conn, &AuditEvent::new(Action::LoginFailed)).expect("append");
        assert!(
            conn.execute("UPDATE audit_log SET detail = 'x'", [])
                .is_err()
        );
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
    }

    #[test]
    fn inside_a_callers_transaction_the_row_rolls_back_with_it() {
        let mut conn = conn();
        let tx = conn.transaction().expect("tx");
        append(&tx, &AuditEvent::new(Action::RoleChanged)).expect("append");
        drop(tx);
        assert_eq!(verify(&conn).expect("readable").expect("intact").rows, 0);
    }
}
