//! A received sync message's bloom filters, checked before automerge answers it.
//!
//! automerge 0.12 divides by the number of bits of each "have" bloom filter when it answers a
//! message (`sync/bloom.rs`, `get_probes`), and decodes without complaint a filter that claims
//! entries but carries no bits (`fuzz/regressions/sync_message/bloom-zero-bits`, found by the
//! fuzzer). The server catches that panic (`server/src/sync/frame_guard.rs`); in the browser a
//! panic aborts the app (`panic = "abort"`), so a hostile server could crash every phone that
//! connects. It also probes each of its changes as many times as a filter says, and trusts the
//! number: a 21-byte message whose filter asks for four billion probes kept it busy for 18 s per
//! change (`fuzz/regressions/sync_message/bloom-huge-probes`, found by CI's fuzz run), on the
//! server's thread that reads the socket. automerge writes every filter with 10 bits per entry
//! and 7 probes, and so does every automerge-repo peer (the JavaScript one is the same Rust), so
//! [`check`] refuses any other parameters, and a filter without bits, before automerge sees them.

use automerge::sync;

/// Why [`check`] refused a sync message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BloomRefused {
    /// A "have" whose bloom filter claims entries but has no bits to probe.
    #[error("a bloom filter claims {entries} entries but has no bits")]
    NoBits {
        /// The entries the filter claims.
        entries: u64,
    },
    /// A filter with other parameters than automerge writes.
    #[error("a bloom filter with {bits_per_entry} bits per entry and {probes} probes")]
    Parameters {
        /// Bits per entry it claims (automerge: 10).
        bits_per_entry: u64,
        /// Probes per hash it claims (automerge: 7).
        probes: u64,
    },
}

/// The bits per entry automerge gives every filter it writes.
const BITS_PER_ENTRY: u64 = 10;
/// The probes per hash automerge gives every filter it writes.
const PROBES: u64 = 7;

/// Refuses a message with a bloom filter that would make automerge divide by zero or probe
/// more than automerge's own filters do.
pub fn check(message: &sync::Message) -> Result<(), BloomRefused> {
    message
        .have
        .iter()
        .try_for_each(|have| check_filter(&have.bloom.to_bytes()))
}

/// A filter's wire form (automerge's `BloomFilter::to_bytes`): nothing for an empty filter,
/// else LEB128 entries, bits per entry and probes, then the bits.
fn check_filter(bytes: &[u8]) -> Result<(), BloomRefused> {
    let mut rest = bytes;
    let Some(entries) = leb128(&mut rest) else {
        return Ok(());
    };
    // The two other numbers; what remains is the bits. A header cut short is automerge's to
    // reject.
    let (Some(bits_per_entry), Some(probes)) = (leb128(&mut rest), leb128(&mut rest)) else {
        return Ok(());
    };
    if entries > 0 && rest.is_empty() {
        return Err(BloomRefused::NoBits { entries });
    }
    if bits_per_entry != BITS_PER_ENTRY || probes != PROBES {
        return Err(BloomRefused::Parameters {
            bits_per_entry,
            probes,
        });
    }
    Ok(())
}

/// Reads one unsigned LEB128 number (at most 64 bits) from the front of `bytes`.
fn leb128(bytes: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc as _;
    use automerge::transaction::Transactable as _;
    use automerge::{Automerge, ROOT};

    #[test]
    fn the_fuzzers_zero_bit_bloom_filter_is_refused() {
        let bytes = include_bytes!("../../../fuzz/regressions/sync_message/bloom-zero-bits");
        let message = sync::Message::decode(bytes).expect("automerge decodes it");
        assert!(matches!(
            check(&message),
            Err(BloomRefused::NoBits { entries }) if entries > 0
        ));
    }

    #[test]
    fn real_messages_pass_with_or_without_haves() {
        let mut doc = Automerge::new();
        let mut state = sync::State::new();
        let first = doc
            .generate_sync_message(&mut state)
            .expect("a first message");
        assert_eq!(check(&first), Ok(()));
        doc.transact(|tx| tx.put(ROOT, "title", "研修").map(|_| ()))
            .expect("a put commits");
        let mut peer = Automerge::new();
        let mut peer_state = sync::State::new();
        let from_peer = peer
            .generate_sync_message(&mut peer_state)
            .expect("a message");
        doc.receive_sync_message(&mut state, from_peer)
            .expect("it applies");
        let answer = doc
            .generate_sync_message(&mut state)
            .expect("changes to send");
        assert_eq!(check(&answer), Ok(()));
        // A peer that has changes sends a filter with bits.
        peer.receive_sync_message(&mut peer_state, answer)
            .expect("it applies");
        peer.transact(|tx| tx.put(ROOT, "venue", "会館").map(|_| ()))
            .expect("a put commits");
        let with_filter = peer
            .generate_sync_message(&mut peer_state)
            .expect("a message");
        assert!(
            with_filter
                .have
                .iter()
                .any(|h| !h.bloom.to_bytes().is_empty())
        );
        assert_eq!(check(&with_filter), Ok(()));
    }

    #[test]
    fn the_fuzzers_four_billion_probes_are_refused() {
        let bytes = include_bytes!("../../../fuzz/regressions/sync_message/bloom-huge-probes");
        let message = sync::Message::decode(bytes).expect("automerge decodes it");
        assert!(
            matches!(check(&message), Err(BloomRefused::Parameters { probes, .. }) if probes > 7),
            "{:?}",
            check(&message)
        );
    }

    #[test]
    fn a_filter_with_entries_and_bits_passes_and_one_without_bits_does_not() {
        assert_eq!(check_filter(&[]), Ok(()));
        assert_eq!(check_filter(&[1, 10, 7, 0xff, 0x01]), Ok(()));
        assert_eq!(
            check_filter(&[1, 0, 7]),
            Err(BloomRefused::NoBits { entries: 1 })
        );
        assert_eq!(
            check_filter(&[1, 10, 100, 0xff, 0x01]),
            Err(BloomRefused::Parameters {
                bits_per_entry: 10,
                probes: 100
            })
        );
        assert_eq!(
            check_filter(&[1, 1, 7, 0xff]),
            Err(BloomRefused::Parameters {
                bits_per_entry: 1,
                probes: 7
            })
        );
        assert_eq!(
            check_filter(&[0x80, 0x01, 0, 7]),
            Err(BloomRefused::NoBits { entries: 128 })
        );
    }
}
