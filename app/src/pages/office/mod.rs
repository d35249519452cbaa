//! The office's dashboard (`/office`): the year's figures from the server's reports, as tables
//! and SVG charts (progress against target by district, trainings per month), with every report
//! downloadable as CSV or Excel. Online only: the reports are computed on the server.

mod charts;
mod reconcile;
mod report;

use leptos::prelude::*;
use nimo_shared::{Date, FiscalYear};

use crate::route::{Link, Route};
use charts::{Bar, Column, Columns, HorizontalBars};
pub use reconcile::ReconcilePage;
use report::{Report, ReportTable};

/// The reports offered for download, with their titles.
const DOWNLOADS: [(&str, &str); 10] = [
    ("supporters", "心のサポーター養成数（圏域別）"),
    (
        "supporters-by-municipality",
        "心のサポーター養成数（市町村別）",
    ),
    ("instructors", "心のサポーター指導者数（圏域別）"),
    (
        "instructors-by-municipality",
        "心のサポーター指導者数（市町村別）",
    ),
    ("trainings", "研修の開催状況（種類・対象・主催別）"),
    ("trainings-monthly", "月別の研修開催状況"),
    ("visits", "入院者訪問支援事業"),
    ("councils", "協議の場の開催状況"),
    ("peer-support", "ピアサポートの状況"),
    ("progress", "目標に対する進捗"),
];

/// Today's fiscal year in Japan.
fn current_fiscal_year() -> FiscalYear {
    const JST_OFFSET_MS: f64 = 9.0 * 3_600_000.0;
    let days = ((js_sys::Date::now() + JST_OFFSET_MS) / 86_400_000.0).floor() as i64;
    FiscalYear::of(Date::from_days_since_epoch(days))
}

#[derive(Debug, Clone, PartialEq)]
struct Dashboard {
    supporters: Report,
    progress: Report,
    monthly: Report,
    trainings: Report,
}

async fn load(year: String) -> Result<Dashboard, String> {
    let fail = |e: crate::sync::net::NetError| e.message_ja();
    Ok(Dashboard {
        supporters: report::fetch("supporters", &year).await.map_err(fail)?,
        progress: report::fetch("progress", &year).await.map_err(fail)?,
        monthly: report::fetch("trainings-monthly", &year)
            .await
            .map_err(fail)?,
        trainings: report::fetch("trainings", &year).await.map_err(fail)?,
    })
}

/// 心のサポーター累計 per district and in total, with the year's target marked.
fn district_chart(dashboard: &Dashboard) -> impl IntoView + use<> {
    let supporters = &dashboard.supporters;
    let cumulative = supporters.rows.get(1).cloned().unwrap_or_default();
    let mut bars: Vec<Bar> = supporters
        .columns
        .iter()
        .filter(|c| c.key != "measure")
        .map(|c| {
            let value = Report::count(&cumulative, &c.key);
            Bar {
                label: c.label.clone(),
                value: value as f64,
                caption: format!("{value}人"),
            }
        })
        .collect();
    let target = dashboard
        .progress
        .rows
        .iter()
        .find(|r| Report::text(r, "indicator") == "kokoro_supporters_cumulative")
        .map(|r| Report::count(r, "target"));
    if let (Some(target), Some(total)) = (target, bars.last_mut()) {
        total.caption = format!("{}（目標 {target}人）", total.caption);
    }
    view! {
        <HorizontalBars
            title=format!("心のサポーター累計（圏域別・{}末）と目標", supporters.fiscal_year_label)
            bars=bars
            marker=target.map(|t| (t as f64, format!("目標 {t}人")))
        />
    }
}

/// Each indicator's actual as a percentage of its target; 100% is marked.
fn progress_chart(dashboard: &Dashboard) -> impl IntoView + use<> {
    let bars = dashboard
        .progress
        .rows
        .iter()
        .filter(|r| r.get("percent").is_some_and(|p| !p.is_null()))
        .map(|r| {
            let percent = r
                .get("percent")
                .and_then(|p| p.as_f64())
                .unwrap_or_default();
            Bar {
                label: Report::text(r, "label").chars().take(16).collect(),
                value: percent.min(150.0),
                caption: format!(
                    "{} / {}{}（{percent:.1}%）",
                    Report::text(r, "actual"),
                    Report::text(r, "target"),
                    Report::text(r, "unit")
                ),
            }
        })
        .collect::<Vec<_>>();
    view! {
        <HorizontalBars
            title=format!("目標に対する達成率（{}）", dashboard.progress.fiscal_year_label)
            bars=bars
            marker=Some((100.0, "100%".to_owned()))
        />
    }
}

/// Sessions per month, April to March.
fn monthly_chart(dashboard: &Dashboard) -> impl IntoView + use<> {
    let columns = dashboard
        .monthly
        .rows
        .iter()
        .map(|r| {
            let sessions = Report::count(r, "sessions");
            Column {
                label: Report::text(r, "month_label"),
                value: sessions as f64,
                caption: format!("{sessions}回"),
            }
        })
        .collect::<Vec<_>>();
    view! {
        <Columns
            title=format!("月別の研修開催回数（{}）", dashboard.monthly.fiscal_year_label)
            columns=columns
        />
    }
}

/// The dashboard.
#[component]
pub fn OfficePage() -> impl IntoView {
    let current = current_fiscal_year();
    let year = RwSignal::new(current.to_string());
    let data = RwSignal::new(None::<Result<Dashboard, String>>);
    Effect::new(move |_| {
        let chosen = year.get();
        data.set(None);
        wasm_bindgen_futures::spawn_local(async move {
            let loaded = load(chosen.clone()).await;
            // A slower answer for a year no longer chosen is dropped.
            if year.get_untracked() == chosen {
                data.set(Some(loaded));
            }
        });
    });
    let first = current.reiwa_number().saturating_sub(2).max(1);
    let options = (first..=current.reiwa_number() + 1)
        .filter_map(FiscalYear::reiwa)
        .map(|y| view! { <option value=y.to_string()>{y.japanese()}</option> })
        .collect_view();
    let body = move || match data.get() {
        None => view! { <p role="status">"集計を読み込み中…"</p> }.into_any(),
        Some(Err(message)) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Some(Ok(dashboard)) => {
            let chosen = year.get_untracked();
            let downloads = DOWNLOADS
                .iter()
                .map(|(name, title)| {
                    let base = format!("/api/reports/{name}?year={chosen}");
                    view! {
                        <li>
                            {*title}" "
                            <a href=format!("{base}&format=csv") download="">"CSV"</a>" "
                            <a href=format!("{base}&format=xlsx") download="">"Excel"</a>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <section class="office-dashboard" data-ready="true">
                    <h3>"心のサポーター養成数"</h3>
                    {district_chart(&dashboard)}
                    <ReportTable report=dashboard.supporters.clone()/>
                    <h3>"目標に対する進捗"</h3>
                    {progress_chart(&dashboard)}
                    <ReportTable report=dashboard.progress.clone()/>
                    <h3>"研修"</h3>
                    {monthly_chart(&dashboard)}
                    <ReportTable report=dashboard.trainings.clone()/>
                    <h3>"帳票のダウンロード"</h3>
                    <ul class="downloads">{downloads}</ul>
                </section>
            }
            .into_any()
        }
    };
    view! {
        <main class="page office">
            <h2>"事務局 集計"</h2>
            <label>
                "年度 "
                <select
                    name="year"
                    prop:value=move || year.get()
                    on:change=move |ev| year.set(event_target_value(&ev))
                >
                    {options}
                </select>
            </label>
            <p class="note">"件数のみを表示しています（氏名は表示しません）。"</p>
            <p><Link route=Route::OfficeReconcile>"照合・確認（同期の状況・競合・重複）へ"</Link></p>
            {body}
        </main>
    }
}
