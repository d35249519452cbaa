//! A training session as the check-in screen reads it (the record and its conflicted fields),
//! kept up to date change by change: after a check-in only that roster entry is read again.
//!
//! Reading the whole document again after every tap cost ~0.5 s in the browser with a
//! 500-person roster (autosurgeon reads each field with a lookup). [`SessionView::refresh`] asks
//! Automerge which objects changed since the heads it last read (`diff`): when every change is
//! inside roster entries, it reads just those entries and their conflicts; anything else (the
//! session's details, a roster replaced) reads everything again, as [`SessionView::load`] does.

use std::collections::BTreeSet;

use automerge::{Automerge, ChangeHash, ObjType, Prop, ReadDoc, Value, patches::PatchAction};

use crate::conflicts::{self, Conflict};
use crate::doc;
use crate::errors::DocError;
use crate::ids::AttendeeId;
use crate::records::training::{Attendee, TrainingSession};

/// The roster's key in a session's document.
const ROSTER: &str = "roster";

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
    pub fn refresh(&mut self, document: &Automerge) -> Result<(), DocError> {
        let heads = document.get_heads();
        if heads == self.heads {
            return Ok(());
        }
        // Heads this document does not hold: another copy of it was read; read it all.
        let known = !document
            .get_missing_deps(&self.heads)
            .iter()
            .any(|hash| self.heads.contains(hash));
        let entries = if known {
            changed_entries(document, &self.heads, &heads)
        } else {
            None
        };
        match (entries, roster_object(document)) {
            (Some(entries), Some(roster)) => {
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
                Ok(())
            }
            _ => {
                *self = SessionView::load(document)?;
                Ok(())
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
