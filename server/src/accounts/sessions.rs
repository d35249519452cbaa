//! Login sessions. The client holds a random token; the server stores only its SHA-256, so the
//! database alone cannot be used to log in.

use std::fmt;

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::{AccountsError, Role, User, now_ms, random_bytes, random_id};

const MINUTE_MS: i64 = 60 * 1000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// How long a session may go unused, and how long it may last at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ended when no request came for this long.
    pub idle_ms: i64,
    /// Ended this long after the login, however busy.
    pub absolute_ms: i64,
}

impl SessionLimits {
    /// The limits of a role.
    ///
    /// - Office and admin work at a desk on the office network: 30 minutes idle, 12 hours at
    ///   most (one working day).
    /// - Trainers and visitors work in halls and on wards without signal; their device stays
    ///   logged in offline behind its PIN (the app's lock), so the server cannot see activity
    ///   for days. 14 days idle, 30 days at most; then the device logs in again (unsynced
    ///   changes stay on the device and sync after that login).
    pub fn for_role(role: Role) -> Self {
        match role {
            Role::Office | Role::Admin => Self {
                idle_ms: 30 * MINUTE_MS,
                absolute_ms: 12 * 60 * MINUTE_MS,
            },
            Role::Trainer | Role::Visitor => Self {
                idle_ms: 14 * DAY_MS,
                absolute_ms: 30 * DAY_MS,
            },
        }
    }

    /// Whether a session created at `created_at` and last used at `last_seen_at` is still live
    /// at `now`.
    pub fn allow(self, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        now - last_seen_at < self.idle_ms && now - created_at < self.absolute_ms
    }
}

/// How far a session's `last_seen_at` may lag behind its last request. Every authenticated
/// request used to write it, two fsynced commits per request (the W1 bench's registrations spent
/// more on them than on the check itself); a minute is nothing against the idle limits (30 minutes
/// at the least) and the office's "last seen" column.
pub const LAST_SEEN_STEP_MS: i64 = MINUTE_MS;

/// The longest any session lasts (a field role's absolute lifetime).
pub const SESSION_LIFETIME_MS: i64 = 30 * DAY_MS;

/// A session token as the client holds it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    /// Wraps a token received from a client.
    pub fn from_client(token: &str) -> Self {
        Self(token.to_owned())
    }

    /// The token text, for a cookie or a response body.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// A live session: who, from which device, until when.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user, as loaded when the session was checked.
    pub user: User,
    /// The device the session belongs to.
    pub device_id: String,
    /// When it expires (Unix ms).
    pub expires_at: i64,
}

impl Session {
    /// Starts a session for `user` on a new device labelled `device_label`.
    pub fn start(
        conn: &mut Connection,
        user: &User,
        device_label: &str,
    ) -> Result<(SessionToken, Session), AccountsError> {
        let token = SessionToken(bs58::encode(random_bytes::<32>()).into_string());
        let device_id = random_id();
        let now = now_ms();
        let expires_at = now + SessionLimits::for_role(user.role).absolute_ms;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO devices (id, user_id, label, created_at, last_seen_at) \
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![device_id, user.id, device_label, now],
        )?;
        tx.execute(
            "INSERT INTO sessions (token_hash, user_id, device_id, created_at, last_seen_at, \
             expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![token.hash(), user.id, device_id, now, expires_at],
        )?;
        tx.commit()?;
        Ok((
            token,
            Session {
                user: user.clone(),
                device_id,
                expires_at,
            },
        ))
    }

    /// The live session for `token`: not ended, not expired, its device not revoked and its user
    /// not disabled. Marks the session and device as seen, at most once per
    /// `LAST_SEEN_STEP_MS`.
    pub fn find(conn: &Connection, token: &SessionToken) -> Result<Option<Session>, AccountsError> {
        let now = now_ms();
        // Cached: every authenticated request asks.
        let found: Option<(String, String, i64, i64, i64)> = conn
            .prepare_cached(
                "SELECT s.user_id, s.device_id, s.expires_at, s.created_at, s.last_seen_at \
                 FROM sessions s JOIN devices d ON d.id = s.device_id \
                 WHERE s.token_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2 \
                 AND d.revoked_at IS NULL",
            )?
            .query_row(params![token.hash(), now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((user_id, device_id, expires_at, created_at, last_seen_at)) = found else {
            return Ok(None);
        };
        let Some(user) = User::get(conn, &user_id)?.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        if !SessionLimits::for_role(user.role).allow(created_at, last_seen_at, now) {
            Self::end(conn, token)?;
            return Ok(None);
        }
        if now - last_seen_at >= LAST_SEEN_STEP_MS {
            // One transaction for both rows: each commit is an fsync (`synchronous = FULL`).
            let tx = conn.unchecked_transaction()?;
            tx.execute(
                "UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2",
                params![now, token.hash()],
            )?;
            tx.execute(
                "UPDATE devices SET last_seen_at = ?1 WHERE id = ?2",
                params![now, device_id],
            )?;
            tx.commit()?;
        }
        Ok(Some(Session {
            user,
            device_id,
            expires_at,
        }))
    }

    /// Whether `device_id` has a live session: not revoked, its user enabled, a session neither
    /// ended nor past its limits. A WebSocket upgrade checks this, so a ticket issued just
    /// before a revocation opens nothing after it.
    pub fn device_is_live(conn: &Connection, device_id: &str) -> Result<bool, AccountsError> {
        let now = now_ms();
        let mut statement = conn.prepare(
            "SELECT u.role, s.created_at, s.last_seen_at FROM sessions s \
             JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = s.user_id \
             WHERE s.device_id = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2 \
             AND d.revoked_at IS NULL AND u.disabled = 0",
        )?;
        let mut rows = statement.query(params![device_id, now])?;
        while let Some(row) = rows.next()? {
            let role: String = row.get(0)?;
            let role: Role = role.parse()?;
            if SessionLimits::for_role(role).allow(row.get(1)?, row.get(2)?, now) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Ends every session of a user (disabled, role changed).
    pub fn end_all_of_user(conn: &Connection, user_id: &str) -> Result<usize, AccountsError> {
        Ok(conn.execute(
            "UPDATE sessions SET ended_at = ?1 WHERE user_id = ?2 AND ended_at IS NULL",
            params![now_ms(), user_id],
        )?)
    }

    /// Revokes a device and ends its sessions. Returns its user, or `None` for an unknown device.
    pub fn revoke_device(
        conn: &Connection,
        device_id: &str,
    ) -> Result<Option<String>, AccountsError> {
        let now = now_ms();
        let user: Option<String> = conn
            .query_row(
                "SELECT user_id FROM devices WHERE id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?;
        if user.is_some() {
            conn.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                params![now, device_id],
            )?;
            conn.execute(
                "UPDATE sessions SET ended_at = ?1 WHERE device_id = ?2 AND ended_at IS NULL",
                params![now, device_id],
            )?;
        }
        Ok(user)
    }

    /// Ends every session past its role's limits at `now` (idle too long, or too old), so that
    /// a session nobody uses again ends too, not only when its token is next presented. Returns
    /// the devices left with no live session: their open sync connections must close.
    pub fn end_lapsed(conn: &Connection, now: i64) -> Result<Vec<String>, AccountsError> {
        let mut statement = conn.prepare(
            "SELECT s.token_hash, s.device_id, u.role, s.created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.ended_at IS NULL",
        )?;
        let mut lapsed: Vec<(Vec<u8>, String)> = Vec::new();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let role: String = row.get(2)?;
            let role: Role = role.parse()?;
            if !SessionLimits::for_role(role).allow(row.get(3)?, row.get(4)?, now) {
                lapsed.push((row.get(0)?, row.get(1)?));
            }
        }
        let mut devices = Vec::new();
        for (token_hash, device_id) in lapsed {
            conn.execute(
                "UPDATE sessions SET ended_at = ?1 WHERE token_hash = ?2 AND ended_at IS NULL",
                params![now, token_hash],
            )?;
            if !devices.contains(&device_id) && !Self::device_is_live(conn, &device_id)? {
                devices.push(device_id);
            }
        }
        Ok(devices)
    }

    /// Ends the session for `token` (logout).
    pub fn end(conn: &Connection, token: &SessionToken) -> Result<(), AccountsError> {
        conn.execute(
            "UPDATE sessions SET ended_at = ?1 WHERE token_hash = ?2 AND ended_at IS NULL",
            params![now_ms(), token.hash()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::NewUser;

    fn user(conn: &mut Connection, login: &str, role: Role) -> User {
        let new = NewUser {
            login: login.to_owned(),
            display_name: login.to_owned(),
            role,
            team: None,
            visit_access: false,
            must_change_password: false,
        };
        User::create(conn, &new, "a long enough password").expect("user")
    }

    #[test]
    fn a_request_marks_the_session_seen_only_once_a_step_has_passed() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrate");
        let trainer = user(&mut conn, "trainer", Role::Trainer);
        let (token, session) = Session::start(&mut conn, &trainer, "phone").expect("session");
        let seen = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT s.last_seen_at, d.last_seen_at FROM sessions s \
                 JOIN devices d ON d.id = s.device_id WHERE d.id = ?1",
                [&session.device_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the session's row")
        };
        let set_seen = |conn: &Connection, at: i64| {
            conn.execute("UPDATE sessions SET last_seen_at = ?1", [at])
                .expect("update");
            conn.execute("UPDATE devices SET last_seen_at = ?1", [at])
                .expect("update");
        };

        let recently = now_ms() - LAST_SEEN_STEP_MS / 2;
        set_seen(&conn, recently);
        assert!(Session::find(&conn, &token).expect("query").is_some());
        assert_eq!(
            seen(&conn),
            (recently, recently),
            "within a step: not written"
        );

        let a_while_ago = now_ms() - 2 * LAST_SEEN_STEP_MS;
        set_seen(&conn, a_while_ago);
        let before = now_ms();
        assert!(Session::find(&conn, &token).expect("query").is_some());
        let (session_seen, device_seen) = seen(&conn);
        assert!(session_seen >= before && device_seen == session_seen);
    }

    #[test]
    fn lapsed_sessions_end_without_being_presented_and_name_their_devices() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrate");
        let office = user(&mut conn, "office", Role::Office);
        let trainer = user(&mut conn, "trainer", Role::Trainer);
        let (office_token, office_session) =
            Session::start(&mut conn, &office, "desk").expect("session");
        let (trainer_token, trainer_session) =
            Session::start(&mut conn, &trainer, "phone").expect("session");
        let now = now_ms();

        let sweep = |at: i64| Session::end_lapsed(&conn, at).expect("sweep");
        assert_eq!(sweep(now), Vec::<String>::new());
        assert_eq!(sweep(now + 31 * MINUTE_MS), vec![office_session.device_id]);
        assert!(
            Session::find(&conn, &office_token)
                .expect("query")
                .is_none()
        );
        assert!(
            Session::find(&conn, &trainer_token)
                .expect("query")
                .is_some()
        );
        // Already ended: not named again.
        assert_eq!(sweep(now + 32 * MINUTE_MS), Vec::<String>::new());
        assert_eq!(sweep(now + 15 * DAY_MS), vec![trainer_session.device_id]);
        assert!(
            Session::find(&conn, &trainer_token)
                .expect("query")
                .is_none()
        );
    }

    #[test]
    fn office_sessions_end_after_30_idle_minutes_and_field_ones_after_14_days() {
        let office = SessionLimits::for_role(Role::Office);
        let field = SessionLimits::for_role(Role::Visitor);
        let start = 0;
        let minutes = |m: i64| m * MINUTE_MS;
        let cases = [
            (office, minutes(29), true),
            (office, minutes(30), false),
            (field, minutes(30), true),
            (field, 13 * DAY_MS, true),
            (field, 14 * DAY_MS, false),
        ];
        for (limits, idle, live) in cases {
            assert_eq!(
                limits.allow(start, start, start + idle),
                live,
                "{limits:?} {idle}"
            );
        }
        // Busy all along, still ended at the absolute limit.
        assert!(!office.allow(0, minutes(12 * 60 - 1), minutes(12 * 60)));
        assert!(!field.allow(0, 30 * DAY_MS - 1, 30 * DAY_MS));
        assert_eq!(SESSION_LIFETIME_MS, field.absolute_ms);
    }
}
