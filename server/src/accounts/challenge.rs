//! Half-finished logins: the password was right, the role needs a second factor, and the client
//! holds a random challenge that can do nothing but finish (or first enrol) that factor. No
//! session exists until it is finished. Only a SHA-256 of the challenge is stored.

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::{AccountsError, random_bytes};

/// How long a challenge waits for its second factor: enough to open the app, or to scan the
/// QR code and type the first code.
pub const CHALLENGE_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// Wrong codes a challenge survives; then the password must be typed again (and every wrong code
/// counts against the login throttle as well).
pub const MAX_FAILED_CODES: i64 = 5;

/// A pending login as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The user whose password was right.
    pub user_id: String,
    /// The device label the login asked for.
    pub device_label: String,
    /// Whether the client wants a bearer token instead of a cookie.
    pub api_client: bool,
    /// The address the password came from.
    pub client_address: String,
}

fn hash(challenge: &str) -> Vec<u8> {
    Sha256::digest(challenge.as_bytes()).to_vec()
}

/// Creates a challenge and returns the text the client holds.
pub fn create(conn: &Connection, pending: &Challenge, now: i64) -> Result<String, AccountsError> {
    let challenge = bs58::encode(random_bytes::<32>()).into_string();
    conn.execute("DELETE FROM login_challenges WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "INSERT INTO login_challenges (challenge_hash, user_id, device_label, api_client, \
         client_address, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            hash(&challenge),
            pending.user_id,
            pending.device_label,
            pending.api_client,
            pending.client_address,
            now,
            now + CHALLENGE_LIFETIME_MS
        ],
    )?;
    Ok(challenge)
}

/// The live challenge: not expired, not finished, not worn out by wrong codes.
pub fn find(
    conn: &Connection,
    challenge: &str,
    now: i64,
) -> Result<Option<Challenge>, AccountsError> {
    Ok(conn
        .query_row(
            "SELECT user_id, device_label, api_client, client_address FROM login_challenges \
             WHERE challenge_hash = ?1 AND expires_at > ?2 AND failed_codes < ?3",
            params![hash(challenge), now, MAX_FAILED_CODES],
            |r| {
                Ok(Challenge {
                    user_id: r.get(0)?,
                    device_label: r.get(1)?,
                    api_client: r.get(2)?,
                    client_address: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Counts a wrong code against the challenge.
pub fn fail(conn: &Connection, challenge: &str) -> Result<(), AccountsError> {
    conn.execute(
        "UPDATE login_challenges SET failed_codes = failed_codes + 1 WHERE challenge_hash = ?1",
        [hash(challenge)],
    )?;
    Ok(())
}

/// Ends the challenge (its login finished).
pub fn finish(conn: &Connection, challenge: &str) -> Result<(), AccountsError> {
    conn.execute(
        "DELETE FROM login_challenges WHERE challenge_hash = ?1",
        [hash(challenge)],
    )?;
    Ok(())
}

/// Ends every pending challenge of a user (disabled, reset).
pub fn forget_user(conn: &Connection, user_id: &str) -> Result<(), AccountsError> {
    conn.execute("DELETE FROM login_challenges WHERE user_id = ?1", [user_id])?;
    Ok(())
}
