//! 協議の場 meetings (councils of health, medical and welfare people) and the 県三者会議.
//!
//! One document per meeting. Attendance is counted by category; whether 当事者 (people with lived
//! experience) took part is derived from those counts, because the prefecture reports it as a gap
//! (R6: no 圏域 council had 当事者 attending).

use std::collections::BTreeMap;

use automerge::Automerge;
use autosurgeon::{Hydrate, Reconcile};

use crate::date::Date;
use crate::doc::{DocKind, Record, change, object_at, put_field};
use crate::encoding::coded_enum;
use crate::errors::{DocError, ValidationError};
use crate::fiscal::FiscalYear;
use crate::geo::{Area, Municipality};
use crate::instant::Timestamp;

coded_enum! {
    /// The level a meeting is held at.
    pub enum CouncilLevel {
        /// 県全域 (宮城県障害者自立支援協議会精神障害部会).
        Prefecture => ("prefecture", "県"),
        /// 障害保健福祉圏域 (保健福祉事務所), 仙台圏域 by district.
        Area => ("area", "圏域"),
        /// 市町村.
        Municipality => ("municipality", "市町村"),
        /// 県三者会議 (精神保健推進室・保健福祉事務所・精神保健福祉センター), 4 a year.
        PrefecturalThreeParty => ("prefectural_three_party", "県三者会議"),
        /// Other prefecture-level meetings (推進会議, 実務者会議 …).
        OtherPrefectural => ("other_prefectural", "その他の会議"),
    }
}

coded_enum! {
    /// Who attended, by sector.
    pub enum ParticipantCategory {
        /// 医療.
        Medical => ("medical", "医療"),
        /// 福祉.
        Welfare => ("welfare", "福祉"),
        /// 介護.
        Care => ("care", "介護"),
        /// 行政.
        Government => ("government", "行政"),
        /// 当事者.
        LivedExperience => ("lived_experience", "当事者"),
        /// 家族.
        Family => ("family", "家族"),
        /// ピアサポーター.
        PeerSupporter => ("peer_supporter", "ピアサポーター"),
        /// 学識経験者.
        Academic => ("academic", "学識経験者"),
        /// その他.
        Other => ("other", "その他"),
    }
}

/// A council meeting: one document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct CouncilMeeting {
    /// Level.
    pub level: CouncilLevel,
    /// The 圏域, for area-level meetings only.
    #[autosurgeon(missing = "Option::default")]
    pub area: Option<Area>,
    /// The 市町村: required for municipal meetings; optional otherwise (where it was held, or
    /// the district of a 仙台圏域 meeting).
    #[autosurgeon(missing = "Option::default")]
    pub municipality: Option<Municipality>,
    /// The meeting's name (e.g. 第2回 協議の場).
    pub title: String,
    /// When.
    pub date: Date,
    /// Attendance by category.
    #[autosurgeon(with = "crate::encoding::keyed_map")]
    pub attendance: BTreeMap<ParticipantCategory, u32>,
}

impl CouncilMeeting {
    /// The 圏域: given, or the 市町村's.
    pub fn area(&self) -> Option<Area> {
        self.area
            .or_else(|| self.municipality.map(Municipality::area))
    }

    /// The fiscal year it counts in.
    pub fn fiscal_year(&self) -> FiscalYear {
        FiscalYear::of(self.date)
    }

    /// Whether people with lived experience (当事者, ピアサポーター) took part.
    pub fn lived_experience_took_part(&self) -> bool {
        [
            ParticipantCategory::LivedExperience,
            ParticipantCategory::PeerSupporter,
        ]
        .iter()
        .any(|category| self.attendance.get(category).copied().unwrap_or(0) > 0)
    }

    /// Everyone who attended.
    pub fn total_attendance(&self) -> u32 {
        self.attendance.values().sum()
    }
}

impl Record for CouncilMeeting {
    const KIND: DocKind = DocKind::CouncilMeeting;
    const SCHEMA_VERSION: u64 = 1;

    fn validate(&self) -> Result<(), ValidationError> {
        if self.title.trim().is_empty() {
            return Err(ValidationError::Required("会議名"));
        }
        match (self.level, self.area, self.municipality) {
            (CouncilLevel::Area, None, _) => Err(ValidationError::AreaRequired),
            (CouncilLevel::Area, Some(area), Some(municipality)) if municipality.area() != area => {
                Err(ValidationError::AreaNotApplicable(area))
            }
            (CouncilLevel::Municipality, _, None) => Err(ValidationError::MunicipalityRequired),
            (level, Some(area), _) if level != CouncilLevel::Area => {
                Err(ValidationError::AreaNotApplicable(area))
            }
            _ => Ok(()),
        }
    }
}

/// Sets the number of attendees in one category.
pub fn set_attendance(
    doc: &mut Automerge,
    category: ParticipantCategory,
    count: u32,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<CouncilMeeting, _>(doc, at, |tx| {
        let attendance = object_at(tx, &["attendance"], "attendance")?;
        put_field(tx, &attendance, category.code(), count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn meeting(
        level: CouncilLevel,
        area: Option<Area>,
        municipality: Option<&str>,
    ) -> CouncilMeeting {
        CouncilMeeting {
            level,
            area,
            municipality: municipality.map(|name| name.parse().expect("known")),
            title: "協議の場".into(),
            date: "2025-07-01".parse().expect("valid"),
            attendance: BTreeMap::new(),
        }
    }

    #[rstest]
    #[case(meeting(CouncilLevel::Area, Some(Area::Sennan), None), Ok(()))]
    #[case(
        meeting(CouncilLevel::Area, None, None),
        Err(ValidationError::AreaRequired)
    )]
    #[case(
        meeting(CouncilLevel::Area, Some(Area::Sendai), Some("石巻市")),
        Err(ValidationError::AreaNotApplicable(Area::Sendai))
    )]
    #[case(meeting(CouncilLevel::Municipality, None, Some("女川町")), Ok(()))]
    #[case(
        meeting(CouncilLevel::Municipality, None, None),
        Err(ValidationError::MunicipalityRequired)
    )]
    #[case(
        meeting(CouncilLevel::Prefecture, Some(Area::Tome), None),
        Err(ValidationError::AreaNotApplicable(Area::Tome))
    )]
    fn the_level_decides_which_place_a_meeting_needs(
        #[case] meeting: CouncilMeeting,
        #[case] expected: Result<(), ValidationError>,
    ) {
        assert_eq!(meeting.validate(), expected);
    }

    #[test]
    fn lived_experience_attendance_is_derived_from_the_counts() {
        let mut meeting = meeting(CouncilLevel::Area, Some(Area::Osaki), None);
        meeting.attendance.insert(ParticipantCategory::Medical, 4);
        assert!(!meeting.lived_experience_took_part());
        meeting
            .attendance
            .insert(ParticipantCategory::LivedExperience, 1);
        assert!(meeting.lived_experience_took_part());
        assert_eq!(meeting.area(), Some(Area::Osaki));
        assert_eq!(meeting.total_attendance(), 5);
    }
}
