//! Likely duplicate people: roster entries in different sessions that the counting rules would
//! count as two people ([`PersonKey`]s differ) but that are probably one. The office confirms a
//! pair by giving both entries one [`PersonId`]; the entries themselves stay where they are.
//!
//! A pair is likely when both entries are active, in different sessions, share a place, and
//! - their kana match (folded to hiragana, spaces dropped) and their birth years match, but one
//!   entry already carries a confirmed id and the other not ([`DuplicateReason::SameDetails`]);
//! - their kana match and one birth year is missing ([`DuplicateReason::BirthYearMissing`]);
//! - their kana differ by one character (a typo; both at least three characters) and their birth
//!   years match or one is missing ([`DuplicateReason::CloseKana`]).
//!
//! Two entries the office already gave different ids are different people and never listed.

use crate::counts::people::{PersonKey, normalise_kana};
use crate::geo::Place;
use crate::ids::PersonId;

/// One roster entry as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Which session (document) it is in.
    pub session: String,
    /// The kana as written.
    pub kana: String,
    /// Residence, else workplace.
    pub place: Option<Place>,
    /// Birth year, when written.
    pub birth_year: Option<u16>,
    /// The office's confirmed id, when set.
    pub person_id: Option<PersonId>,
}

/// Why two entries look like one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DuplicateReason {
    /// Same kana, place and birth year; only one is linked to a confirmed person.
    SameDetails,
    /// Same kana and place; one birth year not written.
    BirthYearMissing,
    /// Same place and birth year; kana one character apart.
    CloseKana,
}

impl DuplicateReason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            DuplicateReason::SameDetails => "same_details",
            DuplicateReason::BirthYearMissing => "birth_year_missing",
            DuplicateReason::CloseKana => "close_kana",
        }
    }

    /// The Japanese explanation.
    pub fn label_ja(self) -> &'static str {
        match self {
            DuplicateReason::SameDetails => "ふりがな・市町村・生まれ年が同じ",
            DuplicateReason::BirthYearMissing => "ふりがな・市町村が同じ（生まれ年の記入なし）",
            DuplicateReason::CloseKana => "市町村・生まれ年が同じで、ふりがなが1文字違い",
        }
    }
}

/// A likely pair: indexes into the entries given, the smaller first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LikelyDuplicate {
    /// One entry.
    pub first: usize,
    /// The other.
    pub second: usize,
    /// Why.
    pub reason: DuplicateReason,
}

/// Every likely pair among `entries`, in index order.
pub fn likely_duplicates(entries: &[Entry]) -> Vec<LikelyDuplicate> {
    let kana: Vec<Vec<char>> = entries
        .iter()
        .map(|e| normalise_kana(&e.kana).chars().collect())
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in entries.iter().enumerate() {
        for (j, b) in entries.iter().enumerate().skip(i + 1) {
            if let Some(reason) = reason(a, b, &kana[i], &kana[j]) {
                pairs.push(LikelyDuplicate {
                    first: i,
                    second: j,
                    reason,
                });
            }
        }
    }
    pairs
}

fn key(entry: &Entry) -> PersonKey {
    match entry.person_id {
        Some(id) => PersonKey::Confirmed(id),
        None => PersonKey::Derived {
            kana: normalise_kana(&entry.kana),
            place: entry.place,
            birth_year: entry.birth_year,
        },
    }
}

fn reason(a: &Entry, b: &Entry, kana_a: &[char], kana_b: &[char]) -> Option<DuplicateReason> {
    if a.session == b.session || a.place != b.place || key(a) == key(b) {
        return None;
    }
    if a.person_id.is_some() && b.person_id.is_some() {
        return None;
    }
    let years_match = a.birth_year == b.birth_year;
    let year_missing = a.birth_year.is_none() != b.birth_year.is_none();
    if kana_a == kana_b {
        if years_match {
            return Some(DuplicateReason::SameDetails);
        }
        if year_missing {
            return Some(DuplicateReason::BirthYearMissing);
        }
        return None;
    }
    let long_enough = kana_a.len() >= 3 && kana_b.len() >= 3;
    (long_enough && (years_match || year_missing) && one_edit_apart(kana_a, kana_b))
        .then_some(DuplicateReason::CloseKana)
}

/// Whether one substitution, insertion or deletion turns `a` into `b` (and they differ).
fn one_edit_apart(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => short.iter().zip(long).filter(|(x, y)| x != y).count() == 1,
        1 => {
            let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
            short[prefix..] == long[prefix + 1..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn entry(session: &str, kana: &str, place: &str, year: Option<u16>) -> Entry {
        Entry {
            session: session.to_owned(),
            kana: kana.to_owned(),
            place: Some(place.parse().expect("known place")),
            birth_year: year,
            person_id: None,
        }
    }

    fn id(n: u8) -> Option<PersonId> {
        Some(PersonId::from_random_bytes([n; 16]))
    }

    #[rstest]
    #[case::same_key_counts_once_already(entry("b", "ミヤギ ハナコ", "女川町", Some(1960)), None)]
    #[case::year_missing(
        entry("b", "みやぎ はなこ", "女川町", None),
        Some(DuplicateReason::BirthYearMissing)
    )]
    #[case::typo(
        entry("b", "みやぎ はなご", "女川町", Some(1960)),
        Some(DuplicateReason::CloseKana)
    )]
    #[case::typo_and_year_missing(
        entry("b", "みやぎはな", "女川町", None),
        Some(DuplicateReason::CloseKana)
    )]
    #[case::other_year(entry("b", "みやぎ はなこ", "女川町", Some(1961)), None)]
    #[case::other_place(entry("b", "みやぎ はなこ", "石巻市", None), None)]
    #[case::same_session(entry("a", "みやぎ はなご", "女川町", Some(1960)), None)]
    #[case::two_edits(entry("b", "みやぎ はなごお", "女川町", Some(1960)), None)]
    fn pairs_are_likely_by_kana_place_and_birth_year(
        #[case] other: Entry,
        #[case] expected: Option<DuplicateReason>,
    ) {
        let entries = [entry("a", "みやぎ はなこ", "女川町", Some(1960)), other];
        assert_eq!(
            likely_duplicates(&entries).first().map(|pair| pair.reason),
            expected
        );
    }

    #[test]
    fn one_confirmed_entry_and_one_unlinked_with_the_same_details_are_listed() {
        let mut confirmed = entry("a", "みやぎ はなこ", "女川町", Some(1960));
        confirmed.person_id = id(1);
        let entries = [confirmed, entry("b", "みやぎ はなこ", "女川町", Some(1960))];
        assert_eq!(
            likely_duplicates(&entries)[0].reason,
            DuplicateReason::SameDetails
        );
    }

    #[test]
    fn entries_the_office_told_apart_or_merged_are_not_listed() {
        let mut a = entry("a", "みやぎ はなこ", "女川町", Some(1960));
        let mut b = entry("b", "みやぎ はなご", "女川町", Some(1960));
        a.person_id = id(1);
        b.person_id = id(2);
        assert!(likely_duplicates(&[a.clone(), b.clone()]).is_empty());
        b.person_id = id(1);
        assert!(likely_duplicates(&[a, b]).is_empty());
    }
}
