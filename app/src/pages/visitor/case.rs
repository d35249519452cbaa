//! `/visits/<id>`: one case, its visits, and the form that starts a visit. Each visit's topics,
//! notes, follow-up and next date are written as the person types; the notes are Automerge text,
//! so both visitors may write offline and, after sync, both texts are there. Every field is
//! `autocomplete="off"`: Chromium otherwise keeps typed values in its autofill database and its
//! session-restore files, outside the sealed store (found by the browser test).

use leptos::prelude::*;
use nimo_shared::records::visit::{Visit, VisitTopic};
use nimo_shared::sync::DocumentId;
use nimo_shared::{VisitId, sorting};

use super::super::lock::LockButton;
use super::today_in_japan;
use crate::route::{Link, Route};
use crate::sync::{self, status, visits};

/// One case.
#[component]
pub fn VisitCasePage(id: DocumentId) -> impl IntoView {
    let header = move || {
        let Some(case) = visits::visit_case(id) else {
            return view! { <p>"この事例はこの端末にありません。"</p> }.into_any();
        };
        let doc_status = sync::signals()
            .doc_status
            .with(|map| map.get(&id).copied())
            .map(status::doc_label)
            .unwrap_or_default();
        view! {
            <h2 class="patient-code">{case.patient_code.to_string()}</h2>
            <p class="case-facts">
                {format!(
                    "{}（{}）　{}　依頼日 {}",
                    case.hospital,
                    case.hospital_municipality.name(),
                    case.status.label_ja(),
                    case.requested_on
                )}
            </p>
            <p class="doc-status">{doc_status}</p>
        }
        .into_any()
    };
    let visit_ids = move || {
        let mut ids: Vec<(nimo_shared::Date, VisitId)> = visits::visit_case(id)
            .map(|case| {
                case.visits
                    .iter()
                    .map(|(v, visit)| (visit.date, *v))
                    .collect()
            })
            .unwrap_or_default();
        sorting::sort(&mut ids);
        ids.reverse();
        ids.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    view! {
        <main class="page page-case">
            <div class="page-head">
                <Link route=Route::Visitor>"← 担当の事例"</Link>
                <LockButton/>
            </div>
            {header}
            <NewVisitForm id=id/>
            <For each=visit_ids key=|v| *v let:visit>
                <VisitPanel id=id visit=visit/>
            </For>
        </main>
    }
}

/// Starts a visit: date, the two visitors (the assigned pair), duration.
#[component]
fn NewVisitForm(id: DocumentId) -> impl IntoView {
    let date = RwSignal::new(today_in_japan().to_string());
    let minutes = RwSignal::new("60".to_owned());
    let error = RwSignal::new(None::<String>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let made = (|| -> Result<_, String> {
            let case = visits::visit_case(id).ok_or("事例が見つかりません。")?;
            let visit = Visit {
                date: date
                    .get_untracked()
                    .parse()
                    .map_err(|e: nimo_shared::ParseError| e.to_string())?,
                visitors: case.assigned.clone(),
                duration_minutes: minutes
                    .get_untracked()
                    .trim()
                    .parse()
                    .map_err(|_| "面会時間は分で入力してください。".to_owned())?,
                topics: Default::default(),
                notes: Default::default(),
                follow_up: None,
                next_visit_on: None,
            };
            visits::start_visit(id, visit)
        })();
        error.set(made.err());
    };
    let select = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <form class="form new-visit" autocomplete="off" on:submit=submit>
            <h3>"訪問を始める"</h3>
            <label>
                "訪問日"
                <input type="date" name="visit-date" required prop:value=date on:input=select(date)/>
            </label>
            <label>
                "面会時間（分）"
                <input type="number" name="duration" min="1" required prop:value=minutes on:input=select(minutes)/>
            </label>
            <p class="hint">"訪問者: 担当ペアの2人"</p>
            {move || error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <button type="submit">"訪問を記録する"</button>
        </form>
    }
}

/// One visit: topics, notes, follow-up, next visit.
#[component]
fn VisitPanel(id: DocumentId, visit: VisitId) -> impl IntoView {
    let current = move || visits::visit_case(id).and_then(|c| c.visits.get(&visit).cloned());
    let error = RwSignal::new(None::<String>);
    let report = move |result: Result<(), String>| error.set(result.err());
    let heading = move || {
        current()
            .map(|v| format!("{} の訪問（{}分）", v.date, v.duration_minutes))
            .unwrap_or_default()
    };
    let topics = VisitTopic::ALL
        .iter()
        .copied()
        .map(|topic| {
            let checked = move || current().is_some_and(|v| v.topics.contains(&topic));
            view! {
                <label class="topic">
                    <input
                        type="checkbox"
                        prop:checked=checked
                        on:change=move |ev| report(visits::set_topic(id, visit, topic, event_target_checked(&ev)))
                    />
                    {topic.label_ja()}
                </label>
            }
        })
        .collect_view();
    let notes = move || {
        current()
            .map(|v| v.notes.as_str().to_owned())
            .unwrap_or_default()
    };
    let follow_up = move || current().and_then(|v| v.follow_up).unwrap_or_default();
    let next = move || {
        current()
            .and_then(|v| v.next_visit_on)
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    view! {
        <section class="visit">
            <h3>{heading}</h3>
            <fieldset class="topics">
                <legend>"話した内容"</legend>
                {topics}
            </fieldset>
            <label>
                "記録"
                <textarea
                    class="visit-notes"
                    name="notes"
                    autocomplete="off"
                    rows="6"
                    prop:value=notes
                    on:input=move |ev| report(visits::update_notes(id, visit, &event_target_value(&ev)))
                ></textarea>
            </label>
            <label>
                "次回への申し送り"
                <textarea
                    name="follow-up"
                    autocomplete="off"
                    rows="2"
                    prop:value=follow_up
                    on:change=move |ev| {
                        let text = event_target_value(&ev);
                        let text = text.trim().to_owned();
                        report(visits::edit_visit(id, visit, |v| {
                            v.follow_up = (!text.is_empty()).then_some(text);
                        }))
                    }
                ></textarea>
            </label>
            <label>
                "次回訪問予定日"
                <input
                    type="date"
                    name="next-visit"
                    autocomplete="off"
                    prop:value=next
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        match value.parse() {
                            Ok(date) => report(visits::edit_visit(id, visit, |v| v.next_visit_on = Some(date))),
                            Err(_) if value.is_empty() => report(visits::edit_visit(id, visit, |v| v.next_visit_on = None)),
                            Err(_) => error.set(Some("日付を正しく入力してください。".to_owned())),
                        }
                    }
                />
            </label>
            {move || error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
        </section>
    }
}
