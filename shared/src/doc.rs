//! One Automerge document per record: creating, reading and changing them.
//!
//! Every document has two top-level fields besides the record's own: `kind` (a [`DocKind`] code)
//! and `schema_version`. The server's registry and access control key on `kind`.
//!
//! Changes go through small typed functions (in each record's module) that open one transaction,
//! hydrate what they need, check the rules, and write **only the fields they change**. Writing the
//! whole record back (autosurgeon's `reconcile` on the root) would also re-put every unchanged
//! field, and Automerge treats re-putting the winning value of a conflicted field as resolving the
//! conflict: a concurrent edit made on another device would then be silently dropped. Targeted
//! writes keep every conflict visible until a person resolves it (see [`crate::conflicts`]).

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, Reconcile};

use crate::encoding::coded_enum;
use crate::errors::{DocError, ValidationError};
use crate::instant::Timestamp;

coded_enum! {
    /// What a document holds. The code is stored in the document's `kind` field and is the key of
    /// the server's registry and access rules; never change a code.
    pub enum DocKind {
        /// A training session with its roster ([`crate::records::training::TrainingSession`]).
        TrainingSession => ("training_session", "研修"),
        /// A 入院者訪問支援 case with its visits ([`crate::records::visit::VisitCase`]).
        VisitCase => ("visit_case", "入院者訪問支援"),
        /// A subsidised peer-support group ([`crate::records::peer::PeerSupportGroup`]).
        PeerSupportGroup => ("peer_support_group", "ピアサポート活動団体"),
        /// A 協議の場 meeting ([`crate::records::council::CouncilMeeting`]).
        CouncilMeeting => ("council_meeting", "協議の場"),
    }
}

/// The top-level field holding the [`DocKind`] code.
pub const KIND_FIELD: &str = "kind";
/// The top-level field holding the schema version (an unsigned integer).
pub const SCHEMA_VERSION_FIELD: &str = "schema_version";

/// A record type stored as one document.
pub trait Record: Hydrate + Reconcile + Sized {
    /// The kind written to the document's `kind` field.
    const KIND: DocKind;
    /// The schema version this code writes. Raise it when adding fields; added fields must be
    /// `Option` or carry `#[autosurgeon(missing = ...)]` so older documents still hydrate.
    const SCHEMA_VERSION: u64;

    /// Checks the record's rules.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// Creates the document for a new record, as one change by `actor` at `at`.
///
/// The record is validated first. `actor` should be the device's
/// [`DeviceId::actor_id`](crate::ids::DeviceId::actor_id), so the history says which device
/// created it.
pub fn create<R: Record>(record: &R, actor: ActorId, at: Timestamp) -> Result<Automerge, DocError> {
    record.validate()?;
    let mut doc = Automerge::new().with_actor(actor);
    let mut tx = doc.transaction();
    let written = autosurgeon::reconcile(&mut tx, record)
        .map_err(DocError::from)
        .and_then(|()| {
            tx.put(automerge::ROOT, KIND_FIELD, R::KIND.code())?;
            tx.put(automerge::ROOT, SCHEMA_VERSION_FIELD, R::SCHEMA_VERSION)?;
            Ok(())
        });
    match written {
        Ok(()) => {
            commit(tx, at);
            Ok(doc)
        }
        Err(error) => {
            tx.rollback();
            Err(error)
        }
    }
}

/// Reads the record out of a document, checking its `kind`.
///
/// Documents written by a newer schema hydrate too: unknown fields are ignored, and this crate's
/// targeted writes never remove them.
pub fn hydrate<R: Record>(doc: &impl autosurgeon::ReadDoc) -> Result<R, DocError> {
    check_kind::<R>(doc)?;
    Ok(autosurgeon::hydrate(doc)?)
}

/// The document's kind, if it has a known one.
pub fn kind_of(doc: &impl autosurgeon::ReadDoc) -> Option<DocKind> {
    stored_kind(doc)?.parse().ok()
}

/// The document's schema version, if present.
pub fn schema_version_of(doc: &impl autosurgeon::ReadDoc) -> Option<u64> {
    match doc.get(&automerge::ROOT, SCHEMA_VERSION_FIELD).ok()?? {
        (Value::Scalar(value), _) => match value.as_ref() {
            ScalarValue::Uint(version) => Some(*version),
            ScalarValue::Int(version) => u64::try_from(*version).ok(),
            _ => None,
        },
        _ => None,
    }
}

fn stored_kind(doc: &impl autosurgeon::ReadDoc) -> Option<String> {
    match doc.get(&automerge::ROOT, KIND_FIELD).ok()?? {
        (Value::Scalar(value), _) => value.as_str().map(str::to_owned),
        _ => None,
    }
}

fn check_kind<R: Record>(doc: &impl autosurgeon::ReadDoc) -> Result<(), DocError> {
    let found = stored_kind(doc);
    if found.as_deref() == Some(R::KIND.code()) {
        Ok(())
    } else {
        Err(DocError::WrongKind {
            expected: R::KIND,
            found,
        })
    }
}

/// Runs `edit` in one transaction on a document of kind `R`, committing at `at` when it succeeds
/// and rolling back when it fails, so a refused change leaves no trace.
pub(crate) fn change<R: Record, T>(
    doc: &mut Automerge,
    at: Timestamp,
    edit: impl FnOnce(&mut Transaction<'_>) -> Result<T, DocError>,
) -> Result<T, DocError> {
    check_kind::<R>(doc)?;
    let mut tx = doc.transaction();
    match edit(&mut tx) {
        Ok(value) => {
            commit(tx, at);
            Ok(value)
        }
        Err(error) => {
            tx.rollback();
            Err(error)
        }
    }
}

fn commit(tx: Transaction<'_>, at: Timestamp) {
    // The change's time is advisory in Automerge (it never decides merges); it helps people
    // reading the history. Seconds, as Automerge expects.
    tx.commit_with(CommitOptions::default().with_time(at.unix_seconds()));
}

/// The object at `path` (map keys from the root), or `NotFound` naming `what` and the last key.
pub(crate) fn object_at(
    doc: &impl ReadDoc,
    path: &[&str],
    what: &'static str,
) -> Result<ObjId, DocError> {
    let mut obj = automerge::ROOT;
    for key in path {
        obj = match doc.get(&obj, *key)? {
            Some((Value::Object(ObjType::Map | ObjType::Table | ObjType::Text), id)) => id,
            _ => {
                return Err(DocError::NotFound {
                    what,
                    id: (*key).to_owned(),
                });
            }
        };
    }
    Ok(obj)
}

/// Writes one field with autosurgeon (creating nested maps or text as needed).
pub(crate) fn put_field<V: Reconcile>(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    field: &str,
    value: V,
) -> Result<(), DocError> {
    autosurgeon::reconcile_prop(tx, obj, field, value)?;
    Ok(())
}

/// Writes `new` only when it differs from `old` (the hydrated value), so untouched fields keep any
/// conflict they have.
pub(crate) fn put_if_changed<V: Reconcile + PartialEq>(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    field: &str,
    old: &V,
    new: &V,
) -> Result<(), DocError> {
    if old != new {
        put_field(tx, obj, field, new)?;
    }
    Ok(())
}

/// Hydrates the value at `path` inside an open transaction.
pub(crate) fn hydrate_at<V: Hydrate>(
    tx: &Transaction<'_>,
    path: &[&str],
    what: &'static str,
) -> Result<V, DocError> {
    let (last, parents) = path
        .split_last()
        .ok_or(DocError::NoSuchPath(String::new()))?;
    let parent = object_at(tx, parents, what)?;
    if tx.get(&parent, *last)?.is_none() {
        return Err(DocError::NotFound {
            what,
            id: (*last).to_owned(),
        });
    }
    Ok(autosurgeon::hydrate_prop(tx, &parent, *last)?)
}
