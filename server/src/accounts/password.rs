//! Password hashing with argon2id.
//!
//! Parameters: m = 19,456 KiB, t = 2, p = 1, the OWASP minimum for argon2id; hashing takes about
//! 30 ms on one core here, which bounds what a login flood can cost. Hashes are PHC strings, so
//! the parameters travel with each hash and can be raised later without breaking old ones.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};

/// The longest password accepted: long enough for any passphrase, short enough that hashing a
/// submitted password cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password accepted for a new or changed password.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("a password may have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The stored hash is not a valid PHC string or the hasher failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password, enforcing the length rules.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::encode_b64(&super::random_bytes::<16>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`. An over-long password is rejected before
/// hashing.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let parsed = PasswordHash::new(hash).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password("correct horse battery staple").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery staple", &hash).expect("verify"));
        assert!(!verify_password("correct horse battery stapler", &hash).expect("verify"));
    }

    #[test]
    fn passphrases_of_64_and_more_characters_are_accepted() {
        let long = "長い合言葉".repeat(20);
        assert!(long.chars().count() >= 64);
        let hash = hash_password(&long).expect("hash");
        assert!(verify_password(&long, &hash).expect("verify"));
    }

    #[test]
    fn short_and_absurdly_long_passwords_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(hash_password(&huge), Err(PasswordError::TooLong)));
    }
}
