//! Accounts: users with one role each, their devices, and login sessions.
//!
//! The server decides who sees what (DESIGN.md decision 4), so everything access control needs
//! about a person lives here: role, team and whether an office user may read visit cases.

pub mod challenge;
pub mod mfa;
mod password;
mod sessions;
pub mod throttle;
pub mod totp;
mod users;

use std::{fmt, str::FromStr};

pub use password::{
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, PasswordError, hash_password, verify_password,
};
pub use sessions::{SESSION_LIFETIME_MS, Session, SessionLimits, SessionToken};
pub use users::{NewUser, User, UserId};

use crate::db::DbError;

/// What a user does in the programme; it decides which documents they may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs trainings and checks people in; sees their team's sessions.
    Trainer,
    /// 入院者訪問支援員: sees the visit cases assigned to them.
    Visitor,
    /// Office staff: reconciles and reports; visit cases only with `visit_access`.
    Office,
    /// Manages accounts and devices; sees no records.
    Admin,
}

impl Role {
    /// Whether logging in needs a second factor (TOTP): everyone who can reach visit cases,
    /// office data or accounts (issue #8). Trainers see only their team's training sessions and
    /// log in with a password alone.
    pub fn requires_second_factor(self) -> bool {
        matches!(self, Self::Visitor | Self::Office | Self::Admin)
    }

    /// The name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trainer => "trainer",
            Self::Visitor => "visitor",
            Self::Office => "office",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccountsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trainer" => Ok(Self::Trainer),
            "visitor" => Ok(Self::Visitor),
            "office" => Ok(Self::Office),
            "admin" => Ok(Self::Admin),
            other => Err(AccountsError::UnknownRole(other.to_owned())),
        }
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The role name is not one of trainer, visitor, office, admin.
    #[error("unknown role {0:?}: expected trainer, visitor, office or admin")]
    UnknownRole(String),
    /// A user with this login exists already.
    #[error("the login {0:?} is taken")]
    LoginTaken(String),
    /// The team named does not exist.
    #[error("no team named {0:?}")]
    UnknownTeam(String),
    /// The login is empty or has characters other than letters, digits, `.`, `_`, `-`.
    #[error("a login is 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidLogin,
    /// Hashing or verifying a password failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for AccountsError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(error))
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `n` bytes from the operating system's random source, for ids and tokens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    // The OS source failing is not something the server can work around safely.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A random identifier: 16 random bytes in base58.
pub fn random_id() -> String {
    bs58::encode(random_bytes::<16>()).into_string()
}
