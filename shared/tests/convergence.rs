//! Seeded property tests: random changes on 3–5 replicas, merged in random orders with
//! duplicates, always converge to identical documents and identical records.
//!
//! - `NIMO_PROPTEST_CASES` sets the number of cases (default 64; the full run is
//!   `NIMO_PROPTEST_CASES=10000 cargo test -p nimo-shared --release --test convergence`).
//! - `NIMO_PROPTEST_SEED` sets the seed (default fixed, so CI is deterministic). A failure prints
//!   its seed and the shrunk input; rerun with that seed to replay it.

mod common;

use automerge::Automerge;
use common::*;
use nimo_shared::conflicts::{ConflictValue, conflicts, resolve};
use nimo_shared::doc::{create, hydrate};
use nimo_shared::records::roster::*;
use nimo_shared::records::training::TrainingSession;
use nimo_shared::records::visit::{VisitCase, VisitTopic};
use nimo_shared::records::visit_changes::*;
use nimo_shared::{Record, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const DEFAULT_CASES: u32 = 64;
const DEFAULT_SEED: u64 = 0x6e69_6d6f_2025; // "nimo" 2025

/// Runs `property` over `strategy` with the configured case count and seed, printing the seed on
/// failure so the run replays.
fn run_seeded<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let cases = env_number("NIMO_PROPTEST_CASES")
        .map_or(DEFAULT_CASES, |n| u32::try_from(n).expect("cases fit u32"));
    let seed = env_number("NIMO_PROPTEST_SEED").unwrap_or(DEFAULT_SEED);
    let mut seed_bytes = [0u8; 32];
    for chunk in seed_bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    if let Err(failure) = runner.run(&strategy, property) {
        panic!("{name} failed with NIMO_PROPTEST_SEED={seed} ({cases} cases): {failure}");
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {text:?}")),
    )
}

/// A change one replica makes to its copy of a training session.
#[derive(Debug, Clone)]
enum RosterChange {
    Add(u16),
    CheckIn(u16, u8),
    UndoCheckIn(u16),
    Complete(u16, bool),
    Ring(u16, bool),
    Withdraw(u16),
    Restore(u16),
    Capacity(u32),
    AddTrainer(u8),
    /// Resolve the first listed conflict, if any, choosing its `n`th value.
    ResolveFirst(usize),
}

#[derive(Debug, Clone)]
enum Step<C> {
    Change(usize, C),
    /// Merge replica `.0` into replica `.1` (sometimes the same pair again: a duplicate).
    Merge(usize, usize),
}

fn roster_change() -> BoxedStrategy<RosterChange> {
    let slot = 0u16..6;
    prop_oneof![
        slot.clone().prop_map(RosterChange::Add),
        (slot.clone(), 0u8..60).prop_map(|(s, m)| RosterChange::CheckIn(s, m)),
        slot.clone().prop_map(RosterChange::UndoCheckIn),
        (slot.clone(), any::<bool>()).prop_map(|(s, b)| RosterChange::Complete(s, b)),
        (slot.clone(), any::<bool>()).prop_map(|(s, b)| RosterChange::Ring(s, b)),
        slot.clone().prop_map(RosterChange::Withdraw),
        slot.prop_map(RosterChange::Restore),
        (1u32..100).prop_map(RosterChange::Capacity),
        (0u8..4).prop_map(RosterChange::AddTrainer),
        (0usize..3).prop_map(RosterChange::ResolveFirst),
    ]
    .boxed()
}

/// Replica count, steps, and the order of the final all-to-all merge.
fn scenario<C: std::fmt::Debug + Clone + 'static>(
    change: BoxedStrategy<C>,
) -> impl Strategy<Value = (usize, Vec<Step<C>>, Vec<usize>)> {
    (3usize..=5).prop_flat_map(move |replicas| {
        let step = prop_oneof![
            3 => (0..replicas, change.clone()).prop_map(|(r, c)| Step::Change(r, c)),
            1 => (0..replicas, 0..replicas).prop_map(|(a, b)| Step::Merge(a, b)),
        ];
        (
            Just(replicas),
            proptest::collection::vec(step, 1..40),
            Just((0..replicas).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

fn minute(m: u8) -> Timestamp {
    Timestamp::from_unix_millis(1_749_877_200_000 + i64::from(m) * 60_000)
}

fn apply_roster_change(doc: &mut Automerge, change: &RosterChange) {
    let when = minute(0);
    // Refused changes (an attendee not yet synced here, a withdrawn attendee …) roll back;
    // the property is about what merges, so they are simply skipped.
    let _ = match change {
        RosterChange::Add(slot) => add_attendee(
            doc,
            attendee_id(*slot),
            person("参加者", "さんかしゃ", Some("大和町")),
            when,
        ),
        RosterChange::CheckIn(slot, m) => {
            check_in(doc, attendee_id(*slot), minute(*m), &user("trainer"))
        }
        RosterChange::UndoCheckIn(slot) => undo_check_in(doc, attendee_id(*slot), when),
        RosterChange::Complete(slot, done) => mark_completed(doc, attendee_id(*slot), *done, when),
        RosterChange::Ring(slot, given) => mark_ring_given(doc, attendee_id(*slot), *given, when),
        RosterChange::Withdraw(slot) => withdraw_attendee(doc, attendee_id(*slot), when),
        RosterChange::Restore(slot) => restore_attendee(doc, attendee_id(*slot), when),
        RosterChange::Capacity(capacity) => {
            edit_session_details(doc, when, |s| s.capacity = *capacity)
        }
        RosterChange::AddTrainer(n) => edit_session_details(doc, when, |s| {
            s.trainers.insert(format!("講師 {n}"));
        }),
        RosterChange::ResolveFirst(pick) => match conflicts(doc).first() {
            Some(conflict) => match &conflict.values[pick % conflict.values.len()] {
                ConflictValue::Scalar(value) => resolve(doc, &conflict.path, value.clone(), when),
                ConflictValue::Object(_) => Ok(()),
            },
            None => Ok(()),
        },
    };
}

/// Runs the steps, then merges every replica into the first in `order`, twice (duplicates), and
/// the first back into every other; returns the replicas.
fn play<C>(
    start: &Automerge,
    replicas: usize,
    steps: &[Step<C>],
    order: &[usize],
    apply: impl Fn(&mut Automerge, &C),
) -> Vec<Automerge> {
    let mut docs: Vec<Automerge> = (0..replicas)
        .map(|r| fork_on(start, u8::try_from(r + 10).expect("small")))
        .collect();
    for step in steps {
        match step {
            Step::Change(r, change) => apply(&mut docs[*r], change),
            Step::Merge(from, into) => merge(&mut docs, *from, *into),
        }
    }
    let hub = order[0];
    for _ in 0..2 {
        for &r in order {
            merge(&mut docs, r, hub);
        }
    }
    for &r in order.iter().rev() {
        merge(&mut docs, hub, r);
    }
    docs
}

fn merge(docs: &mut [Automerge], from: usize, into: usize) {
    if from == into {
        return;
    }
    let (low, high) = docs.split_at_mut(from.max(into));
    let (source, target) = if from < into {
        (&mut low[from], &mut high[0])
    } else {
        (&mut high[0], &mut low[into])
    };
    target.merge(source).expect("merge");
}

fn assert_converged<R: Record + PartialEq + std::fmt::Debug>(
    docs: &[Automerge],
) -> Result<(), TestCaseError> {
    let first = &docs[0];
    let record: R = hydrate(first).expect("hydrates");
    let conflicts_first = conflicts(first);
    let mut heads = first.get_heads();
    heads.sort();
    for doc in &docs[1..] {
        let mut other = doc.get_heads();
        other.sort();
        prop_assert_eq!(&other, &heads);
        prop_assert_eq!(&hydrate::<R>(doc).expect("hydrates"), &record);
        prop_assert_eq!(&conflicts(doc), &conflicts_first);
    }
    // What is saved loads back to the same record.
    let loaded = Automerge::load(&first.save()).expect("load");
    prop_assert_eq!(&hydrate::<R>(&loaded).expect("hydrates"), &record);
    Ok(())
}

#[test]
fn random_roster_changes_on_several_devices_converge_after_merging_in_any_order() {
    let start = create(&session("2025-06-14"), actor(1), minute(0)).expect("valid session");
    run_seeded(
        "roster convergence",
        scenario(roster_change()),
        |(replicas, steps, order)| {
            let docs = play(&start, replicas, &steps, &order, apply_roster_change);
            assert_converged::<TrainingSession>(&docs)
        },
    );
}

/// A change to a visit case's notes or topics.
#[derive(Debug, Clone)]
enum NotesChange {
    Splice {
        position: usize,
        delete: usize,
        insert: String,
    },
    Topic(u8, bool),
}

fn notes_change() -> BoxedStrategy<NotesChange> {
    prop_oneof![
        (0usize..30, 0usize..4, "[傾聴あア a。\n]{0,6}").prop_map(|(position, delete, insert)| {
            NotesChange::Splice {
                position,
                delete,
                insert,
            }
        }),
        (0u8..5, any::<bool>()).prop_map(|(t, b)| NotesChange::Topic(t, b)),
    ]
    .boxed()
}

#[test]
fn random_note_edits_by_both_visitors_converge_after_merging_in_any_order() {
    let mut start = create(&visit_case(), actor(1), minute(0)).expect("valid case");
    add_visit(
        &mut start,
        visit_id(1),
        visit("2025-06-20", "傾聴した。"),
        minute(0),
    )
    .expect("add visit");
    run_seeded(
        "notes convergence",
        scenario(notes_change()),
        |(replicas, steps, order)| {
            let docs = play(&start, replicas, &steps, &order, |doc, change| {
                let result = match change {
                    NotesChange::Splice {
                        position,
                        delete,
                        insert,
                    } => {
                        splice_visit_notes(doc, visit_id(1), *position, *delete, insert, minute(1))
                    }
                    NotesChange::Topic(t, covered) => {
                        let topic = VisitTopic::ALL[usize::from(*t) % VisitTopic::ALL.len()];
                        set_visit_topic(doc, visit_id(1), topic, *covered, minute(1))
                    }
                };
                result.expect("notes and topics changes always apply");
            });
            assert_converged::<VisitCase>(&docs)
        },
    );
}

#[test]
fn the_seed_of_a_failing_run_is_printed() {
    let outcome = std::panic::catch_unwind(|| {
        run_seeded("always fails", 0u8..10, |_| {
            Err(TestCaseError::fail("on purpose"))
        });
    });
    let message = outcome.expect_err("must fail");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("NIMO_PROPTEST_SEED="), "{text}");
}
