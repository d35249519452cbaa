//! Request bodies and query strings of the server's HTTP API, decoded into the server's own
//! serde types exactly as axum's `Json` and `Query` extractors do, followed by the checks the
//! handlers run on the decoded strings (document ids, kinds, change hashes). The first byte picks
//! the endpoint. Nothing may panic.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use nimo_server::access::DocKind;
use nimo_server::http::admin::RoleChange;
use nimo_server::http::auth::PasswordChange;
use nimo_server::http::login::{EnrolRequest, LoginRequest, SecondFactorRequest};
use nimo_server::office::{conflicts::Resolve, duplicates::Merge};
use nimo_server::reports::{ReportQuery, SetTarget};
use nimo_server::sync::api::{ConfirmRequest, ManifestQuery, MembersRequest};
use nimo_server::sync::registration::{RegisterBatchRequest, RegisterRequest};
use nimo_server::sync::ws::TicketQuery;

/// The handlers' own checks on strings a body carries (their fields are private to the server,
/// so the strings are read from the same JSON a second time).
fn check_strings(value: &serde_json::Value) {
    let mut strings = Vec::new();
    collect(value, &mut strings);
    for s in strings {
        let _ = samod::DocumentId::from_str(s);
        let _ = DocKind::parse(s);
        let _ = automerge::ChangeHash::from_str(s);
    }
}

fn collect<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect(v, out)),
        _ => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&endpoint, body)) = input.split_first() else {
        return;
    };
    match endpoint % 15 {
        0 => drop(serde_json::from_slice::<LoginRequest>(body)),
        1 => drop(serde_json::from_slice::<PasswordChange>(body)),
        2 => drop(serde_json::from_slice::<RegisterRequest>(body)),
        3 => drop(serde_json::from_slice::<ConfirmRequest>(body)),
        4 => drop(serde_json::from_slice::<MembersRequest>(body)),
        5 => drop(serde_urlencoded::from_bytes::<ManifestQuery>(body)),
        6 => drop(serde_urlencoded::from_bytes::<TicketQuery>(body)),
        7 => drop(serde_json::from_slice::<EnrolRequest>(body)),
        8 => drop(serde_json::from_slice::<SecondFactorRequest>(body)),
        9 => drop(serde_json::from_slice::<RoleChange>(body)),
        10 => drop(serde_json::from_slice::<Merge>(body)),
        11 => drop(serde_json::from_slice::<Resolve>(body)),
        12 => drop(serde_json::from_slice::<SetTarget>(body)),
        13 => drop(serde_json::from_slice::<RegisterBatchRequest>(body)),
        _ => drop(serde_urlencoded::from_bytes::<ReportQuery>(body)),
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        check_strings(&value);
    }
});
