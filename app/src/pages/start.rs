//! The start page: what nimo is for, and the three ways in (trainer, visitor, office).

use leptos::prelude::*;

use crate::route::{Link, Route};

/// One way into the app, shown as a large card.
struct Entry {
    title: &'static str,
    who: &'static str,
    summary: &'static str,
}

const ENTRIES: [Entry; 3] = [
    Entry {
        title: "研修の受付",
        who: "講師・保健師",
        summary: "心のサポーター養成研修などの受付と修了の記録。電波のない会場でも使えます。",
    },
    Entry {
        title: "入院者訪問支援",
        who: "入院者訪問支援員",
        summary: "訪問の記録。端末内で暗号化され、担当の二人と権限のある職員だけが読めます。",
    },
    Entry {
        title: "事務局",
        who: "精神保健推進室・保健福祉事務所",
        summary: "同期された記録の確認と、圏域・年度ごとの集計。",
    },
];

/// The start page.
#[component]
pub fn StartPage() -> impl IntoView {
    view! {
        <main class="start">
            <p class="lead">
                "精神障害にも対応した地域包括ケアシステム(宮城県)の研修・訪問支援・集計のための記録アプリです。"
            </p>
            <ul class="entries" aria-label="利用する業務">
                {ENTRIES
                    .iter()
                    .map(|entry| {
                        view! {
                            <li class="entry">
                                <h2>{entry.title}</h2>
                                <p class="who">{entry.who}</p>
                                <p>{entry.summary}</p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="actions">
                <Link route=Route::Trainer class="button">"研修の受付を始める"</Link>
            </p>
        </main>
    }
}
