//! Web-server hits as the original's `piw-logger` reads them (piwheels.md §3.5): which
//! requests are logged, as which record, and what the pip and uv User-Agents tell about
//! the client. [`classify`] turns one answered request into the [`LogMessage`] the
//! original would send to Lumberjack; the embedded web server uses it for its own hits,
//! and `piw-logger` can for the lines of an access log.
//!
//! Only `GET` requests answered `200` with a User-Agent are logged: the caller checks that.
//! The rules, first match wins (`*` may match `/`):
//!
//! | User-Agent | path | record |
//! |---|---|---|
//! | an installer's | `/simple/` | none |
//! | any | `/project/` | none |
//! | any | `/simple/*.whl` | `LOGDOWNLOAD` (the last path segment) |
//! | an installer's | `/simple/<pkg>/` | `LOGSEARCH` (the package, canonicalised) |
//! | any | `/simple/*` | none |
//! | any | `/project/*/json/*` | `LOGJSON` |
//! | any | `/project/*` | `LOGPROJECT` |
//! | any | `/` | `LOGPAGE` `home` |
//! | any | `/*.html` | `LOGPAGE` (the path without `/` and `.html`; `index` is `home`) |
//!
//! Two differences from the original, both about what is counted, not about the wire:
//! an installer is `pip/…` or `uv/…` (the original knew only pip, so uv's index lookups
//! were not counted), and a search is the package's index page itself (`/simple/<pkg>/`,
//! or its `index.html`/`index.json`), so the PEP 658 `.whl.metadata` files and other files
//! under it, which pip fetches besides, are not counted as more searches.
//!
//! The path is percent-decoded and its query string dropped before it is matched.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use piwheels_protocol::logger::{DownloadState, LogMessage, PageHit, ProjectHit, SearchState};
use serde_json::Value;

/// The longest User-Agent product token kept for page records (characters).
pub const MAX_PRODUCT: usize = 200;

/// What a request is, by the rules of the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// A wheel download: its file name.
    Download(String),
    /// An installer's index lookup: the package, canonicalised.
    Search(String),
    /// A project page: the package as in the path.
    Project(String),
    /// A project's JSON: the package as in the path.
    Json(String),
    /// Another page: its name (`home`, `faq`, `packages`).
    Page(String),
}

/// What an installer's User-Agent says about the client (all `None` for other clients).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `cpu`.
    pub arch: Option<String>,
    /// `distro.name`.
    pub distro_name: Option<String>,
    /// `distro.version`.
    pub distro_version: Option<String>,
    /// `system.name`.
    pub os_name: Option<String>,
    /// `system.release`.
    pub os_version: Option<String>,
    /// `implementation.name`, `CPython` when the JSON does not say.
    pub py_name: Option<String>,
    /// `implementation.version`, else `python`.
    pub py_version: Option<String>,
    /// `installer.name`.
    pub installer_name: Option<String>,
    /// `installer.version`.
    pub installer_version: Option<String>,
    /// `setuptools_version`.
    pub setuptools_version: Option<String>,
}

/// Whether a User-Agent is an installer's (`pip/…`, `uv/…`), whose index lookups count as
/// searches.
pub fn is_installer(user_agent: &str) -> bool {
    user_agent.starts_with("pip/") || user_agent.starts_with("uv/")
}

/// The JSON pip and uv put in their User-Agent (the text from the first `{`), read as the
/// original does; all `None` if there is none or it is not a JSON object.
pub fn client_info(user_agent: &str) -> ClientInfo {
    let Some(start) = user_agent.find('{') else {
        return ClientInfo::default();
    };
    let Ok(Value::Object(ua)) = serde_json::from_str::<Value>(&user_agent[start..]) else {
        return ClientInfo::default();
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let get = |outer: &str, inner: &str| text(ua.get(outer).and_then(|o| o.get(inner)));
    ClientInfo {
        arch: text(ua.get("cpu")),
        distro_name: get("distro", "name"),
        distro_version: get("distro", "version"),
        os_name: get("system", "name"),
        os_version: get("system", "release"),
        py_name: get("implementation", "name").or_else(|| Some("CPython".to_owned())),
        py_version: get("implementation", "version").or_else(|| text(ua.get("python"))),
        installer_name: get("installer", "name"),
        installer_version: get("installer", "version"),
        setuptools_version: text(ua.get("setuptools_version")),
    }
}

/// A User-Agent reduced as the original reduces it for page records: the product token
/// before the first `/`, NULs removed, lower-cased, at most [`MAX_PRODUCT`] characters.
pub fn product(user_agent: &str) -> String {
    user_agent
        .split('/')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '\0')
        .flat_map(char::to_lowercase)
        .take(MAX_PRODUCT)
        .collect()
}

/// What the request for `target` (a path, percent-encoded, perhaps with a query) by
/// `user_agent` is, by the rules of the module docs; `None` if it is not logged.
pub fn classify_path(target: &str, user_agent: &str) -> Option<Hit> {
    let raw = target.split(['?', '#']).next().unwrap_or("");
    let path = String::from_utf8_lossy(&percent_decode_str(raw).collect::<Vec<u8>>()).into_owned();
    let installer = is_installer(user_agent);
    // The path's segments, as Python's PurePosixPath gives them (empty ones collapse).
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let second = || segments.get(1).map(|s| (*s).to_owned());
    if installer && path == "/simple/" || path == "/project/" {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        if rest.ends_with(".whl") {
            return segments.last().map(|s| Hit::Download((*s).to_owned()));
        }
        let index_page = match segments.len() {
            2 => true,
            3 => matches!(segments[2], "index.html" | "index.json"),
            _ => false,
        };
        if installer && index_page {
            return second().map(|p| Hit::Search(piwheels_db::canonicalize_name(&p)));
        }
        return None;
    }
    if let Some(rest) = path.strip_prefix("/project/") {
        let package = second()?;
        return Some(if rest.contains("/json/") {
            Hit::Json(package)
        } else {
            Hit::Project(package)
        });
    }
    if path == "/" {
        return Some(Hit::Page("home".into()));
    }
    let name = path.strip_prefix('/')?.strip_suffix(".html")?;
    Some(Hit::Page(
        if name == "index" { "home" } else { name }.to_owned(),
    ))
}

/// The record the original's `piw-logger` would send for a `GET` of `target` answered
/// `200` to `host` at `timestamp` for `user_agent`; `None` if such a request is not logged.
pub fn classify(
    target: &str,
    user_agent: &str,
    host: IpAddr,
    timestamp: DateTime<Utc>,
) -> Option<LogMessage> {
    let hit = classify_path(target, user_agent)?;
    let host = host.to_string();
    let page = |package: String| ProjectHit {
        package,
        host: host.clone(),
        timestamp,
        user_agent: product(user_agent),
    };
    Some(match hit {
        Hit::Download(filename) => {
            let c = client_info(user_agent);
            LogMessage::Download(DownloadState {
                filename,
                host,
                timestamp,
                arch: c.arch,
                distro_name: c.distro_name,
                distro_version: c.distro_version,
                os_name: c.os_name,
                os_version: c.os_version,
                py_name: c.py_name,
                py_version: c.py_version,
                installer_name: c.installer_name,
                installer_version: c.installer_version,
                setuptools_version: c.setuptools_version,
            })
        }
        Hit::Search(package) => {
            let c = client_info(user_agent);
            LogMessage::Search(SearchState {
                package,
                host,
                timestamp,
                arch: c.arch,
                distro_name: c.distro_name,
                distro_version: c.distro_version,
                os_name: c.os_name,
                os_version: c.os_version,
                py_name: c.py_name,
                py_version: c.py_version,
                installer_name: c.installer_name,
                installer_version: c.installer_version,
                setuptools_version: c.setuptools_version,
            })
        }
        Hit::Project(package) => LogMessage::Project(page(package)),
        Hit::Json(package) => LogMessage::Json(page(package)),
        Hit::Page(name) => LogMessage::Page(PageHit {
            page: name,
            host: host.clone(),
            timestamp,
            user_agent: product(user_agent),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIP: &str = r#"pip/23.0.1 {"ci":null,"cpu":"aarch64","distro":{"id":"bookworm","libc":{"lib":"glibc","version":"2.36"},"name":"Debian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.2"},"installer":{"name":"pip","version":"23.0.1"},"openssl_version":"OpenSSL 3.0.11","python":"3.11.2","setuptools_version":"66.1.1","system":{"name":"Linux","release":"6.1.0-rpi7-rpi-v8"}}"#;
    const UV: &str = r#"uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.3","implementation":{"name":"CPython","version":"3.12.3"},"distro":{"name":"Ubuntu","version":"24.04","id":"noble","libc":null},"system":{"name":"Linux","release":"6.8.0"},"cpu":"x86_64","openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":null}"#;
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    #[test]
    fn the_rules_in_order() {
        let wheel = "foo-1.0-py3-none-any.whl";
        let cases: &[(&str, &str, Option<Hit>)] = &[
            ("/simple/", PIP, None),
            ("/simple/", FIREFOX, None),
            ("/project/", FIREFOX, None),
            (
                "/simple/foo/foo-1.0-py3-none-any.whl",
                PIP,
                Some(Hit::Download(wheel.into())),
            ),
            (
                "/simple/foo/foo-1.0-py3-none-any.whl?x=1",
                "curl/8.0",
                Some(Hit::Download(wheel.into())),
            ),
            ("/simple/Foo_Bar/", PIP, Some(Hit::Search("foo-bar".into()))),
            ("/simple/foo/", UV, Some(Hit::Search("foo".into()))),
            (
                "/simple/foo/index.json",
                PIP,
                Some(Hit::Search("foo".into())),
            ),
            ("/simple/foo/", FIREFOX, None),
            ("/simple/foo/foo-1.0-py3-none-any.whl.metadata", PIP, None),
            ("/project/foo/json/", FIREFOX, Some(Hit::Json("foo".into()))),
            ("/project/foo/", FIREFOX, Some(Hit::Project("foo".into()))),
            ("/", FIREFOX, Some(Hit::Page("home".into()))),
            ("/index.html", FIREFOX, Some(Hit::Page("home".into()))),
            ("/faq.html", FIREFOX, Some(Hit::Page("faq".into()))),
            ("/packages.json", FIREFOX, None),
            ("/logs/00/00/01.txt.gz", FIREFOX, None),
            ("/%66aq.html", FIREFOX, Some(Hit::Page("faq".into()))),
        ];
        for (path, ua, want) in cases {
            assert_eq!(&classify_path(path, ua), want, "{path} by {ua}");
        }
    }

    #[test]
    fn installer_user_agents() {
        let pip = client_info(PIP);
        assert_eq!(pip.arch.as_deref(), Some("aarch64"));
        assert_eq!(pip.distro_name.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(pip.distro_version.as_deref(), Some("12"));
        assert_eq!(pip.os_name.as_deref(), Some("Linux"));
        assert_eq!(pip.os_version.as_deref(), Some("6.1.0-rpi7-rpi-v8"));
        assert_eq!(pip.py_name.as_deref(), Some("CPython"));
        assert_eq!(pip.py_version.as_deref(), Some("3.11.2"));
        assert_eq!(pip.installer_name.as_deref(), Some("pip"));
        assert_eq!(pip.installer_version.as_deref(), Some("23.0.1"));
        assert_eq!(pip.setuptools_version.as_deref(), Some("66.1.1"));
        let uv = client_info(UV);
        assert_eq!(uv.installer_name.as_deref(), Some("uv"));
        assert_eq!(uv.setuptools_version, None);
        // The defaults: CPython, and the `python` key's version.
        let old = client_info(r#"pip/9.0.1 {"python":"3.5.3","cpu":"armv7l"}"#);
        assert_eq!(old.py_name.as_deref(), Some("CPython"));
        assert_eq!(old.py_version.as_deref(), Some("3.5.3"));
        assert_eq!(client_info(FIREFOX), ClientInfo::default());
        assert_eq!(client_info("pip/1 {not json"), ClientInfo::default());
        assert_eq!(client_info("pip/1 [1]"), ClientInfo::default());
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product(FIREFOX), "mozilla");
        assert_eq!(product("Go\0oglebot/2.1"), "googlebot");
        assert_eq!(product(&"x".repeat(500)).len(), MAX_PRODUCT);
    }

    #[test]
    fn records() {
        let at = Utc::now();
        let host: IpAddr = "2001:db8::1".parse().unwrap();
        match classify("/simple/foo/foo-1.0-py3-none-any.whl", PIP, host, at) {
            Some(LogMessage::Download(d)) => {
                assert_eq!(d.host, "2001:db8::1");
                assert_eq!(d.timestamp, at);
                assert_eq!(d.arch.as_deref(), Some("aarch64"));
            }
            other => panic!("{other:?}"),
        }
        match classify("/project/foo/", FIREFOX, host, at) {
            Some(LogMessage::Project(p)) => assert_eq!(p.user_agent, "mozilla"),
            other => panic!("{other:?}"),
        }
        assert_eq!(classify("/simple/", PIP, host, at), None);
    }
}
