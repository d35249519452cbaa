//! Concurrent writes to one field, shown to people instead of silently resolved.
//!
//! When two devices set the same field offline (one marks an attendee 修了, the other not),
//! Automerge keeps both values after the merge and picks a deterministic winner for plain reads.
//! [`conflicts`] lists every field that holds more than one value (one pass over each map, which
//! flags them; `ReadDoc::get_all` for their values), so the
//! app can ask a person which is right; [`resolve`] writes the chosen value back as a normal
//! change, after which every replica that receives it sees one value again.

use std::fmt;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ValueRef};

use crate::doc::object_at;
use crate::errors::DocError;
use crate::ids::AttendeeId;
use crate::instant::Timestamp;

/// One of the values a conflicted field holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictValue {
    /// A plain value (text, number, flag, timestamp, null).
    Scalar(ScalarValue),
    /// A nested object. This crate never creates objects concurrently at one key (entries have
    /// random ids), so these arise only from other writers; they are listed, not resolvable here.
    Object(ObjType),
}

impl fmt::Display for ConflictValue {
    /// A short form for people: text as is, flags as はい/いいえ, times in Japan time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictValue::Scalar(ScalarValue::Str(text)) => f.write_str(text),
            ConflictValue::Scalar(ScalarValue::Boolean(true)) => f.write_str("はい"),
            ConflictValue::Scalar(ScalarValue::Boolean(false)) => f.write_str("いいえ"),
            ConflictValue::Scalar(ScalarValue::Null) => f.write_str("（なし）"),
            ConflictValue::Scalar(ScalarValue::Timestamp(millis)) => {
                Timestamp::from_unix_millis(*millis).fmt(f)
            }
            ConflictValue::Scalar(other) => write!(f, "{other}"),
            ConflictValue::Object(kind) => write!(f, "({kind})"),
        }
    }
}

/// A field holding more than one value after a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Map keys from the document root to the field, e.g. `["roster", "<id>", "completed"]`.
    pub path: Vec<String>,
    /// Every value, the one plain reads currently return (the winner) first.
    pub values: Vec<ConflictValue>,
}

impl Conflict {
    /// The path joined with `/`, e.g. `roster/<id>/completed`.
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }

    /// For a conflict inside a roster entry: the attendee and the field (relative to the entry,
    /// e.g. `completed` or `person/kana`).
    pub fn attendee_field(&self) -> Option<(AttendeeId, String)> {
        match self.path.as_slice() {
            [roster, id, rest @ ..] if roster == "roster" && !rest.is_empty() => {
                Some((id.parse().ok()?, rest.join("/")))
            }
            _ => None,
        }
    }
}

/// Every conflicted field of the document, in key order. Text objects are not walked: concurrent
/// typing merges character by character and never conflicts.
pub fn conflicts(doc: &Automerge) -> Vec<Conflict> {
    let mut found = Vec::new();
    if has_concurrent_changes(doc) {
        collect(doc, &automerge::ROOT, &mut Vec::new(), &mut found);
    }
    found
}

/// Whether any two changes of the document are concurrent. Only then can a field hold more than
/// one value: along one line of changes every write supersedes the values it saw. Most records
/// are one line (one device, or devices taking turns), and reading the change graph is far
/// cheaper than walking every map (the walk was 6% of the server's CPU in a burst of first
/// pushes; BENCH-RESULTS.md, "Session 16").
pub fn has_concurrent_changes(doc: &Automerge) -> bool {
    if doc.get_heads().len() > 1 {
        return true;
    }
    // One head: the changes are one line unless one of them merged two lines (two lines that
    // began apart must have been merged too, or there would be two heads).
    doc.get_changes_meta(&[])
        .iter()
        .any(|change| change.deps.len() > 1)
}

/// The conflicted fields inside the map `obj`, which sits at `path` (its keys from the root).
pub fn conflicts_in(doc: &impl ReadDoc, obj: &ObjId, mut path: Vec<String>) -> Vec<Conflict> {
    let mut found = Vec::new();
    collect(doc, obj, &mut path, &mut found);
    found
}

fn collect(doc: &impl ReadDoc, obj: &ObjId, path: &mut Vec<String>, found: &mut Vec<Conflict>) {
    // One pass over the map, which flags the conflicted keys: asking `get_all` for every key
    // instead cost ~1 ms per attendee in the browser (a 500-person roster: ~0.3 s per tap).
    for item in doc.map_range(obj, ..) {
        path.push(item.key.to_string());
        if item.conflict
            && let Ok(values) = doc.get_all(obj, item.key.as_ref())
            && values.len() > 1
        {
            // `get_all` orders values by operation id; the winner (what `get` returns) is last.
            let values = values
                .iter()
                .rev()
                .map(|(value, _)| match value {
                    Value::Scalar(scalar) => ConflictValue::Scalar(scalar.as_ref().clone()),
                    Value::Object(kind) => ConflictValue::Object(*kind),
                })
                .collect();
            found.push(Conflict {
                path: path.clone(),
                values,
            });
        }
        // The winner's object, as a plain read would see it.
        if let ValueRef::Object(ObjType::Map | ObjType::Table) = item.value {
            collect(doc, &item.id(), path, found);
        }
        path.pop();
    }
}

/// Resolves a conflict by writing `chosen` at `path` as a normal change by this device at `at`.
/// `chosen` is usually one of the conflict's values; writing it supersedes all of them.
pub fn resolve(
    doc: &mut Automerge,
    path: &[String],
    chosen: ScalarValue,
    at: Timestamp,
) -> Result<(), DocError> {
    let no_such_path = || DocError::NoSuchPath(path.join("/"));
    let (field, parents) = path.split_last().ok_or_else(no_such_path)?;
    let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
    let obj = object_at(doc, &parents, "field").map_err(|_| no_such_path())?;
    if doc.get(&obj, field.as_str())?.is_none() {
        return Err(no_such_path());
    }
    let mut tx = doc.transaction();
    // Automerge makes this put succeed every value the field currently holds, including the
    // winner when `chosen` equals it, so the field ends with exactly one value.
    match tx.put(&obj, field.as_str(), chosen) {
        Ok(()) => {
            tx.commit_with(CommitOptions::default().with_time(at.unix_seconds()));
            Ok(())
        }
        Err(error) => {
            tx.rollback();
            Err(error.into())
        }
    }
}
