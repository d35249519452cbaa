//! The trainer's page: the team's training sessions on this device by fiscal year (令和N年度,
//! April to March), and a form to create one.

use std::collections::BTreeSet;

use leptos::prelude::*;
use nimo_shared::records::training::{
    Audience, Host, TrainingKind, TrainingScope, TrainingSession,
};
use nimo_shared::sync::DocumentId;
use nimo_shared::{Date, FiscalYear, Municipality, TimeOfDay, Timestamp};

use crate::route::{self, Link, Route};
use crate::sync::{self, status};

/// The list of sessions and the creation form.
#[component]
pub fn TrainerPage() -> impl IntoView {
    let signals = sync::signals();
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
            <SessionList/>
            <NewSessionForm/>
        </main>
    }
}

/// The team's sessions on this device, newest first, under a heading per fiscal year, with a
/// choice of one year.
#[component]
fn SessionList() -> impl IntoView {
    // `None`: every year.
    let year = RwSignal::new(None::<u16>);
    let sessions = Memo::new(move |_| sync::training_sessions());
    let years = move || {
        // `extend`, not `collect`: no copy of the sort (nimo_shared::sorting).
        let mut distinct = BTreeSet::new();
        sessions.with(|rows| distinct.extend(rows.iter().map(|(_, s)| s.fiscal_year())));
        let mut years: Vec<FiscalYear> = distinct.into_iter().collect();
        years.reverse();
        years
    };
    let list = move || {
        let rows = sessions.get();
        if rows.is_empty() {
            return view! { <p class="empty">"この端末にはまだ研修がありません。"</p> }.into_any();
        }
        let chosen = year.get();
        let mut groups: Vec<(FiscalYear, Vec<(DocumentId, TrainingSession)>)> = Vec::new();
        for (id, session) in rows {
            let fiscal = session.fiscal_year();
            if chosen.is_some_and(|y| y != fiscal.reiwa_number()) {
                continue;
            }
            match groups.last_mut() {
                Some((last, members)) if *last == fiscal => members.push((id, session)),
                _ => groups.push((fiscal, vec![(id, session)])),
            }
        }
        groups
            .into_iter()
            .map(|(fiscal, members)| {
                let heading = format!("{}（{}件）", fiscal.japanese(), members.len());
                let rows = members
                    .into_iter()
                    .map(|(id, session)| view! { <SessionRow id=id session=session/> })
                    .collect_view();
                view! {
                    <section class="fiscal-year" data-testid="fiscal-year">
                        <h4>{heading}</h4>
                        <ul class="sessions" aria-label=format!("{}の研修", fiscal.japanese())>{rows}</ul>
                    </section>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section aria-labelledby="sessions-heading">
            <div class="list-head">
                <h3 id="sessions-heading">"研修の一覧"</h3>
                <label class="year-filter">
                    "年度"
                    <select
                        name="fiscal-year"
                        on:change=move |ev| year.set(event_target_value(&ev).parse().ok())
                    >
                        <option value="">"すべて"</option>
                        {move || {
                            years()
                                .into_iter()
                                .map(|y| {
                                    let selected = year.get() == Some(y.reiwa_number());
                                    view! {
                                        <option value=y.reiwa_number().to_string() selected=selected>
                                            {y.japanese()}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
            </div>
            {list}
        </section>
    }
}

/// One session in the list: date, course, venue, counts and whether the server has it.
#[component]
fn SessionRow(id: DocumentId, session: TrainingSession) -> impl IntoView {
    let signals = sync::signals();
    let state = move || {
        signals
            .doc_status
            .with(|m| m.get(&id).copied())
            .map(|s| view! { <span class=status::doc_class(s)>{status::doc_label(s)}</span> })
    };
    let refused = move || {
        signals.refused.with(|m| m.get(&id).cloned()).map(|reason| {
            view! {
                <span class="badge badge-refused" role="alert">
                    {format!("サーバーが受け付けませんでした: {reason}")}
                </span>
            }
        })
    };
    let people = session.active_attendees().count();
    let present = session
        .active_attendees()
        .filter(|(_, a)| a.checked_in_at.is_some())
        .count();
    view! {
        <li class="session-row" data-testid="session-row">
            <Link route=Route::Session(id) class="session-link">
                <span class="session-date">
                    {format!("{} {}〜{}", session.date, session.start, session.end)}
                </span>
                <span class="session-title">{session.course.label_ja()}</span>
                <span class="session-venue">
                    {format!("{}（{}）・{}", session.venue, session.venue_municipality, session.host.label_ja())}
                </span>
                <span class="session-count">{format!("登録 {people}人・出席 {present}人")}</span>
            </Link>
            {state}
            {refused}
        </li>
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
    let scope = RwSignal::new(TrainingScope::PerArea.code().to_owned());
    let host = RwSignal::new(HOST_PREFECTURE.to_owned());
    let co_host = RwSignal::new(String::new());
    let date = RwSignal::new(today_in_japan().to_string());
    let start = RwSignal::new("10:00".to_owned());
    let end = RwSignal::new("12:00".to_owned());
    let venue = RwSignal::new(String::new());
    let municipality = RwSignal::new(String::new());
    let trainers = RwSignal::new(String::new());
    let capacity = RwSignal::new("40".to_owned());
    let error = RwSignal::new(None::<String>);
    let me = move || {
        sync::signals()
            .session
            .get()
            .map(|s| s.user.display_name)
            .unwrap_or_default()
    };

    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let form = SessionForm {
            kind: kind.get_untracked(),
            audience: audience.get_untracked(),
            scope: scope.get_untracked(),
            host: host.get_untracked(),
            co_host: co_host.get_untracked(),
            date: date.get_untracked(),
            start: start.get_untracked(),
            end: end.get_untracked(),
            venue: venue.get_untracked(),
            municipality: municipality.get_untracked(),
            trainers: trainers.get_untracked(),
            capacity: capacity.get_untracked(),
        };
        match form.build(&me()).and_then(sync::create_session) {
            Ok(id) => {
                error.set(None);
                route::navigate(Route::Session(id));
            }
            Err(message) => error.set(Some(message)),
        }
    };
    let select = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    let is_kind = move |k: TrainingKind| kind.with(|code| code == k.code());
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
                <Show when=move || is_kind(TrainingKind::KokoroSupporter)>
                    <label>
                        "対象（心のサポーター養成研修のみ）"
                        <select name="audience" prop:value=audience on:change=select(audience)>
                            {Audience::ALL
                                .iter()
                                .map(|a| view! { <option value=a.code()>{a.label_ja()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                </Show>
                <Show when=move || is_kind(TrainingKind::CommunitySupportStaff)>
                    <label>
                        "区分（地域生活支援関係者研修のみ）"
                        <select name="scope" prop:value=scope on:change=select(scope)>
                            {TrainingScope::ALL
                                .iter()
                                .map(|s| view! { <option value=s.code()>{s.label_ja()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                </Show>
                <div class="row row-2">
                    <label>
                        "主催"
                        <select name="host" prop:value=host on:change=select(host)>
                            <option value=HOST_PREFECTURE>"県主催"</option>
                            <option value=HOST_CO_HOSTED>"市町村共催"</option>
                        </select>
                    </label>
                    <Show when=move || host.with(|h| h == HOST_CO_HOSTED)>
                        <label>
                            "共催の市町村"
                            <select name="co-host" prop:value=co_host on:change=select(co_host)>
                                <option value="">"会場と同じ"</option>
                                {Municipality::all()
                                    .map(|m| view! { <option value=m.name()>{m.name()}</option> })
                                    .collect_view()}
                            </select>
                        </label>
                    </Show>
                </div>
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
                        <input type="number" name="capacity" min="1" inputmode="numeric" required prop:value=capacity on:input=select(capacity)/>
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
                <p class="hint">{move || format!("講師: {}（あなた）", me())}</p>
                <label>
                    "ほかの講師（「、」で区切る）"
                    <input type="text" name="trainers" prop:value=trainers on:input=select(trainers)/>
                </label>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <button type="submit">"作成する"</button>
            </form>
        </section>
    }
}

const HOST_PREFECTURE: &str = "prefecture";
const HOST_CO_HOSTED: &str = "co_hosted";

/// The creation form's fields as typed.
#[derive(Debug, Clone, Default)]
struct SessionForm {
    kind: String,
    audience: String,
    scope: String,
    host: String,
    /// Empty: the venue's 市町村.
    co_host: String,
    date: String,
    start: String,
    end: String,
    venue: String,
    municipality: String,
    /// Names separated by 、 or commas.
    trainers: String,
    capacity: String,
}

impl SessionForm {
    /// The session the form describes, with `me` among the trainers (the record's own rules
    /// are checked when it is created).
    fn build(&self, me: &str) -> Result<TrainingSession, String> {
        let course = TrainingKind::ALL
            .iter()
            .copied()
            .find(|k| k.code() == self.kind)
            .ok_or("研修の種類を選んでください。")?;
        // The audience applies to 心のサポーター養成研修 only, the scope to 地域生活支援関係者研修.
        let audience = Audience::ALL
            .iter()
            .copied()
            .find(|a| a.code() == self.audience)
            .filter(|_| course == TrainingKind::KokoroSupporter);
        let scope = TrainingScope::ALL
            .iter()
            .copied()
            .find(|s| s.code() == self.scope)
            .filter(|_| course == TrainingKind::CommunitySupportStaff);
        if self.municipality.is_empty() {
            return Err("会場の市町村を選んでください。".to_owned());
        }
        let venue_municipality =
            Municipality::parse(&self.municipality).map_err(|e| e.to_string())?;
        let host = if self.host == HOST_CO_HOSTED {
            let co_host = if self.co_host.is_empty() {
                venue_municipality
            } else {
                Municipality::parse(&self.co_host).map_err(|e| e.to_string())?
            };
            Host::CoHosted(co_host)
        } else {
            Host::Prefecture
        };
        let mut trainers = BTreeSet::new();
        trainers.extend(
            std::iter::once(me)
                .chain(self.trainers.split(['、', ',', '，', '\n']))
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
        );
        Ok(TrainingSession {
            course,
            audience,
            scope,
            host,
            date: self
                .date
                .parse()
                .map_err(|e: nimo_shared::ParseError| e.to_string())?,
            start: self.start.parse::<TimeOfDay>().map_err(|e| e.to_string())?,
            end: self.end.parse::<TimeOfDay>().map_err(|e| e.to_string())?,
            venue: self.venue.trim().to_owned(),
            venue_municipality,
            trainers,
            capacity: self
                .capacity
                .trim()
                .parse()
                .map_err(|_| "定員は数字で入力してください。".to_owned())?,
            roster: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SessionForm {
        SessionForm {
            kind: TrainingKind::KokoroSupporter.code().to_owned(),
            audience: Audience::Community.code().to_owned(),
            scope: TrainingScope::PerArea.code().to_owned(),
            host: HOST_PREFECTURE.to_owned(),
            date: "2025-06-01".to_owned(),
            start: "10:00".to_owned(),
            end: "12:00".to_owned(),
            venue: "女川町まちなか交流館".to_owned(),
            municipality: "女川町".to_owned(),
            capacity: "40".to_owned(),
            ..SessionForm::default()
        }
    }

    #[test]
    fn the_logged_in_trainer_and_the_names_added_are_the_trainers() {
        let session = SessionForm {
            trainers: "宮城 太郎、 仙台 次郎,宮城 太郎".to_owned(),
            ..form()
        }
        .build("講師 花子")
        .expect("a valid form");
        let trainers: Vec<&str> = session.trainers.iter().map(String::as_str).collect();
        assert_eq!(trainers, ["仙台 次郎", "宮城 太郎", "講師 花子"]);
        assert_eq!(
            session.scope, None,
            "a scope left over from another course is dropped"
        );
    }

    #[test]
    fn a_co_hosted_session_names_its_municipality_or_the_venue_s() {
        let venue = form().municipality.parse().expect("known");
        let same = SessionForm {
            host: HOST_CO_HOSTED.to_owned(),
            ..form()
        };
        assert_eq!(
            same.build("講師").map(|s| s.host),
            Ok(Host::CoHosted(venue))
        );
        let other = SessionForm {
            co_host: "石巻市".to_owned(),
            ..same
        };
        assert_eq!(
            other.build("講師").map(|s| s.host),
            Ok(Host::CoHosted("石巻市".parse().expect("known")))
        );
        assert_eq!(form().build("講師").map(|s| s.host), Ok(Host::Prefecture));
    }

    #[test]
    fn a_missing_venue_municipality_is_asked_for() {
        let form = SessionForm {
            municipality: String::new(),
            ..form()
        };
        assert_eq!(
            form.build("講師").map(|_| ()),
            Err("会場の市町村を選んでください。".to_owned())
        );
    }
}
