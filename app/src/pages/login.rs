//! The login page: ログイン名 and パスワード, then for visitor, office and admin accounts the
//! 6-digit code of an authenticator app (enrolled here on the first login, with its QR code and
//! one-time recovery codes). The session is kept on the device (IndexedDB), so a reload without
//! signal still opens the person's pages.

use leptos::prelude::*;

use crate::route::{self, Route};
use crate::sync::{self, Enrolment, LoginStep};

/// Where the form stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Password,
    SecondFactor {
        challenge: String,
        message: String,
        enrolment: Option<Enrolment>,
    },
}

thread_local! {
    /// Recovery codes of an enrolment just confirmed, shown once before anything else (the
    /// session already started, so the login page itself is gone by then).
    static RECOVERY_CODES: ArcRwSignal<Option<Vec<String>>> = ArcRwSignal::new(None);
}

/// Whether recovery codes wait to be shown.
pub fn recovery_codes_pending() -> bool {
    RECOVERY_CODES.with(|c| c.with(Option::is_some))
}

/// The one-time display of the recovery codes.
#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    let codes = RECOVERY_CODES.with(|c| c.get()).unwrap_or_default();
    view! {
        <main class="page">
            <h2>"回復コード"</h2>
            <p>"認証アプリを使えなくなったときのためのコードです。紙に書いて安全な場所に保管してください。この画面は一度しか表示されません。"</p>
            <ul class="recovery-codes">
                {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
            </ul>
            <button type="button" class="button" on:click=move |_| RECOVERY_CODES.with(|c| c.set(None))>
                "保管しました"
            </button>
        </main>
    }
}

/// The page a logged-in person starts on.
fn home() -> Route {
    let role = sync::signals()
        .session
        .get_untracked()
        .map(|s| s.user.role)
        .unwrap_or_default();
    match (route::current().get_untracked(), role.as_str()) {
        (Route::Session(id), _) => Route::Session(id),
        (Route::VisitCase(id), "visitor") => Route::VisitCase(id),
        (_, "visitor") => Route::Visitor,
        (_, "office" | "admin") => Route::Office,
        _ => Route::Trainer,
    }
}

/// The login form; goes to the person's page once logged in.
#[component]
pub fn LoginPage() -> impl IntoView {
    // A device keeps one person's session (and records) until they log out: when it holds one
    // (say, expired on the server), that person is the one expected to log in again.
    let holder = sync::signals()
        .session
        .get_untracked()
        .map(|kept| kept.user);
    let holder_line = holder.as_ref().map(sync::UserInfo::as_device_holder);
    let login = RwSignal::new(holder.map(|user| user.login).unwrap_or_default());
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let step = RwSignal::new(Step::Password);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // The device's person left without logging out: someone else takes it over, once nothing
    // of theirs would be lost (sync::hand_over checks).
    let hand_over = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(reason) = sync::hand_over().await {
                error.set(Some(reason));
                busy.set(false);
            }
        });
    };
    let submit_password = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (name, secret) = (login.get_untracked(), password.get_untracked());
        wasm_bindgen_futures::spawn_local(async move {
            match sync::login(name, secret).await {
                Ok(LoginStep::Done) => route::navigate(home()),
                Ok(LoginStep::SecondFactor {
                    challenge,
                    enrol,
                    message,
                }) => {
                    let enrolment = if enrol {
                        match sync::enrol_second_factor(challenge.clone()).await {
                            Ok(enrolment) => Some(enrolment),
                            Err(failure) => {
                                error.set(Some(failure.message_ja()));
                                busy.set(false);
                                return;
                            }
                        }
                    } else {
                        None
                    };
                    password.set(String::new());
                    step.set(Step::SecondFactor {
                        challenge,
                        message,
                        enrolment,
                    });
                }
                Err(failure) => error.set(Some(failure.message_ja())),
            }
            busy.set(false);
        });
    };
    let submit_code = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Step::SecondFactor { challenge, .. } = step.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let entered = code.get_untracked();
        wasm_bindgen_futures::spawn_local(async move {
            match sync::finish_second_factor(challenge, entered).await {
                Ok(codes) => {
                    if !codes.is_empty() {
                        RECOVERY_CODES.with(|c| c.set(Some(codes)));
                    }
                    route::navigate(home());
                }
                Err(sync::net::NetError::Status(401, body)) if body.contains("login_expired") => {
                    step.set(Step::Password);
                    error.set(Some(
                        "時間切れです。もう一度ログインしてください。".to_owned(),
                    ));
                }
                Err(sync::net::NetError::Status(401, _)) => {
                    error.set(Some("確認コードが違います。".to_owned()));
                }
                Err(failure) => error.set(Some(failure.message_ja())),
            }
            code.set(String::new());
            busy.set(false);
        });
    };
    let error_line = move || {
        error
            .get()
            .map(|message| view! { <p class="error" role="alert">{message}</p> })
    };
    move || {
        match step.get() {
        Step::Password => view! {
            <main class="page">
                <h2>"ログイン"</h2>
                {holder_line.clone().map(|line| view! {
                    <div class="login-holder">
                        <p>{line}</p>
                        <button type="button" class="button button-secondary" disabled=busy on:click=hand_over>
                            "別の人が使う（この端末の記録を消す）"
                        </button>
                    </div>
                })}
                <form class="form" on:submit=submit_password>
                    <label>
                        "ログイン名"
                        <input
                            type="text"
                            name="login"
                            autocomplete="username"
                            required
                            prop:value=login
                            on:input=move |ev| login.set(event_target_value(&ev))
                        />
                    </label>
                    <label>
                        "パスワード"
                        <input
                            type="password"
                            name="password"
                            autocomplete="current-password"
                            required
                            prop:value=password
                            on:input=move |ev| password.set(event_target_value(&ev))
                        />
                    </label>
                    {error_line}
                    <button type="submit" disabled=busy>"ログイン"</button>
                </form>
            </main>
        }
        .into_any(),
        Step::SecondFactor {
            message, enrolment, ..
        } => view! {
            <main class="page">
                <h2>"二段階認証"</h2>
                <p>{message}</p>
                {enrolment.map(|e| {
                    let src = format!("data:image/svg+xml;charset=utf-8,{}", js_sys::encode_uri_component(&e.qr_svg));
                    view! {
                        <div class="mfa-enrol">
                            <img class="mfa-qr" src=src alt="認証アプリ用のQRコード" width="200" height="200"/>
                            <p>"読み取れない場合はこのキーを入力してください: "<code class="mfa-secret">{e.secret}</code></p>
                        </div>
                    }
                })}
                <form class="form" on:submit=submit_code>
                    <label>
                        "確認コード"
                        <input
                            type="text"
                            name="code"
                            inputmode="numeric"
                            autocomplete="one-time-code"
                            required
                            prop:value=code
                            on:input=move |ev| code.set(event_target_value(&ev))
                        />
                    </label>
                    {error_line}
                    <button type="submit" disabled=busy>"確認"</button>
                </form>
            </main>
        }
        .into_any(),
    }
    }
}
