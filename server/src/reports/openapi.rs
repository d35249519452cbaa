//! The OpenAPI 3.1 document of the office's API, written from the same list of reports the
//! router serves ([`super::REPORTS`]), so a report cannot exist without being documented.

use axum::Json;
use serde_json::{Value, json};

use super::REPORTS;

fn error_responses() -> Value {
    json!({
        "400": { "description": "誤った年度・形式・値", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        "401": { "description": "ログインしていない", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        "403": { "description": "事務局（office）または管理者ではない", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
    })
}

fn report_path(name: &str, title: &str) -> Value {
    let mut responses = error_responses();
    responses["200"] = json!({
        "description": title,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Report" } },
            "text/csv": { "schema": { "type": "string" }, "description": "UTF-8（BOM付き）、日本語見出し" },
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } }
        }
    });
    json!({
        "get": {
            "operationId": format!("report_{}", name.replace('-', "_")),
            "summary": title,
            "tags": ["reports"],
            "parameters": [
                { "name": "year", "in": "query", "required": false, "schema": { "type": "string", "example": "R6" },
                  "description": "年度（R6 または 令和6年度）。省略時は今年度" },
                { "name": "format", "in": "query", "required": false,
                  "schema": { "type": "string", "enum": ["json", "csv", "xlsx"], "default": "json" } }
            ],
            "responses": responses
        }
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/api/reports".to_owned(),
        json!({ "get": {
            "operationId": "list_reports", "summary": "帳票の一覧", "tags": ["reports"],
            "responses": { "200": { "description": "帳票名と題名", "content": { "application/json": { "schema": {
                "type": "array", "items": { "type": "object", "properties": {
                    "name": { "type": "string" }, "title": { "type": "string" } } } } } } } }
        }}),
    );
    for report in REPORTS {
        paths.insert(
            format!("/api/reports/{}", report.name),
            report_path(report.name, report.title),
        );
    }
    paths.insert(
        "/api/targets".to_owned(),
        json!({
            "get": {
                "operationId": "list_targets", "summary": "目標の一覧（年度・指標別）", "tags": ["targets"],
                "responses": { "200": { "description": "目標", "content": { "application/json": { "schema": {
                    "type": "array", "items": { "$ref": "#/components/schemas/Target" } } } } } }
            },
            "put": {
                "operationId": "set_target", "summary": "目標を設定・変更する", "tags": ["targets"],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["indicator", "fiscal_year", "target"],
                    "properties": {
                        "indicator": { "type": "string", "example": "kokoro_supporters_cumulative" },
                        "fiscal_year": { "type": "string", "example": "R7" },
                        "target": { "type": "integer", "minimum": 0 } } } } } },
                "responses": { "200": { "description": "設定後の目標", "content": { "application/json": { "schema": {
                    "$ref": "#/components/schemas/Target" } } } } }
            }
        }),
    );
    paths.insert(
        "/api/sessions/{id}/roster-import".to_owned(),
        json!({ "post": {
            "operationId": "import_roster", "tags": ["imports"],
            "summary": "事前申込の名簿（CSV: 氏名,ふりがな,市町村,所属）を研修の名簿に追加する。1行でも誤りがあれば何も追加しない",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "研修の文書ID" }],
            "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } },
            "responses": {
                "200": { "description": "追加した人数と変更後の heads", "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "added": { "type": "integer" }, "heads": { "type": "array", "items": { "type": "string" } } } } } } },
                "422": { "description": "誤りのある行（行番号と日本語の説明）。何も追加していない", "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "code": { "type": "string" }, "error": { "type": "string" },
                    "rows": { "type": "array", "items": { "type": "object", "properties": {
                        "line": { "type": ["integer", "null"] }, "message": { "type": "string" } } } } } } } } },
                "404": { "description": "研修が見つからない" }
            }
        }}),
    );
    let simple = |id: &str, summary: &str| {
        json!({ "operationId": id, "summary": summary, "tags": ["reconciliation"],
                "responses": { "200": { "description": summary, "content": { "application/json": {} } } } })
    };
    paths.insert(
        "/api/office/devices".to_owned(),
        json!({ "get": simple("list_devices", "利用者と端末ごとの最終同期時刻・未確認の文書数") }),
    );
    paths.insert(
        "/api/office/conflicts".to_owned(),
        json!({ "get": simple("list_conflicts", "同時に異なる値が書かれた項目（競合）の一覧") }),
    );
    paths.insert(
        "/api/office/conflicts/resolve".to_owned(),
        json!({ "post": {
            "operationId": "resolve_conflict", "tags": ["reconciliation"],
            "summary": "競合した項目の値を選び、通常の変更として書き戻す",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["doc_id", "path", "values", "choice"], "properties": {
                    "doc_id": { "type": "string" }, "path": { "type": "string" },
                    "values": { "type": "array", "items": { "type": "string" }, "description": "一覧で表示された値（変わっていれば 409）" },
                    "choice": { "type": "integer", "minimum": 0 } } } } } },
            "responses": { "200": { "description": "変更後の heads" }, "409": { "description": "一覧が古い" } }
        }}),
    );
    paths.insert(
        "/api/office/duplicates".to_owned(),
        json!({ "get": simple("list_duplicates", "同一人物の可能性がある参加者の組") }),
    );
    paths.insert(
        "/api/office/duplicates/merge".to_owned(),
        json!({ "post": {
            "operationId": "merge_duplicates", "tags": ["reconciliation"],
            "summary": "参加者を同一人物として統合する（各研修の記録は残し、同じ人物IDを付ける）",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["entries"], "properties": {
                    "entries": { "type": "array", "minItems": 2, "items": { "type": "object", "properties": {
                        "doc_id": { "type": "string" }, "attendee_id": { "type": "string" } } } },
                    "reason": { "type": "string" } } } } } },
            "responses": { "200": { "description": "人物ID" }, "400": { "description": "統合できない" } }
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "nimo 事務局API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "にも包括の記録から集計した帳票（件数のみ。氏名や患者コードは含まない）と目標。認証: ログインで得たセッション（Cookie または Bearer）。"
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "properties": { "code": { "type": "string" }, "error": { "type": "string" } } },
                "Report": { "type": "object", "required": ["report", "title", "fiscal_year", "columns", "rows"], "properties": {
                    "report": { "type": "string" }, "title": { "type": "string" },
                    "fiscal_year": { "type": "string", "example": "R6" },
                    "fiscal_year_label": { "type": "string", "example": "令和6年度" },
                    "columns": { "type": "array", "items": { "type": "object", "properties": {
                        "key": { "type": "string" }, "label": { "type": "string" } } } },
                    "rows": { "type": "array", "items": { "type": "object",
                        "description": "列の key ごとの値（文字列・整数・小数、記録がなければ null）",
                        "additionalProperties": { "type": ["string", "number", "null"] } } } } },
                "Target": { "type": "object", "properties": {
                    "indicator": { "type": "string" }, "label": { "type": "string" },
                    "fiscal_year": { "type": "string" }, "target": { "type": "integer" },
                    "unit": { "type": "string" }, "note": { "type": "string" }, "edited": { "type": "boolean" } } }
            }
        },
        "security": [{ "bearer": [] }]
    })
}

/// `GET /api/openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document())
}
