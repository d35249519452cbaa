//! JSON over `fetch` to the app's own server (same origin, so the session cookie goes along).

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

use crate::store::idb::describe;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// No answer: offline, or the server is down.
    Offline(String),
    /// The server answered with an error status and this body (its error JSON, see
    /// [`ServerError`], or whatever a proxy in between sent).
    Status(u16, String),
    /// The answer was not the expected JSON.
    BadAnswer(String),
    /// Not sent: the app itself refused, for this (Japanese) reason.
    Refused(String),
}

/// The server's error answer (`server/src/http/error.rs`): a code for programs, a Japanese
/// message for people.
#[derive(Debug, Deserialize)]
struct ServerError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: String,
}

impl NetError {
    /// The server's code for what it refused (`device_held`, `unauthenticated`, …), when it
    /// answered with one.
    pub fn code(&self) -> Option<String> {
        match self {
            NetError::Status(_, body) => serde_json::from_str::<ServerError>(body)
                .ok()
                .map(|answer| answer.code)
                .filter(|code| !code.is_empty()),
            _ => None,
        }
    }

    /// The text to show a person: the server's own message where it sent one, never its raw
    /// answer.
    pub fn message_ja(&self) -> String {
        match self {
            NetError::Offline(_) => {
                "サーバーに接続できません。電波のある場所でもう一度お試しください。".to_owned()
            }
            NetError::Status(status, body) => match serde_json::from_str::<ServerError>(body) {
                // Any call but the login's: the session ended on the server.
                Ok(answer) if answer.code == "unauthenticated" => {
                    "ログインの有効期限が切れました。もう一度ログインしてください。".to_owned()
                }
                Ok(answer) if !answer.error.trim().is_empty() => answer.error,
                _ if *status == 401 => "ログイン名またはパスワードが違います。".to_owned(),
                _ => format!("サーバーがエラーを返しました（{status}）。"),
            },
            NetError::BadAnswer(_) => "サーバーの応答を読み取れません。".to_owned(),
            NetError::Refused(reason) => reason.clone(),
        }
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Offline(why) => write!(f, "offline: {why}"),
            NetError::Status(status, message) => write!(f, "HTTP {status}: {message}"),
            NetError::BadAnswer(why) => write!(f, "bad answer: {why}"),
            NetError::Refused(why) => write!(f, "refused here: {why}"),
        }
    }
}

async fn call(method: &str, path: &str, body: Option<String>) -> Result<String, NetError> {
    let offline = |e: JsValue| NetError::Offline(describe(&e));
    let window = web_sys::window().ok_or_else(|| NetError::Offline("no window".into()))?;
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = Headers::new().map_err(offline)?;
        headers
            .set("Content-Type", "application/json")
            .map_err(offline)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
    }
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(offline)?
        .dyn_into()
        .map_err(offline)?;
    let text = JsFuture::from(response.text().map_err(offline)?)
        .await
        .map_err(offline)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        Ok(text)
    } else {
        Err(NetError::Status(response.status(), text))
    }
}

fn parse<R: DeserializeOwned>(text: &str) -> Result<R, NetError> {
    serde_json::from_str(text).map_err(|e| NetError::BadAnswer(e.to_string()))
}

/// `POST path` with a JSON body, reading a JSON answer.
pub async fn post_json<B: Serialize, R: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<R, NetError> {
    let body = serde_json::to_string(body).map_err(|e| NetError::BadAnswer(e.to_string()))?;
    parse(&call("POST", path, Some(body)).await?)
}

/// `POST path` with a JSON body, ignoring the answer's body.
pub async fn post_json_unit<B: Serialize>(path: &str, body: &B) -> Result<(), NetError> {
    let body = serde_json::to_string(body).map_err(|e| NetError::BadAnswer(e.to_string()))?;
    call("POST", path, Some(body)).await.map(|_| ())
}

/// `GET path`, reading a JSON answer.
pub async fn get_json<R: DeserializeOwned>(path: &str) -> Result<R, NetError> {
    parse(&call("GET", path, None).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_reads_the_servers_message_not_its_answer() {
        let refused = NetError::Status(
            403,
            r#"{"code":"forbidden","error":"この記録を登録する権限がありません。"}"#.to_owned(),
        );
        assert_eq!(refused.message_ja(), "この記録を登録する権限がありません。");
        let wrong_password = NetError::Status(
            401,
            r#"{"code":"bad_credentials","error":"ログイン名またはパスワードが違います。"}"#
                .to_owned(),
        );
        assert_eq!(
            wrong_password.message_ja(),
            "ログイン名またはパスワードが違います。"
        );
        let ended = NetError::Status(
            401,
            r#"{"code":"unauthenticated","error":"ログインしてください。"}"#.to_owned(),
        );
        assert!(
            ended.message_ja().contains("有効期限"),
            "{}",
            ended.message_ja()
        );
        // A proxy's page is not shown.
        let proxy = NetError::Status(502, "<html><body>Bad Gateway</body></html>".to_owned());
        assert_eq!(proxy.message_ja(), "サーバーがエラーを返しました（502）。");
        assert_eq!(
            NetError::Status(401, String::new()).message_ja(),
            "ログイン名またはパスワードが違います。"
        );
        assert_eq!(NetError::Refused("理由".to_owned()).message_ja(), "理由");
    }

    #[test]
    fn the_servers_code_is_read_from_its_answer_only() {
        let held = NetError::Status(
            409,
            r#"{"code":"device_held","error":"この端末は別の人の記録を保存しています。"}"#
                .to_owned(),
        );
        assert_eq!(held.code().as_deref(), Some("device_held"));
        assert_eq!(
            NetError::Status(502, "<html></html>".to_owned()).code(),
            None
        );
        assert_eq!(NetError::Offline("no network".to_owned()).code(), None);
    }
}
