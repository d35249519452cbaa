//! Helpers for nimo's cross-crate integration tests: the real server, started in-process on
//! 127.0.0.1:0 with a temporary data directory, reached over real TCP.

pub mod db_check;
pub mod fixtures;
pub mod flaky_proxy;
pub mod native_client;
pub mod raw_sync;
pub mod sample;
pub mod server_process;
pub mod typed_tree;

use std::{net::SocketAddr, path::Path};

use nimo_server::{
    AppState, Config,
    accounts::{NewUser, Role, User, totp},
};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server and the temporary directories it owns.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// The authenticator app of every user enrolled through [`TestServer::api_client`].
    authenticators: std::sync::Mutex<std::collections::HashMap<String, Authenticator>>,
    /// Its state, for looking into the database directly.
    pub state: AppState,
    data: TempDir,
    dist: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with an empty database and a minimal app shell.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with the configuration adjusted by `adjust` first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let dist = tempfile::tempdir()?;
        write_minimal_shell(dist.path())?;
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data.path().to_owned(),
            dist_dir: dist.path().to_owned(),
            ..Config::default()
        };
        adjust(&mut config);
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let state = AppState::open(config).await?;
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(nimo_server::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            authenticators: std::sync::Mutex::default(),
            state,
            data,
            dist,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The data directory holding the database.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The app shell directory.
    pub fn dist_dir(&self) -> &Path {
        self.dist.path()
    }

    /// Creates the two visitors `visitor1` and `visitor2` (a visiting pair).
    pub async fn add_visiting_pair(&self) -> anyhow::Result<(User, User)> {
        Ok((
            self.add_user("visitor1", Role::Visitor, None, false)
                .await?,
            self.add_user("visitor2", Role::Visitor, None, false)
                .await?,
        ))
    }

    /// A trainer `login` of `team`, added and logged in.
    pub async fn trainer(&self, login: &str, team: &str) -> anyhow::Result<ApiClient> {
        self.add_user(login, Role::Trainer, Some(team), false)
            .await?;
        self.api_client(login).await
    }

    /// A trainer `trainer` of 仙南, logged in, whose samod peer created a session document
    /// (title 研修), registered it and connected: the arrangement of most sync tests.
    pub async fn trainer_with_a_session(&self) -> anyhow::Result<TrainerWithSession> {
        self.add_user("trainer", Role::Trainer, Some("仙南"), false)
            .await?;
        let client = self.api_client("trainer").await?;
        let peer = samod_peer(&client).await?;
        let handle = peer
            .create_with(|tx| {
                automerge::transaction::Transactable::put(tx, automerge::ROOT, "title", "研修")
            })
            .await?;
        let doc_id = handle.document_id().to_string();
        client.register(&doc_id, "training_session", &[]).await?;
        peer.connect().await?;
        Ok(TrainerWithSession {
            client,
            peer,
            handle,
            doc_id,
        })
    }

    /// Creates a user directly in the database and returns them; the password is
    /// [`PASSWORD`].
    pub async fn add_user(
        &self,
        login: &str,
        role: Role,
        team: Option<&str>,
        visit_access: bool,
    ) -> anyhow::Result<User> {
        let new = NewUser {
            login: login.to_owned(),
            display_name: format!("{login} さん"),
            role,
            team: team.map(str::to_owned),
            visit_access,
            must_change_password: false,
        };
        Ok(self
            .state
            .db
            .call(
                move |conn| -> Result<User, nimo_server::accounts::AccountsError> {
                    User::create(conn, &new, PASSWORD)
                },
            )
            .await?)
    }

    /// Logs in as an API client and returns a client that sends the bearer token. For roles
    /// that need a second factor, the first login enrols an [`Authenticator`] over the real
    /// enrolment API and later logins use its codes.
    pub async fn api_client(&self, login: &str) -> anyhow::Result<ApiClient> {
        let authenticator = self.authenticator(login);
        let (client, enrolled) =
            ApiClient::login_with_second_factor(&self.url(""), login, PASSWORD, authenticator)
                .await?;
        if let Some(enrolled) = enrolled {
            self.authenticators
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(login.to_owned(), enrolled);
        }
        Ok(client)
    }

    /// The authenticator app `login` enrolled, if any.
    pub fn authenticator(&self, login: &str) -> Option<Authenticator> {
        self.authenticators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(login)
            .cloned()
    }

    /// Stops serving but keeps the data directory, so [`TestServer::serve_again`] can bring
    /// the same database back (devices see the server go away and return).
    pub async fn stop_serving(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }

    /// Serves again on the same address and data directory after
    /// [`TestServer::stop_serving`]; clients made earlier keep working (their sessions are in
    /// the database).
    pub async fn serve_again(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.task.is_none(), "the server is still serving");
        let config = Config {
            listen: self.address,
            ..(*self.state.config).clone()
        };
        let listener = TcpListener::bind(self.address).await?;
        self.state = AppState::open(config).await?;
        let (shutdown, stopped) = oneshot::channel();
        self.task = Some(tokio::spawn(nimo_server::serve(
            self.state.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
        )));
        self.shutdown = Some(shutdown);
        Ok(())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

/// A user's authenticator app: the TOTP secret, and the last step it gave a code for (the server
/// accepts each code once, so two logins within one 30 s step need the next step's code).
#[derive(Debug, Clone)]
pub struct Authenticator {
    secret: Vec<u8>,
    last_step: std::sync::Arc<std::sync::Mutex<i64>>,
}

impl Authenticator {
    /// The app for a base32 secret, as the enrolment API returns it.
    pub fn from_base32(secret: &str) -> anyhow::Result<Self> {
        Ok(Self {
            secret: totp::base32_decode(secret)
                .ok_or_else(|| anyhow::anyhow!("the secret is not base32"))?,
            last_step: std::sync::Arc::default(),
        })
    }

    /// A code the server has not seen yet: the current step's, or the next one (accepted as
    /// drift), waiting for time to pass when both are used.
    pub async fn next_code(&self) -> String {
        loop {
            let now = nimo_server::accounts::now_ms();
            let current = totp::step_at(now);
            let wait_ms = {
                let mut last = self
                    .last_step
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let step = current.max(*last + 1);
                if step <= current + totp::ALLOWED_DRIFT_STEPS {
                    *last = step;
                    return totp::format_code(totp::code_at(&self.secret, step));
                }
                (current + 1) * totp::STEP_MS - now
            };
            tokio::time::sleep(std::time::Duration::from_millis(
                u64::try_from(wait_ms.max(1)).unwrap_or(1),
            ))
            .await;
        }
    }

    /// A code that is certainly wrong now.
    pub fn wrong_code(&self) -> String {
        let now = totp::step_at(nimo_server::accounts::now_ms());
        let valid: Vec<u32> = (now - 1..=now + 1)
            .map(|step| totp::code_at(&self.secret, step))
            .collect();
        let wrong = (0..1_000_000)
            .find(|candidate| !valid.contains(candidate))
            .unwrap_or(0);
        totp::format_code(wrong)
    }
}

/// The password of every user made by [`TestServer::add_user`].
pub const PASSWORD: &str = "a long test password";

/// An API client holding a bearer token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// Logs in to the server at `base` (e.g. `http://127.0.0.1:41234`) as an API client, for a
    /// role without a second factor.
    pub async fn login(base: &str, login: &str, password: &str) -> anyhow::Result<Self> {
        let (client, _) = Self::login_with_second_factor(base, login, password, None).await?;
        Ok(client)
    }

    /// Logs in as an API client, answering a second-factor challenge with `authenticator`, or
    /// enrolling a new one when the server asks for enrolment (returned as the second value).
    pub async fn login_with_second_factor(
        base: &str,
        login: &str,
        password: &str,
        authenticator: Option<Authenticator>,
    ) -> anyhow::Result<(Self, Option<Authenticator>)> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({ "login": login, "password": password, "client": "api" }))
            .send()
            .await?;
        let status = response.status();
        let mut body: serde_json::Value = response.json().await?;
        let mut enrolled = None;
        if status == reqwest::StatusCode::UNAUTHORIZED
            && (body["code"] == "mfa_required" || body["code"] == "mfa_enrolment_required")
        {
            let challenge = body["challenge"].as_str().unwrap_or_default().to_owned();
            let app = match (body["code"].as_str(), authenticator) {
                (Some("mfa_required"), Some(app)) => app,
                (Some("mfa_required"), None) => {
                    anyhow::bail!("{login} needs a second factor and no authenticator was given")
                }
                _ => {
                    let enrolment: serde_json::Value = http
                        .post(format!("{base}/api/login/mfa/enrol"))
                        .json(&serde_json::json!({ "challenge": challenge }))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    let app = Authenticator::from_base32(
                        enrolment["secret"].as_str().unwrap_or_default(),
                    )?;
                    enrolled = Some(app.clone());
                    app
                }
            };
            body = http
                .post(format!("{base}/api/login/mfa"))
                .json(&serde_json::json!({ "challenge": challenge, "code": app.next_code().await }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
        } else if !status.is_success() {
            anyhow::bail!("login of {login} refused: {status} {body}");
        }
        let token = body["token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no token in {body}"))?
            .to_owned();
        Ok((
            Self {
                base: base.to_owned(),
                token,
                http,
            },
            enrolled,
        ))
    }

    /// The same session at another base URL (a server restarted on a new port).
    pub fn with_base(&self, base: &str) -> Self {
        Self {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    /// The bearer token, for handing to another client (the JavaScript interop peer).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A request to `path` with the bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// POST `body` as JSON to `path` and return the status and JSON answer.
    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// GET `path` and return the JSON answer, failing on an error status.
    pub async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .request(reqwest::Method::GET, path)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Registers a document.
    pub async fn register(
        &self,
        id: &str,
        kind: &str,
        members: &[&str],
    ) -> anyhow::Result<reqwest::StatusCode> {
        let (status, _) = self
            .post(
                "/api/docs",
                serde_json::json!({ "id": id, "kind": kind, "members": members }),
            )
            .await?;
        Ok(status)
    }

    /// Polls `POST /api/sync/confirm` for up to five seconds until the server says every head in
    /// `heads` of `doc_id` is durably stored; false if it never does.
    pub async fn wait_until_stored(&self, doc_id: &str, heads: &[String]) -> anyhow::Result<bool> {
        for _ in 0..100 {
            let (_, answer) = self
                .post(
                    "/api/sync/confirm",
                    serde_json::json!({ "documents": [{ "id": doc_id, "heads": heads }] }),
                )
                .await?;
            if answer["stored"].as_array().is_some_and(|s| !s.is_empty()) {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(false)
    }

    /// A fresh WebSocket ticket and its peer id.
    pub async fn ticket(&self) -> anyhow::Result<(String, String)> {
        let (status, body) = self.post("/api/sync/ticket", serde_json::json!({})).await?;
        anyhow::ensure!(status.is_success(), "ticket refused: {status} {body}");
        let field = |name: &str| {
            body[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no {name} in {body}"))
        };
        Ok((field("ticket")?, field("peer_id")?))
    }

    /// The WebSocket URL for `ticket`.
    pub fn ws_url(&self, ticket: &str) -> String {
        format!(
            "{}/api/sync/ws?ticket={ticket}",
            self.base.replacen("http://", "ws://", 1)
        )
    }
}

/// An index.html and one hashed asset, enough to test how the shell is served.
fn write_minimal_shell(dist: &Path) -> std::io::Result<()> {
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><html lang=\"ja\"><title>nimo</title></html>",
    )?;
    std::fs::write(dist.join("boot-0123456789abcdef.js"), "export {};")?;
    std::fs::write(dist.join("manifest.webmanifest"), "{}")
}

/// What [`TestServer::trainer_with_a_session`] arranged.
#[derive(Debug)]
pub struct TrainerWithSession {
    /// The trainer's API client.
    pub client: ApiClient,
    /// The trainer's connected samod peer.
    pub peer: SamodPeer,
    /// The session document.
    pub handle: samod::DocHandle,
    /// Its id.
    pub doc_id: String,
}

/// A document's heads as the hex strings the API uses.
pub fn hex_heads(doc: &automerge::Automerge) -> Vec<String> {
    doc.get_heads().iter().map(ToString::to_string).collect()
}

/// A visit case `owner`'s samod peer created with one field (`key`: `value`), registered for
/// the pair `members`, pushed and stored by the server: the connected peer, the case's handle
/// and its id.
pub async fn pushed_visit_case(
    owner: &ApiClient,
    members: [&str; 2],
    (key, value): (&str, &str),
) -> anyhow::Result<(SamodPeer, samod::DocHandle, String)> {
    let peer = samod_peer(owner).await?;
    let handle = peer
        .create_with(|tx| {
            automerge::transaction::Transactable::put(tx, automerge::ROOT, key, value)
        })
        .await?;
    let doc_id = handle.document_id().to_string();
    owner.register(&doc_id, "visit_case", &members).await?;
    peer.connect().await?;
    anyhow::ensure!(
        owner
            .wait_until_stored(&doc_id, &handle.with_document(|d| hex_heads(d)))
            .await?,
        "the case was not stored"
    );
    Ok((peer, handle, doc_id))
}

/// A samod repository acting as a device: its peer id comes from a server ticket, and it
/// connects once over a real WebSocket.
pub struct SamodPeer {
    repo: samod::Repo,
    url: String,
}

impl std::fmt::Debug for SamodPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamodPeer").field("url", &self.url).finish()
    }
}

/// A samod peer for `client`'s user, not yet connected.
pub async fn samod_peer(client: &ApiClient) -> anyhow::Result<SamodPeer> {
    let (ticket, peer_id) = client.ticket().await?;
    let repo = samod::Repo::build_tokio()
        .with_peer_id(samod::PeerId::from(peer_id.as_str()))
        .load()
        .await;
    Ok(SamodPeer {
        repo,
        url: client.ws_url(&ticket),
    })
}

impl SamodPeer {
    /// Creates a document whose first change is made by `f`.
    pub async fn create_with<F>(&self, f: F) -> anyhow::Result<samod::DocHandle>
    where
        F: FnOnce(
            &mut automerge::transaction::Transaction<'_>,
        ) -> Result<(), automerge::AutomergeError>,
    {
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        f(&mut tx)?;
        tx.commit();
        Ok(self.repo.create(doc).await?)
    }

    /// Hands an existing document to the repository.
    pub async fn create_doc(&self, doc: automerge::Automerge) -> anyhow::Result<samod::DocHandle> {
        Ok(self.repo.create(doc).await?)
    }

    /// Connects to the server with the ticket (once: tickets are single-use) and waits for the
    /// handshake.
    pub async fn connect(&self) -> anyhow::Result<()> {
        let dialer = std::sync::Arc::new(OnceDialer {
            url: url::Url::parse(&self.url)?,
        });
        // One retry, for a race inside samod 0.16's `Repo::dial` (the client side, which nimo's
        // server does not use): it hands the dial to its IO loop before it records the dialer, so
        // on a multi-threaded runtime the IO loop sometimes finds "no dialer registered" and
        // gives up without connecting (a third of the attempts with two workers). Nothing was
        // sent then, so the single-use ticket is still good for the retry.
        let backoff = samod::BackoffConfig {
            initial_delay: std::time::Duration::from_millis(10),
            max_delay: std::time::Duration::from_millis(10),
            max_retries: Some(1),
        };
        let handle = self.repo.dial(backoff, dialer)?;
        tokio::time::timeout(std::time::Duration::from_secs(10), handle.established())
            .await
            .map_err(|_| anyhow::anyhow!("the handshake did not complete in 10 s"))?
            .map_err(|e| anyhow::anyhow!("dial failed: {e:?}"))?;
        Ok(())
    }

    /// Looks a document up through the server: `None` when the server has it not, or will not
    /// share it.
    pub async fn find(&self, doc_id: &str) -> anyhow::Result<Option<samod::DocHandle>> {
        let id: samod::DocumentId = doc_id.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(
            tokio::time::timeout(std::time::Duration::from_secs(10), self.repo.find(id))
                .await
                .map_err(|_| anyhow::anyhow!("find did not finish in 10 s"))??,
        )
    }

    /// The underlying repository.
    pub fn repo(&self) -> &samod::Repo {
        &self.repo
    }
}

struct OnceDialer {
    url: url::Url,
}

impl samod::Dialer for OnceDialer {
    type Error = tokio_tungstenite::tungstenite::Error;

    fn url(&self) -> url::Url {
        self.url.clone()
    }

    fn connect(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<samod::Transport, samod::DialError<Self::Error>>>
    {
        use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        let url = self.url.clone();
        Box::pin(async move {
            let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .map_err(samod::DialError::PermanentFailure)?;
            let (sink, stream) = socket.split();
            let stream = stream
                .try_filter_map(|message| async move {
                    Ok(match message {
                        Message::Binary(bytes) => Some(bytes.to_vec()),
                        _ => None,
                    })
                })
                .boxed();
            let sink = sink.with(|bytes: Vec<u8>| async move {
                Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::Binary(bytes.into()))
            });
            Ok(samod::Transport::new(stream, Box::pin(sink)))
        })
    }
}

/// A client WebSocket as `tokio_tungstenite::connect_async` opens it.
pub type ClientSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits up to `limit` for the server to close `socket` (a close frame, an error or the end of
/// the stream; other frames are skipped) and says how long after `since` that was; `None` if it
/// stayed open.
pub async fn time_to_close(
    socket: &mut ClientSocket,
    since: std::time::Instant,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return since.elapsed(),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .ok()
}
