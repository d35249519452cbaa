//! Undo of the last tap: every action on the check-in screen is remembered for a few seconds,
//! and 元に戻す writes its inverse as a new change (Automerge keeps history; an undo is one more
//! change, so it syncs like any other).

use std::time::Duration;

use leptos::prelude::*;
use nimo_shared::AttendeeId;
use nimo_shared::sync::DocumentId;

use crate::sync::{self, Mark};

/// How long the 元に戻す button stays after a tap: long enough to notice a wrong row.
const UNDO_WINDOW: Duration = Duration::from_secs(10);

/// One action on the roster that can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A pre-registered person was checked in.
    CheckedIn(AttendeeId),
    /// A check-in was taken back (the wrong row, noticed later).
    CheckInCancelled(AttendeeId),
    /// A walk-in was added and checked in.
    WalkInAdded(AttendeeId),
    /// A person was added to the roster without checking in.
    Added(AttendeeId),
    /// A mark was set to the given value.
    Marked(AttendeeId, Mark, bool),
}

impl Action {
    /// What the action did, for the undo bar (`name` is the person's).
    pub fn describe(self, name: &str) -> String {
        match self {
            Action::CheckedIn(_) => format!("{name} さんを受付しました"),
            Action::CheckInCancelled(_) => format!("{name} さんの受付を取り消しました"),
            Action::WalkInAdded(_) => format!("{name} さんを当日参加で受付しました"),
            Action::Added(_) => format!("{name} さんを名簿に追加しました"),
            Action::Marked(_, mark, value) => {
                let what = mark_label(mark);
                if value {
                    format!("{name} さん: {what}")
                } else {
                    format!("{name} さん: {what}を取り消しました")
                }
            }
        }
    }

    /// Writes the inverse change.
    fn undo(self, doc_id: DocumentId) -> Result<(), String> {
        match self {
            Action::CheckedIn(id) => sync::undo_check_in(doc_id, id),
            Action::CheckInCancelled(id) => sync::check_in(doc_id, id),
            // The entry is withdrawn, not deleted: a mark another device made meanwhile stays.
            Action::WalkInAdded(id) | Action::Added(id) => sync::withdraw_attendee(doc_id, id),
            Action::Marked(id, mark, value) => sync::set_mark(doc_id, id, mark, !value),
        }
    }
}

/// The Japanese name of a mark.
pub fn mark_label(mark: Mark) -> &'static str {
    match mark {
        Mark::Completed => "修了",
        Mark::Ring => "リング",
        Mark::Sticker => "ステッカー",
    }
}

/// The last action, while it can still be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAction {
    action: Action,
    text: String,
    /// Tells this action's timer from a later one's.
    serial: u64,
}

/// The screen's undo state.
#[derive(Debug, Clone, Copy)]
pub struct Undo {
    last: RwSignal<Option<LastAction>>,
    serial: StoredValue<u64>,
}

impl Undo {
    /// A fresh undo state.
    pub fn new() -> Undo {
        Undo {
            last: RwSignal::new(None),
            serial: StoredValue::new(0),
        }
    }

    /// Remembers `action` (done to `name`) and offers to undo it for a few seconds.
    pub fn offer(self, action: Action, name: &str) {
        let serial = self.serial.get_value() + 1;
        self.serial.set_value(serial);
        self.last.set(Some(LastAction {
            action,
            text: action.describe(name),
            serial,
        }));
        set_timeout(
            move || {
                if self.last.with_untracked(|l| l.as_ref().map(|l| l.serial)) == Some(serial) {
                    self.last.set(None);
                }
            },
            UNDO_WINDOW,
        );
    }
}

/// The bar at the bottom of the screen: what was just done, and 元に戻す.
#[component]
pub fn UndoBar(doc_id: DocumentId, undo: Undo, error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        undo.last.get().map(|last| {
            let action = last.action;
            view! {
                <div class="undo-bar" data-testid="undo-bar">
                    <p class="undo-text" role="status">{last.text}</p>
                    <button
                        type="button"
                        class="undo-button"
                        data-testid="undo"
                        on:click=move |_| {
                            undo.last.set(None);
                            error.set(action.undo(doc_id).err());
                        }
                    >
                        "元に戻す"
                    </button>
                </div>
            }
        })
    }
}
