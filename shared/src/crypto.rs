//! Encryption at rest for field devices that hold visit notes (要配慮個人情報).
//!
//! - A random 256-bit **data key** seals every stored chunk with AES-256-GCM under a fresh random
//!   96-bit nonce. The chunk's storage key is the associated data, so a sealed chunk moved to
//!   another key (another document, another change) fails to open instead of being read as the
//!   wrong data.
//! - The data key is **wrapped** (AES-256-GCM again) by a key derived from the user's PIN with
//!   argon2id, and only the wrapped form is stored. The user id is the wrap's associated data.
//!   [`KdfParams::DEVICE`] is the documented cost: m = 64 MiB, t = 3, p = 1 (above OWASP's
//!   m = 19 MiB, t = 2 minimum, because a PIN has little entropy and a lost phone's profile can
//!   be attacked offline; about a second in the browser). A PIN is at least [`MIN_PIN_CHARS`]
//!   characters.
//!
//! No IO and no randomness source here: callers pass random bytes in (the browser's
//! `crypto.getRandomValues`), so the module builds for wasm and tests are deterministic.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

/// Bytes of a data key and of a derived key.
pub const KEY_BYTES: usize = 32;
/// Bytes of an AES-GCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Bytes of the argon2id salt.
pub const SALT_BYTES: usize = 16;
/// The shortest PIN accepted.
pub const MIN_PIN_CHARS: usize = 6;

/// First byte of a sealed chunk: the format's version.
const SEALED_V1: u8 = 1;
/// Prefix of a chunk's associated data (then its joined storage key).
const CHUNK_CONTEXT: &[u8] = b"nimo/chunk/v1\0";
/// Prefix of the wrap's associated data (then the user id).
const WRAP_CONTEXT: &[u8] = b"nimo/data-key/v1\0";

/// Why sealing or opening failed. Never says anything about the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The PIN is wrong (or the wrapped key was altered: the two cannot be told apart).
    #[error("wrong PIN")]
    WrongPin,
    /// A sealed chunk does not open under this key and storage key: altered, moved or foreign.
    #[error("a sealed chunk does not open (altered, moved to another key, or another key's)")]
    Tampered,
    /// Not a sealed chunk of a known version.
    #[error("not a sealed chunk")]
    NotSealed,
    /// The PIN is too short.
    #[error("the PIN is shorter than {MIN_PIN_CHARS} characters")]
    PinTooShort,
    /// The stored wrapped key cannot be read.
    #[error("the stored key is malformed: {0}")]
    Malformed(&'static str),
    /// The KDF refused its parameters.
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

impl CryptoError {
    /// The message shown to the person.
    pub fn message_ja(&self) -> String {
        match self {
            CryptoError::WrongPin => "PINが違います。".to_owned(),
            CryptoError::PinTooShort => format!("PINは{MIN_PIN_CHARS}文字以上にしてください。"),
            CryptoError::Tampered | CryptoError::NotSealed => {
                "この端末の保存データを読み取れません（改変または破損）。".to_owned()
            }
            CryptoError::Malformed(_) | CryptoError::Kdf(_) => {
                "この端末の鍵を読み取れません。".to_owned()
            }
        }
    }
}

/// The key that seals chunks. Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct DataKey([u8; KEY_BYTES]);

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// A key from 32 random bytes (the caller's secure random source).
    pub fn from_random_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        DataKey(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

fn chunk_aad(storage_key: &str) -> Vec<u8> {
    let mut aad = CHUNK_CONTEXT.to_vec();
    aad.extend_from_slice(storage_key.as_bytes());
    aad
}

/// Seals one chunk stored under `storage_key`: `[version, nonce (12), ciphertext + tag]`.
/// `nonce` must be fresh random bytes for every call.
pub fn seal_chunk(
    key: &DataKey,
    nonce: [u8; NONCE_BYTES],
    storage_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let aad = chunk_aad(storage_key);
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)?;
    let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
    out.push(SEALED_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a chunk sealed by [`seal_chunk`] under the same `storage_key`.
pub fn open_chunk(key: &DataKey, storage_key: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::NotSealed)?;
    if version != SEALED_V1 || rest.len() < NONCE_BYTES + 16 {
        return Err(CryptoError::NotSealed);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    let aad = chunk_aad(storage_key);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)
}

/// argon2id's cost, stored beside the wrapped key so it can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The cost used on devices: 64 MiB, 3 passes, 1 lane.
    pub const DEVICE: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    fn derive(&self, pin: &str, salt: &[u8]) -> Result<DataKey, CryptoError> {
        let params = argon2_kdf::Params::new(self.m_kib, self.t, self.p, Some(KEY_BYTES))
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let argon = argon2_kdf::Argon2::new(
            argon2_kdf::Algorithm::Argon2id,
            argon2_kdf::Version::V0x13,
            params,
        );
        let mut out = [0u8; KEY_BYTES];
        argon
            .hash_password_into(pin.as_bytes(), salt, &mut out)
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let key = DataKey(out);
        out.zeroize();
        Ok(key)
    }
}

/// The data key wrapped under a PIN: the only form of it that is ever stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Format version (1).
    pub version: u8,
    /// `"argon2id"`.
    pub kdf: String,
    /// The KDF's cost.
    pub params: KdfParams,
    /// The salt, hex.
    pub salt: String,
    /// The wrap's nonce, hex.
    pub nonce: String,
    /// The data key sealed under the PIN's key, hex (48 bytes: key and tag).
    pub wrapped: String,
}

/// Whether `pin` is acceptable as a new PIN.
pub fn check_new_pin(pin: &str) -> Result<(), CryptoError> {
    if pin.chars().count() < MIN_PIN_CHARS {
        return Err(CryptoError::PinTooShort);
    }
    Ok(())
}

fn wrap_aad(user_id: &str) -> Vec<u8> {
    let mut aad = WRAP_CONTEXT.to_vec();
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

/// Wraps `key` under `pin` for `user_id` (salt and nonce: fresh random bytes).
pub fn wrap_key(
    key: &DataKey,
    pin: &str,
    user_id: &str,
    params: KdfParams,
    salt: [u8; SALT_BYTES],
    nonce: [u8; NONCE_BYTES],
) -> Result<WrappedKey, CryptoError> {
    check_new_pin(pin)?;
    let kek = params.derive(pin, &salt)?;
    let aad = wrap_aad(user_id);
    let wrapped = kek
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &key.0,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)?;
    Ok(WrappedKey {
        version: 1,
        kdf: "argon2id".to_owned(),
        params,
        salt: to_hex(&salt),
        nonce: to_hex(&nonce),
        wrapped: to_hex(&wrapped),
    })
}

/// Unwraps the data key with `pin`; a wrong PIN (or an altered record) is [`CryptoError::WrongPin`].
pub fn unwrap_key(wrapped: &WrappedKey, pin: &str, user_id: &str) -> Result<DataKey, CryptoError> {
    if wrapped.version != 1 || wrapped.kdf != "argon2id" {
        return Err(CryptoError::Malformed("unknown version or KDF"));
    }
    let salt = from_hex(&wrapped.salt).ok_or(CryptoError::Malformed("salt"))?;
    let nonce = from_hex(&wrapped.nonce).ok_or(CryptoError::Malformed("nonce"))?;
    let sealed = from_hex(&wrapped.wrapped).ok_or(CryptoError::Malformed("wrapped key"))?;
    if nonce.len() != NONCE_BYTES {
        return Err(CryptoError::Malformed("nonce length"));
    }
    let kek = wrapped.params.derive(pin, &salt)?;
    let aad = wrap_aad(user_id);
    let mut plain = kek
        .cipher()
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::WrongPin)?;
    let bytes: Result<[u8; KEY_BYTES], _> = plain.as_slice().try_into();
    plain.zeroize();
    bytes
        .map(DataKey)
        .map_err(|_| CryptoError::Malformed("key length"))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small enough for quick tests; the device cost is exercised once below.
    const QUICK: KdfParams = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };

    fn key() -> DataKey {
        DataKey::from_random_bytes([7; KEY_BYTES])
    }

    #[test]
    fn a_chunk_opens_under_its_own_storage_key_only() {
        let sealed = seal_chunk(&key(), [1; NONCE_BYTES], "doc/incremental/aa", b"note text")
            .expect("sealed");
        assert_eq!(
            open_chunk(&key(), "doc/incremental/aa", &sealed).expect("opens"),
            b"note text"
        );
        assert_eq!(
            open_chunk(&key(), "doc/incremental/bb", &sealed),
            Err(CryptoError::Tampered),
            "a chunk moved to another key must not open"
        );
        assert_eq!(
            open_chunk(
                &DataKey::from_random_bytes([8; KEY_BYTES]),
                "doc/incremental/aa",
                &sealed
            ),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn a_sealed_chunk_hides_its_text_and_every_altered_byte_is_detected() {
        let plain = "MY-2025-0007 面会で退院の希望を話された".as_bytes();
        let sealed = seal_chunk(&key(), [2; NONCE_BYTES], "k", plain).expect("sealed");
        assert!(
            !sealed.windows(12).any(|w| w == &plain[..12]),
            "plaintext visible"
        );
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert!(open_chunk(&key(), "k", &altered).is_err(), "byte {i}");
        }
        assert_eq!(open_chunk(&key(), "k", &[]), Err(CryptoError::NotSealed));
        assert_eq!(open_chunk(&key(), "k", plain), Err(CryptoError::NotSealed));
    }

    #[test]
    fn the_same_chunk_sealed_twice_differs_with_a_fresh_nonce() {
        let a = seal_chunk(&key(), [1; NONCE_BYTES], "k", b"x").expect("sealed");
        let b = seal_chunk(&key(), [2; NONCE_BYTES], "k", b"x").expect("sealed");
        assert_ne!(a, b);
    }

    #[test]
    fn the_right_pin_unwraps_and_a_wrong_pin_or_user_or_alteration_does_not() {
        let wrapped = wrap_key(&key(), "246810", "user-a", QUICK, [3; 16], [4; 12]).expect("wraps");
        assert!(!wrapped.wrapped.contains(&to_hex(&[7; KEY_BYTES])));
        let back = unwrap_key(&wrapped, "246810", "user-a").expect("unwraps");
        assert_eq!(back.0, [7; KEY_BYTES]);
        assert_eq!(
            unwrap_key(&wrapped, "246811", "user-a").map(|_| ()),
            Err(CryptoError::WrongPin)
        );
        assert_eq!(
            unwrap_key(&wrapped, "246810", "user-b").map(|_| ()),
            Err(CryptoError::WrongPin),
            "the wrap is bound to its user"
        );
        let mut altered = wrapped.clone();
        altered.wrapped.replace_range(0..2, "00");
        if altered.wrapped != wrapped.wrapped {
            assert_eq!(
                unwrap_key(&altered, "246810", "user-a").map(|_| ()),
                Err(CryptoError::WrongPin)
            );
        }
        let mut weaker = wrapped;
        weaker.params.t = 2;
        assert!(unwrap_key(&weaker, "246810", "user-a").is_err());
    }

    #[test]
    fn short_pins_are_refused() {
        assert_eq!(check_new_pin("12345"), Err(CryptoError::PinTooShort));
        assert_eq!(check_new_pin("123456"), Ok(()));
        assert!(matches!(
            wrap_key(&key(), "1234", "u", QUICK, [0; 16], [0; 12]),
            Err(CryptoError::PinTooShort)
        ));
    }

    #[test]
    fn the_device_cost_round_trips_and_survives_json() {
        let wrapped = wrap_key(
            &key(),
            "0123456789",
            "u",
            KdfParams::DEVICE,
            [5; 16],
            [6; 12],
        )
        .expect("wraps");
        let json = serde_json::to_string(&wrapped).expect("json");
        let back: WrappedKey = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.params, KdfParams::DEVICE);
        assert_eq!(
            unwrap_key(&back, "0123456789", "u").expect("unwraps").0,
            [7; KEY_BYTES]
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 254, 255])),
            Some(vec![0, 1, 254, 255])
        );
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
