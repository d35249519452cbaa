//! Japanese fiscal years (年度): April to March, named in the 令和 era.
//!
//! 令和 N年度 starts on 1 April of Gregorian year N + 2018: R6 = 2024-04-01..=2025-03-31,
//! R7 = 2025-04-01..=2026-03-31. Anything dated January to March belongs to the year that started
//! the previous April, so a session on 31 March counts in the year that ends that day.

use std::fmt;
use std::str::FromStr;

use crate::date::{Date, parse_digits};
use crate::encoding::string_scalar;
use crate::errors::ParseError;

/// The Gregorian year in which 令和 1年度 began (令和 started on 2019-05-01, but its fiscal
/// year numbering starts from the April of that year).
const REIWA_FIRST_FISCAL_START_YEAR: i32 = 2019;

/// A fiscal year (年度) of the 令和 era, e.g. R7 (令和7年度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiscalYear {
    reiwa: u16,
}

impl FiscalYear {
    /// 令和 `reiwa` 年度, or `None` for 0.
    pub fn reiwa(reiwa: u16) -> Option<FiscalYear> {
        (reiwa >= 1).then_some(FiscalYear { reiwa })
    }

    /// The fiscal year a date falls in. Dates before 令和1年度 (April 2019) fall in R1: the
    /// programme's records begin long after, and a total function keeps reports simple.
    pub fn of(date: Date) -> FiscalYear {
        let start_year = if date.month() >= 4 {
            date.year()
        } else {
            date.year() - 1
        };
        let reiwa = (start_year - REIWA_FIRST_FISCAL_START_YEAR + 1).clamp(1, i32::from(u16::MAX));
        FiscalYear {
            reiwa: reiwa as u16,
        }
    }

    /// The 令和 year number (7 for R7).
    pub fn reiwa_number(self) -> u16 {
        self.reiwa
    }

    /// The Gregorian year in which it starts (2025 for R7).
    pub fn start_year(self) -> i32 {
        i32::from(self.reiwa) + REIWA_FIRST_FISCAL_START_YEAR - 1
    }

    /// 1 April of its start year.
    pub fn first_day(self) -> Date {
        Date::new(self.start_year(), 4, 1).expect("1 April exists every year")
    }

    /// 31 March of the following year.
    pub fn last_day(self) -> Date {
        Date::new(self.start_year() + 1, 3, 31).expect("31 March exists every year")
    }

    /// Whether `date` falls in this fiscal year.
    pub fn contains(self, date: Date) -> bool {
        FiscalYear::of(date) == self
    }

    /// The following fiscal year.
    pub fn next(self) -> FiscalYear {
        FiscalYear {
            reiwa: self.reiwa.saturating_add(1),
        }
    }

    /// The Japanese name, e.g. `令和7年度`.
    pub fn japanese(self) -> String {
        format!("令和{}年度", self.reiwa)
    }
}

impl fmt::Display for FiscalYear {
    /// The short form used in the prefecture's tables, e.g. `R7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.reiwa)
    }
}

impl FromStr for FiscalYear {
    type Err = ParseError;

    /// Parses `R7` (also `r7`) or `令和7年度`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::new("年度", text);
        let trimmed = text.trim();
        let number = trimmed
            .strip_prefix(['R', 'r'])
            .or_else(|| {
                trimmed
                    .strip_prefix("令和")
                    .and_then(|rest| rest.strip_suffix("年度"))
            })
            .ok_or_else(invalid)?;
        let reiwa = parse_digits(number)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(invalid)?;
        FiscalYear::reiwa(reiwa).ok_or_else(invalid)
    }
}

string_scalar!(FiscalYear, "a fiscal year such as R7");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn date(text: &str) -> Date {
        text.parse().expect("valid date")
    }

    #[rstest]
    #[case("2024-04-01", "R6")]
    #[case("2025-03-31", "R6")]
    #[case("2025-04-01", "R7")]
    #[case("2025-12-31", "R7")]
    #[case("2026-03-31", "R7")]
    #[case("2026-04-01", "R8")]
    fn a_date_belongs_to_the_fiscal_year_that_started_the_april_before(
        #[case] day: &str,
        #[case] year: &str,
    ) {
        assert_eq!(FiscalYear::of(date(day)).to_string(), year);
    }

    #[test]
    fn r7_runs_from_april_2025_to_march_2026() {
        let r7: FiscalYear = "R7".parse().expect("valid");
        assert_eq!(r7.first_day(), date("2025-04-01"));
        assert_eq!(r7.last_day(), date("2026-03-31"));
        assert_eq!(r7.japanese(), "令和7年度");
        assert_eq!("令和7年度".parse::<FiscalYear>(), Ok(r7));
        assert_eq!(r7.next().to_string(), "R8");
    }

    #[rstest]
    #[case("R0")]
    #[case("H30")]
    #[case("R")]
    #[case("R-1")]
    fn malformed_fiscal_years_are_rejected(#[case] text: &str) {
        assert!(text.parse::<FiscalYear>().is_err());
    }
}
