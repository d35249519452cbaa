//! One roster row: who, a large 受付 button, then the 修了 / リング / ステッカー toggles; and,
//! after a merge in which two devices set the same field differently, the competing values
//! with a button to keep each.

use leptos::prelude::*;
use nimo_shared::AttendeeId;
use nimo_shared::conflicts::{Conflict, ConflictValue};
use nimo_shared::records::training::Attendee;
use nimo_shared::sync::DocumentId;

use super::undo::{Action, Undo, mark_label};
use crate::sync::{self, Mark, status};

/// One attendee.
#[component]
pub fn AttendeeRow(
    doc_id: DocumentId,
    attendee_id: AttendeeId,
    attendee: Attendee,
    /// Competing values of this entry's fields (field path relative to the entry).
    conflicts: Vec<(String, Conflict)>,
    /// Whether the course hands out the ここサポリング and sticker.
    gifts: bool,
    undo: Undo,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let name = attendee.person.name.clone();
    let place = attendee
        .person
        .residence
        .map(|p| format!("・{p}"))
        .unwrap_or_default();
    let meta = format!("{}{place}", attendee.person.affiliation.label_ja());
    let present = attendee.checked_in_at.is_some();
    let action = match attendee.checked_in_at {
        None => {
            let who = name.clone();
            view! {
                <button
                    type="button"
                    class="check-in"
                    aria-label=format!("{name} を受付")
                    on:click=move |ev| {
                        // Timed to the disk: the benchmark's check-in figure (sync::timing).
                        let result = sync::timed_tap(ev.time_stamp(), || {
                            sync::check_in(doc_id, attendee_id)
                        });
                        // Shown with the row, after the tap's write (nothing in between
                        // holds the write's completion back).
                        let who = who.clone();
                        sync::after_tap_written(move || {
                            if result.is_ok() {
                                undo.offer(Action::CheckedIn(attendee_id), &who);
                            }
                            error.set(result.err());
                        });
                    }
                >
                    "受付"
                </button>
            }
            .into_any()
        }
        Some(at) => {
            let ms = u64::try_from(at.unix_millis()).unwrap_or_default();
            let mut marks = vec![(Mark::Completed, attendee.completed)];
            if gifts {
                marks.push((Mark::Ring, attendee.ring_given));
                marks.push((Mark::Sticker, attendee.sticker_given));
            }
            let toggles = marks
                .into_iter()
                .map(|(mark, on)| {
                    let who = name.clone();
                    view! {
                        <button
                            type="button"
                            class="mark"
                            class:mark-on=on
                            aria-pressed=if on { "true" } else { "false" }
                            aria-label=format!("{name} {}", mark_label(mark))
                            on:click=move |_| {
                                let result = sync::set_mark(doc_id, attendee_id, mark, !on);
                                if result.is_ok() {
                                    undo.offer(Action::Marked(attendee_id, mark, !on), &who);
                                }
                                error.set(result.err());
                            }
                        >
                            {if on { "✓ " } else { "" }}
                            {mark_label(mark)}
                        </button>
                    }
                })
                .collect_view();
            let who = name.clone();
            view! {
                <span class="checked-in">{format!("{} 受付済み", status::hh_mm_in_japan(ms))}</span>
                <button
                    type="button"
                    class="cancel-check-in"
                    aria-label=format!("{name} の受付を取り消す")
                    on:click=move |_| {
                        let result = sync::undo_check_in(doc_id, attendee_id);
                        if result.is_ok() {
                            undo.offer(Action::CheckInCancelled(attendee_id), &who);
                        }
                        error.set(result.err());
                    }
                >
                    "取消"
                </button>
                <div class="marks" role="group" aria-label=format!("{name} の記録")>{toggles}</div>
            }
            .into_any()
        }
    };
    let conflicts = conflicts
        .into_iter()
        .map(|(field, conflict)| view! { <ConflictNote doc_id=doc_id name=name.clone() field=field conflict=conflict error=error/> })
        .collect_view();
    view! {
        <li
            class="attendee"
            class:present=present
            data-testid="attendee"
            data-attendee-id=attendee_id.to_string()
            data-present=if present { "true" } else { "false" }
        >
            <div class="attendee-who">
                <span class="attendee-name">{attendee.person.name.clone()}</span>
                <span class="attendee-kana">{attendee.person.kana.clone()}</span>
                <span class="attendee-meta">{meta}</span>
            </div>
            <div class="attendee-actions">{action}</div>
            {conflicts}
        </li>
    }
}

/// The Japanese name of a roster entry's field, for the conflict note.
fn field_label(field: &str) -> &str {
    match field {
        "completed" => "修了",
        "ring_given" => "リング",
        "sticker_given" => "ステッカー",
        "checked_in_at" => "受付時刻",
        "checked_in_by" => "受付した人",
        "withdrawn" => "取り消し",
        "person/name" => "氏名",
        "person/kana" => "ふりがな",
        "person/affiliation" => "所属",
        "person/residence" => "市町村",
        other => other,
    }
}

/// A field two devices set differently: each value, and a button to keep it.
#[component]
fn ConflictNote(
    doc_id: DocumentId,
    name: String,
    field: String,
    conflict: Conflict,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let label = field_label(&field).to_owned();
    let values = conflict
        .values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" / ");
    let choices = conflict
        .values
        .iter()
        .filter_map(|value| match value {
            ConflictValue::Scalar(scalar) => Some((value.to_string(), scalar.clone())),
            ConflictValue::Object(_) => None,
        })
        .map(|(text, scalar)| {
            let path = conflict.path.clone();
            view! {
                <button
                    type="button"
                    class="resolve"
                    aria-label=format!("{name} の{label}を「{text}」にする")
                    on:click=move |_| error.set(sync::resolve_conflict(doc_id, &path, scalar.clone()).err())
                >
                    {format!("「{text}」にする")}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="conflict" role="note" data-testid="conflict" data-field=field.clone()>
            <span class="badge badge-conflict">
                {format!("⚠ {label}が端末間で食い違っています: {values}")}
            </span>
            {choices}
        </div>
    }
}
