//! 入院者訪問支援 (visits to psychiatric inpatients): one document per case.
//!
//! The most sensitive record in the system (要配慮個人情報, statutory duty of confidentiality): a
//! case never holds the patient's name, only a pseudonymous code, validated to look like a code.
//! Visits are a map keyed by [`VisitId`]; each visit's notes are Automerge text, so the two
//! visitors can write into the same notes on two phones and both texts survive the merge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use autosurgeon::{Hydrate, Reconcile, Text};

use crate::date::Date;
use crate::doc::{DocKind, Record};
use crate::encoding::{coded_enum, set_as_map, string_scalar};
use crate::errors::ValidationError;
use crate::geo::Municipality;
use crate::ids::{UserId, VisitId};

coded_enum! {
    /// Why the patient may use the programme.
    pub enum Eligibility {
        /// 市町村長同意による医療保護入院者.
        MayorConsentMedicalProtection => ("mayor_consent", "市町村長同意による医療保護入院"),
        /// Others the prefecture recognises as needing the same support.
        RecognisedByPrefecture => ("recognised_by_prefecture", "県が認めた者"),
    }
}

coded_enum! {
    /// What a visit covered. Visitors listen and inform; they do not arrange services.
    pub enum VisitTopic {
        /// 傾聴.
        Listening => ("listening", "傾聴"),
        /// 生活に関する相談 (life in hospital).
        LifeConsultation => ("life_consultation", "生活に関する相談"),
        /// 情報提供.
        Information => ("information", "情報提供"),
        /// 退院に向けた相談.
        Discharge => ("discharge", "退院に向けた相談"),
        /// その他.
        Other => ("other", "その他"),
    }
}

coded_enum! {
    /// Whether the case is still being visited.
    pub enum CaseStatus {
        /// 支援中.
        Open => ("open", "支援中"),
        /// 終了.
        Closed => ("closed", "終了"),
    }
}

/// A pseudonymous patient code such as `MY-2025-0007`: 4 to 16 of `A–Z`, `0–9`, `-`, with at least
/// one digit. Anything with kana, kanji, spaces or no digit at all is refused as looking like a
/// name, because a name must never be stored in a visit case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PatientCode(String);

impl PatientCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PatientCode {
    type Err = ValidationError;

    /// Trims and upper-cases, then checks the shape.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.chars().any(|c| !c.is_ascii() || c.is_whitespace()) {
            return Err(ValidationError::PatientCodeLooksLikeName);
        }
        let code = trimmed.to_ascii_uppercase();
        let well_formed = (4..=16).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            return Err(ValidationError::PatientCodeMalformed(trimmed.to_owned()));
        }
        if !code.chars().any(|c| c.is_ascii_digit()) {
            return Err(ValidationError::PatientCodeLooksLikeName);
        }
        Ok(PatientCode(code))
    }
}

impl fmt::Display for PatientCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_scalar!(PatientCode, "a patient code");

/// The two visitors: by rule one professional and one non-professional.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct VisitorPair {
    /// The professional visitor (専門職).
    pub professional: UserId,
    /// The non-professional visitor (専門職以外).
    pub non_professional: UserId,
}

impl VisitorPair {
    /// Two distinct visitors.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.professional == self.non_professional {
            return Err(ValidationError::VisitorsNotDistinct);
        }
        Ok(())
    }

    /// Whether `user` is one of the two.
    pub fn includes(&self, user: &UserId) -> bool {
        &self.professional == user || &self.non_professional == user
    }
}

/// One visit to the ward.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Visit {
    /// The day of the visit.
    pub date: Date,
    /// Who visited (usually the assigned pair).
    pub visitors: VisitorPair,
    /// How long, in minutes.
    pub duration_minutes: u32,
    /// What was covered; a set, so both visitors' ticks merge.
    #[autosurgeon(with = "set_as_map")]
    pub topics: BTreeSet<VisitTopic>,
    /// Free notes, as Automerge text (concurrent typing merges).
    pub notes: Text,
    /// What to follow up next time.
    #[autosurgeon(missing = "Option::default")]
    pub follow_up: Option<String>,
    /// The next visit, when agreed.
    #[autosurgeon(missing = "Option::default")]
    pub next_visit_on: Option<Date>,
}

impl Visit {
    /// Checks the pair and duration.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.visitors.validate()?;
        if self.duration_minutes == 0 {
            return Err(ValidationError::DurationZero);
        }
        if let Some(next) = self.next_visit_on
            && next < self.date
        {
            return Err(out_of_order("訪問日", self.date, "次回訪問予定日", next));
        }
        Ok(())
    }
}

/// A 入院者訪問支援 case: one document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct VisitCase {
    /// The pseudonymous patient code (never a name).
    pub patient_code: PatientCode,
    /// The hospital's name.
    pub hospital: String,
    /// The hospital's 市町村.
    pub hospital_municipality: Municipality,
    /// Why the patient is eligible.
    pub eligibility: Eligibility,
    /// When the patient asked for visits.
    pub requested_on: Date,
    /// The pair assigned by the prefecture's contractor.
    pub assigned: VisitorPair,
    /// Open or closed.
    pub status: CaseStatus,
    /// The discharge date, once known.
    #[autosurgeon(missing = "Option::default")]
    pub discharged_on: Option<Date>,
    /// The visits, keyed by visit id.
    #[autosurgeon(with = "crate::encoding::keyed_map")]
    pub visits: BTreeMap<VisitId, Visit>,
}

impl VisitCase {
    /// The date of the first visit, if any.
    pub fn first_visit(&self) -> Option<Date> {
        self.visits.values().map(|visit| visit.date).min()
    }

    /// Case-level rules.
    pub fn validate_details(&self) -> Result<(), ValidationError> {
        if self.hospital.trim().is_empty() {
            return Err(ValidationError::Required("病院名"));
        }
        self.assigned.validate()?;
        if let Some(discharged) = self.discharged_on
            && discharged < self.requested_on
        {
            return Err(out_of_order(
                "依頼日",
                self.requested_on,
                "退院日",
                discharged,
            ));
        }
        Ok(())
    }
}

impl Record for VisitCase {
    const KIND: DocKind = DocKind::VisitCase;
    const SCHEMA_VERSION: u64 = 1;

    fn validate(&self) -> Result<(), ValidationError> {
        self.validate_details()?;
        self.visits.values().try_for_each(Visit::validate)
    }
}

pub(crate) fn out_of_order(
    earlier: &'static str,
    earlier_date: Date,
    later: &'static str,
    later_date: Date,
) -> ValidationError {
    ValidationError::DateOutOfOrder {
        earlier,
        earlier_date: earlier_date.to_string(),
        later,
        later_date: later_date.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("MY-2025-0007", Ok("MY-2025-0007"))]
    #[case(" my-0001 ", Ok("MY-0001"))]
    #[case("P1234", Ok("P1234"))]
    #[case("山田太郎", Err(ValidationError::PatientCodeLooksLikeName))]
    #[case("やまだ", Err(ValidationError::PatientCodeLooksLikeName))]
    #[case("Taro Yamada", Err(ValidationError::PatientCodeLooksLikeName))]
    #[case("YAMADA", Err(ValidationError::PatientCodeLooksLikeName))]
    #[case("A1", Err(ValidationError::PatientCodeMalformed("A1".into())))]
    #[case("A1_2345", Err(ValidationError::PatientCodeMalformed("A1_2345".into())))]
    fn patient_codes_must_look_like_codes_not_names(
        #[case] typed: &str,
        #[case] expected: Result<&str, ValidationError>,
    ) {
        let parsed = typed.parse::<PatientCode>().map(|code| code.to_string());
        assert_eq!(parsed, expected.map(str::to_owned));
    }

    #[test]
    fn a_pair_of_the_same_visitor_twice_is_refused_in_japanese() {
        let visitor: UserId = "visitor-1".parse().expect("valid");
        let pair = VisitorPair {
            professional: visitor.clone(),
            non_professional: visitor,
        };
        let error = pair.validate().expect_err("same person twice");
        assert_eq!(error.to_string(), "訪問支援員は異なる2人を指定してください");
    }
}
