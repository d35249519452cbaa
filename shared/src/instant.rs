//! Instants: when something happened (a check-in, a mark), as passed in by the caller.
//!
//! `shared` never reads a clock; the app and the server pass the current time in. An instant is
//! stored as an Automerge timestamp scalar (milliseconds since the Unix epoch) and written as
//! ISO-8601 (`2025-06-01T10:15:00+09:00`). Japan has had no daylight saving time since 1951, so the
//! local calendar date is always UTC+9.

use std::fmt;
use std::str::FromStr;

use autosurgeon::{HydrateError, Reconciler};

use crate::date::{Date, parse_digits};
use crate::errors::ParseError;

const MILLIS_PER_DAY: i64 = 86_400_000;
/// Japan Standard Time, UTC+9, in milliseconds.
const JST_OFFSET_MILLIS: i64 = 9 * 3_600_000;

/// An instant in time, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (what Automerge records as a change's time).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The calendar date in Japan at this instant.
    pub fn date_in_japan(self) -> Date {
        Date::from_days_since_epoch((self.0 + JST_OFFSET_MILLIS).div_euclid(MILLIS_PER_DAY))
    }
}

impl fmt::Display for Timestamp {
    /// Writes the instant in Japan time, e.g. `2025-06-01T10:15:00.000+09:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.0 + JST_OFFSET_MILLIS;
        let date = Date::from_days_since_epoch(local.div_euclid(MILLIS_PER_DAY));
        let millis_of_day = local.rem_euclid(MILLIS_PER_DAY);
        let (hours, rest) = (millis_of_day / 3_600_000, millis_of_day % 3_600_000);
        let (minutes, rest) = (rest / 60_000, rest % 60_000);
        let (seconds, millis) = (rest / 1000, rest % 1000);
        write!(
            f,
            "{date}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}+09:00"
        )
    }
}

impl FromStr for Timestamp {
    type Err = ParseError;

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or an offset `±HH:MM`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::new("日時", text);
        let (date, rest) = text.split_once('T').ok_or_else(invalid)?;
        let date: Date = date.parse().map_err(|_| invalid())?;
        let (clock, offset_millis) = split_offset(rest).ok_or_else(invalid)?;
        let millis_of_day = parse_clock(clock).ok_or_else(invalid)?;
        let millis = date.days_since_epoch() * MILLIS_PER_DAY + millis_of_day - offset_millis;
        Ok(Timestamp(millis))
    }
}

/// Splits `10:15:00+09:00` into the clock and the offset in milliseconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(clock) = text.strip_suffix('Z') {
        return Some((clock, 0));
    }
    let sign_at = text.rfind(['+', '-'])?;
    let (clock, offset) = text.split_at(sign_at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = offset[1..].split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let offset_minutes = i64::from(parse_digits(hours)?) * 60 + i64::from(parse_digits(minutes)?);
    Some((clock, sign * offset_minutes * 60_000))
}

/// Parses `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` into milliseconds after midnight.
fn parse_clock(clock: &str) -> Option<i64> {
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = clock.split(':');
    let hours = parts
        .next()
        .filter(|p| p.len() == 2)
        .and_then(parse_digits)?;
    let minutes = parts
        .next()
        .filter(|p| p.len() == 2)
        .and_then(parse_digits)?;
    let seconds = match parts.next() {
        Some(p) if p.len() == 2 => parse_digits(p)?,
        Some(_) => return None,
        None => 0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let millis = match fraction {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => {
            parse_digits(f)? * 10u32.pow(3 - u32::try_from(f.len()).ok()?)
        }
        Some(_) => return None,
    };
    Some(
        (i64::from(hours) * 3600 + i64::from(minutes) * 60 + i64::from(seconds)) * 1000
            + i64::from(millis),
    )
}

impl autosurgeon::Reconcile for Timestamp {
    type Key<'a> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.timestamp(self.0)
    }
}

impl autosurgeon::Hydrate for Timestamp {
    fn hydrate_timestamp(millis: i64) -> Result<Self, HydrateError> {
        Ok(Timestamp(millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2025-06-01T10:15:00+09:00", "2025-06-01T10:15:00.000+09:00")]
    #[case("2025-06-01T01:15:00Z", "2025-06-01T10:15:00.000+09:00")]
    #[case("2025-06-01T10:15+09:00", "2025-06-01T10:15:00.000+09:00")]
    #[case("2025-03-31T15:30:00.5Z", "2025-04-01T00:30:00.500+09:00")]
    fn instants_parse_from_iso_8601_and_print_in_japan_time(
        #[case] input: &str,
        #[case] printed: &str,
    ) {
        let at: Timestamp = input.parse().expect("valid instant");
        assert_eq!(at.to_string(), printed);
        assert_eq!(printed.parse::<Timestamp>(), Ok(at));
    }

    #[test]
    fn late_evening_utc_is_already_the_next_day_in_japan() {
        let at: Timestamp = "2025-03-31T16:00:00Z".parse().expect("valid instant");
        assert_eq!(at.date_in_japan().to_string(), "2025-04-01");
    }

    #[rstest]
    #[case("2025-06-01 10:15:00Z")]
    #[case("2025-06-01T10:15:00")]
    #[case("2025-06-01T25:00:00Z")]
    #[case("2025-06-01T10:15:00.1234Z")]
    fn malformed_instants_are_rejected(#[case] input: &str) {
        assert!(input.parse::<Timestamp>().is_err());
    }
}
