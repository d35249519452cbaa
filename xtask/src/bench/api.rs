//! nimo's REST calls the bench makes as an API client: login (bearer token), tickets,
//! registration and the manifest.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::servers::{NIMO_LOGIN, NIMO_PASSWORD};

/// A logged-in API client of one nimo server.
#[derive(Debug, Clone)]
pub struct NimoApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// `POST /api/sync/ticket`'s answer.
#[derive(Debug)]
pub struct Ticket {
    /// The single-use ticket.
    pub ticket: String,
    /// The peer id the join must carry.
    pub peer_id: String,
}

impl NimoApi {
    /// Logs the benchmark trainer in at `http://127.0.0.1:{port}`.
    pub async fn login(port: u16) -> anyhow::Result<Self> {
        Self::login_as(port, NIMO_LOGIN, NIMO_PASSWORD).await
    }

    /// Logs `login` in at `http://127.0.0.1:{port}`. A role that needs a second factor (office
    /// staff) is enrolled at its first login, as a person with an authenticator app would be:
    /// the server's secret, the current code.
    pub async fn login_as(port: u16, login: &str, password: &str) -> anyhow::Result<Self> {
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/login"))
            .json(&json!({ "login": login, "password": password, "client": "api" }))
            .send()
            .await?;
        let status = response.status();
        let mut answer: Value = response.json().await?;
        if status == reqwest::StatusCode::UNAUTHORIZED && answer["code"] == "mfa_enrolment_required"
        {
            let challenge = answer["challenge"]
                .as_str()
                .context("no challenge")?
                .to_owned();
            let enrolment: Value = http
                .post(format!("{base}/api/login/mfa/enrol"))
                .json(&json!({ "challenge": challenge }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let secret = enrolment["secret"].as_str().context("no secret")?;
            answer = http
                .post(format!("{base}/api/login/mfa"))
                .json(&json!({ "challenge": challenge, "code": totp_now(secret)? }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
        } else {
            anyhow::ensure!(
                status.is_success(),
                "login of {login} refused: {status} {answer}"
            );
        }
        let token = answer["token"]
            .as_str()
            .with_context(|| format!("no token in {answer}"))?
            .to_owned();
        Ok(Self { base, token, http })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A fresh ticket.
    pub async fn ticket(&self) -> anyhow::Result<Ticket> {
        let answer: Value = self
            .http
            .post(format!("{}/api/sync/ticket", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(Ticket {
            ticket: answer["ticket"].as_str().context("no ticket")?.to_owned(),
            peer_id: answer["peer_id"].as_str().context("no peer_id")?.to_owned(),
        })
    }

    /// The sync socket's URL for `ticket`.
    pub fn ws_url(&self, ticket: &str) -> String {
        format!(
            "{}/api/sync/ws?ticket={ticket}",
            self.base.replacen("http://", "ws://", 1)
        )
    }

    /// Registers a training session document (repeating a registration is harmless).
    pub async fn register(&self, doc_id: &str) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/api/docs", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "id": doc_id, "kind": "training_session" }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("registering {doc_id}"))?;
        Ok(())
    }

    /// Registers training session documents, many per request (`POST /api/docs/batch`, as
    /// nimo's own client registers what it made offline); fails unless every one is registered.
    pub async fn register_all(&self, doc_ids: &[String]) -> anyhow::Result<()> {
        for batch in doc_ids.chunks(500) {
            let docs: Vec<_> = batch
                .iter()
                .map(|id| json!({ "id": id, "kind": "training_session" }))
                .collect();
            let answer: Value = self
                .http
                .post(format!("{}/api/docs/batch", self.base))
                .bearer_auth(&self.token)
                .json(&json!({ "docs": docs }))
                .send()
                .await?
                .error_for_status()
                .context("registering a batch")?
                .json()
                .await?;
            let results = answer["results"].as_array().context("no results")?;
            if results.len() != batch.len() {
                bail!("{} results for {} documents", results.len(), batch.len());
            }
            if let Some(refused) = results
                .iter()
                .find(|r| !matches!(r["status"].as_u64(), Some(200 | 201)))
            {
                bail!("a registration was refused: {refused}");
            }
        }
        Ok(())
    }

    /// A GET with the bearer token; returns the body.
    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        self.get_with(path, &[]).await
    }

    /// [`Self::get`] with extra request headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(request.send().await?.error_for_status()?.text().await?)
    }
}

impl NimoApi {
    /// A POST of `body` with the bearer token; returns the JSON answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

/// The current RFC 6238 code (HMAC-SHA1, 30 s steps, 6 digits) of a base32 secret.
fn totp_now(secret_base32: &str) -> anyhow::Result<String> {
    use hmac::{Hmac, Mac as _};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut secret = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in secret_base32.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .context("the TOTP secret is not base32")?;
        buffer = (buffer << 5) | u32::try_from(value)?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            secret.push(u8::try_from((buffer >> bits) & 0xff)?);
        }
    }
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        / 30;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&secret)?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let code = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) % 1_000_000;
    Ok(format!("{code:06}"))
}
