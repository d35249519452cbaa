//! The office's reports, computed from the projection tables (never from names: the tables hold
//! none), for one fiscal year and cumulatively, as JSON, CSV (UTF-8 with BOM) or XLSX.
//!
//! - `GET /api/reports`: the list of reports.
//! - `GET /api/reports/{name}?year=R6&format=json|csv|xlsx`: one report.
//! - `GET /api/targets`, `PUT /api/targets`: the targets, editable per year.
//! - `GET /api/openapi.json`: the OpenAPI document of all of these.
//!
//! Office staff and administrators only.

pub mod councils;
pub mod openapi;
pub mod peer;
pub mod people;
pub mod progress;
pub mod reader;
pub mod table;
pub mod targets;
pub mod trainings;
pub mod visits;

use axum::{
    Json,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use nimo_shared::{Date, FiscalYear, reference::Indicator};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    accounts::{Role, now_ms},
    http::{AppError, auth::Authenticated},
};
pub use reader::{Freshness, ReportReader};
pub use table::ReportTable;

/// A request from office staff or an administrator.
#[derive(Debug, Clone)]
pub struct OfficeStaff(pub Authenticated);

impl FromRequestParts<AppState> for OfficeStaff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        match auth.user().role {
            Role::Office | Role::Admin => Ok(Self(auth)),
            Role::Trainer | Role::Visitor => Err(AppError::Forbidden),
        }
    }
}

type Build = fn(&Connection, FiscalYear) -> rusqlite::Result<ReportTable>;

/// One report: its route name, what it shows, and how it is computed.
#[derive(Debug, Clone, Copy)]
pub struct ReportKind {
    /// `GET /api/reports/{name}`.
    pub name: &'static str,
    /// What it shows, in Japanese.
    pub title: &'static str,
    build: Build,
}

/// Every report, in the order the office reads them.
pub const REPORTS: &[ReportKind] = &[
    ReportKind {
        name: "supporters",
        title: "心のサポーター養成数（圏域別）",
        build: |c, y| people::district_table(c, people::SUPPORTERS, y),
    },
    ReportKind {
        name: "supporters-by-municipality",
        title: "心のサポーター養成数（市町村別）",
        build: |c, y| people::municipality_table(c, people::SUPPORTERS, y),
    },
    ReportKind {
        name: "instructors",
        title: "心のサポーター指導者数（圏域別）",
        build: |c, y| people::district_table(c, people::INSTRUCTORS, y),
    },
    ReportKind {
        name: "instructors-by-municipality",
        title: "心のサポーター指導者数（市町村別）",
        build: |c, y| people::municipality_table(c, people::INSTRUCTORS, y),
    },
    ReportKind {
        name: "trainings",
        title: "研修の開催状況（種類・対象・主催別）",
        build: trainings::by_group,
    },
    ReportKind {
        name: "trainings-monthly",
        title: "月別の研修開催状況",
        build: trainings::by_month,
    },
    ReportKind {
        name: "visits",
        title: "入院者訪問支援事業",
        build: visits::table,
    },
    ReportKind {
        name: "councils",
        title: "協議の場の開催状況",
        build: councils::table,
    },
    ReportKind {
        name: "peer-support",
        title: "ピアサポートの状況",
        build: peer::table,
    },
    ReportKind {
        name: "progress",
        title: "目標に対する進捗",
        build: progress::table,
    },
];

/// The fiscal year of today in Japan.
pub fn current_fiscal_year() -> FiscalYear {
    const JST_OFFSET_MS: i64 = 9 * 60 * 60 * 1000;
    FiscalYear::of(Date::from_days_since_epoch(
        (now_ms() + JST_OFFSET_MS).div_euclid(86_400_000),
    ))
}

fn parse_year(year: Option<&str>) -> Result<FiscalYear, AppError> {
    match year {
        None | Some("") => Ok(current_fiscal_year()),
        Some(text) => text.parse().map_err(|_| {
            AppError::BadRequest(format!(
                "年度「{text}」が正しくありません。R6 や 令和6年度 の形で指定してください。"
            ))
        }),
    }
}

/// `GET /api/reports` item.
#[derive(Debug, Serialize)]
pub struct ReportListItem {
    name: &'static str,
    title: &'static str,
}

/// Lists the reports.
pub async fn list(_office: OfficeStaff) -> Json<Vec<ReportListItem>> {
    Json(
        REPORTS
            .iter()
            .map(|r| ReportListItem {
                name: r.name,
                title: r.title,
            })
            .collect(),
    )
}

/// `GET /api/reports/{name}` query.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    /// `R6` or `令和6年度`; the current fiscal year when absent.
    year: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    format: Option<String>,
}

/// One report, as JSON or as a download.
pub async fn report(
    State(state): State<AppState>,
    _office: OfficeStaff,
    Path(name): Path<String>,
    Query(query): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let year = parse_year(query.year.as_deref())?;
    let format = query.format.unwrap_or_else(|| "json".to_owned());
    if !matches!(format.as_str(), "json" | "csv" | "xlsx") {
        return Err(AppError::BadRequest(
            "出力形式は json、csv、xlsx のいずれかを指定してください。".to_owned(),
        ));
    }
    let freshness = if no_cache(&headers) {
        Freshness::Recomputed
    } else {
        Freshness::AsOfArrival
    };
    let table = state
        .reports
        .read(&name, year, freshness)
        .await?
        .ok_or(AppError::NotFound)?;
    match format.as_str() {
        "csv" => {
            let bytes = table.to_csv().map_err(|error| {
                tracing::error!(%error, "cannot write a CSV export");
                AppError::Internal
            })?;
            Ok(download(
                bytes,
                "text/csv; charset=utf-8",
                &table.file_name("csv"),
            ))
        }
        "xlsx" => {
            let bytes = table.to_xlsx().map_err(|error| {
                tracing::error!(%error, "cannot write an XLSX export");
                AppError::Internal
            })?;
            Ok(download(
                bytes,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &table.file_name("xlsx"),
            ))
        }
        _ => Ok(Json(&*table).into_response()),
    }
}

/// Whether the request asks for a report computed for it (`Cache-Control: no-cache`), not one
/// kept from an earlier read of the same state.
fn no_cache(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-cache"))
}

fn download(bytes: Vec<u8>, content_type: &'static str, file_name: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// Lists every stored target.
pub async fn list_targets(
    State(state): State<AppState>,
    _office: OfficeStaff,
) -> Result<Json<Vec<targets::StoredTarget>>, AppError> {
    Ok(Json(
        state
            .db
            .call(|conn| -> Result<_, AppError> { Ok(targets::all(conn)?) })
            .await?,
    ))
}

/// `PUT /api/targets` body.
#[derive(Debug, Deserialize)]
pub struct SetTarget {
    indicator: String,
    fiscal_year: String,
    target: u32,
}

/// Sets one target.
pub async fn set_target(
    State(state): State<AppState>,
    OfficeStaff(auth): OfficeStaff,
    Json(request): Json<SetTarget>,
) -> Result<Json<targets::StoredTarget>, AppError> {
    let indicator: Indicator = request.indicator.parse().map_err(|_| {
        AppError::BadRequest(format!("指標「{}」は存在しません。", request.indicator))
    })?;
    let year = parse_year(Some(&request.fiscal_year))?;
    let user = auth.user().id.to_string();
    Ok(Json(
        state
            .db
            .call(move |conn| -> Result<_, AppError> {
                Ok(targets::set(conn, indicator, year, request.target, &user)?)
            })
            .await?,
    ))
}
