use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::OpId;
use automerge::transaction::Transactable as _;
use automerge::{ActorId, Automerge, Change, ExpandedChange, ROOT};

use super::*;

fn actor(name: &str) -> ActorId {
    ActorId::from(name.as_bytes())
}

/// A document written by `author` (one change per key).
fn written_by(author: &str, keys: &[&str]) -> Automerge {
    let mut doc = Automerge::new().with_actor(actor(author));
    for key in keys {
        doc.transact(|tx| tx.put(ROOT, *key, 1_i64).map(|_| ()))
            .expect("a put commits");
    }
    doc
}

/// The changes `doc` has that `before` has not.
fn new_changes(doc: &Automerge, before: &Automerge) -> Vec<Change> {
    doc.get_changes(&before.get_heads())
}

/// `doc`'s next change, forged so that its one operation overwrites an operation of `stranger`,
/// an actor `doc` has never seen: the change names `stranger`.
fn forged_naming(doc: &Automerge, stranger: &str) -> Change {
    let mut next = doc.fork().with_actor(doc.get_actor().clone());
    next.transact(|tx| tx.put(ROOT, "forged", 1_i64).map(|_| ()))
        .expect("a put commits");
    let honest = next
        .get_last_local_change()
        .expect("the fork made a change");
    let mut expanded = ExpandedChange::from(&honest);
    expanded.operations[0].pred = vec![OpId(1, actor(stranger))].into();
    expanded.hash = None;
    Change::from(expanded)
}

#[test]
fn a_change_naming_an_actor_the_document_never_saw_panics_automerge_and_is_refused() {
    let doc = written_by("visitor-a", &["first"]);
    let forged = forged_naming(&doc, "stranger");
    let refused = check(std::slice::from_ref(&forged), &doc).expect_err("refused");
    assert_eq!(refused.actor, actor("stranger"));
    assert_eq!(refused.change, forged.hash());
    // What the check prevents: automerge panics applying it.
    let mut target = doc.fork();
    let applied = catch_unwind(AssertUnwindSafe(|| target.apply_changes([forged])));
    assert!(applied.is_err(), "automerge 0.12 panics on it");
}

#[test]
fn the_fuzzers_change_is_refused_for_a_new_document() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/document_load/unknown-actor"),
    )
    .expect("fuzz/regressions/document_load/unknown-actor");
    let change = Change::try_from(bytes.as_slice()).expect("a well-formed change");
    let refused = check(&[change], &NewDocument).expect_err("refused");
    assert_eq!(refused.actor, actor("yyyyyyyy"));
}

#[test]
fn a_partners_edit_naming_the_first_writer_passes() {
    // Visitor A writes, B receives A's changes and edits: B's change names A.
    let a = written_by("visitor-a", &["first", "second"]);
    let mut b = a.fork().with_actor(actor("visitor-b"));
    b.transact(|tx| tx.put(ROOT, "first", 2_i64).map(|_| ()))
        .expect("a put commits");
    let edit = new_changes(&b, &a);
    assert_eq!(edit.len(), 1);
    assert!(edit[0].other_actor_ids().contains(&actor("visitor-a")));
    assert_eq!(check(&edit, &a), Ok(()));
    // The same edit with A's changes, to a document that has none of them.
    assert_eq!(check(&b.get_changes(&[]), &NewDocument), Ok(()));
}

#[test]
fn a_new_writers_first_change_introduces_it_to_the_changes_after() {
    let a = written_by("visitor-a", &["first"]);
    let mut b = a.fork().with_actor(actor("visitor-b"));
    b.transact(|tx| tx.put(ROOT, "b1", 1_i64).map(|_| ()))
        .expect("a put commits");
    let mut c = b.fork().with_actor(actor("visitor-c"));
    c.transact(|tx| tx.put(ROOT, "b1", 2_i64).map(|_| ()))
        .expect("a put commits");
    // B's first change and C's, which names B, in one message to a document that knows only A.
    let changes = new_changes(&c, &a);
    assert_eq!(changes.len(), 2);
    assert_eq!(check(&changes, &a), Ok(()));
    // Without B's first change, C's change names an actor the document does not know.
    let without_b: Vec<Change> = changes
        .into_iter()
        .filter(|change| change.actor_id() == &actor("visitor-c"))
        .collect();
    // …but its dependency (B's change) is missing too, so automerge only queues it.
    assert_eq!(check(&without_b, &a), Ok(()));
    assert_eq!(check(&without_b, &b), Ok(()), "b knows visitor-b");
}

#[test]
fn a_later_change_by_an_author_the_document_does_not_know_is_refused() {
    // A second change by a stranger, forged to depend on the document's own head: automerge
    // would apply it (its dependency is there) with an author it never added.
    let doc = written_by("visitor-a", &["first"]);
    let stranger = written_by("stranger", &["one", "two"]);
    let mut expanded = ExpandedChange::from(&stranger.get_changes(&[])[1]);
    expanded.deps = doc.get_heads();
    expanded.hash = None;
    let forged = Change::from(expanded);
    assert_eq!(forged.seq(), 2);
    let refused = check(&[forged], &doc).expect_err("refused");
    assert_eq!(refused.actor, actor("stranger"));
}

#[test]
fn changes_the_document_already_has_are_not_checked() {
    let doc = written_by("visitor-a", &["first", "second"]);
    assert_eq!(check(&doc.get_changes(&[]), &doc), Ok(()));
    assert_eq!(check(&doc.get_changes(&[]), &NewDocument), Ok(()));
}

#[test]
fn the_actor_table_lookup_tells_known_from_unknown() {
    let doc = written_by("visitor-a", &["first"]);
    assert!(doc.knows_actor(&actor("visitor-a")));
    assert!(!doc.knows_actor(&actor("visitor-b")));
    let changes = doc.get_changes(&[]);
    assert!(doc.has_change(&changes[0].hash()));
    assert_eq!(
        actors_named(&changes),
        std::iter::once(actor("visitor-a")).collect()
    );
}
