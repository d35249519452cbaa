//! The visitor's pages (入院者訪問支援員): the cases assigned to them, and a case with its
//! visits ([`case`]). Everything reads the documents on this device, so it works on a ward with
//! no signal; only choosing a partner for a new case needs the server.

pub mod case;

use leptos::prelude::*;
use nimo_shared::records::visit::{CaseStatus, Eligibility, VisitCase, VisitorPair};
use nimo_shared::{Date, Municipality, Timestamp};

use super::lock::LockButton;
use crate::route::{self, Link, Route};
use crate::sync::{self, visits};

pub(super) fn today_in_japan() -> Date {
    Timestamp::from_unix_millis(js_sys::Date::now() as i64).date_in_japan()
}

/// `/visitor`: my assigned cases, and a form for a new one.
#[component]
pub fn VisitorPage() -> impl IntoView {
    let cases = move || {
        let cases = visits::visit_cases();
        if cases.is_empty() {
            return view! { <p class="empty">"担当の事例はまだありません。"</p> }.into_any();
        }
        view! {
            <ul class="case-list">
                {cases
                    .into_iter()
                    .map(|(id, case)| {
                        let summary = format!(
                            "{}　{}　訪問{}回",
                            case.hospital,
                            case.status.label_ja(),
                            case.visits.len()
                        );
                        view! {
                            <li class="case-item">
                                <Link route=Route::VisitCase(id)>
                                    <strong class="patient-code">{case.patient_code.to_string()}</strong>
                                    " "
                                    <span>{summary}</span>
                                </Link>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <main class="page page-visitor">
            <div class="page-head">
                <h2>"担当の事例"</h2>
                <LockButton/>
            </div>
            {cases}
            <NewCaseForm/>
        </main>
    }
}

/// The form that opens a new case for me and a partner.
#[component]
fn NewCaseForm() -> impl IntoView {
    let open = RwSignal::new(false);
    let code = RwSignal::new(String::new());
    let hospital = RwSignal::new(String::new());
    let municipality = RwSignal::new(String::new());
    let eligibility = RwSignal::new(Eligibility::MayorConsentMedicalProtection.code().to_owned());
    let requested = RwSignal::new(today_in_japan().to_string());
    let partner = RwSignal::new(String::new());
    let i_am_professional = RwSignal::new("yes".to_owned());
    let colleagues = RwSignal::new(Vec::<visits::Colleague>::new());
    let error = RwSignal::new(None::<String>);
    let show = move |_| {
        open.set(true);
        wasm_bindgen_futures::spawn_local(async move {
            match visits::colleagues().await {
                Ok(list) => colleagues.set(list),
                Err(failure) => error.set(Some(format!(
                    "ペアの一覧を取得できません。電波のある場所で作成してください。（{}）",
                    failure.message_ja()
                ))),
            }
        });
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let made = (|| -> Result<_, String> {
            let me = visits::me().ok_or("ログインしてください。")?;
            let partner = partner
                .get_untracked()
                .parse()
                .map_err(|_| "ペアを選んでください。".to_owned())?;
            let assigned = if i_am_professional.get_untracked() == "yes" {
                VisitorPair {
                    professional: me,
                    non_professional: partner,
                }
            } else {
                VisitorPair {
                    professional: partner,
                    non_professional: me,
                }
            };
            let case = VisitCase {
                patient_code: code
                    .get_untracked()
                    .parse()
                    .map_err(|e: nimo_shared::ValidationError| e.to_string())?,
                hospital: hospital.get_untracked().trim().to_owned(),
                hospital_municipality: Municipality::parse(&municipality.get_untracked())
                    .map_err(|e| e.to_string())?,
                eligibility: Eligibility::ALL
                    .iter()
                    .copied()
                    .find(|e| e.code() == eligibility.get_untracked())
                    .ok_or("対象の区分を選んでください。")?,
                requested_on: requested
                    .get_untracked()
                    .parse()
                    .map_err(|e: nimo_shared::ParseError| e.to_string())?,
                assigned,
                status: CaseStatus::Open,
                discharged_on: None,
                visits: Default::default(),
            };
            visits::create_case(case)
        })();
        match made {
            Ok(id) => route::navigate(Route::VisitCase(id)),
            Err(message) => error.set(Some(message)),
        }
    };
    let select = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    move || {
        if !open.get() {
            return view! {
                <button type="button" class="button" on:click=show>"新しい事例"</button>
            }
            .into_any();
        }
        let me = sync::signals()
            .session
            .get_untracked()
            .map(|s| s.user.id)
            .unwrap_or_default();
        view! {
            <form class="form new-case" autocomplete="off" on:submit=submit>
                <h3>"新しい事例"</h3>
                <label>
                    "患者コード（氏名は書かないでください）"
                    <input type="text" name="patient-code" required prop:value=code on:input=select(code)/>
                </label>
                <label>
                    "病院名"
                    <input type="text" name="hospital" required prop:value=hospital on:input=select(hospital)/>
                </label>
                <label>
                    "病院の市町村"
                    <select name="municipality" required prop:value=municipality on:change=select(municipality)>
                        <option value="">"選択してください"</option>
                        {Municipality::all()
                            .map(|m| view! { <option value=m.name()>{m.name()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "対象"
                    <select name="eligibility" prop:value=eligibility on:change=select(eligibility)>
                        {Eligibility::ALL
                            .iter()
                            .map(|e| view! { <option value=e.code()>{e.label_ja()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "依頼日"
                    <input type="date" name="requested" required prop:value=requested on:input=select(requested)/>
                </label>
                <label>
                    "ペア"
                    <select name="partner" required prop:value=partner on:change=select(partner)>
                        <option value="">"選択してください"</option>
                        {move || colleagues
                            .get()
                            .into_iter()
                            .filter(|c| c.id != me)
                            .map(|c| view! { <option value=c.id.clone()>{c.display_name.clone()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "あなたの立場"
                    <select name="my-role" prop:value=i_am_professional on:change=select(i_am_professional)>
                        <option value="yes">"専門職"</option>
                        <option value="no">"専門職以外"</option>
                    </select>
                </label>
                {move || error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button type="submit">"作成する"</button>
            </form>
        }
        .into_any()
    }
}
