//! A pre-registration roster file chosen by a person on a phone or uploaded by the office,
//! parsed by `nimo_shared::import::roster_csv`. Whatever the bytes, parsing returns people or
//! row errors, never more people than a file may hold, and every person it returns passes the
//! record's own rules (so the all-or-nothing import cannot fail half-way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nimo_shared::import::roster_csv::{MAX_ROWS, parse};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(people) = parse(&text) {
        assert!(people.len() <= MAX_ROWS, "more people than a file may hold");
        for person in &people {
            assert!(person.validate().is_ok(), "a parsed person breaks the record's rules");
        }
    }
});
