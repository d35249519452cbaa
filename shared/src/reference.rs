//! Reference data compiled into the crate: the plan's targets and the R6 actuals.
//!
//! `data/targets.csv` holds the per-year targets of the 2025 plan; `data/r6_actuals.csv` and
//! `data/r6_trainings.csv` hold what R6 achieved (used to seed reports and as test fixtures). The
//! product never reads these files at run time: they are embedded with `include_str!`.

use std::sync::OnceLock;

use crate::encoding::coded_enum;
use crate::fiscal::FiscalYear;
use crate::geo::ReportDistrict;
use crate::records::training::{Audience, Host};

const TARGETS_CSV: &str = include_str!("../data/targets.csv");
const R6_ACTUALS_CSV: &str = include_str!("../data/r6_actuals.csv");
const R6_TRAININGS_CSV: &str = include_str!("../data/r6_trainings.csv");

coded_enum! {
    /// A measured indicator of the plan. Codes are those of the CSV files.
    pub enum Indicator {
        /// 心のサポーター数 (累計).
        KokoroSupportersCumulative => ("kokoro_supporters_cumulative", "心のサポーター数（累計）"),
        /// 心のサポーター指導者数 (累計).
        KokoroInstructorsCumulative => ("kokoro_instructors_cumulative", "心のサポーター指導者数（累計）"),
        /// 入院者訪問支援事業 利用入院者数.
        VisitSupportPatients => ("visit_support_patients", "入院者訪問支援事業 利用入院者数"),
        /// 本事業利用による1年以内退院患者数.
        VisitSupportDischargedWithin1y => ("visit_support_discharged_within_1y", "1年以内退院患者数"),
        /// 入院者訪問支援員の派遣件数.
        VisitSupportDispatches => ("visit_support_dispatches", "入院者訪問支援員の派遣件数"),
        /// 協議の場を設置した市町村数.
        CouncilMunicipalities => ("council_municipalities", "協議の場 設置市町村数"),
        /// 協議の場を設置した圏域数.
        CouncilAreas => ("council_areas", "協議の場 設置圏域数"),
        /// コーディネーター数.
        Coordinators => ("coordinators", "コーディネーター数"),
        /// アシスタント数.
        Assistants => ("assistants", "アシスタント数"),
        /// アドバイザー数.
        Advisors => ("advisors", "アドバイザー数"),
        /// 市町村担当者会議の開催回数 (年).
        MunicipalStaffMeetingsPerYear => ("municipal_staff_meetings_per_year", "市町村担当者会議 開催回数（年）"),
        /// 地域生活支援関係者研修の開催回数 (圏域ごと, 年).
        CommunitySupportTrainingsPerAreaPerYear => ("community_support_trainings_per_area_per_year", "地域生活支援関係者研修 開催回数（圏域・年）"),
        /// 療養生活継続支援加算算定病院数.
        HospitalsWithContinuationSupportAddition => ("hospitals_with_continuation_support_addition", "療養生活継続支援加算算定病院数"),
        /// ピアサポート養成者数.
        PeerSupportersTrained => ("peer_supporters_trained", "ピアサポート養成者数"),
        /// ピアサポートの活用に取り組む市町村数.
        PeerSupportMunicipalities => ("peer_support_municipalities", "ピアサポート活用 市町村数"),
        /// ピアサポートの活用に取り組む障害福祉サービス事業所数.
        PeerSupportServiceOffices => ("peer_support_service_offices", "ピアサポート活用 事業所数"),
        /// 補助金交付団体数.
        PeerSupportGroupsSubsidised => ("peer_support_groups_subsidised", "補助金交付団体数"),
    }
}

/// A target: `value` by the end of `fiscal_year`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What is measured.
    pub indicator: Indicator,
    /// The year by whose end it should be reached.
    pub fiscal_year: FiscalYear,
    /// The target value.
    pub value: u32,
    /// The unit (人, 市町村, 回 …).
    pub unit: &'static str,
    /// The plan's wording.
    pub note: &'static str,
}

/// One R6 figure: a district's value, or the total (`district: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actual {
    /// What was measured.
    pub indicator: Indicator,
    /// The district column, or `None` for 合計.
    pub district: Option<ReportDistrict>,
    /// The value.
    pub value: u32,
    /// The unit.
    pub unit: &'static str,
    /// The source's note.
    pub note: &'static str,
}

/// One row of the R6 心のサポーター養成 table: sessions and people by host and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingActual {
    /// 県主催 or 市町村共催 with the municipality.
    pub host: Host,
    /// The audience.
    pub audience: Audience,
    /// Number of sessions.
    pub sessions: u32,
    /// Number of people.
    pub attendees: u32,
    /// The source's note.
    pub note: &'static str,
}

/// The plan's targets.
pub fn targets() -> &'static [Target] {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        rows(TARGETS_CSV)
            .map(|[indicator, year, value, unit, note]| Target {
                indicator: parse_indicator(indicator),
                fiscal_year: year.parse().expect("targets.csv: fiscal year"),
                value: value.parse().expect("targets.csv: value"),
                unit,
                note,
            })
            .collect()
    })
}

/// The target for `indicator` by the end of `year`, if the plan sets one.
pub fn target(indicator: Indicator, year: FiscalYear) -> Option<u32> {
    targets()
        .iter()
        .find(|target| target.indicator == indicator && target.fiscal_year == year)
        .map(|target| target.value)
}

/// The R6 figures.
pub fn r6_actuals() -> &'static [Actual] {
    static ACTUALS: OnceLock<Vec<Actual>> = OnceLock::new();
    ACTUALS.get_or_init(|| {
        rows(R6_ACTUALS_CSV)
            .map(|[indicator, breakdown, value, unit, note]| Actual {
                indicator: parse_indicator(indicator),
                district: (breakdown != "合計").then(|| {
                    ReportDistrict::from_label_ja(breakdown).expect("r6_actuals.csv: district")
                }),
                value: value.parse().expect("r6_actuals.csv: value"),
                unit,
                note,
            })
            .collect()
    })
}

/// An R6 indicator by district, in the table's column order (the total excluded).
pub fn r6_by_district(indicator: Indicator) -> Vec<(ReportDistrict, u32)> {
    r6_actuals()
        .iter()
        .filter(|actual| actual.indicator == indicator)
        .filter_map(|actual| Some((actual.district?, actual.value)))
        .collect()
}

/// An R6 indicator's total (合計).
pub fn r6_total(indicator: Indicator) -> Option<u32> {
    r6_actuals()
        .iter()
        .find(|actual| actual.indicator == indicator && actual.district.is_none())
        .map(|actual| actual.value)
}

/// The R6 心のサポーター養成 sessions by host and audience.
pub fn r6_trainings() -> &'static [TrainingActual] {
    static TRAININGS: OnceLock<Vec<TrainingActual>> = OnceLock::new();
    TRAININGS.get_or_init(|| {
        rows(R6_TRAININGS_CSV)
            .map(
                |[host, audience, sessions, attendees, note]| TrainingActual {
                    host: match host.strip_prefix("市町村共催 ") {
                        Some(name) => Host::CoHosted(name.parse().expect("r6_trainings.csv: host")),
                        None if host == "県主催" => Host::Prefecture,
                        None => panic!("r6_trainings.csv: unknown host {host:?}"),
                    },
                    audience: Audience::from_label_ja(audience)
                        .expect("r6_trainings.csv: audience"),
                    sessions: sessions.parse().expect("r6_trainings.csv: sessions"),
                    attendees: attendees.parse().expect("r6_trainings.csv: attendees"),
                    note,
                },
            )
            .collect()
    })
}

/// The data rows of an embedded CSV as five fields each; the last field keeps any commas. The
/// files are compiled in and parsed by tests, so a malformed row panics with its text.
fn rows(csv: &'static str) -> impl Iterator<Item = [&'static str; 5]> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&'static str> = line.trim_end_matches('\r').splitn(5, ',').collect();
            <[&str; 5]>::try_from(fields)
                .unwrap_or_else(|_| panic!("embedded CSV: expected 5 fields in {line:?}"))
        })
}

fn parse_indicator(code: &str) -> Indicator {
    code.parse()
        .unwrap_or_else(|_| panic!("embedded CSV: unknown indicator {code:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_row_parses() {
        assert_eq!(targets().len(), 19);
        assert_eq!(r6_actuals().len(), 25);
        assert_eq!(r6_trainings().len(), 6);
    }

    #[test]
    fn the_r6_supporter_columns_add_up_to_the_total() {
        let by_district = r6_by_district(Indicator::KokoroSupportersCumulative);
        let columns: Vec<ReportDistrict> = by_district.iter().map(|(d, _)| *d).collect();
        assert_eq!(columns, ReportDistrict::SUPPORTER_TABLE);
        let sum: u32 = by_district.iter().map(|(_, n)| n).sum();
        assert_eq!(Some(sum), r6_total(Indicator::KokoroSupportersCumulative));
        assert_eq!(sum, 375);
    }

    #[test]
    fn targets_are_looked_up_by_indicator_and_year() {
        let r7 = "R7".parse().expect("valid");
        assert_eq!(target(Indicator::KokoroSupportersCumulative, r7), Some(500));
        assert_eq!(target(Indicator::VisitSupportPatients, r7), Some(10));
        assert_eq!(
            target(Indicator::Advisors, "R6".parse().expect("valid")),
            None
        );
    }

    #[test]
    fn the_r6_trainings_add_up_to_the_year_on_year_increase() {
        let attendees: u32 = r6_trainings().iter().map(|row| row.attendees).sum();
        assert_eq!(attendees, 344, "375 cumulative, 前年比344人増");
    }
}
