//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 6 digits, 30 s
//! steps, the parameters every authenticator app supports. Pure functions; time is passed in.

use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use subtle::ConstantTimeEq as _;

/// Length of a step in milliseconds.
pub const STEP_MS: i64 = 30_000;
/// Steps accepted either side of the server's current one, for clock drift and typing time.
pub const ALLOWED_DRIFT_STEPS: i64 = 1;
/// Bytes of a generated secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The step containing `now_ms`.
pub fn step_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(STEP_MS)
}

/// The 6-digit code of `secret` at `step`.
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let truncated = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    truncated % 1_000_000
}

/// The code as the user sees it: six digits with leading zeros.
pub fn format_code(code: u32) -> String {
    format!("{code:06}")
}

/// The step at which `typed` is the code of `secret`, within the allowed drift of `now_ms` and
/// after `last_used_step` (a code is accepted once). Spaces in `typed` are ignored.
pub fn matching_step(secret: &[u8], typed: &str, now_ms: i64, last_used_step: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(now_ms);
    let mut found = None;
    // Every candidate is compared, in constant time, so the answer's timing says nothing.
    for step in (now - ALLOWED_DRIFT_STEPS)..=(now + ALLOWED_DRIFT_STEPS) {
        let expected = format_code(code_at(secret, step));
        let equal: bool = expected.as_bytes().ct_eq(typed.as_bytes()).into();
        if equal && step > last_used_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps expect the secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes RFC 4648 base32 (upper or lower case, padding and spaces ignored); `None` on any
/// other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, login: &str, secret: &[u8]) -> String {
    // Logins are letters, digits, '.', '_' and '-' (users.rs), all URI-safe; the issuer is ours.
    format!(
        "otpauth://totp/{issuer}:{login}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
        base32(secret)
    )
}

/// The URI as an SVG QR code.
pub fn qr_svg(uri: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::new(uri.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // The RFC lists 8 digits; the last 6 of them are the 6-digit code.
        for (seconds, eight_digits) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = step_at(seconds * 1000);
            assert_eq!(
                code_at(RFC_SECRET, step),
                eight_digits % 1_000_000,
                "{seconds}"
            );
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            RFC_SECRET,
        ] {
            assert_eq!(base32_decode(&base32(bytes)).as_deref(), Some(bytes));
        }
        assert_eq!(base32_decode("mzxw6"), Some(b"foo".to_vec()));
        assert_eq!(base32_decode("MZ1W6"), None);
    }

    #[test]
    fn a_code_is_accepted_within_one_step_of_drift_and_only_once() {
        let now = 1_700_000_000_000;
        let step = step_at(now);
        let current = format_code(code_at(RFC_SECRET, step));
        assert_eq!(matching_step(RFC_SECRET, &current, now, 0), Some(step));
        assert_eq!(
            matching_step(RFC_SECRET, &current, now, step),
            None,
            "reuse refused"
        );
        let previous = format_code(code_at(RFC_SECRET, step - 1));
        assert_eq!(matching_step(RFC_SECRET, &previous, now, 0), Some(step - 1));
        let stale = format_code(code_at(RFC_SECRET, step - 2));
        assert_eq!(matching_step(RFC_SECRET, &stale, now, 0), None);
        let spaced = format!("{} {}", &current[..3], &current[3..]);
        assert_eq!(matching_step(RFC_SECRET, &spaced, now, 0), Some(step));
        assert_eq!(matching_step(RFC_SECRET, "12345", now, 0), None);
        assert_eq!(matching_step(RFC_SECRET, "abcdef", now, 0), None);
    }

    #[test]
    fn the_enrolment_uri_carries_the_base32_secret_and_renders_as_svg() {
        let uri = otpauth_uri("nimo", "hanako", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/nimo:hanako?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=nimo\
             &algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).expect("fits a QR code");
        assert!(svg.contains("<svg"), "{svg}");
    }
}
