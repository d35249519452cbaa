//! Training sessions (研修) and their rosters.
//!
//! One document per session. The roster is a map keyed by [`AttendeeId`], never a list: two
//! devices adding people offline add different keys, and the merge is their union. An attendee
//! entered by mistake is *withdrawn* (a flag), not deleted: a deletion merged against a concurrent
//! check-in of the same entry would silently discard the check-in, and a flag can be undone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use autosurgeon::{Hydrate, Reconcile};

use crate::date::{Date, TimeOfDay};
use crate::doc::{DocKind, Record};
use crate::encoding::{coded_enum, set_as_map, string_scalar};
use crate::errors::ValidationError;
use crate::fiscal::FiscalYear;
use crate::geo::{Municipality, Place, ReportDistrict};
use crate::ids::{AttendeeId, PersonId, UserId};
use crate::instant::Timestamp;

coded_enum! {
    /// What kind of training a session is.
    pub enum TrainingKind {
        /// 心のサポーター養成研修: completing it makes a 心のサポーター.
        KokoroSupporter => ("kokoro_supporter", "心のサポーター養成研修"),
        /// 心のサポーター指導者養成研修: completing it makes a 指導者.
        KokoroInstructor => ("kokoro_instructor", "心のサポーター指導者養成研修"),
        /// 地域生活支援関係者研修 (全体 or 地域別, see [`TrainingScope`]).
        CommunitySupportStaff => ("community_support_staff", "地域生活支援関係者研修"),
        /// 入院者訪問支援員養成研修.
        VisitorTraining => ("visitor_training", "入院者訪問支援員養成研修"),
        /// 入院者訪問支援員フォローアップ研修.
        VisitorFollowUp => ("visitor_follow_up", "入院者訪問支援員フォローアップ研修"),
        /// ピアサポーター養成研修.
        PeerSupporter => ("peer_supporter", "ピアサポーター養成研修"),
        /// みやぎ出前講座 (from September 2025, given by 保健福祉事務所 staff).
        OutreachLecture => ("outreach_lecture", "みやぎ出前講座"),
        /// 講演会 / シンポジウム.
        LectureOrSymposium => ("lecture_or_symposium", "講演会・シンポジウム"),
    }
}

coded_enum! {
    /// Who a 心のサポーター養成研修 is for (the prefecture's table adds 地域支援関係者 to the
    /// three target groups of the plan).
    pub enum Audience {
        /// 地域住民 (residents).
        Community => ("community", "地域住民"),
        /// 教育 (teachers, students).
        Education => ("education", "教育"),
        /// 企業 (companies).
        Company => ("company", "企業"),
        /// 地域支援関係者 (hospital, welfare and municipal staff).
        SupportStaff => ("support_staff", "地域支援関係者"),
    }
}

coded_enum! {
    /// Whether a 地域生活支援関係者研修 is the prefecture-wide one or one for a 圏域 (the 圏域 is
    /// the venue's, derived from its 市町村).
    pub enum TrainingScope {
        /// 全体研修 (精神保健福祉センター).
        PrefectureWide => ("prefecture_wide", "全体研修"),
        /// 地域別研修 (保健福祉事務所).
        PerArea => ("per_area", "地域別研修"),
    }
}

coded_enum! {
    /// The category a person attends as.
    pub enum Affiliation {
        /// 地域住民.
        CommunityResident => ("community_resident", "地域住民"),
        /// 教育 (教員・学生).
        Education => ("education", "教育"),
        /// 企業.
        Company => ("company", "企業"),
        /// 医療.
        Medical => ("medical", "医療"),
        /// 福祉.
        Welfare => ("welfare", "福祉"),
        /// 行政.
        Government => ("government", "行政"),
        /// 当事者 (people with lived experience).
        LivedExperience => ("lived_experience", "当事者"),
        /// 家族.
        Family => ("family", "家族"),
        /// その他.
        Other => ("other", "その他"),
    }
}

/// Who hosts a session: the prefecture, or a municipality together with it.
/// Stored as one string (`prefecture` or `co_hosted:富谷市`) so a change of host is one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// 県主催.
    Prefecture,
    /// 市町村共催, with the co-hosting 市町村.
    CoHosted(Municipality),
}

impl Host {
    const PREFECTURE: &'static str = "prefecture";
    const CO_HOSTED_PREFIX: &'static str = "co_hosted:";

    /// The Japanese label, e.g. `県主催` or `市町村共催（富谷市）`.
    pub fn label_ja(self) -> String {
        match self {
            Host::Prefecture => "県主催".to_owned(),
            Host::CoHosted(municipality) => format!("市町村共催（{municipality}）"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Prefecture => f.write_str(Host::PREFECTURE),
            Host::CoHosted(municipality) => write!(f, "{}{municipality}", Host::CO_HOSTED_PREFIX),
        }
    }
}

impl FromStr for Host {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.strip_prefix(Host::CO_HOSTED_PREFIX) {
            Some(name) => Municipality::parse(name).map(Host::CoHosted),
            None if text == Host::PREFECTURE => Ok(Host::Prefecture),
            None => Err(ValidationError::UnknownMunicipality(text.to_owned())),
        }
    }
}

string_scalar!(Host, "prefecture or co_hosted:<municipality>");

/// A person as written on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Reading, in hiragana or katakana (the de-duplication key uses it).
    pub kana: String,
    /// The category they attend as.
    pub affiliation: Affiliation,
    /// Where they live; `None` when not recorded.
    #[autosurgeon(missing = "Option::default")]
    pub residence: Option<Place>,
    /// Where they work or study, used for 企業/教育 audiences when no residence is recorded.
    #[autosurgeon(missing = "Option::default")]
    pub workplace: Option<Place>,
    /// Birth year, optional, to tell apart people with the same name and 市町村.
    #[autosurgeon(missing = "Option::default")]
    pub birth_year: Option<u16>,
}

impl Person {
    /// Checks the name, kana and birth year.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::Required("氏名"));
        }
        if self.kana.trim().is_empty() {
            return Err(ValidationError::Required("ふりがな"));
        }
        if !self.kana.chars().all(is_kana_or_space) {
            return Err(ValidationError::KanaNotKana(self.kana.clone()));
        }
        if let Some(year) = self.birth_year
            && !(1900..=2030).contains(&year)
        {
            return Err(ValidationError::BirthYearOutOfRange(year));
        }
        Ok(())
    }
}

fn is_kana_or_space(c: char) -> bool {
    matches!(c, 'ぁ'..='ゖ' | 'ァ'..='ヺ' | 'ー' | '・' | ' ' | '\u{3000}')
}

/// One entry of a roster.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Attendee {
    /// Who they are.
    pub person: Person,
    /// When they were checked in; `None` until then (or after an undo).
    #[autosurgeon(missing = "Option::default")]
    pub checked_in_at: Option<Timestamp>,
    /// Who checked them in (the device is the Automerge actor of that change).
    #[autosurgeon(missing = "Option::default")]
    pub checked_in_by: Option<UserId>,
    /// 修了: they completed the course.
    pub completed: bool,
    /// They received the ここサポリング.
    pub ring_given: bool,
    /// They received the ここサポステッカー.
    pub sticker_given: bool,
    /// Entered by mistake: kept (so merges never lose a concurrent mark) but not counted.
    pub withdrawn: bool,
    /// Set by the office when it confirms this entry is a known person (duplicates merged).
    #[autosurgeon(missing = "Option::default")]
    pub person_id: Option<PersonId>,
}

impl Attendee {
    /// A new, not yet checked-in entry for `person`.
    pub fn new(person: Person) -> Attendee {
        Attendee {
            person,
            checked_in_at: None,
            checked_in_by: None,
            completed: false,
            ring_given: false,
            sticker_given: false,
            withdrawn: false,
            person_id: None,
        }
    }

    /// Whether this entry counts: not withdrawn.
    pub fn is_active(&self) -> bool {
        !self.withdrawn
    }
}

/// A training session (研修): one document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct TrainingSession {
    /// Which training.
    pub course: TrainingKind,
    /// For 心のサポーター養成研修 only: 地域住民, 教育 or 企業.
    #[autosurgeon(missing = "Option::default")]
    pub audience: Option<Audience>,
    /// For 地域生活支援関係者研修 only: 全体 or 地域別.
    #[autosurgeon(missing = "Option::default")]
    pub scope: Option<TrainingScope>,
    /// 県主催 or 市町村共催.
    pub host: Host,
    /// The day it is held.
    pub date: Date,
    /// Start time.
    pub start: TimeOfDay,
    /// End time.
    pub end: TimeOfDay,
    /// The venue's name (e.g. a community hall).
    pub venue: String,
    /// The venue's 市町村 (its 圏域 is derived).
    pub venue_municipality: Municipality,
    /// Trainers (講師), by name; a set, so concurrent additions merge.
    #[autosurgeon(with = "set_as_map")]
    pub trainers: BTreeSet<String>,
    /// How many people can attend.
    pub capacity: u32,
    /// Everyone signed up, keyed by attendee id.
    #[autosurgeon(with = "crate::encoding::keyed_map")]
    pub roster: BTreeMap<AttendeeId, Attendee>,
}

impl TrainingSession {
    /// The fiscal year it counts in.
    pub fn fiscal_year(&self) -> FiscalYear {
        FiscalYear::of(self.date)
    }

    /// Attendees who are not withdrawn.
    pub fn active_attendees(&self) -> impl Iterator<Item = (&AttendeeId, &Attendee)> {
        self.roster
            .iter()
            .filter(|(_, attendee)| attendee.is_active())
    }

    /// The rules for a session's details (not its roster entries).
    pub fn validate_details(&self) -> Result<(), ValidationError> {
        match (self.course, self.audience) {
            (TrainingKind::KokoroSupporter, None) => return Err(ValidationError::AudienceRequired),
            (TrainingKind::KokoroSupporter, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(ValidationError::AudienceNotApplicable),
        }
        match (self.course, self.scope) {
            (TrainingKind::CommunitySupportStaff, None) => {
                return Err(ValidationError::ScopeRequired);
            }
            (TrainingKind::CommunitySupportStaff, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(ValidationError::ScopeNotApplicable),
        }
        if self.capacity == 0 {
            return Err(ValidationError::CapacityZero);
        }
        if self.end <= self.start {
            return Err(ValidationError::EndNotAfterStart {
                start: self.start.to_string(),
                end: self.end.to_string(),
            });
        }
        if self.venue.trim().is_empty() {
            return Err(ValidationError::Required("会場"));
        }
        Ok(())
    }
}

impl Record for TrainingSession {
    const KIND: DocKind = DocKind::TrainingSession;
    const SCHEMA_VERSION: u64 = 1;

    fn validate(&self) -> Result<(), ValidationError> {
        self.validate_details()?;
        self.roster
            .values()
            .try_for_each(|attendee| attendee.person.validate())
    }
}

/// The place a person counts in (DOMAIN.md): their residence; for 企業/教育 audiences with no
/// residence recorded, their workplace or school; `None` when unknown.
pub fn counting_place(person: &Person, audience: Option<Audience>) -> Option<Place> {
    let workplace_counts = matches!(audience, Some(Audience::Company | Audience::Education));
    match (person.residence, person.workplace) {
        (Some(residence), _) => Some(residence),
        (None, Some(workplace)) if workplace_counts => Some(workplace),
        _ => None,
    }
}

/// The district a person counts in: that of their [`counting_place`], その他 when unknown. The
/// caller maps 仙台市 to その他 for the 心のサポーター table with
/// [`ReportDistrict::supporter_table_column`].
pub fn district_of(person: &Person, audience: Option<Audience>) -> ReportDistrict {
    counting_place(person, audience).map_or(ReportDistrict::Other, Place::district)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn place(name: &str) -> Option<Place> {
        Some(name.parse().expect("known place"))
    }

    fn person(residence: Option<Place>, workplace: Option<Place>) -> Person {
        Person {
            name: "宮城 花子".into(),
            kana: "みやぎ はなこ".into(),
            affiliation: Affiliation::CommunityResident,
            residence,
            workplace,
            birth_year: None,
        }
    }

    #[rstest]
    #[case(
        place("富谷市"),
        place("石巻市"),
        Some(Audience::Company),
        ReportDistrict::Kurokawa
    )]
    #[case(
        None,
        place("石巻市"),
        Some(Audience::Company),
        ReportDistrict::Ishinomaki
    )]
    #[case(None, place("登米市"), Some(Audience::Education), ReportDistrict::Tome)]
    #[case(
        None,
        place("石巻市"),
        Some(Audience::Community),
        ReportDistrict::Other
    )]
    #[case(None, None, Some(Audience::Company), ReportDistrict::Other)]
    #[case(place("県外"), None, None, ReportDistrict::Other)]
    #[case(place("仙台市"), None, None, ReportDistrict::SendaiCity)]
    fn a_person_counts_in_the_district_of_their_residence_or_workplace(
        #[case] residence: Option<Place>,
        #[case] workplace: Option<Place>,
        #[case] audience: Option<Audience>,
        #[case] expected: ReportDistrict,
    ) {
        assert_eq!(
            district_of(&person(residence, workplace), audience),
            expected
        );
    }

    #[rstest]
    #[case("prefecture", Host::Prefecture)]
    #[case("co_hosted:富谷市", Host::CoHosted("富谷市".parse().expect("known")))]
    fn hosts_round_trip_as_one_string(#[case] text: &str, #[case] host: Host) {
        assert_eq!(text.parse::<Host>(), Ok(host));
        assert_eq!(host.to_string(), text);
    }

    #[rstest]
    #[case("みやぎ はなこ", true)]
    #[case("ミヤギ　ハナコ", true)]
    #[case("宮城 花子", false)]
    #[case("miyagi", false)]
    fn kana_must_be_hiragana_or_katakana(#[case] kana: &str, #[case] valid: bool) {
        let mut person = person(None, None);
        person.kana = kana.into();
        assert_eq!(person.validate().is_ok(), valid);
    }
}
