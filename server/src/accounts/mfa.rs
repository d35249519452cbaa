//! The second factor in SQLite: a user's TOTP secret, its confirmation, and ten one-time
//! recovery codes.
//!
//! The TOTP secret is stored as is: the server must compute codes from it. Whoever can read the
//! database therefore has the second factor (not the password: that is an argon2id hash), which
//! is why backups are kept as carefully as the database itself (docs/operations.md).

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::{AccountsError, random_bytes, totp};

/// How many recovery codes an enrolment issues.
pub const RECOVERY_CODES: usize = 10;

/// Where a user stands with their second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaState {
    /// No secret yet, or one never confirmed with a code.
    NotEnrolled,
    /// A confirmed secret.
    Enrolled,
}

/// What a submitted second factor did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaOutcome {
    /// The TOTP code was right.
    Accepted,
    /// The TOTP code was right and confirmed a new enrolment; these recovery codes are shown
    /// once and stored only hashed.
    Enrolled {
        /// The codes, as the user writes them down.
        recovery_codes: Vec<String>,
    },
    /// An unused recovery code was right and is now used up.
    RecoveryCodeUsed,
    /// Wrong, reused or expired.
    Refused,
}

/// The user's second-factor state.
pub fn state(conn: &Connection, user_id: &str) -> Result<MfaState, AccountsError> {
    let confirmed: Option<Option<i64>> = conn
        .query_row(
            "SELECT confirmed_at FROM mfa_totp WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match confirmed {
        Some(Some(_)) => MfaState::Enrolled,
        _ => MfaState::NotEnrolled,
    })
}

/// Starts (or restarts) an enrolment with a fresh secret, which the user's app reads from the QR
/// code. Refused for a user already enrolled: a confirmed factor is replaced only after an
/// admin's [`reset`].
pub fn begin_enrolment(
    conn: &Connection,
    user_id: &str,
    now: i64,
) -> Result<Option<Vec<u8>>, AccountsError> {
    if state(conn, user_id)? == MfaState::Enrolled {
        return Ok(None);
    }
    let secret = random_bytes::<{ totp::SECRET_BYTES }>().to_vec();
    conn.execute(
        "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
         created_at = excluded.created_at, confirmed_at = NULL, last_step = 0",
        params![user_id, secret, now],
    )?;
    Ok(Some(secret))
}

/// Checks a TOTP code; the first right code after [`begin_enrolment`] confirms the enrolment and
/// issues recovery codes (replacing any earlier ones).
pub fn check_code(
    conn: &Connection,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<MfaOutcome, AccountsError> {
    let row: Option<(Vec<u8>, Option<i64>, i64)> = conn
        .query_row(
            "SELECT secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((secret, confirmed_at, last_step)) = row else {
        return Ok(MfaOutcome::Refused);
    };
    let Some(step) = totp::matching_step(&secret, code, now, last_step) else {
        return Ok(MfaOutcome::Refused);
    };
    conn.execute(
        "UPDATE mfa_totp SET last_step = ?1, confirmed_at = COALESCE(confirmed_at, ?2) \
         WHERE user_id = ?3",
        params![step, now, user_id],
    )?;
    if confirmed_at.is_some() {
        return Ok(MfaOutcome::Accepted);
    }
    Ok(MfaOutcome::Enrolled {
        recovery_codes: issue_recovery_codes(conn, user_id)?,
    })
}

fn recovery_hash(code: &str) -> Vec<u8> {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normalised.as_bytes()).to_vec()
}

/// Lower-case base32 without look-alikes' trouble: `xxxx-xxxx-xxxx`, 60 random bits.
fn new_recovery_code() -> String {
    let text = totp::base32(&random_bytes::<8>()).to_ascii_lowercase();
    format!("{}-{}-{}", &text[0..4], &text[4..8], &text[8..12])
}

fn issue_recovery_codes(conn: &Connection, user_id: &str) -> Result<Vec<String>, AccountsError> {
    conn.execute(
        "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
        [user_id],
    )?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    for code in &codes {
        conn.execute(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
            params![user_id, recovery_hash(code)],
        )?;
    }
    Ok(codes)
}

/// Uses up a recovery code of an enrolled user: accepted once, refused after.
pub fn use_recovery_code(
    conn: &Connection,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<MfaOutcome, AccountsError> {
    if state(conn, user_id)? != MfaState::Enrolled {
        return Ok(MfaOutcome::Refused);
    }
    let used = conn.execute(
        "UPDATE mfa_recovery_codes SET used_at = ?1 \
         WHERE user_id = ?2 AND code_hash = ?3 AND used_at IS NULL",
        params![now, user_id, recovery_hash(code)],
    )?;
    Ok(if used == 1 {
        MfaOutcome::RecoveryCodeUsed
    } else {
        MfaOutcome::Refused
    })
}

/// Removes a user's second factor and recovery codes (an admin's reset after a lost phone);
/// their next login enrols again.
pub fn reset(conn: &Connection, user_id: &str) -> Result<(), AccountsError> {
    conn.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [user_id])?;
    conn.execute(
        "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{NewUser, Role, User};

    fn setup() -> (Connection, String) {
        let mut conn = Connection::open_in_memory().expect("memory db");
        crate::db::apply_migrations(&mut conn).expect("migrate");
        let user = User::create(
            &mut conn,
            &NewUser {
                login: "v".to_owned(),
                display_name: "v".to_owned(),
                role: Role::Visitor,
                team: None,
                visit_access: false,
                must_change_password: false,
            },
            "a long enough password",
        )
        .expect("user");
        (conn, user.id)
    }

    const NOW: i64 = 1_700_000_000_000;

    fn code(secret: &[u8], at: i64) -> String {
        totp::format_code(totp::code_at(secret, totp::step_at(at)))
    }

    #[test]
    fn the_first_right_code_confirms_and_issues_ten_recovery_codes_that_work_once() {
        let (conn, user) = setup();
        let secret = begin_enrolment(&conn, &user, NOW)
            .expect("db")
            .expect("new");
        assert_eq!(state(&conn, &user).expect("db"), MfaState::NotEnrolled);
        assert_eq!(
            check_code(&conn, &user, "000000", NOW).expect("db"),
            MfaOutcome::Refused
        );
        let MfaOutcome::Enrolled { recovery_codes } =
            check_code(&conn, &user, &code(&secret, NOW), NOW).expect("db")
        else {
            panic!("expected an enrolment");
        };
        assert_eq!(recovery_codes.len(), RECOVERY_CODES);
        assert_eq!(state(&conn, &user).expect("db"), MfaState::Enrolled);
        assert!(begin_enrolment(&conn, &user, NOW).expect("db").is_none());
        let later = NOW + totp::STEP_MS;
        assert_eq!(
            check_code(&conn, &user, &code(&secret, later), later).expect("db"),
            MfaOutcome::Accepted
        );
        let first = recovery_codes[0].to_uppercase();
        assert_eq!(
            use_recovery_code(&conn, &user, &first, NOW).expect("db"),
            MfaOutcome::RecoveryCodeUsed
        );
        assert_eq!(
            use_recovery_code(&conn, &user, &recovery_codes[0], NOW).expect("db"),
            MfaOutcome::Refused
        );
    }

    #[test]
    fn after_a_reset_the_user_enrols_again() {
        let (conn, user) = setup();
        let secret = begin_enrolment(&conn, &user, NOW)
            .expect("db")
            .expect("new");
        check_code(&conn, &user, &code(&secret, NOW), NOW).expect("db");
        reset(&conn, &user).expect("reset");
        assert_eq!(state(&conn, &user).expect("db"), MfaState::NotEnrolled);
        assert!(begin_enrolment(&conn, &user, NOW).expect("db").is_some());
    }
}
