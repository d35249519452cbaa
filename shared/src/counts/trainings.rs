//! Trainings by kind, audience and host: sessions and people per fiscal year.

use std::collections::BTreeMap;

use crate::fiscal::FiscalYear;
use crate::geo::Area;
use crate::records::training::{
    Attendee, Audience, Host, TrainingKind, TrainingScope, TrainingSession,
};

/// The row a session is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrainingGroup {
    /// Which training.
    pub course: TrainingKind,
    /// 地域住民/教育/企業/地域支援関係者, for 心のサポーター養成研修.
    pub audience: Option<Audience>,
    /// 全体/地域別, for 地域生活支援関係者研修.
    pub scope: Option<TrainingScope>,
    /// 県主催 or 市町村共催.
    pub host: Host,
}

/// Sessions and people in one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrainingTally {
    /// Sessions held.
    pub sessions: u32,
    /// People who attended: active entries checked in or marked 修了.
    pub attendees: u32,
    /// People who completed (修了).
    pub completed: u32,
}

/// Whether an entry counts as having attended: not withdrawn, and checked in or completed
/// (a trainer may mark 修了 without having tapped check-in).
pub fn attended(attendee: &Attendee) -> bool {
    attendee.is_active() && (attendee.checked_in_at.is_some() || attendee.completed)
}

/// The sessions of `year`, grouped by kind, audience, scope and host.
pub fn trainings_by_group<'a>(
    sessions: impl IntoIterator<Item = &'a TrainingSession>,
    year: FiscalYear,
) -> BTreeMap<TrainingGroup, TrainingTally> {
    let mut groups: BTreeMap<TrainingGroup, TrainingTally> = BTreeMap::new();
    for session in sessions
        .into_iter()
        .filter(|session| session.fiscal_year() == year)
    {
        let group = TrainingGroup {
            course: session.course,
            audience: session.audience,
            scope: session.scope,
            host: session.host,
        };
        let tally = groups.entry(group).or_default();
        tally.sessions += 1;
        for attendee in session.roster.values().filter(|a| attended(a)) {
            tally.attendees += 1;
            tally.completed += u32::from(attendee.completed);
        }
    }
    groups
}

/// How many sessions of `course` each 圏域 held in `year` (by the venue's 市町村); for the target
/// "地域生活支援関係者研修 各圏域 年1回以上". Areas with none are present with zero.
pub fn sessions_per_area<'a>(
    sessions: impl IntoIterator<Item = &'a TrainingSession>,
    course: TrainingKind,
    year: FiscalYear,
) -> BTreeMap<Area, u32> {
    let mut per_area: BTreeMap<Area, u32> = Area::ALL.iter().map(|area| (*area, 0)).collect();
    for session in sessions
        .into_iter()
        .filter(|session| session.course == course && session.fiscal_year() == year)
    {
        *per_area
            .entry(session.venue_municipality.area())
            .or_insert(0) += 1;
    }
    per_area
}
