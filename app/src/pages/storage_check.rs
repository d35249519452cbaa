//! `/_debug/storage`: runs the shared chunk-store conformance suite against the IndexedDB
//! backend in this browser (the browser tests open it). It works in throwaway databases
//! (`nimo-conformance-N`), deleted afterwards, and never touches the app's own. It says which
//! path wrote: the chunk writer's worker, or the page where the worker is missing or failed.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use nimo_shared::storage::conformance;

use crate::store::{IdbChunkStore, idb, writer};

/// Runs the suite and shows how many checks passed. While it runs, the page shows the name of
/// the check in progress: a failing check panics, and the shipped build traps on a panic
/// without its message, so that name is what tells which check failed.
#[component]
pub fn StorageCheck() -> impl IntoView {
    let result = RwSignal::new(None::<String>);
    wasm_bindgen_futures::spawn_local(async move {
        let made: Rc<RefCell<Vec<IdbChunkStore>>> = Rc::default();
        let counter = RefCell::new(0_u32);
        let passed = conformance::run_all_reporting(
            || {
                let mut n = counter.borrow_mut();
                *n += 1;
                let store = IdbChunkStore::lazy(&format!("nimo-conformance-{n}"));
                made.borrow_mut().push(store.clone());
                store
            },
            |check| result.set(Some(format!("検査中: {check}"))),
        )
        .await;
        let stores = made.take();
        for store in &stores {
            store.close();
            if let Err(error) = idb::delete_database(store.name()).await {
                web_sys::console::warn_1(&error.to_string().into());
            }
        }
        // Which path wrote: the chunk writer's worker, or the page where it is missing.
        let writer = if writer::in_use() {
            "専用ワーカー"
        } else {
            "ページ"
        };
        result.set(Some(format!(
            "IndexedDB の保存領域: {passed} / {} 件の検査に合格（書き込み: {writer}）",
            conformance::CHECK_COUNT
        )));
    });
    view! {
        <main class="page">
            <h2>"保存領域の検査"</h2>
            <p class="check-result" role="status">
                {move || result.get().unwrap_or_else(|| "検査中…".to_owned())}
            </p>
        </main>
    }
}
