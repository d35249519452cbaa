//! Reconnect delays: exponential, jittered, capped, and replayable from a seed.

use nimo_shared::sync::{BackoffConfig, backoff_delay};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rstest::rstest;

#[rstest]
#[case::first_retry(1, 500, 1_000)]
#[case::zero_counts_as_first(0, 500, 1_000)]
#[case::second(2, 1_000, 2_000)]
#[case::fifth(5, 8_000, 16_000)]
#[case::reaches_the_cap(7, 30_000, 60_000)]
#[case::stays_at_the_cap(40, 30_000, 60_000)]
#[case::no_overflow_at_huge_attempts(u32::MAX, 30_000, 60_000)]
fn the_delay_of_an_attempt_lies_between_half_and_all_of_its_ceiling(
    #[case] attempt: u32,
    #[case] min: u64,
    #[case] max: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(attempt.into());
    for _ in 0..200 {
        let delay = backoff_delay(attempt, &mut rng);
        assert!((min..=max).contains(&delay), "attempt {attempt}: {delay}");
    }
}

#[test]
fn jitter_spreads_devices_that_lost_the_same_network() {
    let delays: std::collections::BTreeSet<u64> = (0..20)
        .map(|seed| backoff_delay(4, &mut ChaCha8Rng::seed_from_u64(seed)))
        .collect();
    assert!(delays.len() > 15, "{delays:?}");
}

#[test]
fn the_same_seed_gives_the_same_delays() {
    let run = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (1..10)
            .map(|a| backoff_delay(a, &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
}

#[test]
fn a_custom_cap_is_never_exceeded() {
    let config = BackoffConfig {
        base_ms: 250,
        cap_ms: 5_000,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!((1..100).all(|a| config.delay(a, &mut rng) <= 5_000));
}
