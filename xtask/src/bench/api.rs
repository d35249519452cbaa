//! nimo's REST calls the bench makes as an API client: login (bearer token), tickets,
//! registration and the manifest.

use anyhow::Context as _;
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
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{base}/api/login"))
            .json(&json!({ "login": NIMO_LOGIN, "password": NIMO_PASSWORD, "client": "api" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
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

    /// A GET with the bearer token; returns the body.
    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
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
