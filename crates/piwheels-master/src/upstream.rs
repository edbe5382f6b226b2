//! The upstream index CloudGazer follows: which one it is (the master's configuration, else
//! the index pip itself is configured with) and a client for its simple API, PEP 691 JSON
//! with a fall-back to PEP 503 HTML (piwheels.md §9.5, option 2).
//!
//! Every request has a timeout, and every failure is an [`UpstreamError`] value: nothing
//! here panics on what a server sends. Pages are fetched conditionally (`If-None-Match`
//! with the `ETag` last seen), and the project list's `_last-serial` per project (PEP 691)
//! tells which project pages changed at all.
//!
//! ```no_run
//! # async fn example() -> Result<(), piwheels_master::upstream::UpstreamError> {
//! use std::time::Duration;
//! use piwheels_master::upstream::{Fetched, IndexClient};
//!
//! let client = IndexClient::new("http://127.0.0.1:8000/simple/", Duration::from_secs(30))?;
//! if let Fetched::Changed { value: list, .. } = client.projects(None).await? {
//!     for project in &list.projects {
//!         if let Some(Fetched::Changed { value: page, .. }) = client.project(&project.name, None).await? {
//!             println!("{}: {} files", page.name, page.files.len());
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use std::ffi::OsString;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use piwheels_db::canonicalize_name;
use serde_json::Value;

use crate::config::MasterConfig;

pub mod changelog;
mod list;
mod pages;
mod retry;

pub use list::{
    Limited, ReadError, parse_project_list_json, read_project_list_html, read_project_list_json,
};
pub use pages::{
    PageError, classify, parse_project_html, parse_project_json, parse_project_list_html, unescape,
};
use retry::Gate;
pub use retry::{MAX_RETRY_AFTER, parse_retry_after};

/// The media type of PEP 691 JSON pages.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// What the client accepts, best first: PEP 691 JSON, then PEP 691's HTML, then plain
/// PEP 503 HTML.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The most a page may weigh: the project list of a large index is tens of megabytes
/// (it is read as it arrives, so this bounds the time spent on it, not the memory).
pub const MAX_BODY: u64 = 512 << 20;

/// How many times a page's timeout the project list is given by default (it is large).
pub const LIST_TIMEOUT_FACTOR: u32 = 10;

/// The most a JSON API document may weigh (it lists every file of every release).
pub const MAX_JSON: u64 = 32 << 20;

/// Why talking to the upstream index (or asking pip about it) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The page asked for.
        url: String,
        /// The status.
        status: u16,
    },
    /// No answer: connection refused, timeout, TLS, a bad URL.
    #[error("{url}: {why}")]
    Transport {
        /// The page asked for.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// An answer that is not a simple-index page.
    #[error("{url}: not a simple-index page: {why}")]
    Parse {
        /// The page.
        url: String,
        /// What was wrong with it.
        why: PageError,
    },
    /// The server answered `429` or `503` with a `Retry-After`: no request goes to it
    /// again (from any clone of the client) before that wait is over.
    #[error(
        "{url}: rate limited (HTTP status {status}), waiting {retry_after:?} before asking again"
    )]
    RateLimited {
        /// The page asked for.
        url: String,
        /// The status (429 or 503).
        status: u16,
        /// How long the server asked to be left alone, at most [`MAX_RETRY_AFTER`].
        retry_after: Duration,
    },
    /// pip could not tell which index it uses.
    #[error("asking pip for its index: {0}")]
    Pip(String),
    /// An XML-RPC fault: the endpoint understood the call and refused it (−32500 is
    /// PyPI's rate limit).
    #[error("{url}: XML-RPC fault {code}: {message}")]
    Fault {
        /// The endpoint.
        url: String,
        /// The fault's code.
        code: i64,
        /// The fault's message, on one line, cut short.
        message: String,
    },
    /// An answer that is not the XML-RPC answer expected.
    #[error("{url}: not the XML-RPC answer expected: {why}")]
    XmlRpc {
        /// The endpoint.
        url: String,
        /// What was wrong with it.
        why: changelog::XmlRpcError,
    },
}

impl UpstreamError {
    /// Whether the upstream said to slow down, rather than failed: an XML-RPC fault
    /// −32500 (PyPI's rate limit), HTTP 429 (Too Many Requests) or 503 (Service
    /// Unavailable). The caller backs off and asks again.
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            UpstreamError::Fault { code: -32500, .. }
                | UpstreamError::Status {
                    status: 429 | 503,
                    ..
                }
        )
    }
}

/// Runs pip to learn which index it is configured with.
///
/// [`Pip::index_url`] honours `PIP_INDEX_URL`, then pip's own configuration
/// (`python3 -m pip config list`: `:env:.index-url`, `install.index-url`,
/// `global.index-url`), and, when neither names one, pip's built-in default (asked of
/// pip itself, so no index is named in this code).
#[derive(Debug, Clone)]
pub struct Pip {
    python: OsString,
    envs: Vec<(OsString, Option<OsString>)>,
}

impl Default for Pip {
    fn default() -> Self {
        Pip::new("python3")
    }
}

impl Pip {
    /// pip as run by this Python interpreter (`python3` on the `PATH` by default).
    pub fn new(python: impl Into<OsString>) -> Self {
        Pip {
            python: python.into(),
            envs: Vec::new(),
        }
    }

    /// Runs pip with this environment variable set (`PIP_CONFIG_FILE`, `PIP_INDEX_URL`).
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// Runs pip without this environment variable.
    #[must_use]
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), None));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        for (k, v) in &self.envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// The `PIP_INDEX_URL` pip would see, if any.
    fn env_index_url(&self) -> Option<String> {
        let key = OsString::from("PIP_INDEX_URL");
        let value = match self.envs.iter().rev().find(|(k, _)| *k == key) {
            Some((_, v)) => v.as_ref().and_then(|v| v.to_str()).map(str::to_owned),
            None => std::env::var("PIP_INDEX_URL").ok(),
        };
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn run(&self, args: &[&str]) -> Result<String, UpstreamError> {
        let out = self.command().args(args).output().map_err(|e| {
            UpstreamError::Pip(format!("cannot run {}: {e}", self.python.to_string_lossy()))
        })?;
        if !out.status.success() {
            return Err(UpstreamError::Pip(format!(
                "{} {} failed ({}): {}",
                self.python.to_string_lossy(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| UpstreamError::Pip("pip printed something that is not UTF-8".into()))
    }

    /// The index URL pip is configured with, if its configuration names one.
    pub fn configured_index_url(&self) -> Result<Option<String>, UpstreamError> {
        if let Some(url) = self.env_index_url() {
            return Ok(Some(url));
        }
        let listing = self.run(&["-m", "pip", "config", "list"])?;
        Ok(index_url_from_config_list(&listing))
    }

    /// pip's built-in default index.
    pub fn default_index_url(&self) -> Result<String, UpstreamError> {
        let out = self.run(&[
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])?;
        let url = out.trim();
        if url.is_empty() {
            return Err(UpstreamError::Pip("pip named no default index".to_owned()));
        }
        Ok(url.to_owned())
    }

    /// The index pip uses: the configured one, else its default.
    pub fn index_url(&self) -> Result<String, UpstreamError> {
        match self.configured_index_url()? {
            Some(url) => Ok(url),
            None => self.default_index_url(),
        }
    }
}

/// The index URL in `pip config list` output: the most specific of `:env:.index-url`,
/// `install.index-url` and `global.index-url`.
pub fn index_url_from_config_list(listing: &str) -> Option<String> {
    let mut found: [Option<String>; 3] = [None, None, None];
    for line in listing.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let rank = match key.trim() {
            ":env:.index-url" => 0,
            "install.index-url" => 1,
            "global.index-url" => 2,
            _ => continue,
        };
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .unwrap_or(value)
            .trim();
        // pip allows several URLs, one per line; the first is the index.
        if let Some(first) = value.split_whitespace().next() {
            found[rank] = Some(first.to_owned());
        }
    }
    found.into_iter().flatten().next()
}

/// The upstream simple index for this configuration: `config.upstream` if set, else the
/// one pip uses (which runs pip, on a blocking thread).
pub async fn index_url(config: &MasterConfig) -> Result<String, UpstreamError> {
    if let Some(url) = &config.upstream {
        return Ok(url.clone());
    }
    tokio::task::spawn_blocking(|| Pip::default().index_url())
        .await
        .map_err(|e| UpstreamError::Pip(format!("the pip query did not finish: {e}")))?
}

/// A page fetched conditionally.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched<T> {
    /// The server says it has not changed since the `ETag` given (`304`).
    Unchanged,
    /// The page, and its `ETag` to send next time.
    Changed {
        /// What the page says.
        value: T,
        /// Its entity tag, if the server gave one.
        etag: Option<String>,
    },
}

/// One project of the project list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEntry {
    /// The name as the index spells it.
    pub name: String,
    /// PEP 691's `_last-serial` of the project, if given: it changes whenever the
    /// project does.
    pub last_serial: Option<i64>,
}

/// The index's project list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectList {
    /// Every project.
    pub projects: Vec<ProjectEntry>,
    /// The index's `_last-serial`, if given.
    pub last_serial: Option<i64>,
}

/// What kind of distribution a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A source distribution (`.tar.gz`, `.zip`, …): something to build.
    Sdist,
    /// A wheel.
    Wheel,
    /// Another binary format (eggs, installers).
    OtherBinary,
}

/// One file of a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// Its file name.
    pub filename: String,
    /// Its kind, from its name.
    pub kind: FileKind,
    /// Its version, from its name (`None` if the name does not say).
    pub version: Option<String>,
    /// Whether it is yanked (PEP 592).
    pub yanked: bool,
    /// When it was uploaded (PEP 700), if the page says.
    pub upload_time: Option<DateTime<Utc>>,
    /// Its `Requires-Python`, if the page says.
    pub requires_python: Option<String>,
}

/// One project's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// The project's name as the page spells it (the name asked for, if it does not).
    pub name: String,
    /// Its files.
    pub files: Vec<ProjectFile>,
    /// PEP 691's `_last-serial`, if given.
    pub last_serial: Option<i64>,
}

/// The simple-index client: PEP 691 JSON preferred, PEP 503 HTML understood. Cheap to
/// clone; the clones share the wait a `Retry-After` imposes. The blocking HTTP agent runs
/// on tokio's blocking threads.
#[derive(Clone)]
pub struct IndexClient {
    base: String,
    agent: ureq::Agent,
    timeout: Duration,
    list_timeout: Duration,
    gate: Gate,
}

impl std::fmt::Debug for IndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("list_timeout", &self.list_timeout)
            .finish_non_exhaustive()
    }
}

struct Body {
    json: bool,
    text: String,
}

impl IndexClient {
    /// A client of the simple index at `base` (`http://host/simple/`; a missing final `/`
    /// is added) whose every request ends within `timeout` (the project list's within
    /// [`LIST_TIMEOUT_FACTOR`] times that), reading the answer included: a server that
    /// sends its answer a byte at a time cannot hold it longer.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, UpstreamError> {
        let base = base.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(UpstreamError::Transport {
                url: base.to_owned(),
                why: "not an http:// or https:// URL".into(),
            });
        }
        let base = if base.ends_with('/') {
            base.to_owned()
        } else {
            format!("{base}/")
        };
        Ok(IndexClient {
            base,
            agent: agent(timeout),
            timeout,
            list_timeout: timeout.saturating_mul(LIST_TIMEOUT_FACTOR),
            gate: Gate::default(),
        })
    }

    /// The same client with another allowance for the project list.
    #[must_use]
    pub fn with_list_timeout(mut self, timeout: Duration) -> Self {
        self.list_timeout = timeout;
        self
    }

    /// How long a request may take (a page, a summary).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long fetching the project list may take.
    pub fn list_timeout(&self) -> Duration {
        self.list_timeout
    }

    /// The instant before which this client (and its clones) sends nothing to the
    /// upstream, if a `Retry-After` holds it back.
    pub fn retry_at(&self) -> Option<Instant> {
        self.gate.closed_until()
    }

    /// The index's address, ending with `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The address of a project's page.
    pub fn project_url(&self, name: &str) -> String {
        format!("{}{}/", self.base, canonicalize_name(name))
    }

    /// Fetches a page; `Ok(None)` for a 404.
    async fn get(
        &self,
        url: String,
        accept: &'static str,
        etag: Option<&str>,
        limit: u64,
    ) -> Result<Option<Fetched<Body>>, UpstreamError> {
        let request = self.request(url, accept, etag, self.timeout);
        self.blocking(move || fetch(request, limit)).await
    }

    /// A request, once no `Retry-After` holds requests back.
    fn request(
        &self,
        url: String,
        accept: &'static str,
        etag: Option<&str>,
        timeout: Duration,
    ) -> Request {
        Request {
            agent: self.agent.clone(),
            url,
            accept,
            etag: etag.map(str::to_owned),
            timeout,
            gate: self.gate.clone(),
        }
    }

    /// Runs `f` on a blocking thread, once no `Retry-After` holds requests back.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, UpstreamError> + Send + 'static,
    ) -> Result<T, UpstreamError> {
        self.gate.wait().await;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| UpstreamError::Transport {
                url: self.base.clone(),
                why: format!("the request did not finish: {e}"),
            })?
    }

    /// The project list (`<base>`), unless unchanged since `etag`. It is parsed as it
    /// arrives (at most [`MAX_BODY`] bytes of it, within [`IndexClient::list_timeout`]),
    /// keeping only each project's name and serial.
    pub async fn projects(
        &self,
        etag: Option<&str>,
    ) -> Result<Fetched<ProjectList>, UpstreamError> {
        let request = self.request(self.base.clone(), ACCEPT, etag, self.list_timeout);
        self.blocking(move || fetch_list(request)).await
    }

    /// A project's page, unless unchanged since `etag`; `Ok(None)` if the index has no
    /// such project (404).
    pub async fn project(
        &self,
        name: &str,
        etag: Option<&str>,
    ) -> Result<Option<Fetched<ProjectPage>>, UpstreamError> {
        let url = self.project_url(name);
        match self.get(url.clone(), ACCEPT, etag, MAX_BODY).await? {
            None => Ok(None),
            Some(Fetched::Unchanged) => Ok(Some(Fetched::Unchanged)),
            Some(Fetched::Changed { value, etag }) => {
                let page = if value.json {
                    parse_project_json(name, &value.text)
                } else {
                    Ok(parse_project_html(name, &value.text))
                }
                .map_err(|why| UpstreamError::Parse {
                    url: url.clone(),
                    why,
                })?;
                Ok(Some(Fetched::Changed { value: page, etag }))
            }
        }
    }

    /// A project's one-line summary from a JSON API at `json_base`
    /// (`<json_base>/<name>/json`, `info.summary`), its whitespace runs (newlines
    /// included) made single spaces; `""` when the API says `null`. Everything else is an
    /// error, so that the caller keeps what it had and asks again later: a 404 (the API
    /// does not know the project yet), another status, no answer, an answer that is not
    /// JSON or larger than [`MAX_JSON`], a document without `info.summary`.
    pub async fn summary(&self, json_base: &str, name: &str) -> Result<String, UpstreamError> {
        let url = format!("{}/{}/json", json_base.trim_end_matches('/'), name);
        let value = match self
            .get(url.clone(), "application/json", None, MAX_JSON)
            .await?
        {
            None => return Err(UpstreamError::Status { url, status: 404 }),
            Some(Fetched::Unchanged) => return Err(UpstreamError::Status { url, status: 304 }),
            Some(Fetched::Changed { value, .. }) => value,
        };
        let doc: Value = serde_json::from_str(&value.text).map_err(|e| UpstreamError::Parse {
            url: url.clone(),
            why: e.into(),
        })?;
        match doc.pointer("/info/summary") {
            Some(Value::String(s)) => Ok(one_line(s)),
            Some(Value::Null) => Ok(String::new()),
            _ => Err(UpstreamError::Parse {
                url,
                why: PageError::NoSummary,
            }),
        }
    }
}

/// The HTTP agent of the upstream clients: piwheels' User-Agent, every request (its body
/// included) ended within `timeout`, a connection within 10 s of it.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("piwheels/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Text on one line: every run of whitespace (newlines, tabs) one space, none at the ends.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A GET to send.
struct Request {
    agent: ureq::Agent,
    url: String,
    accept: &'static str,
    etag: Option<String>,
    timeout: Duration,
    gate: Gate,
}

/// What a server answered, before its body is read.
enum Answer {
    /// 404 or 410.
    Gone,
    /// 304.
    Unchanged,
    /// A 2xx answer.
    Body {
        resp: Box<ureq::Response>,
        json: bool,
        etag: Option<String>,
    },
}

impl Request {
    /// Sends the request and reads the answer's head. A `429` or `503` with a
    /// `Retry-After` closes the gate for that long.
    fn send(&self) -> Result<Answer, UpstreamError> {
        let url = &self.url;
        let mut req = self
            .agent
            .get(url)
            .timeout(self.timeout)
            .set("Accept", self.accept);
        if let Some(etag) = &self.etag {
            req = req.set("If-None-Match", etag);
        }
        let resp = match req.call() {
            Ok(resp) => resp,
            Err(ureq::Error::Status(404 | 410, _)) => return Ok(Answer::Gone),
            Err(ureq::Error::Status(status, resp)) => {
                return Err(self.status_error(status, &resp));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(UpstreamError::Transport {
                    url: url.to_owned(),
                    why: t.to_string(),
                });
            }
        };
        if resp.status() == 304 {
            return Ok(Answer::Unchanged);
        }
        if !(200..300).contains(&resp.status()) {
            return Err(self.status_error(resp.status(), &resp));
        }
        let etag = resp.header("ETag").map(str::to_owned);
        let content_type = resp.content_type().to_ascii_lowercase();
        let json = content_type == SIMPLE_JSON || content_type == "application/json";
        Ok(Answer::Body {
            resp: Box::new(resp),
            json,
            etag,
        })
    }

    fn status_error(&self, status: u16, resp: &ureq::Response) -> UpstreamError {
        let url = self.url.clone();
        let wait = matches!(status, 429 | 503)
            .then(|| resp.header("Retry-After"))
            .flatten()
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        match wait {
            Some(retry_after) => {
                self.gate.close_until(Instant::now() + retry_after);
                UpstreamError::RateLimited {
                    url,
                    status,
                    retry_after,
                }
            }
            None => UpstreamError::Status { url, status },
        }
    }
}

fn fetch(request: Request, limit: u64) -> Result<Option<Fetched<Body>>, UpstreamError> {
    let (resp, json, etag) = match request.send()? {
        Answer::Gone => return Ok(None),
        Answer::Unchanged => return Ok(Some(Fetched::Unchanged)),
        Answer::Body { resp, json, etag } => (resp, json, etag),
    };
    let url = request.url;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UpstreamError::Transport {
            url: url.clone(),
            why: format!("reading the answer: {e}"),
        })?;
    if bytes.len() as u64 > limit {
        return Err(UpstreamError::Parse {
            url,
            why: PageError::TooLarge(limit),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| UpstreamError::Parse {
        url: url.clone(),
        why: PageError::NotUtf8,
    })?;
    Ok(Some(Fetched::Changed {
        value: Body { json, text },
        etag,
    }))
}

/// Fetches the project list and parses it as it arrives.
fn fetch_list(request: Request) -> Result<Fetched<ProjectList>, UpstreamError> {
    let (resp, json, etag) = match request.send()? {
        Answer::Gone => {
            return Err(UpstreamError::Status {
                url: request.url,
                status: 404,
            });
        }
        Answer::Unchanged => return Ok(Fetched::Unchanged),
        Answer::Body { resp, json, etag } => (resp, json, etag),
    };
    let body = Limited::new(resp.into_reader(), MAX_BODY);
    let list = if json {
        read_project_list_json(body)
    } else {
        read_project_list_html(body)
    };
    let url = request.url;
    match list {
        Ok(value) => Ok(Fetched::Changed { value, etag }),
        Err(ReadError::Io(e)) => Err(UpstreamError::Transport {
            url,
            why: format!("reading the answer: {e}"),
        }),
        Err(ReadError::Page(why)) => Err(UpstreamError::Parse { url, why }),
    }
}
