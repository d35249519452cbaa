//! How long to wait before reconnecting: jittered exponential backoff with a cap.
//!
//! A field device loses the network often (trains, mountains, basements). Doubling the wait
//! after each failed attempt keeps a dead server from being hammered, the cap keeps a device
//! that comes back into coverage from waiting long, and the jitter keeps a room of devices that
//! lost the same Wi-Fi from reconnecting in lockstep. This is "equal jitter": the delay for
//! attempt `n` lies in `[d/2, d]` with `d = min(cap, base · 2^(n-1))`, so it never collapses
//! to zero and never exceeds the cap.

use rand_core::RngCore;

/// The backoff's two numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The longest delay of the first attempt, in milliseconds.
    pub base_ms: u64,
    /// No delay is longer than this, in milliseconds.
    pub cap_ms: u64,
}

impl Default for BackoffConfig {
    /// 1 s, doubling up to one minute.
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            cap_ms: 60_000,
        }
    }
}

impl BackoffConfig {
    /// The delay before reconnect attempt `attempt` (1 for the first retry; 0 is treated as 1).
    pub fn delay(&self, attempt: u32, rng: &mut impl RngCore) -> u64 {
        let doublings = attempt.saturating_sub(1).min(63);
        let ceiling = self
            .base_ms
            .checked_shl(doublings)
            .filter(|d| d >> doublings == self.base_ms)
            .unwrap_or(u64::MAX)
            .min(self.cap_ms);
        let floor = ceiling / 2;
        let span = ceiling - floor;
        floor + rng.next_u64() % (span + 1)
    }
}

/// [`BackoffConfig::delay`] with the default configuration.
pub fn backoff_delay(attempt: u32, rng: &mut impl RngCore) -> u64 {
    BackoffConfig::default().delay(attempt, rng)
}
