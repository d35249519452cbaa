//! Calendar dates and times of day, without a clock and without time zones.
//!
//! A session's date and start time are what the trainer writes on the sign-up sheet: a local
//! (Japan) calendar date and a wall-clock time. They are stored as `"YYYY-MM-DD"` and `"HH:MM"`.
//! The day arithmetic is Howard Hinnant's `days_from_civil`, exact for the proleptic Gregorian
//! calendar, so no date crate (and none of their wasm clock features) is needed.

use std::fmt;
use std::str::FromStr;

use crate::encoding::string_scalar;
use crate::errors::ParseError;

/// A calendar date (proleptic Gregorian), e.g. `2025-03-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, or `None` when the day does not exist (e.g. 2025-02-29).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// The Gregorian year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        // The casts cannot truncate: month is 1..=12, day 1..=31, and the year stays within i32
        // for any date a record can hold (callers pass day counts derived from real dates).
        Date {
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }

    /// The date `days` days later (or earlier, when negative).
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = ParseError;

    /// Parses `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::new("日付", text);
        let mut parts = text.split('-');
        let (Some(year), Some(month), Some(day), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return Err(invalid());
        }
        let year = parse_digits(year).ok_or_else(invalid)?;
        let month = parse_digits(month).ok_or_else(invalid)?;
        let day = parse_digits(day).ok_or_else(invalid)?;
        Date::new(
            i32::try_from(year).map_err(|_| invalid())?,
            u8::try_from(month).map_err(|_| invalid())?,
            u8::try_from(day).map_err(|_| invalid())?,
        )
        .ok_or_else(invalid)
    }
}

string_scalar!(Date, "a date YYYY-MM-DD");

/// A wall-clock time of day in Japan, e.g. `13:30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes_after_midnight: u16,
}

impl TimeOfDay {
    /// Builds a time, or `None` when hour ≥ 24 or minute ≥ 60.
    pub fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then(|| TimeOfDay {
            minutes_after_midnight: u16::from(hour) * 60 + u16::from(minute),
        })
    }

    /// Minutes since midnight.
    pub fn minutes_after_midnight(self) -> u16 {
        self.minutes_after_midnight
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.minutes_after_midnight;
        write!(f, "{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = ParseError;

    /// Parses `HH:MM` (24-hour clock).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::new("時刻", text);
        let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
        if hour.len() != 2 || minute.len() != 2 {
            return Err(invalid());
        }
        let hour = parse_digits(hour).ok_or_else(invalid)?;
        let minute = parse_digits(minute).ok_or_else(invalid)?;
        TimeOfDay::new(
            u8::try_from(hour).map_err(|_| invalid())?,
            u8::try_from(minute).map_err(|_| invalid())?,
        )
        .ok_or_else(invalid)
    }
}

string_scalar!(TimeOfDay, "a time of day HH:MM");

/// Parses ASCII digits only (no sign, no spaces), unlike `str::parse`.
pub(crate) fn parse_digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1970-01-01", 0)]
    #[case("2024-02-29", 19_782)]
    #[case("2025-03-31", 20_178)]
    #[case("1969-12-31", -1)]
    fn dates_round_trip_through_day_counts(#[case] text: &str, #[case] days: i64) {
        let date: Date = text.parse().expect("valid date");
        assert_eq!(date.days_since_epoch(), days);
        assert_eq!(Date::from_days_since_epoch(days), date);
        assert_eq!(date.to_string(), text);
    }

    #[rstest]
    #[case("2025-02-29")]
    #[case("2025-13-01")]
    #[case("2025-4-01")]
    #[case("+025-04-01")]
    #[case("2025-04-01-")]
    fn impossible_or_malformed_dates_are_rejected(#[case] text: &str) {
        assert!(text.parse::<Date>().is_err());
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = Date::new(1900, 1, 1).expect("valid").days_since_epoch();
        for days in start..start + 146_097 {
            let date = Date::from_days_since_epoch(days);
            assert_eq!(date.days_since_epoch(), days);
            assert_eq!(date.to_string().parse::<Date>(), Ok(date));
        }
    }

    #[rstest]
    #[case("00:00", 0)]
    #[case("13:30", 810)]
    #[case("23:59", 1439)]
    fn times_of_day_parse_and_print(#[case] text: &str, #[case] minutes: u16) {
        let time: TimeOfDay = text.parse().expect("valid time");
        assert_eq!(time.minutes_after_midnight(), minutes);
        assert_eq!(time.to_string(), text);
    }

    #[rstest]
    #[case("24:00")]
    #[case("9:30")]
    #[case("09:60")]
    fn impossible_times_are_rejected(#[case] text: &str) {
        assert!(text.parse::<TimeOfDay>().is_err());
    }
}
