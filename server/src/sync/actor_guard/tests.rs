use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::OpId;
use automerge::transaction::Transactable as _;
use automerge::{ActorId, Automerge, Change, ChangeHash, ExpandedChange, ROOT};

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

/// `doc` received by `author`, who then sets `key` to `value` (one change).
fn edited_by(doc: &Automerge, author: &str, key: &str, value: i64) -> Automerge {
    let mut edited = doc.fork().with_actor(actor(author));
    edited
        .transact(|tx| tx.put(ROOT, key, value).map(|_| ()))
        .expect("a put commits");
    edited
}

fn facts(changes: &[Change]) -> Vec<ChangeFacts> {
    changes.iter().map(ChangeFacts::from).collect()
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

/// A new writer's honest change to `doc` (the bait), and its next change, forged to name an
/// actor `doc` never saw and depending on the bait.
fn bait_and_forged(doc: &Automerge) -> (Vec<ChangeFacts>, Vec<ChangeFacts>) {
    let mut forger = doc.fork();
    forger
        .transact(|tx| tx.put(ROOT, "bait", 1_i64).map(|_| ()))
        .expect("a put commits");
    let bait = facts(&new_changes(&forger, doc));
    (bait, facts(&[forged_naming(&forger, "stranger")]))
}

#[test]
fn a_change_naming_an_actor_the_document_never_saw_panics_automerge_and_is_refused() {
    let doc = written_by("visitor-a", &["first"]);
    let forged = forged_naming(&doc, "stranger");
    let refused = check(&facts(std::slice::from_ref(&forged)), &[], &doc).expect_err("refused");
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
    let refused = check(&facts(&[change]), &[], &NewDocument).expect_err("refused");
    assert_eq!(refused.actor, actor("yyyyyyyy"));
}

#[test]
fn a_partners_edit_naming_the_first_writer_passes() {
    // Visitor A writes, B receives A's changes and edits: B's change names A.
    let a = written_by("visitor-a", &["first", "second"]);
    let b = edited_by(&a, "visitor-b", "first", 2);
    let edit = new_changes(&b, &a);
    assert_eq!(edit.len(), 1);
    assert!(edit[0].other_actor_ids().contains(&actor("visitor-a")));
    assert_eq!(check(&facts(&edit), &[], &a).map(drop), Ok(()));
    // The same edit with A's changes, to a document that has none of them.
    assert_eq!(
        check(&facts(&b.get_changes(&[])), &[], &NewDocument).map(drop),
        Ok(())
    );
}

#[test]
fn a_new_writers_first_change_introduces_it_to_the_changes_after() {
    let a = written_by("visitor-a", &["first"]);
    let b = edited_by(&a, "visitor-b", "b1", 1);
    let c = edited_by(&b, "visitor-c", "b1", 2);
    // B's first change and C's, which names B, in one message to a document that knows only A.
    let changes = new_changes(&c, &a);
    assert_eq!(changes.len(), 2);
    assert_eq!(check(&facts(&changes), &[], &a).map(drop), Ok(()));
    // Without B's first change, C's change names an actor the document does not know.
    let without_b: Vec<Change> = changes
        .into_iter()
        .filter(|change| change.actor_id() == &actor("visitor-c"))
        .collect();
    // …but its dependency (B's change) is missing too, so automerge only queues it: it waits,
    // suspicious, and B's change coming later introduces visitor-b with it.
    let waiting = check(&facts(&without_b), &[], &a).expect("it only waits");
    assert_eq!(waiting.suspicious, vec![without_b[0].hash()]);
    let b_first = new_changes(&b, &a);
    let later = check(&facts(&b_first), &facts(&without_b), &a).expect("B's first change passes");
    assert_eq!(later.suspicious, Vec::<ChangeHash>::new());
    assert_eq!(
        check(&facts(&without_b), &[], &b),
        Ok(Outcome::default()),
        "b knows visitor-b"
    );
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
    let refused = check(&facts(&[forged]), &[], &doc).expect_err("refused");
    assert_eq!(refused.actor, actor("stranger"));
}

#[test]
fn changes_the_document_already_has_are_not_checked() {
    let doc = written_by("visitor-a", &["first", "second"]);
    let changes = facts(&doc.get_changes(&[]));
    assert_eq!(check(&changes, &[], &doc), Ok(Outcome::default()));
    assert_eq!(check(&changes, &[], &NewDocument), Ok(Outcome::default()));
    // Pending changes the document now holds are settled.
    assert_eq!(
        check(&[], &changes, &doc).map(|outcome| outcome.settled.len()),
        Ok(2)
    );
}

#[test]
fn the_actor_table_lookup_tells_known_from_unknown() {
    let doc = written_by("visitor-a", &["first"]);
    assert!(doc.knows_actor(&actor("visitor-a")));
    assert!(!doc.knows_actor(&actor("visitor-b")));
    let changes = doc.get_changes(&[]);
    assert!(doc.has_change(&changes[0].hash()));
    assert_eq!(
        ChangeFacts::from(&changes[0]).actors,
        vec![actor("visitor-a")]
    );
}

#[test]
fn a_forged_change_that_waits_is_refused_when_its_dependency_comes() {
    // The forger sends the forged change first, depending on a change of its own it has not
    // sent; automerge would queue it, then apply it when that change comes.
    let doc = written_by("visitor-a", &["first"]);
    let (bait, forged) = bait_and_forged(&doc);
    let waiting = check(&forged, &[], &doc).expect("it only waits");
    assert_eq!(waiting.suspicious, vec![forged[0].hash]);
    // The bait, honest on its own, is refused: it would let the forged change be applied.
    let refused = check(&bait, &forged, &doc).expect_err("refused");
    assert_eq!(refused.change, forged[0].hash);
    assert_eq!(refused.actor, actor("stranger"));
    assert!(refused.pending);
    // Sent together, the forged change is applied at once: refused as such.
    let mut both = bait;
    both.extend(forged.iter().cloned());
    let refused = check(&both, &[], &doc).expect_err("refused");
    assert!(!refused.pending);
}

#[test]
fn a_forged_change_racing_its_dependency_is_refused() {
    // The dependency was let through a moment ago and samod has not applied it yet: the view
    // lacks it, the pending changes hold it.
    let doc = written_by("visitor-a", &["first"]);
    let (bait, forged) = bait_and_forged(&doc);
    let refused = check(&forged, &bait, &doc).expect_err("refused");
    assert_eq!(refused.change, forged[0].hash);
    assert!(!refused.pending);
}

#[test]
fn a_new_writers_later_change_without_its_first_waits_and_passes_when_the_first_comes() {
    // A bloom filter's false positive made the device leave out its first change: the second
    // waits (suspicious, as it names its author no one has introduced); the first, asked for
    // in the next exchange, introduces the author and both are applied.
    let doc = written_by("visitor-a", &["first"]);
    let mut b = doc.fork().with_actor(actor("visitor-b"));
    for key in ["b1", "b2"] {
        b.transact(|tx| tx.put(ROOT, key, 1_i64).map(|_| ()))
            .expect("a put commits");
    }
    let changes = facts(&new_changes(&b, &doc));
    let (first, second) = (&changes[..1], &changes[1..]);
    let waiting = check(second, &[], &doc).expect("it waits");
    assert_eq!(waiting.suspicious, vec![second[0].hash]);
    assert_eq!(check(first, second, &doc), Ok(Outcome::default()));
}

/// What `doc`'s saved snapshot declares in its header.
fn headers_of(doc: &Automerge) -> SnapshotHeaders {
    SnapshotHeaders::read([doc.save().as_slice()]).expect("one document chunk")
}

#[test]
fn a_new_writers_changes_on_the_stored_heads_settle_under_the_snapshot_headers() {
    // The common case: a device edits on top of what it last synced, as a new actor (a new
    // browser session), naming the document's writer. The headers settle it without a load.
    let doc = written_by("visitor-a", &["first", "second"]);
    let mut b = doc.fork().with_actor(actor("visitor-b"));
    for key in ["first", "b2"] {
        b.transact(|tx| tx.put(ROOT, key, 2_i64).map(|_| ()))
            .expect("a put commits");
    }
    let changes = facts(&new_changes(&b, &doc));
    let judged = check(&changes, &[], &headers_of(&doc));
    assert!(SnapshotHeaders::settles(&judged), "{judged:?}");
    // The headers hold only the heads: a pending change older than them is not settled there,
    // where the loaded document settles it.
    let older = facts(&doc.get_changes(&[])[..1]);
    assert_eq!(
        check(&[], &older, &headers_of(&doc)).map(|outcome| outcome.settled),
        Ok(Vec::new())
    );
    assert_eq!(
        check(&[], &older, &doc).map(|outcome| outcome.settled),
        Ok(vec![older[0].hash])
    );
}

#[test]
fn under_the_snapshot_headers_a_change_on_an_older_change_is_left_to_the_loaded_document() {
    // A forged change on the document's first change (not a head): the headers do not hold
    // its dependency, so it seems to wait, suspicious. Only the loaded document shows that
    // automerge would apply it at once: refused there.
    let doc = written_by("visitor-a", &["first", "second"]);
    let first = doc.get_changes(&[])[0].hash();
    let at_first = doc.fork_at(&[first]).expect("the first change");
    let forged = facts(&[forged_naming(&at_first, "stranger")]);
    assert_eq!(forged[0].deps, vec![first]);
    let judged = check(&forged, &[], &headers_of(&doc));
    assert!(!SnapshotHeaders::settles(&judged), "{judged:?}");
    assert_eq!(
        check(&forged, &[], &doc).expect_err("refused").actor,
        actor("stranger")
    );
    // An honest edit on the older change, by the known writer, settles under the headers: it
    // names only actors they list, whenever it is applied.
    let honest = edited_by(&at_first, "visitor-a", "late", 1);
    let late = facts(&new_changes(&honest, &at_first));
    assert!(SnapshotHeaders::settles(&check(
        &late,
        &[],
        &headers_of(&doc)
    )));
}

#[test]
fn what_the_snapshot_headers_do_not_settle_the_loaded_document_decides() {
    // The snapshot is older than the document: visitor-b joined after it was saved (an
    // incremental change). A partner's edit naming visitor-b seems suspicious under the
    // headers, and passes in the loaded document.
    let a = written_by("visitor-a", &["first"]);
    let snapshot = headers_of(&a);
    let b = edited_by(&a, "visitor-b", "first", 2);
    let c = edited_by(&b, "visitor-c", "first", 3);
    let edit = facts(&new_changes(&c, &b));
    let judged = check(&edit, &[], &snapshot);
    assert_eq!(
        judged.as_ref().map(|outcome| outcome.suspicious.clone()),
        Ok(vec![edit[0].hash])
    );
    assert!(!SnapshotHeaders::settles(&judged));
    assert!(!SnapshotHeaders::settles(&Err(UnknownActor {
        change: edit[0].hash,
        actor: actor("visitor-b"),
        pending: false,
    })));
    assert_eq!(check(&edit, &[], &b), Ok(Outcome::default()));
    assert_eq!(SnapshotHeaders::read([&b"not a chunk"[..]]).map(drop), None);
}
