//! The records, one Automerge document each, and the changes the app makes to them.
//!
//! | record | document kind | changes |
//! |---|---|---|
//! | [`training::TrainingSession`] (研修 with its roster) | `training_session` | [`roster`] |
//! | [`visit::VisitCase`] (入院者訪問支援) | `visit_case` | [`visit_changes`] |
//! | [`peer::PeerSupportGroup`] (ピアサポート活動団体) | `peer_support_group` | [`peer`] |
//! | [`council::CouncilMeeting`] (協議の場) | `council_meeting` | [`council`] |
//!
//! [`session_view::SessionView`] keeps a session and its conflicts read, change by change.

pub mod council;
pub mod peer;
pub mod roster;
pub mod session_view;
pub mod training;
pub mod visit;
pub mod visit_changes;
