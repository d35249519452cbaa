//! Peer-support groups (ピアサポート活動団体) subsidised by the prefecture: one document each.
//!
//! The subsidy (補助率10/10) is at most 200千円 per group per fiscal year; activities are a map
//! keyed by [`ActivityId`].

use std::collections::BTreeMap;

use automerge::{Automerge, ReadDoc};
use autosurgeon::{Hydrate, Reconcile};

use crate::date::Date;
use crate::doc::{DocKind, Record, change, object_at, put_field, put_if_changed};
use crate::encoding::coded_enum;
use crate::errors::{DocError, ValidationError};
use crate::fiscal::FiscalYear;
use crate::geo::Municipality;
use crate::ids::ActivityId;
use crate::instant::Timestamp;

/// The most a group may receive in one fiscal year, in yen (200千円).
pub const SUBSIDY_LIMIT_YEN: u64 = 200_000;

coded_enum! {
    /// Whether the subsidised body is a group of people or a service office.
    pub enum PeerOrganisation {
        /// 精神障害のピアサポート活動団体 (当事者・家族会等).
        Group => ("group", "ピアサポート活動団体"),
        /// ピアサポート活動を行う障害福祉サービス事業所.
        ServiceOffice => ("service_office", "障害福祉サービス事業所"),
    }
}

coded_enum! {
    /// The subsidised kinds of activity.
    pub enum PeerActivityKind {
        /// 情報交換会・交流会.
        Exchange => ("exchange", "情報交換会・交流会"),
        /// 研修会・セミナー.
        Seminar => ("seminar", "研修会・セミナー"),
        /// 個別相談支援.
        IndividualSupport => ("individual_support", "個別相談支援"),
        /// 普及啓発.
        Awareness => ("awareness", "普及啓発"),
        /// その他.
        Other => ("other", "その他"),
    }
}

/// One activity of a group.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct PeerActivity {
    /// What kind of activity.
    pub activity: PeerActivityKind,
    /// When.
    pub date: Date,
    /// How many took part.
    pub participants: u32,
    /// A short note.
    #[autosurgeon(missing = "Option::default")]
    pub note: Option<String>,
}

/// A subsidised peer-support group or service office: one document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct PeerSupportGroup {
    /// The group's or office's name.
    pub name: String,
    /// Group or service office.
    pub organisation: PeerOrganisation,
    /// Its 市町村.
    pub municipality: Municipality,
    /// Subsidy granted, in yen, per fiscal year (keyed `R7` …).
    #[autosurgeon(with = "crate::encoding::keyed_map")]
    pub subsidies: BTreeMap<FiscalYear, u64>,
    /// Its activities, keyed by id.
    #[autosurgeon(with = "crate::encoding::keyed_map")]
    pub activities: BTreeMap<ActivityId, PeerActivity>,
}

impl PeerSupportGroup {
    /// Activities held in `year`.
    pub fn activities_in(&self, year: FiscalYear) -> impl Iterator<Item = &PeerActivity> {
        self.activities
            .values()
            .filter(move |activity| year.contains(activity.date))
    }
}

impl Record for PeerSupportGroup {
    const KIND: DocKind = DocKind::PeerSupportGroup;
    const SCHEMA_VERSION: u64 = 1;

    fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::Required("団体名"));
        }
        self.subsidies
            .values()
            .try_for_each(|yen| check_subsidy(*yen))
    }
}

fn check_subsidy(yen: u64) -> Result<(), ValidationError> {
    if yen > SUBSIDY_LIMIT_YEN {
        return Err(ValidationError::SubsidyOverLimit(yen));
    }
    Ok(())
}

/// Sets the subsidy for a fiscal year (at most [`SUBSIDY_LIMIT_YEN`]).
pub fn set_subsidy(
    doc: &mut Automerge,
    year: FiscalYear,
    yen: u64,
    at: Timestamp,
) -> Result<(), DocError> {
    check_subsidy(yen)?;
    change::<PeerSupportGroup, _>(doc, at, |tx| {
        let subsidies = object_at(tx, &["subsidies"], "subsidies")?;
        put_field(tx, &subsidies, &year.to_string(), yen)
    })
}

/// Adds an activity under a new id.
pub fn add_activity(
    doc: &mut Automerge,
    id: ActivityId,
    activity: PeerActivity,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<PeerSupportGroup, _>(doc, at, |tx| {
        let key = id.to_string();
        let activities = object_at(tx, &["activities"], "activities")?;
        if tx.get(&activities, key.as_str())?.is_some() {
            return Err(DocError::AlreadyExists {
                what: "activity",
                id: key,
            });
        }
        put_field(tx, &activities, &key, activity)
    })
}

/// Corrects an activity, writing only the fields that changed.
pub fn edit_activity(
    doc: &mut Automerge,
    id: ActivityId,
    activity: &PeerActivity,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<PeerSupportGroup, _>(doc, at, |tx| {
        let key = id.to_string();
        let old: PeerActivity = crate::doc::hydrate_at(tx, &["activities", &key], "activity")?;
        let obj = object_at(tx, &["activities", &key], "activity")?;
        put_if_changed(tx, &obj, "activity", &old.activity, &activity.activity)?;
        put_if_changed(tx, &obj, "date", &old.date, &activity.date)?;
        put_if_changed(
            tx,
            &obj,
            "participants",
            &old.participants,
            &activity.participants,
        )?;
        put_if_changed(tx, &obj, "note", &old.note, &activity.note)
    })
}
