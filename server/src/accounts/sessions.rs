//! Login sessions. The client holds a random token; the server stores only its SHA-256, so the
//! database alone cannot be used to log in.

use std::fmt;

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::{AccountsError, User, now_ms, random_bytes, random_id};

/// How long a session lasts at most. Field devices stay logged in for weeks offline behind their
/// PIN, so the absolute lifetime is long; idle limits per role come with security hardening.
pub const SESSION_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;

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
        let expires_at = now + SESSION_LIFETIME_MS;
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
    /// not disabled. Marks the session and device as seen.
    pub fn find(conn: &Connection, token: &SessionToken) -> Result<Option<Session>, AccountsError> {
        let now = now_ms();
        let found: Option<(String, String, i64)> = conn
            .query_row(
                "SELECT s.user_id, s.device_id, s.expires_at FROM sessions s \
                 JOIN devices d ON d.id = s.device_id \
                 WHERE s.token_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2 \
                 AND d.revoked_at IS NULL",
                params![token.hash(), now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((user_id, device_id, expires_at)) = found else {
            return Ok(None);
        };
        let Some(user) = User::get(conn, &user_id)?.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        conn.execute(
            "UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2",
            params![now, token.hash()],
        )?;
        conn.execute(
            "UPDATE devices SET last_seen_at = ?1 WHERE id = ?2",
            params![now, device_id],
        )?;
        Ok(Some(Session {
            user,
            device_id,
            expires_at,
        }))
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
