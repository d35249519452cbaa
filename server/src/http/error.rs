//! The one error type handlers return: internals are logged, people get a plain message in
//! Japanese (the UI shows it as is) with a stable machine-readable code.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{accounts::AccountsError, db::DbError};

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session came with the request.
    #[error("not logged in")]
    Unauthenticated,
    /// Login name or password wrong (which one is not said).
    #[error("bad credentials")]
    BadCredentials,
    /// Too many failed logins for this account or address (accounts/throttle.rs).
    #[error("too many attempts")]
    TooManyAttempts,
    /// The second-factor code or recovery code was wrong.
    #[error("bad second factor")]
    BadSecondFactor,
    /// The pending login is unknown, finished, expired or worn out by wrong codes.
    #[error("login expired")]
    LoginExpired,
    /// Enrolment asked for a user who has a second factor already.
    #[error("already enrolled")]
    AlreadyEnrolled,
    /// The request body was compressed; nimo decompresses nothing it receives.
    #[error("compressed request body")]
    EncodedBody,
    /// A cookie-authenticated write came from another origin, or without one.
    #[error("foreign origin")]
    ForeignOrigin,
    /// The user must change a bootstrap password first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// The user may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The thing asked for does not exist (or is not visible to this user).
    #[error("not found")]
    NotFound,
    /// The request conflicts with what exists (an id registered differently).
    #[error("conflict")]
    Conflict,
    /// A login on a device that keeps another person's records (one person per device).
    #[error("the device keeps another person's records")]
    DeviceHeld,
    /// What the request was based on has changed meanwhile (someone else acted first); the
    /// message says what to do, in Japanese.
    #[error("outdated: {0}")]
    Outdated(String),
    /// The request is malformed; the message says how, in Japanese.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Something that should not fail did; details are in the log.
    #[error("internal error")]
    Internal,
    /// An account operation failed.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// The database failed; the details go to the log, not to the client.
    #[error("database failure")]
    Db(#[from] DbError),
}

impl From<crate::accounts::PasswordError> for AppError {
    fn from(error: crate::accounts::PasswordError) -> Self {
        Self::Accounts(AccountsError::Password(error))
    }
}

/// An audit row that cannot be written fails the request it belongs to: the action must not
/// happen unaudited. The cause goes to the log, the client gets a plain 500.
impl From<crate::audit::AuditError> for AppError {
    fn from(error: crate::audit::AuditError) -> Self {
        tracing::error!(%error, "cannot write the audit log");
        Self::Internal
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(error))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    error: &'a str,
}

const UNAVAILABLE: &str =
    "サーバーの保存領域が利用できません。しばらくしてからもう一度お試しください。";

impl AppError {
    /// What the client is told: the status, a stable code and a message in Japanese.
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "ログインしてください。".to_owned(),
            ),
            Self::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "ログイン名またはパスワードが違います。".to_owned(),
            ),
            Self::TooManyAttempts => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "ログインの失敗が続いたため、しばらく受け付けません。時間をおいてお試しください。"
                    .to_owned(),
            ),
            Self::BadSecondFactor => (
                StatusCode::UNAUTHORIZED,
                "bad_mfa_code",
                "確認コードが違います。".to_owned(),
            ),
            Self::LoginExpired => (
                StatusCode::UNAUTHORIZED,
                "login_expired",
                "ログインの有効期限が切れました。もう一度パスワードを入力してください。".to_owned(),
            ),
            Self::AlreadyEnrolled => (
                StatusCode::CONFLICT,
                "mfa_already_enrolled",
                "二段階認証はすでに設定されています。".to_owned(),
            ),
            Self::EncodedBody => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "encoded_body",
                "圧縮された送信内容は受け付けていません。".to_owned(),
            ),
            Self::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "foreign_origin",
                "このページからは操作できません。".to_owned(),
            ),
            Self::PasswordChangeRequired => (
                StatusCode::FORBIDDEN,
                "password_change_required",
                "初回ログインのため、パスワードを変更してください。".to_owned(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "この操作を行う権限がありません。".to_owned(),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "見つかりません。".to_owned(),
            ),
            Self::Conflict => (
                StatusCode::CONFLICT,
                "conflict",
                "同じIDの文書が別の内容で登録されています。".to_owned(),
            ),
            Self::DeviceHeld => (
                StatusCode::CONFLICT,
                "device_held",
                "この端末は別の人の記録を保存しています。その人が同期してログアウトしてから使ってください。"
                    .to_owned(),
            ),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "bad_request", message.clone()),
            Self::Outdated(message) => (StatusCode::CONFLICT, "outdated", message.clone()),
            Self::Accounts(AccountsError::Password(error)) => (
                StatusCode::BAD_REQUEST,
                "bad_password",
                match error {
                    crate::accounts::PasswordError::TooShort => {
                        "パスワードは12文字以上にしてください。".to_owned()
                    }
                    crate::accounts::PasswordError::TooLong => {
                        "パスワードが長すぎます。".to_owned()
                    }
                    crate::accounts::PasswordError::Hash(_) => UNAVAILABLE.to_owned(),
                },
            ),
            Self::Accounts(_) | Self::Db(_) | Self::Internal => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                UNAVAILABLE.to_owned(),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, cause = ?std::error::Error::source(&self), "request failed");
        }
        (
            status,
            Json(ErrorBody {
                code,
                error: &message,
            }),
        )
            .into_response()
    }
}
