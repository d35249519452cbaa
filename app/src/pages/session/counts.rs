//! The live counts at the top of the check-in screen (pure, tested natively).

use nimo_shared::records::training::TrainingSession;

/// 登録 / 出席 / 修了 of a session; withdrawn entries do not count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RosterCounts {
    /// Everyone on the roster (登録).
    pub registered: usize,
    /// Checked in (出席).
    pub present: usize,
    /// Completed (修了).
    pub completed: usize,
}

impl RosterCounts {
    /// The counts of a session's roster.
    pub fn of(session: &TrainingSession) -> RosterCounts {
        session
            .active_attendees()
            .fold(RosterCounts::default(), |counts, (_, attendee)| {
                RosterCounts {
                    registered: counts.registered + 1,
                    present: counts.present + usize::from(attendee.checked_in_at.is_some()),
                    completed: counts.completed + usize::from(attendee.completed),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimo_shared::records::training::{Affiliation, Attendee, Host, Person, TrainingKind};
    use nimo_shared::{AttendeeId, Timestamp};

    fn attendee(checked_in: bool, completed: bool, withdrawn: bool) -> Attendee {
        let mut attendee = Attendee::new(Person {
            name: "宮城 花子".into(),
            kana: "みやぎ はなこ".into(),
            affiliation: Affiliation::CommunityResident,
            residence: None,
            workplace: None,
            birth_year: None,
        });
        attendee.checked_in_at = checked_in.then(|| Timestamp::from_unix_millis(1));
        attendee.completed = completed;
        attendee.withdrawn = withdrawn;
        attendee
    }

    #[test]
    fn withdrawn_entries_are_not_counted() {
        let roster = [
            attendee(false, false, false),
            attendee(true, false, false),
            attendee(true, true, false),
            attendee(true, true, true),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, a)| (AttendeeId::from_random_bytes([i as u8; 16]), a))
        .collect();
        let session = TrainingSession {
            course: TrainingKind::KokoroSupporter,
            audience: None,
            scope: None,
            host: Host::Prefecture,
            date: "2025-06-01".parse().expect("a date"),
            start: "10:00".parse().expect("a time"),
            end: "12:00".parse().expect("a time"),
            venue: "女川町まちなか交流館".into(),
            venue_municipality: "女川町".parse().expect("a municipality"),
            trainers: Default::default(),
            capacity: 40,
            roster,
        };
        assert_eq!(
            RosterCounts::of(&session),
            RosterCounts {
                registered: 3,
                present: 2,
                completed: 1
            }
        );
    }
}
