//! Errors, with messages people can read.
//!
//! Two conventions, so the UI always knows which text to show:
//! - [`ValidationError`] and [`ParseError`] describe something a person typed; their `Display` is
//!   **Japanese** and goes straight to the screen.
//! - [`DocError`] describes an operation on a document; its `Display` is English, for logs, and
//!   [`DocError::message_ja`] gives the Japanese sentence for the screen.

use crate::geo::Area;

/// A value typed by a person could not be read. `Display` is Japanese.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("「{input}」は{what}として読み取れません")]
pub struct ParseError {
    /// What was expected, in Japanese (e.g. `日付`).
    pub what: &'static str,
    /// The text as typed.
    pub input: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str) -> ParseError {
        ParseError {
            what,
            input: input.to_owned(),
        }
    }
}

/// A stored code (an enum's stable string) is not one this version knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} code {code:?}")]
pub struct UnknownCode {
    /// The Rust type that was being read.
    pub type_name: &'static str,
    /// The code found.
    pub code: String,
}

/// A record breaks one of its rules. `Display` is Japanese, for the screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The name is not one of Miyagi's 35 市町村.
    #[error("「{0}」は宮城県の市町村として登録されていません")]
    UnknownMunicipality(String),
    /// A session with room for nobody.
    #[error("定員は1人以上にしてください")]
    CapacityZero,
    /// The end time is not after the start time.
    #[error("終了時刻（{end}）は開始時刻（{start}）より後にしてください")]
    EndNotAfterStart {
        /// Start, `HH:MM`.
        start: String,
        /// End, `HH:MM`.
        end: String,
    },
    /// 心のサポーター養成研修 needs its audience (地域住民/教育/企業).
    #[error("心のサポーター養成研修では対象（地域住民・教育・企業）を選んでください")]
    AudienceRequired,
    /// An audience was given for a kind of training that has none.
    #[error("対象（地域住民・教育・企業）は心のサポーター養成研修でのみ選べます")]
    AudienceNotApplicable,
    /// 地域生活支援関係者研修 needs its scope (全体/地域別).
    #[error("地域生活支援関係者研修では全体研修か地域別研修かを選んでください")]
    ScopeRequired,
    /// A scope was given for a kind of training that has none.
    #[error("全体・地域別の区分は地域生活支援関係者研修でのみ選べます")]
    ScopeNotApplicable,
    /// A required text field is empty.
    #[error("{0}を入力してください")]
    Required(&'static str),
    /// Kana must be hiragana or katakana (spaces allowed).
    #[error("ふりがな「{0}」はひらがなかカタカナで入力してください")]
    KanaNotKana(String),
    /// A birth year outside any living person's.
    #[error("生まれ年 {0} は1900年から2030年の間で入力してください")]
    BirthYearOutOfRange(u16),
    /// A visit case needs two different visitors.
    #[error("訪問支援員は異なる2人を指定してください")]
    VisitorsNotDistinct,
    /// The patient code is empty or has characters a code does not use.
    #[error("患者コード「{0}」の形式が正しくありません（英大文字・数字・ハイフンで4〜16文字）")]
    PatientCodeMalformed(String),
    /// The patient code looks like a person's name: names never go in a visit case.
    #[error("患者コードに氏名は入力できません。割り当てられたコードを入力してください")]
    PatientCodeLooksLikeName,
    /// A visit of no length.
    #[error("訪問時間は1分以上にしてください")]
    DurationZero,
    /// A date that comes before the one it follows.
    #[error("{later}（{later_date}）は{earlier}（{earlier_date}）より前にできません")]
    DateOutOfOrder {
        /// What must come first, in Japanese (e.g. `依頼日`).
        earlier: &'static str,
        /// Its date.
        earlier_date: String,
        /// What must come later (e.g. `退院日`).
        later: &'static str,
        /// Its date.
        later_date: String,
    },
    /// A subsidy above the 200千円 a group may receive in a year.
    #[error("補助金額 {0}円 は上限（200,000円）を超えています")]
    SubsidyOverLimit(u64),
    /// An area-level council meeting without its 圏域.
    #[error("圏域の協議の場では圏域を選んでください")]
    AreaRequired,
    /// A municipal council meeting without its 市町村.
    #[error("市町村の協議の場では市町村を選んでください")]
    MunicipalityRequired,
    /// An area given where the council level has none.
    #[error("この協議の場では圏域（{}）は指定できません", .0.label_ja())]
    AreaNotApplicable(Area),
}

/// An operation on a record document failed. `Display` is English (for logs); show
/// [`DocError::message_ja`] to people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// The change was refused because the record would break a rule.
    #[error("invalid record: {0}")]
    Invalid(#[from] ValidationError),
    /// The document holds another kind of record.
    #[error("expected a {expected} document, found {found:?}")]
    WrongKind {
        /// The kind asked for.
        expected: crate::DocKind,
        /// The `kind` field found, if any.
        found: Option<String>,
    },
    /// No entry with this id (attendee, visit, activity) exists in the document.
    #[error("no {what} with id {id} in this document")]
    NotFound {
        /// What was looked for (`attendee`, `visit`, `activity`).
        what: &'static str,
        /// The id.
        id: String,
    },
    /// An entry with this id already exists (ids are random, so this is a repeated request).
    #[error("a {what} with id {id} already exists")]
    AlreadyExists {
        /// What was added (`attendee`, `visit`, `activity`).
        what: &'static str,
        /// The id.
        id: String,
    },
    /// The attendee was withdrawn (entered by mistake); restore them before marking them.
    #[error("attendee {0} is withdrawn")]
    Withdrawn(String),
    /// A conflict's path no longer names a value in the document.
    #[error("no value at path {0}")]
    NoSuchPath(String),
    /// The document could not be read into the record type.
    #[error("could not hydrate the record")]
    Hydrate(#[from] autosurgeon::HydrateError),
    /// The record could not be written into the document.
    #[error("could not reconcile the record")]
    Reconcile(#[from] autosurgeon::ReconcileError),
    /// Automerge refused an operation.
    #[error("automerge error")]
    Automerge(#[from] automerge::AutomergeError),
}

impl DocError {
    /// The Japanese sentence to show people.
    pub fn message_ja(&self) -> String {
        match self {
            DocError::Invalid(error) => error.to_string(),
            DocError::WrongKind { .. } => "この記録の種類が違います".to_owned(),
            DocError::NotFound { what, .. } => {
                let what = match *what {
                    "attendee" => "参加者",
                    "visit" => "訪問記録",
                    "activity" => "活動記録",
                    _ => "項目",
                };
                format!("{what}が見つかりません。同期されていない可能性があります")
            }
            DocError::AlreadyExists { .. } => "同じ項目がすでに登録されています".to_owned(),
            DocError::Withdrawn(_) => {
                "この参加者は取り消されています。元に戻してから操作してください".to_owned()
            }
            DocError::NoSuchPath(_) => {
                "この項目はすでに変更されています。画面を更新してください".to_owned()
            }
            DocError::Hydrate(_) | DocError::Reconcile(_) | DocError::Automerge(_) => {
                "記録を読み書きできませんでした。アプリを更新してもう一度お試しください".to_owned()
            }
        }
    }
}
