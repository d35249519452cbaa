//! The visit programme's outcome counts (入院者訪問支援事業).
//!
//! Patients, not visits, are the headline: a patient counts in a year when they received at least
//! one visit in it. A patient is "discharged within one year" when the discharge date is within
//! 365 days of their first visit; they count in the fiscal year of the discharge.

use std::collections::BTreeSet;

use crate::fiscal::FiscalYear;
use crate::records::visit::{PatientCode, VisitCase};

/// Days between the first visit and discharge that still count as "within one year".
pub const DISCHARGE_WINDOW_DAYS: i64 = 365;

/// One fiscal year of the visit programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VisitProgrammeYear {
    /// Patients with at least one visit in the year (by patient code, once each).
    pub patients: u32,
    /// Visits in the year.
    pub visits: u32,
    /// Patients discharged in the year within 365 days of their first visit.
    pub discharged_within_a_year: u32,
}

/// Whether the case's patient was discharged within 365 days of the first visit.
pub fn discharged_within_a_year(case: &VisitCase) -> bool {
    match (case.first_visit(), case.discharged_on) {
        (Some(first), Some(discharged)) => {
            (0..=DISCHARGE_WINDOW_DAYS).contains(&first.days_until(discharged))
        }
        _ => false,
    }
}

/// The programme's counts for `year`. A patient with two cases (same code) counts once.
pub fn visit_programme<'a>(
    cases: impl IntoIterator<Item = &'a VisitCase>,
    year: FiscalYear,
) -> VisitProgrammeYear {
    let mut patients: BTreeSet<&PatientCode> = BTreeSet::new();
    let mut discharged: BTreeSet<&PatientCode> = BTreeSet::new();
    let mut visits = 0;
    for case in cases {
        let in_year = case
            .visits
            .values()
            .filter(|visit| year.contains(visit.date))
            .count();
        if in_year > 0 {
            patients.insert(&case.patient_code);
        }
        visits += u32::try_from(in_year).unwrap_or(u32::MAX);
        if discharged_within_a_year(case) && case.discharged_on.is_some_and(|d| year.contains(d)) {
            discharged.insert(&case.patient_code);
        }
    }
    VisitProgrammeYear {
        patients: u32::try_from(patients.len()).unwrap_or(u32::MAX),
        visits,
        discharged_within_a_year: u32::try_from(discharged.len()).unwrap_or(u32::MAX),
    }
}

/// Patients whose first visit was in or before `through` (the 累計 the targets use).
pub fn cumulative_patients<'a>(
    cases: impl IntoIterator<Item = &'a VisitCase>,
    through: FiscalYear,
) -> u32 {
    let patients: BTreeSet<&PatientCode> = cases
        .into_iter()
        .filter(|case| {
            case.first_visit()
                .is_some_and(|first| FiscalYear::of(first) <= through)
        })
        .map(|case| &case.patient_code)
        .collect();
    u32::try_from(patients.len()).unwrap_or(u32::MAX)
}
