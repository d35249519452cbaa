//! A training session as the check-in screen reads it (the record and its conflicted fields),
//! kept up to date change by change: after a check-in only that roster entry is read again.
//!
//! Reading the whole document again after every tap cost ~0.5 s in the browser with a
//! 500-person roster (autosurgeon reads each field with a lookup). [`SessionView::refresh`] finds
//! the roster entries the new changes touched: when every change is inside roster entries, it
//! reads just those entries and their conflicts; anything else (the session's details, a roster
//! replaced) reads everything again, as [`SessionView::load`] does.
//!
//! The entries are found from the new changes' own operations (each names the object it
//! writes, whose path leads to its entry): a few dozen microseconds for a tap. Automerge's
//! `diff` gives the same answer but walks the whole document (~3 ms natively, 10–20 ms in the
//! browser with 500 people); it is kept for what the operations cannot place (an object no
//! longer visible, e.g. one that lost a conflict).

use std::collections::{BTreeSet, HashMap};

use automerge::{Automerge, ChangeHash, ObjType, Prop, ReadDoc, Value, patches::PatchAction};

use crate::conflicts::{self, Conflict};
use crate::doc;
use crate::errors::DocError;
use crate::ids::AttendeeId;
use crate::records::training::{Attendee, TrainingSession};

/// The roster's key in a session's document.
const ROSTER: &str = "roster";

/// How [`SessionView::refresh`] brought a view up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing had changed.
    Unchanged,
    /// This many roster entries were read again, found from the new changes' operations.
    Entries(usize),
    /// This many roster entries were read again, found by Automerge's `diff`.
    EntriesByDiff(usize),
    /// Everything was read again.
    Everything,
}

/// A hydrated session and its conflicts, at known heads.
#[derive(Debug, Clone)]
pub struct SessionView {
    heads: Vec<ChangeHash>,
    session: TrainingSession,
    conflicts: Vec<Conflict>,
}

impl SessionView {
    /// Reads the whole document.
    pub fn load(document: &Automerge) -> Result<SessionView, DocError> {
        Ok(SessionView {
            heads: document.get_heads(),
            session: doc::hydrate(document)?,
            conflicts: conflicts::conflicts(document),
        })
    }

    /// The session.
    pub fn session(&self) -> &TrainingSession {
        &self.session
    }

    /// Every conflicted field, in key order.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// Brings the view to `document`'s current heads (the same document, which only grows).
    pub fn refresh(&mut self, document: &Automerge) -> Result<Refreshed, DocError> {
        let heads = document.get_heads();
        if heads == self.heads {
            return Ok(Refreshed::Unchanged);
        }
        // Heads this document does not hold: another copy of it was read; read it all.
        let known = !document
            .get_missing_deps(&self.heads)
            .iter()
            .any(|hash| self.heads.contains(hash));
        let found = if known {
            match entries_written(document, &self.heads) {
                Some(entries) => Some((Refreshed::Entries(entries.len()), entries)),
                None => changed_entries(document, &self.heads, &heads)
                    .map(|entries| (Refreshed::EntriesByDiff(entries.len()), entries)),
            }
        } else {
            None
        };
        match (found, roster_object(document)) {
            (Some((refreshed, entries)), Some(roster)) => {
                for (key, id) in entries {
                    let entry: Option<Attendee> =
                        autosurgeon::hydrate_prop(document, &roster, key.as_str())?;
                    match entry {
                        Some(attendee) => {
                            self.session.roster.insert(id, attendee);
                        }
                        None => {
                            self.session.roster.remove(&id);
                        }
                    }
                    let prefix = [ROSTER.to_owned(), key.clone()];
                    self.conflicts.retain(|c| !c.path.starts_with(&prefix));
                    if let Ok(Some((Value::Object(ObjType::Map), entry_obj))) =
                        document.get(&roster, key.as_str())
                    {
                        self.conflicts.extend(conflicts::conflicts_in(
                            document,
                            &entry_obj,
                            prefix.to_vec(),
                        ));
                    }
                }
                // A conflict on the entry's key itself (two devices added the same id) is
                // on the roster map: rare, and checked for the changed keys only.
                crate::sorting::sort_by(&mut self.conflicts, |a, b| a.path.cmp(&b.path));
                self.heads = heads;
                Ok(refreshed)
            }
            _ => {
                *self = SessionView::load(document)?;
                Ok(Refreshed::Everything)
            }
        }
    }
}

/// The roster map's object.
fn roster_object(document: &Automerge) -> Option<automerge::ObjId> {
    match document.get(automerge::ROOT, ROSTER).ok()?? {
        (Value::Object(ObjType::Map), id) => Some(id),
        _ => None,
    }
}

/// The roster entries the changes made since `before` write into, found from their operations,
/// or `None` when one writes anything else or cannot be placed (then ask [`changed_entries`]).
///
/// Every visible effect of a change on an entry (a field set or deleted, an entry added or
/// removed, a conflict made or settled) is an operation on the entry's object, on an object
/// inside it, or on the roster map under the entry's key, so these entries are all that can
/// differ from the view.
fn entries_written(
    document: &Automerge,
    before: &[ChangeHash],
) -> Option<BTreeSet<(String, AttendeeId)>> {
    use automerge::legacy::{Key, ObjectId};
    let roster = roster_object(document)?;
    let mut entries = BTreeSet::new();
    // Where each written object lies, so a change of many fields places its object once.
    let mut placed: HashMap<String, Place> = HashMap::new();
    for change in document.get_changes(before) {
        for op in change.decode().operations {
            let object = match op.obj {
                // A field of the session itself (its details, the roster replaced).
                ObjectId::Root => return None,
                ObjectId::Id(id) => id.to_string(),
            };
            let place = match placed.get(&object) {
                Some(place) => place.clone(),
                None => {
                    let place = place_of(document, &roster, &object)?;
                    placed.insert(object, place.clone());
                    place
                }
            };
            let key = match (place, op.key) {
                (Place::Entry(key), _) => key,
                // On the roster map itself: an entry added, replaced or removed.
                (Place::Roster, Key::Map(key)) => key.to_string(),
                (Place::Roster, Key::Seq(_)) => return None,
            };
            let id = key.parse().ok()?;
            entries.insert((key, id));
        }
    }
    // Two devices added the same id: a conflict on the roster map itself, read in full.
    for (key, _) in &entries {
        if document.get_all(&roster, key.as_str()).ok()?.len() > 1 {
            return None;
        }
    }
    Some(entries)
}

/// Where a written object lies.
#[derive(Debug, Clone)]
enum Place {
    /// The roster map.
    Roster,
    /// Inside the roster entry of this key.
    Entry(String),
}

/// Where `object` (as a change names it, `counter@actor`) lies, or `None` when it is neither
/// the roster map nor inside a visible entry.
fn place_of(document: &Automerge, roster: &automerge::ObjId, object: &str) -> Option<Place> {
    // `import_obj` turns a change's object id into this document's (public, though hidden from
    // automerge's docs; an id it cannot place sends the caller to `diff`).
    let object = document.import_obj(object).ok()?;
    if &object == roster {
        return Some(Place::Roster);
    }
    let path = document.parents(&object).ok()?.visible_path()?;
    match path.as_slice() {
        [(root, Prop::Map(first)), (in_roster, Prop::Map(key)), ..]
            if *root == automerge::ROOT && first == ROSTER && in_roster == roster =>
        {
            Some(Place::Entry(key.clone()))
        }
        _ => None,
    }
}

/// The roster entries the changes between `before` and `after` touched, or `None` when a
/// change touched anything else.
fn changed_entries(
    document: &Automerge,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> Option<BTreeSet<(String, AttendeeId)>> {
    let mut entries = BTreeSet::new();
    for patch in document.diff(before, after) {
        let mut path = patch.path.iter().map(|(_, prop)| prop);
        match path.next() {
            Some(Prop::Map(first)) if first == ROSTER => {}
            _ => return None,
        }
        let key = match (path.next(), &patch.action) {
            (Some(Prop::Map(key)), _) => key.clone(),
            // On the roster map itself: an entry added, replaced or removed.
            (None, PatchAction::PutMap { key, conflict, .. }) if !conflict => key.clone(),
            (None, PatchAction::DeleteMap { key }) => key.clone(),
            _ => return None,
        };
        let id = key.parse().ok()?;
        entries.insert((key, id));
    }
    Some(entries)
}
