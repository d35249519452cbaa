//! Changes to a training session: its roster (add, check in, mark, withdraw) and its details.
//!
//! Each function is one transaction that writes only the fields it changes (see [`crate::doc`]
//! for why), takes the time as a parameter, and refuses a change that breaks a rule.

use automerge::transaction::Transaction;
use automerge::{Automerge, ObjId};

use crate::doc::{change, hydrate_at, object_at, put_field, put_if_changed};
use crate::errors::DocError;
use crate::ids::{AttendeeId, PersonId, UserId};
use crate::instant::Timestamp;
use crate::records::training::{Attendee, Person, TrainingSession};

const ROSTER: &str = "roster";

/// Adds a person to the roster under a new id (not checked in yet).
pub fn add_attendee(
    doc: &mut Automerge,
    id: AttendeeId,
    person: Person,
    at: Timestamp,
) -> Result<(), DocError> {
    person.validate()?;
    change::<TrainingSession, _>(doc, at, |tx| {
        let key = id.to_string();
        let roster = object_at(tx, &[ROSTER], "roster")?;
        if automerge::ReadDoc::get(tx, &roster, key.as_str())?.is_some() {
            return Err(DocError::AlreadyExists {
                what: "attendee",
                id: key,
            });
        }
        put_field(tx, &roster, &key, Attendee::new(person))
    })
}

/// Adds several people in one change (an imported pre-registration roster): either every one of
/// them is added or, when any is invalid or any id is taken, none is.
pub fn add_attendees(
    doc: &mut Automerge,
    people: Vec<(AttendeeId, Person)>,
    at: Timestamp,
) -> Result<(), DocError> {
    people
        .iter()
        .try_for_each(|(_, person)| person.validate())?;
    change::<TrainingSession, _>(doc, at, |tx| {
        let roster = object_at(tx, &[ROSTER], "roster")?;
        for (id, person) in people {
            let key = id.to_string();
            if automerge::ReadDoc::get(tx, &roster, key.as_str())?.is_some() {
                return Err(DocError::AlreadyExists {
                    what: "attendee",
                    id: key,
                });
            }
            put_field(tx, &roster, &key, Attendee::new(person))?;
        }
        Ok(())
    })
}

/// Checks an attendee in at `at`, recording who did it.
pub fn check_in(
    doc: &mut Automerge,
    id: AttendeeId,
    at: Timestamp,
    by: &UserId,
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = active_attendee(tx, id)?;
        put_field(tx, &entry, "checked_in_at", Some(at))?;
        put_field(tx, &entry, "checked_in_by", Some(by))
    })
}

/// Undoes a check-in (e.g. the wrong row was tapped).
pub fn undo_check_in(doc: &mut Automerge, id: AttendeeId, at: Timestamp) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = active_attendee(tx, id)?;
        put_field(tx, &entry, "checked_in_at", None::<Timestamp>)?;
        put_field(tx, &entry, "checked_in_by", None::<UserId>)
    })
}

/// Marks whether the attendee completed (修了) the course.
pub fn mark_completed(
    doc: &mut Automerge,
    id: AttendeeId,
    completed: bool,
    at: Timestamp,
) -> Result<(), DocError> {
    set_flag(doc, id, "completed", completed, at)
}

/// Marks whether the attendee received the ここサポリング.
pub fn mark_ring_given(
    doc: &mut Automerge,
    id: AttendeeId,
    given: bool,
    at: Timestamp,
) -> Result<(), DocError> {
    set_flag(doc, id, "ring_given", given, at)
}

/// Marks whether the attendee received the ここサポステッカー.
pub fn mark_sticker_given(
    doc: &mut Automerge,
    id: AttendeeId,
    given: bool,
    at: Timestamp,
) -> Result<(), DocError> {
    set_flag(doc, id, "sticker_given", given, at)
}

/// Withdraws an attendee entered by mistake. The entry stays (flagged), so a concurrent mark on
/// another device is not lost, and [`restore_attendee`] undoes it.
pub fn withdraw_attendee(
    doc: &mut Automerge,
    id: AttendeeId,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = attendee(tx, id)?;
        put_field(tx, &entry, "withdrawn", true)
    })
}

/// Undoes [`withdraw_attendee`].
pub fn restore_attendee(
    doc: &mut Automerge,
    id: AttendeeId,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = attendee(tx, id)?;
        put_field(tx, &entry, "withdrawn", false)
    })
}

/// Corrects the attendee's personal details, writing only the fields that changed.
pub fn update_person(
    doc: &mut Automerge,
    id: AttendeeId,
    person: &Person,
    at: Timestamp,
) -> Result<(), DocError> {
    person.validate()?;
    change::<TrainingSession, _>(doc, at, |tx| {
        let (_, current) = attendee(tx, id)?;
        let obj = object_at(tx, &[ROSTER, &id.to_string(), "person"], "attendee")?;
        let old = &current.person;
        put_if_changed(tx, &obj, "name", &old.name, &person.name)?;
        put_if_changed(tx, &obj, "kana", &old.kana, &person.kana)?;
        put_if_changed(
            tx,
            &obj,
            "affiliation",
            &old.affiliation,
            &person.affiliation,
        )?;
        put_if_changed(tx, &obj, "residence", &old.residence, &person.residence)?;
        put_if_changed(tx, &obj, "workplace", &old.workplace, &person.workplace)?;
        put_if_changed(tx, &obj, "birth_year", &old.birth_year, &person.birth_year)
    })
}

/// Links the entry to a person the office has confirmed (when merging duplicates), so counts
/// treat all entries with this id as one person.
pub fn set_person_id(
    doc: &mut Automerge,
    id: AttendeeId,
    person_id: PersonId,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = attendee(tx, id)?;
        put_field(tx, &entry, "person_id", Some(person_id))
    })
}

/// Changes the session's details (kind, audience, host, date, times, venue, trainers, capacity):
/// `edit` changes a hydrated copy, the result is validated, and only changed fields are written.
/// Changes `edit` makes to the roster are ignored; use the roster functions.
pub fn edit_session_details(
    doc: &mut Automerge,
    at: Timestamp,
    edit: impl FnOnce(&mut TrainingSession),
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let old: TrainingSession = autosurgeon::hydrate(&*tx)?;
        let mut new = old.clone();
        edit(&mut new);
        new.validate_details()?;
        let root = automerge::ROOT;
        put_if_changed(tx, &root, "course", &old.course, &new.course)?;
        put_if_changed(tx, &root, "audience", &old.audience, &new.audience)?;
        put_if_changed(tx, &root, "scope", &old.scope, &new.scope)?;
        put_if_changed(tx, &root, "host", &old.host, &new.host)?;
        put_if_changed(tx, &root, "date", &old.date, &new.date)?;
        put_if_changed(tx, &root, "start", &old.start, &new.start)?;
        put_if_changed(tx, &root, "end", &old.end, &new.end)?;
        put_if_changed(tx, &root, "venue", &old.venue, &new.venue)?;
        put_if_changed(
            tx,
            &root,
            "venue_municipality",
            &old.venue_municipality,
            &new.venue_municipality,
        )?;
        if old.trainers != new.trainers {
            autosurgeon::reconcile_prop(tx, &root, "trainers", TrainerSet(&new.trainers))?;
        }
        put_if_changed(tx, &root, "capacity", &old.capacity, &new.capacity)
    })
}

/// Reconciles a trainer set with the same encoding as the record's field.
struct TrainerSet<'a>(&'a std::collections::BTreeSet<String>);

impl autosurgeon::Reconcile for TrainerSet<'_> {
    type Key<'k> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        crate::encoding::set_as_map::reconcile(self.0, reconciler)
    }
}

fn set_flag(
    doc: &mut Automerge,
    id: AttendeeId,
    field: &'static str,
    value: bool,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<TrainingSession, _>(doc, at, |tx| {
        let (entry, _) = active_attendee(tx, id)?;
        put_field(tx, &entry, field, value)
    })
}

fn attendee(tx: &Transaction<'_>, id: AttendeeId) -> Result<(ObjId, Attendee), DocError> {
    let key = id.to_string();
    let entry = object_at(tx, &[ROSTER, &key], "attendee")?;
    let attendee = hydrate_at(tx, &[ROSTER, &key], "attendee")?;
    Ok((entry, attendee))
}

fn active_attendee(tx: &Transaction<'_>, id: AttendeeId) -> Result<(ObjId, Attendee), DocError> {
    let (entry, attendee) = attendee(tx, id)?;
    if attendee.withdrawn {
        return Err(DocError::Withdrawn(id.to_string()));
    }
    Ok((entry, attendee))
}
