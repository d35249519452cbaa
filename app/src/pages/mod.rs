//! The app's pages and the frame around them (masthead with the sync status).

mod login;
mod office;
mod session;
mod start;
mod storage_check;
mod trainer;

use leptos::prelude::*;

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
        let logged_in = signals.session.with(Option::is_some);
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
            Route::Trainer | Route::Session(_) | Route::Office | Route::OfficeReconcile
                if !logged_in =>
            {
                login::LoginPage().into_any()
            }
            Route::Office => office::OfficePage().into_any(),
            Route::OfficeReconcile => office::ReconcilePage().into_any(),
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
        {page}
    }
}

/// The global sync status, shown once someone is logged in.
#[component]
fn SyncStatusLine() -> impl IntoView {
    let signals = sync::signals();
    move || {
        signals.session.with(Option::is_some).then(|| {
            let label = status::global_label(signals.status.get(), signals.unsent());
            view! { <p class="sync-status" role="status">{label}</p> }
        })
    }
}
