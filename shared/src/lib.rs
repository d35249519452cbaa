//! nimo's shared core: the records, reference data, fiscal years and sync protocol that the app
//! (wasm) and the server both use. No IO lives here: no tokio, no SQLite, no web-sys; time and
//! randomness are passed in by the caller.
//!
//! # Walkthrough: a check-in, from tap to report
//!
//! Every record is one Automerge document ([`doc`]). A trainer's device creates a session, adds
//! people and checks them in; each change is one small transaction with the time passed in:
//!
//! ```
//! use nimo_shared::records::roster;
//! use nimo_shared::records::training::*;
//! use nimo_shared::{AttendeeId, DeviceId, Timestamp, doc};
//!
//! # fn main() -> Result<(), nimo_shared::DocError> {
//! let device = DeviceId::from_random_bytes([1; 16]); // the app passes real random bytes
//! let at: Timestamp = "2025-06-01T10:00:00+09:00".parse().expect("valid time");
//! let session = TrainingSession {
//!     course: TrainingKind::KokoroSupporter,
//!     audience: Some(Audience::Community),
//!     scope: None,
//!     host: Host::CoHosted("富谷市".parse()?),
//!     date: "2025-06-01".parse().expect("valid date"),
//!     start: "10:00".parse().expect("valid time"),
//!     end: "12:00".parse().expect("valid time"),
//!     venue: "富谷市民センター".into(),
//!     venue_municipality: "富谷市".parse()?,
//!     trainers: ["講師 一郎".to_owned()].into(),
//!     capacity: 40,
//!     roster: Default::default(),
//! };
//! let mut document = doc::create(&session, device.actor_id(), at)?;
//!
//! let hanako = AttendeeId::from_random_bytes([2; 16]);
//! let person = Person {
//!     name: "宮城 花子".into(),
//!     kana: "みやぎ はなこ".into(),
//!     affiliation: Affiliation::CommunityResident,
//!     residence: Some("大和町".parse()?),
//!     workplace: None,
//!     birth_year: Some(1980),
//! };
//! roster::add_attendee(&mut document, hanako, person, at)?;
//! roster::check_in(&mut document, hanako, at, &"trainer-7".parse().expect("valid id"))?;
//! roster::mark_completed(&mut document, hanako, true, at)?;
//!
//! // Later, on the server (or the device), the same pure functions count her.
//! let session: TrainingSession = doc::hydrate(&document)?;
//! let first = nimo_shared::counts::people::first_completions([&session], TrainingKind::KokoroSupporter);
//! let r7 = "R7".parse().expect("valid year");
//! let table = nimo_shared::counts::people::new_by_district(&first, r7);
//! assert_eq!(table.get(nimo_shared::ReportDistrict::Kurokawa), 1);
//! # Ok(())
//! # }
//! ```
//!
//! When two devices changed the same field offline, the merged document keeps both values;
//! [`conflicts::conflicts`] lists them and [`conflicts::resolve`] writes the chosen one back.
//!
//! # Modules
//! - [`doc`]: document kinds, `create`, `hydrate`, schema versions.
//! - [`records`]: the four record types and their change functions.
//! - [`conflicts`]: concurrent writes shown as conflicts, and their resolution.
//! - [`counts`]: the derived counts behind every report.
//! - [`geo`], [`fiscal`], [`date`], [`instant`], [`ids`]: value types.
//! - [`reference`](mod@reference): targets and R6 actuals compiled into the crate.
//! - [`errors`]: typed errors with Japanese messages for the UI.
//! - [`crypto`]: sealing stored chunks on visitor and office devices under a PIN-wrapped key.
//!
//! # Tests
//! `cargo test -p nimo-shared` runs everything, including seeded property tests of convergence
//! (64 cases). The full run is
//! `NIMO_PROPTEST_CASES=10000 cargo test -p nimo-shared --release --test convergence`;
//! `NIMO_PROPTEST_SEED=<n>` replays the seed a failure printed. Snapshots of every record's stored
//! form live in `tests/snapshots/` (insta).

pub mod conflicts;
pub mod counts;
pub mod crypto;
pub mod date;
pub mod doc;
mod encoding;
pub mod errors;
pub mod fiscal;
pub mod geo;
pub mod ids;
pub mod import;
pub mod instant;
pub mod records;
pub mod reference;
pub mod sorting;
pub mod storage;
pub mod sync;

pub use date::{Date, TimeOfDay};
pub use doc::{DocKind, Record};
pub use errors::{DocError, ParseError, ValidationError};
pub use fiscal::FiscalYear;
pub use geo::{Area, Municipality, Place, ReportDistrict};
pub use ids::{ActivityId, AttendeeId, DeviceId, PersonId, UserId, VisitId};
pub use instant::Timestamp;
