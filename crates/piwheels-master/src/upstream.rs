//! The upstream index CloudGazer follows: which one it is (the master's configuration, else
//! the index pip itself is configured with) and a client for its simple API, PEP 691 JSON
//! with a fall-back to PEP 503 HTML (spec §9.5, option 2).
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
use std::time::Duration;

use chrono::{DateTime, Utc};
use piwheels_db::canonicalize_name;
use serde_json::Value;

use crate::config::MasterConfig;

/// The media type of PEP 691 JSON pages.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// What the client accepts, best first: PEP 691 JSON, then PEP 691's HTML, then plain
/// PEP 503 HTML.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The most a page may weigh: the project list of a large index is tens of megabytes.
const MAX_BODY: u64 = 512 << 20;

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
        why: String,
    },
    /// pip could not tell which index it uses.
    #[error("asking pip for its index: {0}")]
    Pip(String),
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
/// clone. The blocking HTTP agent runs on tokio's blocking threads.
#[derive(Clone)]
pub struct IndexClient {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for IndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

struct Body {
    json: bool,
    text: String,
}

impl IndexClient {
    /// A client of the simple index at `base` (`http://host/simple/`; a missing final `/`
    /// is added) whose every request ends within `timeout`.
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
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("piwheels/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(IndexClient { base, agent })
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
    ) -> Result<Option<Fetched<Body>>, UpstreamError> {
        let agent = self.agent.clone();
        let etag = etag.map(str::to_owned);
        tokio::task::spawn_blocking(move || fetch(&agent, &url, accept, etag))
            .await
            .map_err(|e| UpstreamError::Transport {
                url: self.base.clone(),
                why: format!("the request did not finish: {e}"),
            })?
    }

    /// The project list (`<base>`), unless unchanged since `etag`.
    pub async fn projects(
        &self,
        etag: Option<&str>,
    ) -> Result<Fetched<ProjectList>, UpstreamError> {
        let url = self.base.clone();
        match self.get(url.clone(), ACCEPT, etag).await? {
            None => Err(UpstreamError::Status { url, status: 404 }),
            Some(Fetched::Unchanged) => Ok(Fetched::Unchanged),
            Some(Fetched::Changed { value, etag }) => {
                let list = if value.json {
                    parse_project_list_json(&value.text)
                } else {
                    Ok(parse_project_list_html(&value.text))
                }
                .map_err(|why| UpstreamError::Parse {
                    url: url.clone(),
                    why,
                })?;
                Ok(Fetched::Changed { value: list, etag })
            }
        }
    }

    /// A project's page, unless unchanged since `etag`; `Ok(None)` if the index has no
    /// such project (404).
    pub async fn project(
        &self,
        name: &str,
        etag: Option<&str>,
    ) -> Result<Option<Fetched<ProjectPage>>, UpstreamError> {
        let url = self.project_url(name);
        match self.get(url.clone(), ACCEPT, etag).await? {
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

    /// A project's summary from a JSON API at `json_base` (`<json_base>/<name>/json`,
    /// `info.summary`): `Ok(None)` if the API does not know the project or gives none.
    pub async fn description(
        &self,
        json_base: &str,
        name: &str,
    ) -> Result<Option<String>, UpstreamError> {
        let url = format!("{}/{}/json", json_base.trim_end_matches('/'), name);
        match self.get(url.clone(), "application/json", None).await? {
            None | Some(Fetched::Unchanged) => Ok(None),
            Some(Fetched::Changed { value, .. }) => {
                let doc: Value =
                    serde_json::from_str(&value.text).map_err(|e| UpstreamError::Parse {
                        url: url.clone(),
                        why: e.to_string(),
                    })?;
                Ok(doc
                    .pointer("/info/summary")
                    .and_then(Value::as_str)
                    .map(str::to_owned))
            }
        }
    }
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    accept: &str,
    etag: Option<String>,
) -> Result<Option<Fetched<Body>>, UpstreamError> {
    let mut req = agent.get(url).set("Accept", accept);
    if let Some(etag) = &etag {
        req = req.set("If-None-Match", etag);
    }
    let resp = match req.call() {
        Ok(resp) => resp,
        Err(ureq::Error::Status(404 | 410, _)) => return Ok(None),
        Err(ureq::Error::Status(status, _)) => {
            return Err(UpstreamError::Status {
                url: url.to_owned(),
                status,
            });
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(UpstreamError::Transport {
                url: url.to_owned(),
                why: t.to_string(),
            });
        }
    };
    if resp.status() == 304 {
        return Ok(Some(Fetched::Unchanged));
    }
    if !(200..300).contains(&resp.status()) {
        return Err(UpstreamError::Status {
            url: url.to_owned(),
            status: resp.status(),
        });
    }
    let etag = resp.header("ETag").map(str::to_owned);
    let content_type = resp.content_type().to_ascii_lowercase();
    let json = content_type == SIMPLE_JSON || content_type == "application/json";
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UpstreamError::Transport {
            url: url.to_owned(),
            why: format!("reading the answer: {e}"),
        })?;
    if bytes.len() as u64 > MAX_BODY {
        return Err(UpstreamError::Parse {
            url: url.to_owned(),
            why: format!("larger than {MAX_BODY} bytes"),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| UpstreamError::Parse {
        url: url.to_owned(),
        why: "not UTF-8".into(),
    })?;
    Ok(Some(Fetched::Changed {
        value: Body { json, text },
        etag,
    }))
}

fn serial(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

/// Parses a PEP 691 JSON project list.
pub fn parse_project_list_json(text: &str) -> Result<ProjectList, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let projects = doc
        .get("projects")
        .and_then(Value::as_array)
        .ok_or("no \"projects\" list")?;
    let projects = projects
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.trim();
            (!name.is_empty()).then(|| ProjectEntry {
                name: name.to_owned(),
                last_serial: serial(p.get("_last-serial")),
            })
        })
        .collect();
    Ok(ProjectList {
        projects,
        last_serial: serial(doc.pointer("/meta/_last-serial")),
    })
}

/// Parses a PEP 503 HTML project list (the text of each anchor is a project's name).
pub fn parse_project_list_html(text: &str) -> ProjectList {
    let projects = anchors(text)
        .into_iter()
        .filter_map(|a| {
            let name = a.text.trim();
            (!name.is_empty()).then(|| ProjectEntry {
                name: name.to_owned(),
                last_serial: None,
            })
        })
        .collect();
    ProjectList {
        projects,
        last_serial: None,
    }
}

/// Parses a PEP 691 JSON project page.
pub fn parse_project_json(asked: &str, text: &str) -> Result<ProjectPage, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(asked)
        .to_owned();
    let files = doc
        .get("files")
        .and_then(Value::as_array)
        .ok_or("no \"files\" list")?;
    let canonical = canonicalize_name(&name);
    let files = files
        .iter()
        .filter_map(|f| {
            let filename = f.get("filename")?.as_str()?.to_owned();
            let yanked = match f.get("yanked") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(_)) => true,
                _ => false,
            };
            let upload_time = f
                .get("upload-time")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let requires_python = f
                .get("requires-python")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|s| !s.is_empty());
            Some(file(
                &canonical,
                filename,
                yanked,
                upload_time,
                requires_python,
            ))
        })
        .collect();
    Ok(ProjectPage {
        name,
        files,
        last_serial: serial(doc.pointer("/meta/_last-serial")),
    })
}

/// Parses a PEP 503 HTML project page.
pub fn parse_project_html(asked: &str, text: &str) -> ProjectPage {
    let canonical = canonicalize_name(asked);
    let files = anchors(text)
        .into_iter()
        .filter_map(|a| {
            let filename = a.text.trim().to_owned();
            if filename.is_empty() {
                return None;
            }
            let yanked = a.attr("data-yanked").is_some();
            let requires_python = a
                .attr("data-requires-python")
                .map(str::to_owned)
                .filter(|s| !s.is_empty());
            Some(file(&canonical, filename, yanked, None, requires_python))
        })
        .collect();
    ProjectPage {
        name: asked.to_owned(),
        files,
        last_serial: None,
    }
}

fn file(
    canonical: &str,
    filename: String,
    yanked: bool,
    upload_time: Option<DateTime<Utc>>,
    requires_python: Option<String>,
) -> ProjectFile {
    let (kind, version) = classify(canonical, &filename);
    ProjectFile {
        filename,
        kind,
        version,
        yanked,
        upload_time,
        requires_python,
    }
}

const SDIST_SUFFIXES: [&str; 6] = [".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar"];
const BINARY_SUFFIXES: [&str; 5] = [".egg", ".exe", ".msi", ".rpm", ".dmg"];

/// A file's kind and version from its name, for the project of canonical name
/// `canonical`: wheels by PEP 427 (`name-version(-build)?-py-abi-platform.whl`), sdists by
/// the longest leading part that canonicalises to the project's name.
pub fn classify(canonical: &str, filename: &str) -> (FileKind, Option<String>) {
    let lower = filename.to_ascii_lowercase();
    if let Some(stem) = lower
        .strip_suffix(".whl")
        .map(|_| &filename[..filename.len() - 4])
    {
        let parts: Vec<&str> = stem.split('-').collect();
        let version = (parts.len() == 5 || parts.len() == 6)
            .then(|| parts[1].to_owned())
            .filter(|v| !v.is_empty());
        return (FileKind::Wheel, version);
    }
    let (kind, stem) = if let Some(suffix) = SDIST_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
        (FileKind::Sdist, &filename[..filename.len() - suffix.len()])
    } else if let Some(suffix) = BINARY_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
        let stem = &filename[..filename.len() - suffix.len()];
        // Eggs: name-version-pyX.Y(-platform); installers: name-version.platform.
        let version = stem.split('-').nth(1).map(|v| {
            v.split(".linux")
                .next()
                .unwrap_or(v)
                .split(".win")
                .next()
                .unwrap_or(v)
                .to_owned()
        });
        return (FileKind::OtherBinary, version.filter(|v| !v.is_empty()));
    } else {
        return (FileKind::OtherBinary, None);
    };
    for (i, _) in stem.match_indices('-') {
        if canonicalize_name(&stem[..i]) == canonical {
            let version = &stem[i + 1..];
            return (kind, (!version.is_empty()).then(|| version.to_owned()));
        }
    }
    let version = stem
        .rsplit_once('-')
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty());
    (kind, version)
}

/// An `<a>` element: its attributes (names lower-cased, values unescaped) and its text.
#[derive(Debug)]
struct Anchor {
    attrs: Vec<(String, String)>,
    text: String,
}

impl Anchor {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every `<a …>text</a>` of an HTML page, as simple-index pages use them.
fn anchors(html: &str) -> Vec<Anchor> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a") {
        let start = at + found;
        let after = start + 2;
        // `<a` must be followed by whitespace or `>` (not `<abbr`).
        match lower.as_bytes().get(after) {
            Some(b) if b.is_ascii_whitespace() || *b == b'>' => {}
            _ => {
                at = after;
                continue;
            }
        }
        let Some((attrs, tag_end)) = parse_attrs(html, after) else {
            break;
        };
        let close = lower[tag_end..]
            .find("</a")
            .map_or(html.len(), |i| tag_end + i);
        let text = unescape(&strip_tags(&html[tag_end..close]));
        out.push(Anchor { attrs, text });
        at = close.max(tag_end);
        if at >= html.len() {
            break;
        }
    }
    out
}

/// Reads a tag's attributes from `pos` up to its `>`; returns them and the index after
/// the `>`.
fn parse_attrs(html: &str, mut pos: usize) -> Option<(Vec<(String, String)>, usize)> {
    let bytes = html.as_bytes();
    let mut attrs = Vec::new();
    loop {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        if bytes[pos] == b'>' {
            return Some((attrs, pos + 1));
        }
        let name_start = pos;
        while pos < bytes.len()
            && !bytes[pos].is_ascii_whitespace()
            && !matches!(bytes[pos], b'=' | b'>' | b'/')
        {
            pos += 1;
        }
        let name = html[name_start..pos].to_ascii_lowercase();
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let mut value = String::new();
        if pos < bytes.len() && bytes[pos] == b'=' {
            pos += 1;
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < bytes.len() && (bytes[pos] == b'"' || bytes[pos] == b'\'') {
                let quote = bytes[pos];
                let start = pos + 1;
                let end = html[start..]
                    .bytes()
                    .position(|b| b == quote)
                    .map(|i| start + i)?;
                value = unescape(&html[start..end]);
                pos = end + 1;
            } else {
                let start = pos;
                while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() && bytes[pos] != b'>' {
                    pos += 1;
                }
                value = unescape(&html[start..pos]);
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Replaces HTML character references (`&gt;`, `&#62;`, `&#x3E;` and the usual named
/// ones); an unknown one stays as written.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
