//! One short form for a person not on the roster: 氏名, ふりがな, 所属, 市町村. The main button
//! adds them as a walk-in and checks them in at once; the second only adds them to the roster
//! (a person who signed up in advance).

use leptos::prelude::*;
use nimo_shared::records::training::{Affiliation, Person};
use nimo_shared::sync::DocumentId;
use nimo_shared::{Municipality, Place};

use super::search::full_width_kana;
use super::undo::{Action, Undo};
use crate::sync;

/// The walk-in form.
#[component]
pub fn WalkInForm(id: DocumentId, undo: Undo) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kana = RwSignal::new(String::new());
    let affiliation = RwSignal::new(Affiliation::CommunityResident.code().to_owned());
    let residence = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let name_input = NodeRef::<leptos::html::Input>::new();

    let read_person = move || -> Result<Person, String> {
        let affiliation = Affiliation::ALL
            .iter()
            .copied()
            .find(|a| a.code() == affiliation.get_untracked())
            .unwrap_or(Affiliation::Other);
        let residence = match residence.get_untracked().as_str() {
            "" => None,
            text => Some(text.parse::<Place>().map_err(|e| e.to_string())?),
        };
        let person = Person {
            name: name.get_untracked().trim().to_owned(),
            // Half-width katakana typed on some keyboards is stored full width.
            kana: full_width_kana(kana.get_untracked().trim()),
            affiliation,
            residence,
            workplace: None,
            birth_year: None,
        };
        person.validate().map_err(|e| e.to_string())?;
        Ok(person)
    };
    let save = move |walk_in: bool| {
        let added = read_person().and_then(|person| {
            let who = person.name.clone();
            let id = if walk_in {
                sync::add_walk_in(id, person)?
            } else {
                sync::add_attendee(id, person)?
            };
            Ok((id, who))
        });
        match added {
            Ok((attendee_id, who)) => {
                let action = if walk_in {
                    Action::WalkInAdded(attendee_id)
                } else {
                    Action::Added(attendee_id)
                };
                undo.offer(action, &who);
                name.set(String::new());
                kana.set(String::new());
                residence.set(String::new());
                error.set(None);
                // Ready for the next person.
                if let Some(input) = name_input.get_untracked() {
                    let _ = input.focus();
                }
            }
            Err(message) => error.set(Some(message)),
        }
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        save(true);
    };
    let input = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <section id="walk-in" class="walk-in" aria-labelledby="walk-in-heading">
            <h3 id="walk-in-heading">"当日参加・名簿への追加"</h3>
            <form class="form" on:submit=submit>
                <label>
                    "氏名"
                    <input type="text" name="name" required autocomplete="off" node_ref=name_input prop:value=name on:input=input(name)/>
                </label>
                <label>
                    "ふりがな"
                    <input type="text" name="kana" required autocomplete="off" prop:value=kana on:input=input(kana)/>
                </label>
                <div class="row row-2">
                    <label>
                        "所属"
                        <select name="affiliation" prop:value=affiliation on:change=input(affiliation)>
                            {Affiliation::ALL
                                .iter()
                                .map(|a| view! { <option value=a.code()>{a.label_ja()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>
                        "お住まいの市町村"
                        <select name="residence" prop:value=residence on:change=input(residence)>
                            <option value="">"（未記入）"</option>
                            {Municipality::all()
                                .map(|m| view! { <option value=m.name()>{m.name()}</option> })
                                .collect_view()}
                            <option value="県外">"県外"</option>
                        </select>
                    </label>
                </div>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <div class="form-actions">
                    <button type="submit" class="primary">"当日参加として受付"</button>
                    <button type="button" class="secondary" on:click=move |_| save(false)>
                        "名簿に追加する"
                    </button>
                </div>
            </form>
        </section>
    }
}
