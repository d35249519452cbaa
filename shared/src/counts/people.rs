//! Who counts as a new 心のサポーター (or 指導者), and where.
//!
//! A person counts once, in the fiscal year of their **first** completion of the course, however
//! many sessions they attend (DOMAIN.md). People are recognised across sessions by
//! [`PersonKey`]: the office's confirmed [`PersonId`] when set, otherwise a key normalised from
//! kana, 市町村 and birth year.

use std::collections::BTreeMap;

use crate::counts::DistrictCounts;
use crate::date::{Date, TimeOfDay};
use crate::fiscal::FiscalYear;
use crate::geo::{Place, ReportDistrict};
use crate::ids::{AttendeeId, PersonId};
use crate::records::training::{Attendee, Person, TrainingKind, TrainingSession, district_of};

/// How a person is recognised across sessions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PersonKey {
    /// Confirmed by the office (duplicates merged).
    Confirmed(PersonId),
    /// Derived from what was written on the roster.
    Derived {
        /// Kana in hiragana, without spaces.
        kana: String,
        /// Residence, else workplace/school, else unknown.
        place: Option<Place>,
        /// Birth year, when recorded.
        birth_year: Option<u16>,
    },
}

impl PersonKey {
    /// The key of a roster entry.
    pub fn of(attendee: &Attendee) -> PersonKey {
        match attendee.person_id {
            Some(id) => PersonKey::Confirmed(id),
            None => PersonKey::derived(&attendee.person),
        }
    }

    /// The name-based key of a person: kana folded to hiragana without spaces, so ミヤギ ハナコ and
    /// みやぎはなこ match.
    pub fn derived(person: &Person) -> PersonKey {
        PersonKey::Derived {
            kana: normalise_kana(&person.kana),
            place: person.residence.or(person.workplace),
            birth_year: person.birth_year,
        }
    }
}

/// Folds katakana to hiragana and drops spaces and middle dots.
pub fn normalise_kana(kana: &str) -> String {
    kana.chars()
        .filter(|c| !matches!(c, ' ' | '\u{3000}' | '・'))
        .map(|c| match c {
            // Katakana ァ..ヶ sit 0x60 above their hiragana.
            'ァ'..='ヶ' => char::from_u32(u32::from(c) - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// When and where a person first completed a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstCompletion {
    /// The session's date.
    pub date: Date,
    /// The fiscal year they count in.
    pub fiscal_year: FiscalYear,
    /// The district they count in (as of that completion).
    pub district: ReportDistrict,
}

/// Every person who completed `course`, with their first completion. Withdrawn entries never
/// count. Equal dates are ordered by start time and then attendee id, so the result does not
/// depend on the order sessions are given in.
pub fn first_completions<'a>(
    sessions: impl IntoIterator<Item = &'a TrainingSession>,
    course: TrainingKind,
) -> BTreeMap<PersonKey, FirstCompletion> {
    let mut completions: Vec<(Date, TimeOfDay, AttendeeId, PersonKey, ReportDistrict)> = sessions
        .into_iter()
        .filter(|session| session.course == course)
        .flat_map(|session| {
            session
                .active_attendees()
                .filter(|(_, attendee)| attendee.completed)
                .map(move |(id, attendee)| {
                    (
                        session.date,
                        session.start,
                        *id,
                        PersonKey::of(attendee),
                        district_of(&attendee.person, session.audience),
                    )
                })
        })
        .collect();
    completions.sort();
    let mut first = BTreeMap::new();
    for (date, _, _, key, district) in completions {
        first.entry(key).or_insert(FirstCompletion {
            date,
            fiscal_year: FiscalYear::of(date),
            district,
        });
    }
    first
}

/// New people (first completion in `year`) by district column.
pub fn new_by_district(
    first: &BTreeMap<PersonKey, FirstCompletion>,
    year: FiscalYear,
) -> DistrictCounts {
    count_where(first, |completion| completion.fiscal_year == year)
}

/// Everyone who first completed in or before `year` (the cumulative 累計 table).
pub fn cumulative_by_district(
    first: &BTreeMap<PersonKey, FirstCompletion>,
    through: FiscalYear,
) -> DistrictCounts {
    count_where(first, |completion| completion.fiscal_year <= through)
}

fn count_where(
    first: &BTreeMap<PersonKey, FirstCompletion>,
    include: impl Fn(&FirstCompletion) -> bool,
) -> DistrictCounts {
    let mut counts = DistrictCounts::zero();
    for completion in first.values().filter(|completion| include(completion)) {
        counts.add(completion.district);
    }
    counts
}
