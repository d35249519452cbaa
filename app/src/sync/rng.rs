//! The random source the sync client is given: ChaCha20 seeded once from
//! `crypto.getRandomValues` (the client itself never reads a random source).

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

/// 32 bytes from the browser's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if filled != Some(true) {
        // Every browser nimo supports has crypto.getRandomValues; refusing to run with a
        // predictable seed is better than colliding ids.
        panic!("crypto.getRandomValues is not available");
    }
    bytes
}

/// A generator seeded from the browser's CSPRNG.
pub fn seeded() -> ChaCha20Rng {
    ChaCha20Rng::from_seed(random_bytes::<32>())
}
