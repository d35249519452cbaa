//! The login page: ログイン名 and パスワード. The session is kept on the device (IndexedDB), so
//! a reload without signal still opens the trainer's pages.

use leptos::prelude::*;

use crate::route::{self, Route};
use crate::sync;

/// The login form; goes to the trainer page once logged in.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (name, secret) = (login.get_untracked(), password.get_untracked());
        wasm_bindgen_futures::spawn_local(async move {
            match sync::login(name, secret).await {
                Ok(()) => {
                    let next = match route::current().get_untracked() {
                        Route::Session(id) => Route::Session(id),
                        _ => Route::Trainer,
                    };
                    route::navigate(next);
                }
                Err(failure) => error.set(Some(failure.message_ja())),
            }
            busy.set(false);
        });
    };
    view! {
        <main class="page">
            <h2>"ログイン"</h2>
            <form class="form" on:submit=submit>
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
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <button type="submit" disabled=busy>"ログイン"</button>
            </form>
        </main>
    }
}
