//! Who may see which document: a pure decision over the registry entry and the user, so the rules
//! read as a table and are tested as one (the share policy and the REST API both call it).
//!
//! - Training sessions, peer-support groups and council meetings belong to a team: its trainers
//!   read and write them; office staff read and write everything of this kind (they reconcile).
//! - A visit case is visible only to its assigned pair (read and write) and to office staff
//!   granted visit access (read only: the notes are the pair's). Nobody else receives a byte of
//!   it: not trainers, not other visitors, not admins.
//! - Admins manage accounts and see no records.
//! - A deleted document, or one the server does not know, is visible to nobody.

use crate::accounts::{Role, User};

/// What a peer may do with a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Receives nothing; its messages about the document are ignored.
    None,
    /// Receives the document; its changes are not applied.
    ReadOnly,
    /// Receives the document and its changes are applied.
    ReadWrite,
}

/// The kinds of document the registry knows (one Automerge document per record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    /// A training session with its roster.
    TrainingSession,
    /// A visit case with its visits and notes.
    VisitCase,
    /// A peer-support group and its activities.
    PeerSupportGroup,
    /// A council meeting.
    CouncilMeeting,
}

impl DocKind {
    /// The name stored in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrainingSession => "training_session",
            Self::VisitCase => "visit_case",
            Self::PeerSupportGroup => "peer_support_group",
            Self::CouncilMeeting => "council_meeting",
        }
    }

    /// Parses a registry name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::TrainingSession,
            Self::VisitCase,
            Self::PeerSupportGroup,
            Self::CouncilMeeting,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// The facts about a document that access depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocFacts {
    /// Its kind.
    pub kind: DocKind,
    /// Its owning team.
    pub team_id: Option<String>,
    /// Whether it was deleted (erased).
    pub deleted: bool,
    /// Whether the user asking is assigned to it (the visiting pair).
    pub user_is_member: bool,
    /// Whether its stored size passed the configured limit: it then accepts no more changes.
    pub over_size_limit: bool,
}

/// Decides what `user` may do with a document.
pub fn decide(user: &User, doc: Option<&DocFacts>) -> Access {
    let access = decide_by_role(user, doc);
    match (access, doc) {
        (Access::ReadWrite, Some(doc)) if doc.over_size_limit => Access::ReadOnly,
        _ => access,
    }
}

fn decide_by_role(user: &User, doc: Option<&DocFacts>) -> Access {
    let Some(doc) = doc else {
        return Access::None;
    };
    if user.disabled || doc.deleted {
        return Access::None;
    }
    match (doc.kind, user.role) {
        (DocKind::VisitCase, Role::Visitor) if doc.user_is_member => Access::ReadWrite,
        (DocKind::VisitCase, Role::Office) if user.visit_access => Access::ReadOnly,
        (DocKind::VisitCase, _) => Access::None,
        (_, Role::Office) => Access::ReadWrite,
        (_, Role::Trainer) if doc.team_id.is_some() && doc.team_id == user.team_id => {
            Access::ReadWrite
        }
        _ => Access::None,
    }
}

/// Whether `user` may register a new document of `kind` for `team_id`.
pub fn may_create(user: &User, kind: DocKind, team_id: Option<&str>) -> bool {
    match (kind, user.role) {
        (_, Role::Admin) => false,
        // A case is opened on the ward by one of its pair, who can write it from the start.
        (DocKind::VisitCase, Role::Visitor) => true,
        (DocKind::VisitCase, _) => false,
        (_, Role::Office) => true,
        (DocKind::TrainingSession, Role::Trainer) => {
            team_id.is_some() && team_id == user.team_id.as_deref()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, team: Option<&str>, visit_access: bool) -> User {
        User {
            id: "u".to_owned(),
            login: "u".to_owned(),
            display_name: "u".to_owned(),
            role,
            team_id: team.map(str::to_owned),
            visit_access,
            must_change_password: false,
            disabled: false,
        }
    }

    fn doc(kind: DocKind, team: Option<&str>, member: bool) -> DocFacts {
        DocFacts {
            kind,
            team_id: team.map(str::to_owned),
            deleted: false,
            user_is_member: member,
            over_size_limit: false,
        }
    }

    #[test]
    fn the_access_table_holds() {
        use Access::{ReadOnly, ReadWrite};
        use DocKind::*;
        use Role::*;
        let cases = [
            // (role, user team, visit access, kind, doc team, member) -> access
            (
                (Trainer, Some("t1"), false),
                (TrainingSession, Some("t1"), false),
                ReadWrite,
            ),
            (
                (Trainer, Some("t1"), false),
                (TrainingSession, Some("t2"), false),
                Access::None,
            ),
            (
                (Trainer, None, false),
                (TrainingSession, None, false),
                Access::None,
            ),
            (
                (Trainer, Some("t1"), false),
                (VisitCase, Some("t1"), true),
                Access::None,
            ),
            ((Visitor, None, false), (VisitCase, None, true), ReadWrite),
            (
                (Visitor, None, false),
                (VisitCase, None, false),
                Access::None,
            ),
            (
                (Visitor, Some("t1"), false),
                (TrainingSession, Some("t1"), false),
                Access::None,
            ),
            (
                (Office, None, false),
                (TrainingSession, Some("t1"), false),
                ReadWrite,
            ),
            (
                (Office, None, false),
                (VisitCase, None, false),
                Access::None,
            ),
            ((Office, None, true), (VisitCase, None, false), ReadOnly),
            (
                (Office, None, false),
                (CouncilMeeting, None, false),
                ReadWrite,
            ),
            ((Admin, None, true), (VisitCase, None, true), Access::None),
            (
                (Admin, None, false),
                (TrainingSession, Some("t1"), false),
                Access::None,
            ),
        ];
        for ((role, team, visit), (kind, doc_team, member), expected) in cases {
            let got = decide(&user(role, team, visit), Some(&doc(kind, doc_team, member)));
            assert_eq!(
                got, expected,
                "{role:?} of {team:?} (visit access {visit}) on {kind:?} of {doc_team:?} (member {member})"
            );
        }
    }

    #[test]
    fn unknown_deleted_and_disabled_mean_nothing() {
        let office = user(Role::Office, None, true);
        assert_eq!(decide(&office, None), Access::None);
        let mut deleted = doc(DocKind::TrainingSession, Some("t1"), false);
        deleted.deleted = true;
        assert_eq!(decide(&office, Some(&deleted)), Access::None);
        let mut disabled = office.clone();
        disabled.disabled = true;
        let live = doc(DocKind::TrainingSession, Some("t1"), false);
        assert_eq!(decide(&disabled, Some(&live)), Access::None);
    }

    #[test]
    fn a_document_over_the_size_limit_is_read_only_for_its_writers() {
        let trainer = user(Role::Trainer, Some("t1"), false);
        let mut big = doc(DocKind::TrainingSession, Some("t1"), false);
        big.over_size_limit = true;
        assert_eq!(decide(&trainer, Some(&big)), Access::ReadOnly);
        let outsider = user(Role::Trainer, Some("t2"), false);
        assert_eq!(decide(&outsider, Some(&big)), Access::None);
    }

    #[test]
    fn trainers_create_sessions_only_for_their_own_team() {
        let trainer = user(Role::Trainer, Some("t1"), false);
        assert!(may_create(&trainer, DocKind::TrainingSession, Some("t1")));
        assert!(!may_create(&trainer, DocKind::TrainingSession, Some("t2")));
        assert!(!may_create(&trainer, DocKind::VisitCase, Some("t1")));
        let admin = user(Role::Admin, None, true);
        assert!(!may_create(&admin, DocKind::TrainingSession, None));
    }
}
