//! The trainer's page: the team's training sessions on this device, and a form to create one.

use std::collections::BTreeSet;

use leptos::prelude::*;
use nimo_shared::records::training::{
    Audience, Host, TrainingKind, TrainingScope, TrainingSession,
};
use nimo_shared::{Date, Municipality, TimeOfDay, Timestamp};

use crate::route::{self, Link, Route};
use crate::sync::{self, status};

/// The list of sessions and the creation form.
#[component]
pub fn TrainerPage() -> impl IntoView {
    let signals = sync::signals();
    let sessions = move || {
        let statuses = signals.doc_status.get();
        let rows = sync::training_sessions();
        if rows.is_empty() {
            return view! { <p class="empty">"この端末にはまだ研修がありません。"</p> }.into_any();
        }
        view! {
            <ul class="sessions" aria-label="研修の一覧">
                {rows
                    .into_iter()
                    .map(|(id, session)| {
                        let state = statuses.get(&id).copied();
                        let refused = signals.refused.with(|m| m.get(&id).cloned());
                        let people = session.active_attendees().count();
                        view! {
                            <li class="session-row">
                                <Link route=Route::Session(id) class="session-link">
                                    <span class="session-date">{session.date.to_string()}</span>
                                    <span class="session-title">{session.course.label_ja()}</span>
                                    <span class="session-venue">
                                        {format!("{}（{}）", session.venue, session.venue_municipality)}
                                    </span>
                                    <span class="session-count">{format!("{people}人")}</span>
                                </Link>
                                {state.map(|s| view! { <span class=status::doc_class(s)>{status::doc_label(s)}</span> })}
                                {refused.map(|reason| view! {
                                    <span class="badge badge-refused" role="alert">
                                        {format!("サーバーが受け付けませんでした: {reason}")}
                                    </span>
                                })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let name = move || {
        signals
            .session
            .get()
            .map(|s| format!("{} さん", s.user.display_name))
    };
    view! {
        <main class="page">
            <h2>"研修の受付"</h2>
            <p class="who">{name}</p>
            <section aria-labelledby="sessions-heading">
                <h3 id="sessions-heading">"研修の一覧"</h3>
                {sessions}
            </section>
            <NewSessionForm/>
        </main>
    }
}

fn today_in_japan() -> Date {
    Timestamp::from_unix_millis(js_sys::Date::now() as i64).date_in_japan()
}

/// The form that creates a session.
#[component]
fn NewSessionForm() -> impl IntoView {
    let kind = RwSignal::new(TrainingKind::KokoroSupporter.code().to_owned());
    let audience = RwSignal::new(Audience::Community.code().to_owned());
    let scope = RwSignal::new(String::new());
    let date = RwSignal::new(today_in_japan().to_string());
    let start = RwSignal::new("10:00".to_owned());
    let end = RwSignal::new("12:00".to_owned());
    let venue = RwSignal::new(String::new());
    let municipality = RwSignal::new(String::new());
    let capacity = RwSignal::new("40".to_owned());
    let error = RwSignal::new(None::<String>);

    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match build(
            &kind.get_untracked(),
            &audience.get_untracked(),
            &scope.get_untracked(),
            &date.get_untracked(),
            (&start.get_untracked(), &end.get_untracked()),
            &venue.get_untracked(),
            &municipality.get_untracked(),
            &capacity.get_untracked(),
        )
        .and_then(sync::create_session)
        {
            Ok(id) => {
                error.set(None);
                route::navigate(Route::Session(id));
            }
            Err(message) => error.set(Some(message)),
        }
    };
    let select = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <section aria-labelledby="new-session-heading">
            <h3 id="new-session-heading">"研修を作成"</h3>
            <form class="form" on:submit=submit>
                <label>
                    "研修の種類"
                    <select name="course" prop:value=kind on:change=select(kind)>
                        {TrainingKind::ALL
                            .iter()
                            .map(|k| view! { <option value=k.code()>{k.label_ja()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "対象（心のサポーター養成研修のみ）"
                    <select name="audience" prop:value=audience on:change=select(audience)>
                        <option value="">"（なし）"</option>
                        {Audience::ALL
                            .iter()
                            .map(|a| view! { <option value=a.code()>{a.label_ja()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "区分（地域生活支援関係者研修のみ）"
                    <select name="scope" prop:value=scope on:change=select(scope)>
                        <option value="">"（なし）"</option>
                        {TrainingScope::ALL
                            .iter()
                            .map(|s| view! { <option value=s.code()>{s.label_ja()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "日付"
                    <input type="date" name="date" required prop:value=date on:input=select(date)/>
                </label>
                <div class="row">
                    <label>
                        "開始"
                        <input type="time" name="start" required prop:value=start on:input=select(start)/>
                    </label>
                    <label>
                        "終了"
                        <input type="time" name="end" required prop:value=end on:input=select(end)/>
                    </label>
                    <label>
                        "定員"
                        <input type="number" name="capacity" min="1" required prop:value=capacity on:input=select(capacity)/>
                    </label>
                </div>
                <label>
                    "会場"
                    <input type="text" name="venue" required prop:value=venue on:input=select(venue)/>
                </label>
                <label>
                    "会場の市町村"
                    <select name="municipality" required prop:value=municipality on:change=select(municipality)>
                        <option value="">"選んでください"</option>
                        {Municipality::all()
                            .map(|m| view! { <option value=m.name()>{m.name()}</option> })
                            .collect_view()}
                    </select>
                </label>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <button type="submit">"作成する"</button>
            </form>
        </section>
    }
}

/// Reads the form into a session (the record's own rules are checked when it is created).
#[allow(clippy::too_many_arguments, reason = "one argument per form field")]
fn build(
    kind: &str,
    audience: &str,
    scope: &str,
    date: &str,
    (start, end): (&str, &str),
    venue: &str,
    municipality: &str,
    capacity: &str,
) -> Result<TrainingSession, String> {
    let course = TrainingKind::ALL
        .iter()
        .copied()
        .find(|k| k.code() == kind)
        .ok_or("研修の種類を選んでください。")?;
    let audience = Audience::ALL.iter().copied().find(|a| a.code() == audience);
    let scope = TrainingScope::ALL
        .iter()
        .copied()
        .find(|s| s.code() == scope);
    // The audience applies to 心のサポーター養成研修 only; drop a leftover choice.
    let audience = audience.filter(|_| course == TrainingKind::KokoroSupporter);
    let scope = scope.filter(|_| course == TrainingKind::CommunitySupportStaff);
    if municipality.is_empty() {
        return Err("会場の市町村を選んでください。".to_owned());
    }
    let trainer = sync::signals()
        .session
        .get_untracked()
        .map(|s| s.user.display_name)
        .into_iter()
        .collect::<BTreeSet<_>>();
    Ok(TrainingSession {
        course,
        audience,
        scope,
        host: Host::Prefecture,
        date: date
            .parse()
            .map_err(|e: nimo_shared::ParseError| e.to_string())?,
        start: start.parse::<TimeOfDay>().map_err(|e| e.to_string())?,
        end: end.parse::<TimeOfDay>().map_err(|e| e.to_string())?,
        venue: venue.trim().to_owned(),
        venue_municipality: Municipality::parse(municipality).map_err(|e| e.to_string())?,
        trainers: trainer,
        capacity: capacity
            .trim()
            .parse()
            .map_err(|_| "定員は数字で入力してください。".to_owned())?,
        roster: Default::default(),
    })
}
