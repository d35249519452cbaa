//! Miyagi's geography: 35 市町村, 7 障害保健福祉圏域 and the districts the prefecture reports by.
//!
//! The table is `data/municipalities.csv`, compiled into the crate. Records store only a
//! 市町村 (by its Japanese name); the 圏域 ([`Area`]) and the reporting district
//! ([`ReportDistrict`]) are always derived from it, so a typo can never put a person in the wrong
//! column of a report.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::encoding::{coded_enum, string_scalar};
use crate::errors::ValidationError;

const MUNICIPALITIES_CSV: &str = include_str!("../data/municipalities.csv");

coded_enum! {
    /// A 障害保健福祉圏域 (health and welfare area), as in みやぎ障害者プラン.
    pub enum Area {
        /// 仙南圏域.
        Sennan => ("sennan", "仙南"),
        /// 仙台圏域 (仙台市 and the 塩釜・岩沼・黒川 districts).
        Sendai => ("sendai", "仙台"),
        /// 大崎圏域.
        Osaki => ("osaki", "大崎"),
        /// 栗原圏域.
        Kurihara => ("kurihara", "栗原"),
        /// 登米圏域.
        Tome => ("tome", "登米"),
        /// 石巻圏域.
        Ishinomaki => ("ishinomaki", "石巻"),
        /// 気仙沼圏域.
        Kesennuma => ("kesennuma", "気仙沼"),
    }
}

coded_enum! {
    /// A column of the prefecture's tables by district: the 圏域, with 仙台圏域 split into
    /// 塩釜・岩沼・黒川 and 仙台市, plus その他 for people outside them.
    pub enum ReportDistrict {
        /// 仙南.
        Sennan => ("sennan", "仙南"),
        /// 塩釜 (仙台圏域).
        Shiogama => ("shiogama", "塩釜"),
        /// 岩沼 (仙台圏域).
        Iwanuma => ("iwanuma", "岩沼"),
        /// 黒川 (仙台圏域).
        Kurokawa => ("kurokawa", "黒川"),
        /// 仙台市, a designated city with its own programme.
        SendaiCity => ("sendai_city", "仙台市"),
        /// 大崎.
        Osaki => ("osaki", "大崎"),
        /// 栗原.
        Kurihara => ("kurihara", "栗原"),
        /// 石巻.
        Ishinomaki => ("ishinomaki", "石巻"),
        /// 登米.
        Tome => ("tome", "登米"),
        /// 気仙沼.
        Kesennuma => ("kesennuma", "気仙沼"),
        /// その他: outside the prefecture, unknown, and (in the 心のサポーター table) 仙台市.
        Other => ("other", "その他"),
    }
}

impl ReportDistrict {
    /// The columns of the prefecture's 心のサポーター / 指導者 table, in its order. 仙台市 has no
    /// column there: its people count under その他 (DOMAIN.md).
    pub const SUPPORTER_TABLE: [ReportDistrict; 10] = [
        ReportDistrict::Sennan,
        ReportDistrict::Shiogama,
        ReportDistrict::Iwanuma,
        ReportDistrict::Kurokawa,
        ReportDistrict::Osaki,
        ReportDistrict::Kurihara,
        ReportDistrict::Ishinomaki,
        ReportDistrict::Tome,
        ReportDistrict::Kesennuma,
        ReportDistrict::Other,
    ];

    /// The column this district falls in in the 心のサポーター table (仙台市 → その他).
    pub fn supporter_table_column(self) -> ReportDistrict {
        match self {
            ReportDistrict::SendaiCity => ReportDistrict::Other,
            district => district,
        }
    }
}

/// Whether a 市町村 is a 市, 町 or 村.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MunicipalityType {
    /// 市 (city).
    City,
    /// 町 (town).
    Town,
    /// 村 (village).
    Village,
}

#[derive(Debug)]
struct MunicipalityRow {
    name: &'static str,
    kana: &'static str,
    kind: MunicipalityType,
    area: Area,
    district: ReportDistrict,
}

/// Parses the embedded CSV once. It is compiled in and checked by tests, so a malformed row is a
/// build defect, not a runtime condition: panicking with the row is the clearest report.
fn rows() -> &'static [MunicipalityRow] {
    static ROWS: OnceLock<Vec<MunicipalityRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        MUNICIPALITIES_CSV
            .lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let fields: Vec<&'static str> = line.trim_end_matches('\r').split(',').collect();
                let [name, kana, kind, area, district] = fields[..] else {
                    panic!("municipalities.csv: expected 5 fields in {line:?}");
                };
                MunicipalityRow {
                    name,
                    kana,
                    kind: match kind {
                        "市" => MunicipalityType::City,
                        "町" => MunicipalityType::Town,
                        "村" => MunicipalityType::Village,
                        _ => panic!("municipalities.csv: unknown kind in {line:?}"),
                    },
                    area: Area::from_label_ja(area)
                        .unwrap_or_else(|| panic!("municipalities.csv: unknown area in {line:?}")),
                    district: ReportDistrict::from_label_ja(district).unwrap_or_else(|| {
                        panic!("municipalities.csv: unknown district in {line:?}")
                    }),
                }
            })
            .collect()
    })
}

/// One of Miyagi's 35 市町村. Stored in documents by its Japanese name (e.g. `七ヶ宿町`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Municipality(u8);

impl Municipality {
    /// All 35, in the prefecture's order (by 圏域, as in the reference table).
    pub fn all() -> impl ExactSizeIterator<Item = Municipality> {
        // The table has 35 rows, so every index fits in a u8.
        (0..rows().len()).map(|index| Municipality(index as u8))
    }

    fn row(self) -> &'static MunicipalityRow {
        &rows()[usize::from(self.0)]
    }

    /// The Japanese name, e.g. `七ヶ宿町`.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The reading in hiragana, e.g. `しちかしゅくまち`.
    pub fn kana(self) -> &'static str {
        self.row().kana
    }

    /// 市, 町 or 村.
    pub fn municipality_type(self) -> MunicipalityType {
        self.row().kind
    }

    /// The 障害保健福祉圏域 it belongs to.
    pub fn area(self) -> Area {
        self.row().area
    }

    /// The district it is reported under (仙台市 is its own district).
    pub fn district(self) -> ReportDistrict {
        self.row().district
    }

    /// Parses a name, accepting the common variant spellings people type (塩釜市 for 塩竈市,
    /// ケ for ヶ) and surrounding spaces.
    pub fn parse(name: &str) -> Result<Municipality, ValidationError> {
        let normalised = name
            .trim()
            .replace(['ケ', 'ヵ', 'ｹ'], "ヶ")
            .replace("塩釜市", "塩竈市");
        rows()
            .iter()
            .position(|row| row.name == normalised)
            .map(|index| Municipality(index as u8))
            .ok_or_else(|| ValidationError::UnknownMunicipality(name.trim().to_owned()))
    }
}

impl fmt::Debug for Municipality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Municipality({})", self.name())
    }
}

impl fmt::Display for Municipality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Municipality {
    type Err = ValidationError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Municipality::parse(name)
    }
}

string_scalar!(Municipality, "one of Miyagi's 35 municipalities");

/// Where a person lives or works: a 市町村 of Miyagi, or somewhere outside the prefecture.
/// An unknown place is `None` where this is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A 市町村 in Miyagi.
    Municipality(Municipality),
    /// 県外.
    OutsidePrefecture,
}

impl Place {
    const OUTSIDE: &'static str = "県外";

    /// The report district: the 市町村's, or その他 outside the prefecture.
    pub fn district(self) -> ReportDistrict {
        match self {
            Place::Municipality(municipality) => municipality.district(),
            Place::OutsidePrefecture => ReportDistrict::Other,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Municipality(municipality) => municipality.fmt(f),
            Place::OutsidePrefecture => f.write_str(Place::OUTSIDE),
        }
    }
}

impl FromStr for Place {
    type Err = ValidationError;

    /// A 市町村 name, or `県外`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == Place::OUTSIDE {
            Ok(Place::OutsidePrefecture)
        } else {
            Municipality::parse(text).map(Place::Municipality)
        }
    }
}

impl From<Municipality> for Place {
    fn from(municipality: Municipality) -> Place {
        Place::Municipality(municipality)
    }
}

string_scalar!(Place, "a municipality name or 県外");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn municipality(name: &str) -> Municipality {
        name.parse().expect("known municipality")
    }

    #[test]
    fn the_table_has_thirty_five_municipalities_in_seven_areas() {
        assert_eq!(Municipality::all().len(), 35);
        let areas: std::collections::BTreeSet<Area> =
            Municipality::all().map(Municipality::area).collect();
        assert_eq!(areas.len(), 7);
        let names: std::collections::BTreeSet<&str> =
            Municipality::all().map(Municipality::name).collect();
        assert_eq!(names.len(), 35, "names are unique");
    }

    #[rstest]
    #[case("七ヶ宿町", Area::Sennan, ReportDistrict::Sennan)]
    #[case("仙台市", Area::Sendai, ReportDistrict::SendaiCity)]
    #[case("塩竈市", Area::Sendai, ReportDistrict::Shiogama)]
    #[case("名取市", Area::Sendai, ReportDistrict::Iwanuma)]
    #[case("大衡村", Area::Sendai, ReportDistrict::Kurokawa)]
    #[case("女川町", Area::Ishinomaki, ReportDistrict::Ishinomaki)]
    #[case("南三陸町", Area::Kesennuma, ReportDistrict::Kesennuma)]
    fn area_and_district_derive_from_the_municipality(
        #[case] name: &str,
        #[case] area: Area,
        #[case] district: ReportDistrict,
    ) {
        let municipality = municipality(name);
        assert_eq!(municipality.area(), area);
        assert_eq!(municipality.district(), district);
        assert_eq!(municipality.to_string(), name);
    }

    #[rstest]
    #[case("塩釜市", "塩竈市")]
    #[case("七ケ浜町", "七ヶ浜町")]
    #[case(" 富谷市 ", "富谷市")]
    fn common_variant_spellings_are_accepted(#[case] typed: &str, #[case] canonical: &str) {
        assert_eq!(municipality(typed).name(), canonical);
    }

    #[test]
    fn an_unknown_name_is_a_validation_error_in_japanese() {
        let error = "東京都".parse::<Municipality>().expect_err("not in Miyagi");
        assert_eq!(error, ValidationError::UnknownMunicipality("東京都".into()));
        assert_eq!(
            error.to_string(),
            "「東京都」は宮城県の市町村として登録されていません"
        );
    }

    #[test]
    fn sendai_city_and_outside_places_count_under_other_in_the_supporter_table() {
        assert_eq!(
            municipality("仙台市").district().supporter_table_column(),
            ReportDistrict::Other
        );
        assert_eq!(Place::OutsidePrefecture.district(), ReportDistrict::Other);
        assert_eq!("県外".parse::<Place>(), Ok(Place::OutsidePrefecture));
    }
}
