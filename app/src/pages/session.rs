//! One training session: its details, its roster with check-in, and a form to add a person.

use leptos::prelude::*;
use nimo_shared::records::training::{Affiliation, Person};
use nimo_shared::sync::DocumentId;

use crate::route::{Link, Route};
use crate::sync::{self, status};

/// The session page.
#[component]
pub fn SessionPage(id: DocumentId) -> impl IntoView {
    let signals = sync::signals();
    let error = RwSignal::new(None::<String>);
    let body = move || {
        let Some(session) = sync::training_session(id) else {
            return view! { <p class="empty">"この研修はこの端末にありません。"</p> }.into_any();
        };
        let state = signals.doc_status.with(|m| m.get(&id).copied());
        let rows = session
            .active_attendees()
            .map(|(attendee_id, attendee)| {
                let attendee_id = *attendee_id;
                let who = attendee.person.name.clone();
                let checked = attendee.checked_in_at.map(|at| {
                    let ms = u64::try_from(at.unix_millis()).unwrap_or_default();
                    format!("{} 受付済み", status::hh_mm_in_japan(ms))
                });
                view! {
                    <li class="attendee">
                        <span class="attendee-name">{attendee.person.name.clone()}</span>
                        <span class="attendee-kana">{attendee.person.kana.clone()}</span>
                        {match checked {
                            Some(text) => view! { <span class="checked-in">{text}</span> }.into_any(),
                            None => view! {
                                <button
                                    type="button"
                                    class="check-in"
                                    aria-label=format!("{who} を受付")
                                    on:click=move |_| {
                                        error.set(sync::check_in(id, attendee_id).err());
                                    }
                                >
                                    "受付"
                                </button>
                            }
                            .into_any(),
                        }}
                    </li>
                }
            })
            .collect_view();
        let checked_in = session
            .active_attendees()
            .filter(|(_, a)| a.checked_in_at.is_some())
            .count();
        let total = session.active_attendees().count();
        view! {
            <h2>{session.course.label_ja()}</h2>
            <p class="details">
                {format!(
                    "{} {}〜{} {}（{}）",
                    session.date, session.start, session.end, session.venue, session.venue_municipality
                )}
            </p>
            {state.map(|s| view! { <p class=status::doc_class(s) aria-label="記録の状態">{status::doc_label(s)}</p> })}
            <h3>{format!("名簿（受付 {checked_in} / {total} 人）")}</h3>
            <ul class="roster" aria-label="名簿">{rows}</ul>
        }
        .into_any()
    };
    view! {
        <main class="page">
            <p><Link route=Route::Trainer>"← 研修の一覧"</Link></p>
            {body}
            {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            <AddAttendeeForm id=id/>
        </main>
    }
}

/// Adds a person (氏名, ふりがな, 所属) to the roster.
#[component]
fn AddAttendeeForm(id: DocumentId) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kana = RwSignal::new(String::new());
    let affiliation = RwSignal::new(Affiliation::CommunityResident.code().to_owned());
    let error = RwSignal::new(None::<String>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let affiliation = Affiliation::ALL
            .iter()
            .copied()
            .find(|a| a.code() == affiliation.get_untracked())
            .unwrap_or(Affiliation::Other);
        let person = Person {
            name: name.get_untracked().trim().to_owned(),
            kana: kana.get_untracked().trim().to_owned(),
            affiliation,
            residence: None,
            workplace: None,
            birth_year: None,
        };
        match sync::add_attendee(id, person) {
            Ok(_) => {
                name.set(String::new());
                kana.set(String::new());
                error.set(None);
            }
            Err(message) => error.set(Some(message)),
        }
    };
    let input = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <section aria-labelledby="add-attendee-heading">
            <h3 id="add-attendee-heading">"参加者を追加"</h3>
            <form class="form" on:submit=submit>
                <label>
                    "氏名"
                    <input type="text" name="name" required prop:value=name on:input=input(name)/>
                </label>
                <label>
                    "ふりがな"
                    <input type="text" name="kana" required prop:value=kana on:input=input(kana)/>
                </label>
                <label>
                    "所属"
                    <select name="affiliation" prop:value=affiliation on:change=input(affiliation)>
                        {Affiliation::ALL
                            .iter()
                            .map(|a| view! { <option value=a.code()>{a.label_ja()}</option> })
                            .collect_view()}
                    </select>
                </label>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <button type="submit">"追加する"</button>
            </form>
        </section>
    }
}
