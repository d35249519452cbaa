//! Derived counts: pure functions over hydrated records, shared by the device's own summaries
//! and the server's reports, so both always agree.
//!
//! - [`people`]: who counts as a new 心のサポーター / 指導者, once per person, by district.
//! - [`trainings`]: sessions and attendees by kind, audience and host per fiscal year.
//! - [`visits`]: the visit programme's patients, visits and discharges within a year.

pub mod duplicates;
pub mod people;
pub mod trainings;
pub mod visits;

use std::collections::BTreeMap;

use crate::geo::ReportDistrict;

/// Counts by the columns of the prefecture's 心のサポーター table ([`ReportDistrict::SUPPORTER_TABLE`]);
/// every column is present, zero when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictCounts(BTreeMap<ReportDistrict, u32>);

impl DistrictCounts {
    /// All columns at zero.
    pub fn zero() -> DistrictCounts {
        DistrictCounts(
            ReportDistrict::SUPPORTER_TABLE
                .iter()
                .map(|district| (*district, 0))
                .collect(),
        )
    }

    /// Adds one person to a district's column (仙台市 goes to その他).
    pub fn add(&mut self, district: ReportDistrict) {
        *self.0.entry(district.supporter_table_column()).or_insert(0) += 1;
    }

    /// One column's count.
    pub fn get(&self, district: ReportDistrict) -> u32 {
        self.0
            .get(&district.supporter_table_column())
            .copied()
            .unwrap_or(0)
    }

    /// The columns in the table's order with their counts.
    pub fn columns(&self) -> Vec<(ReportDistrict, u32)> {
        ReportDistrict::SUPPORTER_TABLE
            .iter()
            .map(|district| (*district, self.get(*district)))
            .collect()
    }

    /// The total (合計).
    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }
}
