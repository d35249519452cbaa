//! Reconciliation (`/office/reconcile`): who synced when and what their devices still hold, the
//! conflict queue (a person picks the right value; it is written back as a normal change on the
//! server), and likely duplicate people with a merge that keeps every entry.

use leptos::prelude::*;
use nimo_shared::Date;
use serde_json::{Value, json};

use crate::sync::net;

/// How many likely pairs are listed at once: a long list is worked through from the top.
const SHOWN_PAIRS: usize = 30;

/// Unix milliseconds as Japan time, `YYYY-MM-DD HH:MM`.
fn japan_time(ms: i64) -> String {
    let local = ms + 9 * 3_600_000;
    let minutes = local.div_euclid(60_000).rem_euclid(24 * 60);
    let day = Date::from_days_since_epoch(local.div_euclid(86_400_000));
    format!("{day} {:02}:{:02}", minutes / 60, minutes % 60)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Default)]
struct Lists {
    devices: Vec<Value>,
    conflicts: Vec<Value>,
    duplicates: Vec<Value>,
}

async fn load() -> Result<Lists, String> {
    let get = |path: &'static str| async move {
        net::get_json::<Vec<Value>>(path)
            .await
            .map_err(|e| e.message_ja())
    };
    Ok(Lists {
        devices: get("/api/office/devices").await?,
        conflicts: get("/api/office/conflicts").await?,
        duplicates: get("/api/office/duplicates").await?,
    })
}

/// The reconciliation page.
#[component]
pub fn ReconcilePage() -> impl IntoView {
    let lists = RwSignal::new(None::<Result<Lists, String>>);
    let notice = RwSignal::new(None::<String>);
    let reload = move || {
        wasm_bindgen_futures::spawn_local(async move { lists.set(Some(load().await)) });
    };
    reload();
    let act = move |path: &'static str, body: Value, done: &'static str| {
        wasm_bindgen_futures::spawn_local(async move {
            match net::post_json::<Value, Value>(path, &body).await {
                Ok(_) => notice.set(Some(done.to_owned())),
                Err(error) => notice.set(Some(error.message_ja())),
            }
            lists.set(Some(load().await));
        });
    };
    let devices = move |rows: Vec<Value>| {
        rows.into_iter()
            .map(|u| {
                let last = u["last_sync_at"]
                    .as_i64()
                    .map_or("同期なし".to_owned(), japan_time);
                view! {
                    <tr>
                        <td>{text(&u["display_name"])}</td>
                        <td>{text(&u["role"])}</td>
                        <td>{text(&u["team"])}</td>
                        <td>{last}</td>
                        <td>{text(&u["documents_unconfirmed"])}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let conflicts = move |rows: Vec<Value>| {
        rows.into_iter()
            .map(|c| {
                let values: Vec<String> = c["values"]
                    .as_array()
                    .map(|v| v.iter().map(text).collect())
                    .unwrap_or_default();
                let field = text(&c["path"]).rsplit('/').next().unwrap_or_default().to_owned();
                let buttons = values
                    .iter()
                    .enumerate()
                    .map(|(choice, value)| {
                        let body = json!({
                            "doc_id": c["doc_id"], "path": c["path"], "values": values, "choice": choice,
                        });
                        let disabled = !c["resolvable"].as_bool().unwrap_or(false);
                        view! {
                            <button
                                type="button"
                                disabled=disabled
                                on:click=move |_| act("/api/office/conflicts/resolve", body.clone(), "選んだ値を書き戻しました。")
                            >
                                {format!("「{value}」にする")}
                            </button>
                        }
                    })
                    .collect_view();
                view! {
                    <li class="conflict">
                        <p>{text(&c["context"])}" "{text(&c["attendee"])}"：項目 "{field}</p>
                        <p>{buttons}</p>
                    </li>
                }
            })
            .collect_view()
    };
    let duplicates = move |rows: Vec<Value>| {
        rows.into_iter()
            .take(SHOWN_PAIRS)
            .map(|pair| {
                let entries = pair["entries"].as_array().cloned().unwrap_or_default();
                let body = json!({
                    "entries": entries.iter().map(|e| json!({ "doc_id": e["doc_id"], "attendee_id": e["attendee_id"] })).collect::<Vec<_>>(),
                    "reason": pair["reason"],
                });
                let people = entries
                    .iter()
                    .map(|e| {
                        view! {
                            <li>
                                {format!(
                                    "{}（{}）{} {}年生 — 研修 {} {}",
                                    text(&e["name"]), text(&e["kana"]), text(&e["place"]),
                                    text(&e["birth_year"]), text(&e["session_date"]), text(&e["venue"]),
                                )}
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <li class="duplicate">
                        <p>{text(&pair["reason_label"])}</p>
                        <ul>{people}</ul>
                        <button
                            type="button"
                            on:click=move |_| act("/api/office/duplicates/merge", body.clone(), "同一人物として統合しました（各研修の記録は残ります）。")
                        >
                            "同一人物として統合"
                        </button>
                    </li>
                }
            })
            .collect_view()
    };
    let body = move || match lists.get() {
        None => view! { <p role="status">"読み込み中…"</p> }.into_any(),
        Some(Err(message)) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Some(Ok(lists)) => {
            let no_conflicts = lists.conflicts.is_empty();
            let no_duplicates = lists.duplicates.is_empty();
            let pairs = lists.duplicates.len();
            let shown = (pairs > SHOWN_PAIRS)
                .then(|| view! { <p>{format!("候補 {pairs} 組のうち先頭の{SHOWN_PAIRS}組を表示しています。統合すると次の候補が表示されます。")}</p> });
            view! {
                <section class="office-reconcile" data-ready="true">
                    <h3>"同期の状況"</h3>
                    <table class="report">
                        <thead><tr>
                            <th scope="col">"氏名"</th><th scope="col">"役割"</th><th scope="col">"チーム"</th>
                            <th scope="col">"最終同期"</th><th scope="col">"未確認の文書"</th>
                        </tr></thead>
                        <tbody>{devices(lists.devices)}</tbody>
                    </table>
                    <h3>"競合（同時に異なる値が書かれた項目）"</h3>
                    {no_conflicts.then(|| view! { <p>"競合はありません。"</p> })}
                    <ul class="conflicts">{conflicts(lists.conflicts)}</ul>
                    <h3>"同一人物の可能性"</h3>
                    {no_duplicates.then(|| view! { <p>"候補はありません。"</p> })}
                    {shown}
                    <ul class="duplicates">{duplicates(lists.duplicates)}</ul>
                </section>
            }
            .into_any()
        }
    };
    view! {
        <main class="page office">
            <h2>"照合・確認"</h2>
            {move || notice.get().map(|m| view! { <p role="status">{m}</p> })}
            {body}
        </main>
    }
}
