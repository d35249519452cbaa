//! The app's pages and the frame around them (masthead with the sync status).

mod lock;
mod login;
mod office;
mod session;
mod start;
mod storage_check;
mod trainer;
mod visitor;

use leptos::prelude::*;

use crate::pwa;
use crate::route::{self, Link, Route};
use crate::sync::{self, status};

/// The root component: masthead, then the page of the current route.
#[component]
pub fn App() -> impl IntoView {
    route::listen_to_history();
    wasm_bindgen_futures::spawn_local(sync::boot());
    let signals = sync::signals();
    let page = move || {
        let route = route::current().get();
        // Read in the guards below, not before the match: the pages above them (the start page,
        // the storage check) must not be built again when the session or readiness changes
        // (the storage check then ran its suite twice, on the same databases).
        let logged_in = || signals.session.with(Option::is_some);
        match route {
            Route::Start => start::StartPage().into_any(),
            Route::StorageCheck => storage_check::StorageCheck().into_any(),
            Route::NotFound => {
                view! { <main class="page"><p>"ページが見つかりません。"</p></main> }.into_any()
            }
            _ if !signals.ready.get() => {
                view! { <main class="page"><p>"読み込み中…"</p></main> }.into_any()
            }
            Route::Login => login::LoginPage().into_any(),
            Route::Trainer
            | Route::Session(_)
            | Route::Office
            | Route::OfficeReconcile
            | Route::Visitor
            | Route::VisitCase(_)
                if !logged_in() =>
            {
                login::LoginPage().into_any()
            }
            _ if login::recovery_codes_pending() => login::RecoveryCodesPage().into_any(),
            // A sealing device shows nothing but the PIN page until it is unlocked.
            _ if sync::lock::lock_state().get() != sync::lock::LockState::Open => {
                lock::LockPage(lock::LockPageProps {
                    state: sync::lock::lock_state().get(),
                })
                .into_any()
            }
            Route::Office => office::OfficePage().into_any(),
            Route::OfficeReconcile => office::ReconcilePage().into_any(),
            Route::Visitor => visitor::VisitorPage().into_any(),
            Route::VisitCase(id) => {
                visitor::case::VisitCasePage(visitor::case::VisitCasePageProps { id }).into_any()
            }
            Route::Trainer => trainer::TrainerPage().into_any(),
            Route::Session(id) => session::SessionPage(session::SessionPageProps { id }).into_any(),
        }
    };
    view! {
        <header class="masthead">
            <h1><Link route=Route::Start>"nimo"</Link></h1>
            <p class="tagline">"にも包括 現場記録"</p>
            <SyncStatusLine/>
        </header>
        <StorageAlert/>
        <DeviceNotices/>
        {page}
    }
}

/// The global sync status and the logout button, shown once someone is logged in.
#[component]
fn SyncStatusLine() -> impl IntoView {
    let signals = sync::signals();
    let error = RwSignal::new(None::<String>);
    // Logging out may wait some seconds for the server to confirm the last changes.
    let busy = RwSignal::new(false);
    let logout = move |_| {
        busy.set(true);
        error.set(None);
        wasm_bindgen_futures::spawn_local(async move {
            error.set(sync::logout().await.err());
            busy.set(false);
        });
    };
    // The line is built once per login and only its text follows the status: a status change
    // comes with every tap (its change unsent, then sent), and rebuilding the masthead's
    // elements then cost the frame drawn before the tap's write was reported durable.
    let logged_in = Memo::new(move |_| signals.session.with(Option::is_some));
    let label = Memo::new(move |_| status::global_label(signals.status.get(), signals.unsent()));
    move || {
        logged_in.get().then(|| {
            view! {
                <p class="sync-status" role="status" data-pending-writes=move || signals.pending_writes.get()>
                    {move || label.get()}
                </p>
                <button type="button" class="logout" on:click=logout
                    disabled=move || busy.get() aria-busy=move || busy.get().to_string()>"ログアウト"</button>
                {move || error.get().map(|m| view! { <p class="logout-error" role="alert">{m}</p> })}
            }
        })
    }
}

/// A failing local write, shown until a retry succeeds: the change is safe in memory meanwhile,
/// but closing the app now would lose it, and the person must know.
#[component]
fn StorageAlert() -> impl IntoView {
    let signals = sync::signals();
    move || {
        signals.storage_error.get().map(|message| {
            view! { <p class="alert alert-storage" role="alert">{message}" アプリを閉じないでください。"</p> }
        })
    }
}

/// How long changes may wait on the device before the person is told to find a signal.
const UNSENT_WARNING_MS: u64 = 24 * 60 * 60 * 1000;

/// The installed app's notices: an update waiting, changes unsent for over a day, and whether
/// the browser keeps this device's data for good.
#[component]
fn DeviceNotices() -> impl IntoView {
    let signals = sync::signals();
    let pwa = pwa::signals();
    let error = RwSignal::new(None::<String>);
    let update = move || {
        pwa.update_ready.get().then(|| {
            let blocked = signals.may_lose_changes();
            view! {
                <div class="notice notice-update" role="status">
                    <span>"新しいバージョンがあります。"</span>
                    {if blocked {
                        view! { <span>"未送信の変更があるため、同期が終わると更新できます。"</span> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="button" on:click=move |_| error.set(pwa::apply_update().err())>
                                "更新する"
                            </button>
                        }
                        .into_any()
                    }}
                    {move || error.get().map(|m| view! { <span class="error">{m}</span> })}
                </div>
            }
        })
    };
    let stale = move || {
        let since = signals.unsent_since.get()?;
        // Re-evaluated whenever the sync status changes, which the one-second tick keeps fresh.
        let _ = signals.status.get();
        let waited = (js_sys::Date::now() as u64).saturating_sub(since);
        (waited > UNSENT_WARNING_MS).then(|| {
            view! {
                <p class="notice notice-stale" role="alert">
                    {format!(
                        "{}時間以上、サーバーに送られていない変更があります。電波のある場所でアプリを開いて同期してください。",
                        waited / 3_600_000
                    )}
                </p>
            }
        })
    };
    let persisted = move || {
        signals.session.with(Option::is_some).then(|| {
            let text = match pwa.persisted.get() {
                Some(true) => "この端末の保存: 永続（ブラウザが自動で消すことはありません）",
                Some(false) => "この端末の保存: 一時的（容量不足のときブラウザが消す場合があります。早めに同期を）",
                None => "この端末の保存: 確認中",
            };
            view! { <p class="storage-persistence">{text}</p> }
        })
    };
    let expired = move || {
        signals.session_expired.get().then(|| {
            view! {
                <p class="notice notice-expired" role="alert">
                    "ログインの有効期限が切れました。同期を続けるには、もう一度ログインしてください。この端末の記録は消えません。 "
                    <Link route=Route::Login>"ログインする"</Link>
                </p>
            }
        })
    };
    view! { {update} {expired} {stale} {persisted} }
}
