//! One training session's check-in screen, built for one hand on a phone: live counts and a
//! search box stay at the top, one tap checks a person in, marks are large toggles, the last
//! action can be undone for a few seconds, and walk-ins are added in one short form.
//!
//! - [`attendee`]: one roster row (check-in, marks, competing values after a merge).
//! - [`walk_in`]: the form that adds a walk-in (checked in at once) or a pre-registered person.
//! - [`undo`]: the last action and its inverse.
//! - [`search`], [`counts`]: the pure parts (kana-insensitive matching, the counts).

mod attendee;
mod counts;
mod csv_import;
mod search;
mod undo;
mod walk_in;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};

use leptos::prelude::*;
use nimo_shared::conflicts::Conflict;
use nimo_shared::records::training::{Attendee, TrainingKind, TrainingSession};
use nimo_shared::sync::DocumentId;
use nimo_shared::{AttendeeId, sorting};

use crate::route::{Link, Route};
use crate::sync::{self, status};

use attendee::AttendeeRow;
use counts::RosterCounts;
use csv_import::CsvImport;
use search::{Query, search_key};
use undo::{Undo, UndoBar};
use walk_in::WalkInForm;

/// The session page.
#[component]
pub fn SessionPage(id: DocumentId) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let query = RwSignal::new(String::new());
    let undo = Undo::new();
    let session = Memo::new(move |_| sync::training_session(id));
    let conflicts = Memo::new(move |_| sync::session_conflicts(id));
    let found = move || session.with(Option::is_some);
    view! {
        <main class="page checkin">
            <p class="back"><Link route=Route::Trainer>"← 研修の一覧"</Link></p>
            <Show
                when=found
                fallback=|| view! { <p class="empty">"この研修はこの端末にありません。"</p> }
            >
                <SessionHeader id=id session=session conflicts=conflicts/>
                <div class="checkin-bar">
                    <Counts session=session/>
                    <div class="search-row">
                        <input
                            type="search"
                            class="search"
                            aria-label="参加者を検索"
                            placeholder="名前・ふりがなで検索"
                            autocomplete="off"
                            data-testid="search"
                            prop:value=query
                            on:input=move |ev| query.set(event_target_value(&ev))
                        />
                        <a class="button button-secondary walk-in-jump" href="#walk-in">
                            "＋ 当日参加"
                        </a>
                    </div>
                </div>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <Roster id=id session=session conflicts=conflicts query=query undo=undo error=error/>
                <WalkInForm id=id undo=undo/>
                <CsvImport id=id/>
            </Show>
            <UndoBar doc_id=id undo=undo error=error/>
        </main>
    }
}

/// The session's details, its storage status and any competing values in its details.
#[component]
fn SessionHeader(
    id: DocumentId,
    session: Memo<Option<TrainingSession>>,
    conflicts: Memo<Vec<Conflict>>,
) -> impl IntoView {
    let signals = sync::signals();
    let details = move || {
        session.get().map(|s| {
            let trainers = s.trainers.iter().cloned().collect::<Vec<_>>().join("、");
            let audience = s.audience.map(|a| format!("（{}）", a.label_ja()));
            view! {
                <h2>{s.course.label_ja()}{audience}</h2>
                <p class="details">
                    {format!(
                        "{} {}〜{}　{}（{}）",
                        s.date, s.start, s.end, s.venue, s.venue_municipality
                    )}
                </p>
                <p class="details">
                    {format!("{}　講師: {}　定員 {}人", s.host.label_ja(), trainers, s.capacity)}
                </p>
            }
        })
    };
    let state = move || {
        signals.doc_status.with(|m| m.get(&id).copied()).map(|s| {
            view! {
                <p class=status::doc_class(s) data-testid="doc-status">{status::doc_label(s)}</p>
            }
        })
    };
    // Competing values outside the roster (e.g. two trainers changed the date offline).
    let detail_conflicts = move || {
        conflicts
            .get()
            .into_iter()
            .filter(|c| c.attendee_field().is_none() && c.path.first().is_none_or(|p| p != "roster"))
            .map(|c| {
                let values = c.values.iter().map(ToString::to_string).collect::<Vec<_>>();
                view! {
                    <p class="badge badge-conflict" role="note" data-testid="session-conflict">
                        {format!("⚠ {} の値が競合しています: {}", c.path_string(), values.join(" / "))}
                    </p>
                }
            })
            .collect_view()
    };
    view! {
        {details}
        {state}
        {detail_conflicts}
    }
}

/// 登録 / 出席 / 修了, announced to screen readers as they change.
#[component]
fn Counts(session: Memo<Option<TrainingSession>>) -> impl IntoView {
    let counts =
        Memo::new(move |_| session.with(|s| s.as_ref().map(RosterCounts::of).unwrap_or_default()));
    view! {
        <p class="counts" role="status" aria-live="polite" data-testid="counts">
            <span class="count">"登録 "<strong data-testid="count-registered">{move || counts.get().registered}</strong></span>
            <span class="count">"出席 "<strong data-testid="count-present">{move || counts.get().present}</strong></span>
            <span class="count">"修了 "<strong data-testid="count-completed">{move || counts.get().completed}</strong></span>
        </p>
    }
}

/// One row of the roster and a fingerprint of what [`AttendeeRow`] shows of it: the row is
/// rebuilt only when that changes.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    attendee_id: AttendeeId,
    fingerprint: u64,
    attendee: Attendee,
    conflicts: Vec<(String, Conflict)>,
    gifts: bool,
}

impl Row {
    fn new(
        attendee_id: AttendeeId,
        attendee: Attendee,
        conflicts: Vec<(String, Conflict)>,
        gifts: bool,
    ) -> Row {
        // Every field AttendeeRow shows, and nothing else.
        let mut hasher = DefaultHasher::new();
        let person = &attendee.person;
        (
            &person.name,
            &person.kana,
            person.affiliation.label_ja(),
            person.residence,
        )
            .hash(&mut hasher);
        (
            attendee.checked_in_at,
            attendee.completed,
            attendee.ring_given,
            attendee.sticker_given,
            gifts,
        )
            .hash(&mut hasher);
        for (field, conflict) in &conflicts {
            field.hash(&mut hasher);
            for value in &conflict.values {
                value.to_string().hash(&mut hasher);
            }
        }
        Row {
            attendee_id,
            fingerprint: hasher.finish(),
            attendee,
            conflicts,
            gifts,
        }
    }
}

/// The roster, filtered by the search box, in あいうえお order of the readings (stable while
/// people are checked in, so a row never jumps under a finger). Rows are keyed by person and
/// fingerprint: a check-in rebuilds its own row, not the hundreds around it (rebuilding all
/// 500 rows of a large session on every tap kept the tap's write from completing in a frame).
#[component]
fn Roster(
    id: DocumentId,
    session: Memo<Option<TrainingSession>>,
    conflicts: Memo<Vec<Conflict>>,
    query: RwSignal<String>,
    undo: Undo,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let rows = Memo::new(move |_| {
        let query = query.with(|typed| Query::new(typed));
        session.with(|session| {
            let Some(session) = session else {
                return Vec::new();
            };
            let gifts = session.course == TrainingKind::KokoroSupporter;
            let mut found: Vec<_> = session
                .active_attendees()
                .filter(|(_, a)| query.matches(&a.person.name, &a.person.kana))
                .map(|(attendee_id, a)| (search_key(&a.person.kana), *attendee_id, a))
                .collect();
            sorting::sort_by(&mut found, |a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            conflicts.with(|conflicts| {
                found
                    .into_iter()
                    .map(|(_, attendee_id, attendee)| {
                        let own = conflicts
                            .iter()
                            .filter_map(|c| {
                                let (who, field) = c.attendee_field()?;
                                (who == attendee_id).then(|| (field, c.clone()))
                            })
                            .collect::<Vec<_>>();
                        Row::new(attendee_id, attendee.clone(), own, gifts)
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let summary = move || {
        if query.with(|typed| Query::new(typed).is_empty()) {
            return None;
        }
        let shown = rows.with(Vec::len);
        let total = session.with(|s| s.as_ref().map_or(0, |s| s.active_attendees().count()));
        Some(if shown == 0 {
            "該当する人がいません。当日参加の方は下のフォームで追加できます。".to_owned()
        } else {
            format!("{total}人中 {shown}人を表示")
        })
    };
    view! {
        {move || summary().map(|text| view! { <p class="search-summary" data-testid="search-summary">{text}</p> })}
        <ul class="roster" aria-label="名簿">
            <For each=move || rows.get() key=|row| (row.attendee_id, row.fingerprint) let:row>
                <AttendeeRow
                    doc_id=id
                    attendee_id=row.attendee_id
                    attendee=row.attendee
                    conflicts=row.conflicts
                    gifts=row.gifts
                    undo=undo
                    error=error
                />
            </For>
        </ul>
    }
}
