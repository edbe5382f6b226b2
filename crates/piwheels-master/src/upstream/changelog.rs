//! A client of an upstream's changelog: the XML-RPC methods `changelog_last_serial` and
//! `changelog_since_serial` that PyPI still serves (piwheels.md §9.1), the original's
//! `--pypi-xmlrpc`.
//!
//! The changelog is the upstream's journal: every change to every project (`create`,
//! `new release`, `add source file x.tar.gz`, `add py3 file x.whl`, `yank release`,
//! `remove project`, role changes, …) is one row with a serial, and serials only grow. A
//! follower stores the last serial it applied and asks for the rows after it, so a poll
//! costs one request however large the index is.
//!
//! - [`ChangelogClient::last_serial`] asks for the newest serial;
//! - [`ChangelogClient::since`] asks for the rows after a serial, each an
//!   [`ChangelogEvent`]. PyPI answers at most about 50,000 rows per call, in ascending
//!   serial order: a follower that gets a full answer asks again from the last serial it
//!   got.
//!
//! Every answer is checked before anything of it is returned, in bounded memory and time:
//! the request has the timeout given (the whole request, the body included, so a slow
//! server cannot hold it), the body at most [`MAX_XMLRPC`] bytes (or the limit set with
//! [`ChangelogClient::with_limit`]), and it is read with a real XML parser that refuses a
//! `DOCTYPE` (so no entity expansion) and nesting past [`MAX_DEPTH`]. A row that is not
//! `[name: string, version: string | nil, timestamp: int, action: string, serial: int]`, a
//! negative serial or timestamp, malformed XML, an HTML page, an empty body, a fault: each
//! is an [`UpstreamError`], and nothing is returned of that answer.
//!
//! What the client does **not** judge, and the caller must:
//!
//! - **Order.** Rows are returned in the order the server sent them. PyPI sends them in
//!   ascending serial order, each above the serial asked for; a hostile or broken server
//!   may not. [`in_order`] tells whether an answer is; a caller must never store a serial
//!   lower than the one it had (the database refuses to go backwards anyway).
//! - **Names and versions.** A row whose name is empty or longer than 200 characters, or
//!   whose version is longer than 200 (or empty), is returned as it is: the caller applies
//!   the name rules (piwheels.md §9.4 ignores such rows) and can count what it drops.
//!
//! A rate limit is told apart from a broken endpoint by [`UpstreamError::is_rate_limit`]:
//! fault −32500 (PyPI's "slow down"), HTTP 429 or 503.
//!
//! ```no_run
//! # async fn example() -> Result<(), piwheels_master::upstream::UpstreamError> {
//! use std::time::Duration;
//! use piwheels_master::upstream::changelog::ChangelogClient;
//!
//! let client = ChangelogClient::new("http://127.0.0.1:8000/pypi", Duration::from_secs(30))?;
//! let mut serial = client.last_serial().await? - 100;
//! loop {
//!     let events = client.since(serial).await?;
//!     let Some(last) = events.iter().map(|e| e.serial).max() else { break };
//!     for e in &events {
//!         println!("{} {:?} {}", e.name, e.version, e.action);
//!     }
//!     serial = serial.max(last);
//! }
//! # Ok(()) }
//! ```

use std::io::Read;
use std::time::Duration;

use super::UpstreamError;

mod xmlrpc;

pub use xmlrpc::{Answer, MAX_DEPTH, XmlRpcError};
use xmlrpc::{Value, response};

/// The most an XML-RPC answer may weigh by default: 50,000 rows of PyPI's changelog are
/// about 15 MB.
pub const MAX_XMLRPC: u64 = 64 << 20;

/// The most of a fault's message kept, in characters.
const MAX_FAULT: usize = 1000;

/// One row of the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEvent {
    /// The project's name as the upstream spells it (not checked: see the module doc).
    pub name: String,
    /// The version, if the event is about one.
    pub version: Option<String>,
    /// When it happened, in seconds since the epoch (never negative).
    pub timestamp: i64,
    /// What happened: `create`, `new release`, `add <tag> file <filename>`,
    /// `remove project`, `yank release`, …
    pub action: String,
    /// Its serial (never negative).
    pub serial: i64,
}

/// Whether `events` is what PyPI sends after `since`: every serial above `since`, each
/// above the one before. An empty answer is in order.
pub fn in_order(since: i64, events: &[ChangelogEvent]) -> bool {
    let mut last = since;
    events.iter().all(|e| {
        let ok = e.serial > last;
        last = e.serial;
        ok
    })
}

/// The client of an upstream's XML-RPC endpoint. Cheap to clone; the blocking HTTP agent
/// (and the parsing) run on tokio's blocking threads.
#[derive(Clone)]
pub struct ChangelogClient {
    url: String,
    agent: ureq::Agent,
    limit: u64,
}

impl std::fmt::Debug for ChangelogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogClient")
            .field("url", &self.url)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

fn string(what: &'static str, v: Value) -> Result<String, XmlRpcError> {
    match v {
        Value::Str(s) => Ok(s),
        v => Err(XmlRpcError::Type {
            what,
            expected: "string",
            found: v.kind(),
        }),
    }
}

fn count(what: &'static str, v: Value) -> Result<i64, XmlRpcError> {
    match v {
        Value::Int(n) if n < 0 => Err(XmlRpcError::Negative { what, value: n }),
        Value::Int(n) => Ok(n),
        v => Err(XmlRpcError::Type {
            what,
            expected: "int",
            found: v.kind(),
        }),
    }
}

/// One changelog row.
fn event(row: Value) -> Result<ChangelogEvent, XmlRpcError> {
    let items = match row {
        Value::Array(items) => items,
        v => {
            return Err(XmlRpcError::Type {
                what: "a row",
                expected: "array",
                found: v.kind(),
            });
        }
    };
    let [name, version, timestamp, action, serial] =
        <[Value; 5]>::try_from(items).map_err(|items| XmlRpcError::Width(items.len()))?;
    Ok(ChangelogEvent {
        name: string("the name", name)?,
        version: match version {
            Value::Nil => None,
            v => Some(string("the version", v)?),
        },
        timestamp: count("timestamp", timestamp)?,
        action: string("the action", action)?,
        serial: count("serial", serial)?,
    })
}

/// Row `i`, an error saying which row it is.
fn row(i: usize, value: Value) -> Result<ChangelogEvent, XmlRpcError> {
    event(value).map_err(|why| XmlRpcError::Row {
        row: i,
        why: Box::new(why),
    })
}

/// Reads a `changelog_since_serial` answer: its rows (in the order sent), or the fault.
pub fn parse_changelog(text: &str) -> Result<Answer<Vec<ChangelogEvent>>, XmlRpcError> {
    response(text, |r| {
        let mut events = Vec::new();
        r.array("the changelog", |i, v| {
            events.push(row(i, v)?);
            Ok(())
        })?;
        Ok(events)
    })
}

/// Reads a `changelog_last_serial` answer: the serial (never negative), or the fault.
pub fn parse_last_serial(text: &str) -> Result<Answer<i64>, XmlRpcError> {
    response(text, |r| count("the last serial", r.value()?))
}

/// The body of a call of `method` with these integer parameters.
fn method_call(method: &str, params: &[i64]) -> String {
    let mut body =
        format!("<?xml version='1.0'?>\n<methodCall><methodName>{method}</methodName><params>");
    for p in params {
        // `<int>` is 32 bits in XML-RPC; a larger one needs the `<i8>` extension.
        let tag = if i32::try_from(*p).is_ok() {
            "int"
        } else {
            "i8"
        };
        body.push_str(&format!("<param><value><{tag}>{p}</{tag}></value></param>"));
    }
    body.push_str("</params></methodCall>\n");
    body
}

impl ChangelogClient {
    /// A client of the XML-RPC endpoint at `url` (PyPI's is `…/pypi`) whose every
    /// request ends within `timeout`, its body included.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, UpstreamError> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(UpstreamError::Transport {
                url: url.to_owned(),
                why: "not an http:// or https:// URL".into(),
            });
        }
        Ok(ChangelogClient {
            url: url.to_owned(),
            agent: super::agent(timeout),
            limit: MAX_XMLRPC,
        })
    }

    /// The same client, refusing answers larger than `limit` bytes.
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// The endpoint's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The newest serial of the upstream (`changelog_last_serial()`).
    pub async fn last_serial(&self) -> Result<i64, UpstreamError> {
        self.call("changelog_last_serial", &[], parse_last_serial)
            .await
    }

    /// The changelog's rows after `serial` (`changelog_since_serial(serial)`), in the
    /// order the server sent them: see the module doc for what is checked and what is
    /// left to the caller ([`in_order`]).
    pub async fn since(&self, serial: i64) -> Result<Vec<ChangelogEvent>, UpstreamError> {
        self.call("changelog_since_serial", &[serial], parse_changelog)
            .await
    }

    async fn call<T: Send + 'static>(
        &self,
        method: &'static str,
        params: &[i64],
        parse: fn(&str) -> Result<Answer<T>, XmlRpcError>,
    ) -> Result<T, UpstreamError> {
        let (agent, url, limit) = (self.agent.clone(), self.url.clone(), self.limit);
        let body = method_call(method, params);
        tokio::task::spawn_blocking(move || {
            let text = post(&agent, &url, &body, limit)?;
            let xml = |why| UpstreamError::XmlRpc {
                url: url.clone(),
                why,
            };
            match parse(&text).map_err(xml)? {
                Answer::Value(value) => Ok(value),
                Answer::Fault { code, message } => Err(UpstreamError::Fault {
                    url: url.clone(),
                    code,
                    message: fault_message(&message),
                }),
            }
        })
        .await
        .map_err(|e| UpstreamError::Transport {
            url: self.url.clone(),
            why: format!("the request did not finish: {e}"),
        })?
    }
}

/// A fault's message on one line, cut to [`MAX_FAULT`] characters.
fn fault_message(message: &str) -> String {
    let line = super::one_line(message);
    match line.char_indices().nth(MAX_FAULT) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// POSTs `body` to `url`; the answer's text, if it is a 2xx of at most `limit` bytes of
/// UTF-8 that is not an HTML page.
fn post(agent: &ureq::Agent, url: &str, body: &str, limit: u64) -> Result<String, UpstreamError> {
    let xml = |why| UpstreamError::XmlRpc {
        url: url.to_owned(),
        why,
    };
    let resp = match agent
        .post(url)
        .set("Content-Type", "text/xml")
        .set("Accept", "text/xml")
        .send_string(body)
    {
        Ok(resp) => resp,
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
    if !(200..300).contains(&resp.status()) {
        return Err(UpstreamError::Status {
            url: url.to_owned(),
            status: resp.status(),
        });
    }
    let content_type = resp.content_type().to_ascii_lowercase();
    if content_type == "text/html" || content_type == "application/xhtml+xml" {
        return Err(xml(XmlRpcError::Html(content_type)));
    }
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UpstreamError::Transport {
            url: url.to_owned(),
            why: format!("reading the answer: {e}"),
        })?;
    if bytes.len() as u64 > limit {
        return Err(xml(XmlRpcError::TooLarge(limit)));
    }
    String::from_utf8(bytes).map_err(|_| xml(XmlRpcError::NotUtf8))
}

#[cfg(test)]
mod tests;
