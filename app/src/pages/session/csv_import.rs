//! A pre-registration roster from a CSV file on the phone: parsed on the device by
//! `nimo_shared::import::roster_csv` (all or nothing, every bad row named in Japanese), then
//! added to the session in one change, offline too.

use leptos::prelude::*;
use nimo_shared::import::roster_csv;
use nimo_shared::sync::DocumentId;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;

use crate::sync;

/// The outcome shown under the button.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Added(usize),
    Refused(String, Vec<String>),
}

async fn read_text(input: &HtmlInputElement) -> Result<Option<String>, String> {
    let Some(file) = input.files().and_then(|files| files.get(0)) else {
        return Ok(None);
    };
    let text = JsFuture::from(file.text())
        .await
        .map_err(|_| "ファイルを読めませんでした。".to_owned())?;
    Ok(text.as_string())
}

/// The import section of a session.
#[component]
pub fn CsvImport(id: DocumentId) -> impl IntoView {
    let outcome = RwSignal::new(None::<Outcome>);
    let on_change = move |event: leptos::ev::Event| {
        let Some(input) = event
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let result = match read_text(&input).await {
                Ok(None) => return,
                Ok(Some(text)) => match roster_csv::parse(&text) {
                    Ok(people) => match sync::import_roster(id, people) {
                        Ok(added) => Outcome::Added(added),
                        Err(message) => Outcome::Refused(message, Vec::new()),
                    },
                    Err(error) => Outcome::Refused(
                        error.to_string(),
                        error.errors.iter().map(ToString::to_string).collect(),
                    ),
                },
                Err(message) => Outcome::Refused(message, Vec::new()),
            };
            // The same file may be chosen again after it is fixed.
            input.set_value("");
            outcome.set(Some(result));
        });
    };
    view! {
        <section class="csv-import" aria-labelledby="csv-heading">
            <h3 id="csv-heading">"名簿の読み込み"</h3>
            <p class="hint">"1行目に 氏名,ふりがな,市町村,所属 の見出しがあるCSVファイル（Excelの「CSV UTF-8」）。"</p>
            <label class="button button-secondary file-button">
                "CSVから名簿を読み込む"
                <input type="file" accept=".csv,text/csv" data-testid="csv-import" on:change=on_change/>
            </label>
            {move || outcome.get().map(|outcome| match outcome {
                Outcome::Added(count) => view! {
                    <p class="result" role="status">{format!("{count}人を名簿に追加しました。")}</p>
                }.into_any(),
                Outcome::Refused(summary, rows) => view! {
                    <div class="error" role="alert">
                        <p>{summary}" 名簿は変更していません。"</p>
                        <ul>{rows.into_iter().map(|row| view! { <li>{row}</li> }).collect_view()}</ul>
                    </div>
                }.into_any(),
            })}
        </section>
    }
}
