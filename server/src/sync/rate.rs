//! A per-connection token bucket for sync frames: a flood from one device is slowed (its frames
//! are read later, so TCP pushes back on it) without affecting anyone else's connection, and a
//! connection kept over its rate for [`RateLimit::cut_after_ms`] is cut: no real device sends
//! more than its burst at once (a month offline is ~200 documents), so only a flood stays over.

use std::time::Duration;

/// Limits, per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Frames per second sustained.
    pub frames_per_second: u32,
    /// Frames allowed in a burst (a first sync of many documents).
    pub frame_burst: u32,
    /// Bytes per second sustained.
    pub bytes_per_second: u32,
    /// Bytes allowed in a burst.
    pub byte_burst: u32,
    /// A connection over its rate for this long without a break is closed.
    pub cut_after_ms: u64,
}

impl Default for RateLimit {
    /// Generous for a real device (a month offline pushes 200 documents in a few seconds; an
    /// office device reading a year of records asks for thousands, two frames each, and a
    /// document read cold costs the server ~0.2 ms: at 500 frames per second this limit, not
    /// the server, made W3's 10,000 reads take 37 s, finding 11), tight enough that one socket
    /// cannot starve the server: a flood sends hundreds of thousands of frames per second, and
    /// the byte limit bounds the costly frames (changes).
    fn default() -> Self {
        Self {
            frames_per_second: 2_500,
            frame_burst: 5_000,
            bytes_per_second: 4 * 1024 * 1024,
            byte_burst: 16 * 1024 * 1024,
            cut_after_ms: 10_000,
        }
    }
}

/// The bucket's state; time is passed in (milliseconds), so it is tested without a clock.
#[derive(Clone, Debug)]
pub struct Bucket {
    limit: RateLimit,
    frames: f64,
    bytes: f64,
    last_ms: u64,
    over_since_ms: Option<u64>,
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Read it after waiting this long (zero within the limits).
    Wait(Duration),
    /// The connection has been over its rate too long: close it.
    Cut,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn new(limit: RateLimit, now_ms: u64) -> Self {
        Self {
            limit,
            frames: f64::from(limit.frame_burst),
            bytes: f64::from(limit.byte_burst),
            last_ms: now_ms,
            over_since_ms: None,
        }
    }

    /// Like [`Bucket::take`], and cuts a connection that stays over its rate for
    /// [`RateLimit::cut_after_ms`].
    pub fn admit(&mut self, now_ms: u64, len: usize) -> Verdict {
        let wait = self.take(now_ms, len);
        if wait.is_zero() {
            self.over_since_ms = None;
            return Verdict::Wait(wait);
        }
        let since = *self.over_since_ms.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) >= self.limit.cut_after_ms {
            Verdict::Cut
        } else {
            Verdict::Wait(wait)
        }
    }

    /// Takes one frame of `len` bytes at `now_ms` and says how long to wait before reading the
    /// next one (zero while within the limits).
    pub fn take(&mut self, now_ms: u64, len: usize) -> Duration {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        let limit = self.limit;
        self.frames = (self.frames + elapsed * f64::from(limit.frames_per_second))
            .min(f64::from(limit.frame_burst))
            - 1.0;
        self.bytes = (self.bytes + elapsed * f64::from(limit.bytes_per_second))
            .min(f64::from(limit.byte_burst))
            - len as f64;
        let frame_wait = (-self.frames).max(0.0) / f64::from(limit.frames_per_second);
        let byte_wait = (-self.bytes).max(0.0) / f64::from(limit.bytes_per_second);
        Duration::from_secs_f64(frame_wait.max(byte_wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: RateLimit = RateLimit {
        frames_per_second: 10,
        frame_burst: 5,
        bytes_per_second: 1000,
        byte_burst: 2000,
        cut_after_ms: 1_000,
    };

    #[test]
    fn a_connection_over_its_rate_for_too_long_is_cut_and_a_pause_forgives_it() {
        let mut bucket = Bucket::new(SMALL, 0);
        for _ in 0..5 {
            assert_eq!(bucket.admit(0, 10), Verdict::Wait(Duration::ZERO));
        }
        // Over the rate from t=0; frames keep coming as fast as they are admitted.
        let mut now = 0;
        while let Verdict::Wait(wait) = bucket.admit(now, 10) {
            now += u64::try_from(wait.as_millis()).expect("ms");
            assert!(now < 5_000, "never cut");
        }
        assert!(now >= SMALL.cut_after_ms);
        let mut rested = Bucket::new(SMALL, 0);
        for _ in 0..6 {
            rested.admit(0, 10);
        }
        assert_eq!(rested.admit(2_000, 10), Verdict::Wait(Duration::ZERO));
        assert!(matches!(rested.admit(2_000, 10), Verdict::Wait(_)));
    }

    #[test]
    fn a_burst_within_the_limit_waits_for_nothing() {
        let mut bucket = Bucket::new(SMALL, 0);
        for _ in 0..5 {
            assert_eq!(bucket.take(0, 10), Duration::ZERO);
        }
    }

    #[test]
    fn frames_beyond_the_burst_are_spaced_at_the_sustained_rate() {
        let mut bucket = Bucket::new(SMALL, 0);
        for _ in 0..5 {
            bucket.take(0, 10);
        }
        assert_eq!(bucket.take(0, 10), Duration::from_millis(100));
        assert_eq!(bucket.take(0, 10), Duration::from_millis(200));
    }

    #[test]
    fn large_frames_are_slowed_by_bytes() {
        let mut bucket = Bucket::new(SMALL, 0);
        assert_eq!(bucket.take(0, 2000), Duration::ZERO);
        assert_eq!(bucket.take(0, 500), Duration::from_millis(500));
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let mut bucket = Bucket::new(SMALL, 0);
        for _ in 0..6 {
            bucket.take(0, 10);
        }
        // After a second the deficit is paid back and the bucket has refilled to its burst.
        assert_eq!(bucket.take(1_000, 10), Duration::ZERO);
    }
}
