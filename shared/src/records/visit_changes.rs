//! Changes to a visit case: visits, their notes and topics, discharge and closing.
//!
//! As everywhere, each function is one transaction writing only what it changes. Notes are
//! edited with splices at **character** positions (Unicode scalar values, as Rust's `chars()`
//! counts them), converted here to the document's text encoding, so Japanese text is never cut
//! inside a character.

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, TextEncoding};

use crate::date::Date;
use crate::doc::{change, hydrate_at, object_at, put_field, put_if_changed};
use crate::errors::DocError;
use crate::ids::VisitId;
use crate::instant::Timestamp;
use crate::records::visit::{CaseStatus, Visit, VisitCase, VisitTopic, out_of_order};

const VISITS: &str = "visits";

/// Adds a visit (with its first notes, if any) under a new id.
pub fn add_visit(
    doc: &mut Automerge,
    id: VisitId,
    visit: Visit,
    at: Timestamp,
) -> Result<(), DocError> {
    visit.validate()?;
    change::<VisitCase, _>(doc, at, |tx| {
        let key = id.to_string();
        let visits = object_at(tx, &[VISITS], "visits")?;
        if tx.get(&visits, key.as_str())?.is_some() {
            return Err(DocError::AlreadyExists {
                what: "visit",
                id: key,
            });
        }
        put_field(tx, &visits, &key, visit)
    })
}

/// Replaces `delete` characters at character position `position` of a visit's notes with
/// `insert`. Positions past the end are clamped to the end.
pub fn splice_visit_notes(
    doc: &mut Automerge,
    id: VisitId,
    position: usize,
    delete: usize,
    insert: &str,
    at: Timestamp,
) -> Result<(), DocError> {
    let encoding = doc.text_encoding();
    change::<VisitCase, _>(doc, at, |tx| {
        let notes = object_at(tx, &[VISITS, &id.to_string(), "notes"], "visit")?;
        let current = tx.text(&notes)?;
        let start = encoded_offset(&current, position, encoding);
        let end = encoded_offset(&current, position.saturating_add(delete), encoding);
        let deleted = isize::try_from(end - start).unwrap_or(isize::MAX);
        tx.splice_text(&notes, start, deleted, insert)?;
        Ok(())
    })
}

/// The smallest splice turning `old` into `new`, in characters: (position, deleted, inserted).
/// Writing only the difference lets two visitors' concurrent typing merge character by
/// character instead of one replacing the other.
pub fn notes_splice(old: &str, new: &str) -> Option<(usize, usize, String)> {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let deleted = old.len() - prefix - suffix;
    let inserted: String = new[prefix..new.len() - suffix].iter().collect();
    (deleted > 0 || !inserted.is_empty()).then_some((prefix, deleted, inserted))
}

/// Appends text to the end of a visit's notes.
pub fn append_visit_notes(
    doc: &mut Automerge,
    id: VisitId,
    text: &str,
    at: Timestamp,
) -> Result<(), DocError> {
    splice_visit_notes(doc, id, usize::MAX, 0, text, at)
}

/// Ticks or unticks a topic of a visit. Unticking writes `false` rather than deleting the key,
/// so a tick and an untick made concurrently show as a conflict instead of one vanishing.
pub fn set_visit_topic(
    doc: &mut Automerge,
    id: VisitId,
    topic: VisitTopic,
    covered: bool,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<VisitCase, _>(doc, at, |tx| {
        let topics = object_at(tx, &[VISITS, &id.to_string(), "topics"], "visit")?;
        put_field(tx, &topics, topic.code(), covered)
    })
}

/// Changes a visit's date, visitors, duration, follow-up and next date: `edit` changes a hydrated
/// copy; only changed fields are written. Notes and topics have their own functions.
pub fn edit_visit(
    doc: &mut Automerge,
    id: VisitId,
    at: Timestamp,
    edit: impl FnOnce(&mut Visit),
) -> Result<(), DocError> {
    change::<VisitCase, _>(doc, at, |tx| {
        let key = id.to_string();
        let old: Visit = hydrate_at(tx, &[VISITS, &key], "visit")?;
        let mut new = old.clone();
        edit(&mut new);
        new.validate()?;
        let obj = object_at(tx, &[VISITS, &key], "visit")?;
        let pair = object_at(tx, &[VISITS, &key, "visitors"], "visit")?;
        put_if_changed(tx, &obj, "date", &old.date, &new.date)?;
        put_if_changed(
            tx,
            &pair,
            "professional",
            &old.visitors.professional,
            &new.visitors.professional,
        )?;
        put_if_changed(
            tx,
            &pair,
            "non_professional",
            &old.visitors.non_professional,
            &new.visitors.non_professional,
        )?;
        put_if_changed(
            tx,
            &obj,
            "duration_minutes",
            &old.duration_minutes,
            &new.duration_minutes,
        )?;
        put_if_changed(tx, &obj, "follow_up", &old.follow_up, &new.follow_up)?;
        put_if_changed(
            tx,
            &obj,
            "next_visit_on",
            &old.next_visit_on,
            &new.next_visit_on,
        )
    })
}

/// Records the patient's discharge date.
pub fn record_discharge(doc: &mut Automerge, on: Date, at: Timestamp) -> Result<(), DocError> {
    change::<VisitCase, _>(doc, at, |tx| {
        let requested_on: Date = hydrate_at(tx, &["requested_on"], "case")?;
        if on < requested_on {
            return Err(out_of_order("依頼日", requested_on, "退院日", on).into());
        }
        put_field(tx, &automerge::ROOT, "discharged_on", Some(on))
    })
}

/// Opens or closes the case.
pub fn set_case_status(
    doc: &mut Automerge,
    status: CaseStatus,
    at: Timestamp,
) -> Result<(), DocError> {
    change::<VisitCase, _>(doc, at, |tx| {
        put_field(tx, &automerge::ROOT, "status", status)
    })
}

/// Changes the case's details (hospital, eligibility, request date, assigned pair): `edit` changes
/// a hydrated copy; only changed fields are written. Visits have their own functions.
pub fn edit_case_details(
    doc: &mut Automerge,
    at: Timestamp,
    edit: impl FnOnce(&mut VisitCase),
) -> Result<(), DocError> {
    change::<VisitCase, _>(doc, at, |tx| {
        let old: VisitCase = autosurgeon::hydrate(&*tx)?;
        let mut new = old.clone();
        edit(&mut new);
        new.validate_details()?;
        let root = automerge::ROOT;
        let pair = object_at(tx, &["assigned"], "case")?;
        put_if_changed(
            tx,
            &root,
            "patient_code",
            &old.patient_code,
            &new.patient_code,
        )?;
        put_if_changed(tx, &root, "hospital", &old.hospital, &new.hospital)?;
        put_if_changed(
            tx,
            &root,
            "hospital_municipality",
            &old.hospital_municipality,
            &new.hospital_municipality,
        )?;
        put_if_changed(tx, &root, "eligibility", &old.eligibility, &new.eligibility)?;
        put_if_changed(
            tx,
            &root,
            "requested_on",
            &old.requested_on,
            &new.requested_on,
        )?;
        put_if_changed(
            tx,
            &pair,
            "professional",
            &old.assigned.professional,
            &new.assigned.professional,
        )?;
        put_if_changed(
            tx,
            &pair,
            "non_professional",
            &old.assigned.non_professional,
            &new.assigned.non_professional,
        )?;
        put_if_changed(tx, &root, "status", &old.status, &new.status)?;
        put_if_changed(
            tx,
            &root,
            "discharged_on",
            &old.discharged_on,
            &new.discharged_on,
        )
    })
}

/// The offset of character `chars` of `text` in the document's text encoding (clamped to the end).
fn encoded_offset(text: &str, chars: usize, encoding: TextEncoding) -> usize {
    let prefix_end = text
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(byte, _)| byte);
    let prefix = &text[..prefix_end];
    match encoding {
        TextEncoding::Utf8CodeUnit => prefix.len(),
        TextEncoding::Utf16CodeUnit => prefix.encode_utf16().count(),
        // Grapheme-cluster indexing is never enabled for nimo's documents; counting code points
        // is exact for the text visitors type (no combining sequences) should it ever be.
        TextEncoding::UnicodeCodePoint | TextEncoding::GraphemeCluster => prefix.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_notes_splice_covers_only_the_changed_characters() {
        use super::notes_splice;
        assert_eq!(notes_splice("abc", "abc"), None);
        assert_eq!(notes_splice("", "面会"), Some((0, 0, "面会".to_owned())));
        assert_eq!(
            notes_splice("面会した", "面会を希望した"),
            Some((2, 0, "を希望".to_owned()))
        );
        assert_eq!(notes_splice("aXa", "aa"), Some((1, 1, String::new())));
        assert_eq!(notes_splice("aaa", "aa"), Some((2, 1, String::new())));
    }

    use super::*;

    #[test]
    fn character_positions_convert_to_each_text_encoding() {
        let text = "傾聴した。";
        assert_eq!(encoded_offset(text, 2, TextEncoding::UnicodeCodePoint), 2);
        assert_eq!(encoded_offset(text, 2, TextEncoding::Utf8CodeUnit), 6);
        assert_eq!(encoded_offset(text, 2, TextEncoding::Utf16CodeUnit), 2);
        assert_eq!(encoded_offset(text, 99, TextEncoding::UnicodeCodePoint), 5);
    }
}
