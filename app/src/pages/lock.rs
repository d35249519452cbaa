//! The PIN pages of visitor and office devices: choosing the PIN after the first login, and
//! the lock screen (after an app start, an idle spell or 「ロック」). Both work offline: the key
//! is unwrapped on the device.

use leptos::prelude::*;

use crate::sync::lock::{self, LockState};

/// The page shown instead of any other while the device is not open.
#[component]
pub fn LockPage(state: LockState) -> impl IntoView {
    let pin = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let setting = state == LockState::NeedsPin;
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let entered = pin.get_untracked();
        if setting && entered != again.get_untracked() {
            error.set(Some("2つのPINが一致しません。".to_owned()));
            return;
        }
        busy.set(true);
        error.set(None);
        wasm_bindgen_futures::spawn_local(async move {
            let outcome = if setting {
                lock::set_pin(entered).await
            } else {
                lock::unlock(entered).await
            };
            if let Err(message) = outcome {
                error.set(Some(message));
            }
            pin.set(String::new());
            again.set(String::new());
            busy.set(false);
        });
    };
    if state == LockState::Locking {
        return view! { <main class="page"><p role="status">"ロックしています…"</p></main> }
            .into_any();
    }
    view! {
        <main class="page lock-page">
            <h2>{if setting { "この端末のPINを設定" } else { "ロック中" }}</h2>
            <p>
                {if setting {
                    "訪問記録はこの端末の中で暗号化して保存されます。ロックを解除するPIN（6文字以上）を決めてください。PINを忘れると、未送信の記録を読めなくなります。"
                } else {
                    "PINを入力してロックを解除してください。"
                }}
            </p>
            <form class="form" on:submit=submit>
                <label>
                    "PIN"
                    <input
                        type="password"
                        name="pin"
                        inputmode="numeric"
                        autocomplete="off"
                        required
                        prop:value=pin
                        on:input=move |ev| pin.set(event_target_value(&ev))
                    />
                </label>
                {setting.then(|| view! {
                    <label>
                        "PIN（確認）"
                        <input
                            type="password"
                            name="pin-again"
                            inputmode="numeric"
                            autocomplete="off"
                            required
                            prop:value=again
                            on:input=move |ev| again.set(event_target_value(&ev))
                        />
                    </label>
                })}
                {move || error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                {move || busy.get().then(|| view! { <p role="status">"確認中…"</p> })}
                <button type="submit" disabled=busy>{if setting { "設定する" } else { "解除" }}</button>
            </form>
        </main>
    }
    .into_any()
}

/// The 「ロック」 button of the visitor's pages.
#[component]
pub fn LockButton() -> impl IntoView {
    view! {
        <button type="button" class="button button-lock" on:click=move |_| lock::lock_now()>
            "ロック"
        </button>
    }
}
