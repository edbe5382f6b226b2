//! Web-server hits as the original's `piw-logger` reads them (piwheels.md §3.5): which
//! requests are logged, as which record, and what the pip and uv User-Agents tell about
//! the client ([`agent`]). This is the one copy of those rules: the embedded web server
//! classifies its own hits with [`classify`] (a raw request target), and `piw-logger`
//! the lines of an access log with [`classify_decoded`] (a path its log parser has already
//! percent-decoded).
//!
//! Only `GET` requests answered `200` with a User-Agent are logged: the caller checks the
//! method and status; a User-Agent that is empty or blank logs nothing. The rules, first
//! match wins (`*` may match `/`):
//!
//! | User-Agent | path | record |
//! |---|---|---|
//! | an installer's | `/simple/` | none |
//! | any | `/project/` | none |
//! | any | `/simple/*.whl` | `LOGDOWNLOAD` (the last path segment) |
//! | an installer's | `/simple/<pkg>/` | `LOGSEARCH` (the package, canonicalised) |
//! | any | `/simple/*` | none |
//! | any | `/project/<pkg>/json/*` | `LOGJSON` (the package, canonicalised) |
//! | any | `/project/<pkg>*` | `LOGPROJECT` (the package, canonicalised) |
//! | any | `/` | `LOGPAGE` `home` |
//! | any | `/*.html` | `LOGPAGE` (the path without `/` and `.html`; `index` is `home`) |
//!
//! The path is matched without its query string (and fragment), percent-decoded once;
//! its empty segments collapse, as in the original's `PurePosixPath` (`/simple//foo/` is
//! `/simple/foo/`). A User-Agent's product token ([`product`]) is what page records keep.
//!
//! # Where this differs from the original, and from the two copies it replaces
//!
//! The web server's copy (`access_log`) and `piw-logger`'s (`logger::agent` and
//! `logger::classify`) differed; each difference was settled on the stricter side:
//!
//! - **Installers**: `pip/…` and `uv/…` (uv sends pip's JSON). The original knew only pip,
//!   so uv's index lookups were not counted. Both copies agreed.
//! - **What a search is**: an installer's request for a package's index page itself,
//!   `/simple/<pkg>/` (or its `index.html`/`index.json`). The PEP 658 `.whl.metadata` files
//!   and other files under it, which pip fetches besides, are not more searches (the
//!   logger's copy counted them); `/simple/index.html` and `/simple/index.json` are the
//!   root index, not a package called `index-html` (both copies counted that).
//! - **Names**: a package (search, project page, JSON) must be a valid package name
//!   ([`validate_name`]) and is recorded canonical (the web server's copy kept a project
//!   page's name as spelled and did not check it); a wheel's file name at most
//!   [`MAX_FILENAME`] bytes and a page name 1 to [`MAX_PAGE`] (their database columns; the
//!   web server's copy did not cut them). Otherwise nothing is logged.
//! - **Hostile paths** log nothing: a target that decodes to a NUL, another control
//!   character or bytes that are not UTF-8 (the web server's copy decoded lossily), and a
//!   path with a segment starting with `.` (`..`, hidden files), which the web server never
//!   serves.
//! - **`/project/<pkg>/json/*`** needs `json` as the segment right after the package (the
//!   web server's copy took `/json/` anywhere in the path); `/project/<pkg>/json` without a
//!   slash is the project page, as the original's pattern has it.
//! - **User-Agent values** ([`client_info`]): each is cut to its column (100 characters,
//!   the installer name 20), NULs and other control characters are removed, blanks are
//!   `None`, and JSON longer than [`MAX_JSON`] is not read (the web server's copy did none
//!   of that). The product token loses every control character, not only NULs.
//! - **Defaults**: `py_name` is `CPython` only when the JSON gives a `python` version but
//!   no `implementation.name` (the web server's copy said `CPython` for any JSON, even one
//!   that says nothing of Python); `py_version` falls back to `python`. An installer's
//!   product (`pip/1.5.6`, before pip sent JSON) names the installer when the JSON does
//!   not (the logger's copy did this for any client, so `curl/8.5` became an installer).
//! - **Hosts**: an IPv4 client seen as an IPv4-mapped IPv6 address is recorded as IPv4.

pub mod agent;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use piwheels_db::names::validate_name;
use piwheels_protocol::logger::{DownloadState, LogMessage, PageHit, ProjectHit, SearchState};

pub use agent::{
    ClientInfo, MAX_FIELD, MAX_INSTALLER_NAME, MAX_JSON, MAX_PRODUCT, client_info, is_installer,
    product,
};

/// The longest wheel file name recorded, in bytes (the database's `VARCHAR(255)`).
pub const MAX_FILENAME: usize = 255;
/// The longest page name recorded, in bytes (the database's `VARCHAR(30)`).
pub const MAX_PAGE: usize = 30;

/// What a request is, by the rules of the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// A wheel download: its file name.
    Download(String),
    /// An installer's index lookup: the package, canonicalised.
    Search(String),
    /// A project page: the package, canonicalised.
    Project(String),
    /// A project's JSON: the package, canonicalised.
    Json(String),
    /// Another page: its name (`home`, `faq`, `packages`).
    Page(String),
}

/// The path a request target names: without its query string and fragment,
/// percent-decoded; `None` if it does not start with `/` or decodes to a NUL or to bytes
/// that are not UTF-8.
pub fn decode_target(target: &str) -> Option<String> {
    let raw = target.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return None;
    }
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    if decoded.contains(&0) {
        return None;
    }
    String::from_utf8(decoded).ok()
}

/// What the request for `target` (a path, percent-encoded, perhaps with a query) by
/// `user_agent` is, by the rules of the module docs; `None` if it is not logged.
pub fn classify_path(target: &str, user_agent: &str) -> Option<Hit> {
    hit(&decode_target(target)?, user_agent)
}

/// What the request for the decoded `path` (no query string) by `user_agent` is, by the
/// rules of the module docs; `None` if it is not logged.
pub fn hit(path: &str, user_agent: &str) -> Option<Hit> {
    if user_agent.trim().is_empty() || !path.starts_with('/') || path.contains(char::is_control) {
        return None;
    }
    // The path's segments, as Python's PurePosixPath gives them (empty ones collapse).
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| s.starts_with('.')) {
        return None;
    }
    let installer = is_installer(user_agent);
    match segments.first().copied() {
        Some("simple") => {
            if path.ends_with(".whl") {
                let filename = segments.last()?;
                return (filename.len() <= MAX_FILENAME)
                    .then(|| Hit::Download((*filename).to_owned()));
            }
            let index = |s: &str| matches!(s, "index.html" | "index.json");
            let index_page = match segments.len() {
                2 => !index(segments[1]),
                3 => index(segments[2]),
                _ => false,
            };
            if installer && index_page {
                return package(segments[1]).map(Hit::Search);
            }
            None
        }
        Some("project") => {
            let package = package(segments.get(1)?)?;
            let json =
                segments.get(2) == Some(&"json") && (segments.len() > 3 || path.ends_with('/'));
            Some(if json {
                Hit::Json(package)
            } else {
                Hit::Project(package)
            })
        }
        None => Some(Hit::Page("home".into())),
        Some(_) => {
            let name = path.strip_prefix('/')?.strip_suffix(".html")?;
            let name = if name == "index" { "home" } else { name };
            (!name.is_empty() && name.len() <= MAX_PAGE).then(|| Hit::Page(name.to_owned()))
        }
    }
}

/// The package `name` names, canonical; `None` if it is not a package name.
fn package(name: &str) -> Option<String> {
    Some(validate_name(name).ok()?.canonical().into_string())
}

/// The record the original's `piw-logger` would send for a `GET` of `target` (as the
/// request has it: percent-encoded, perhaps with a query) answered `200` to `host` at
/// `timestamp` for `user_agent`; `None` if such a request is not logged.
pub fn classify(
    target: &str,
    user_agent: &str,
    host: IpAddr,
    timestamp: DateTime<Utc>,
) -> Option<LogMessage> {
    classify_decoded(&decode_target(target)?, user_agent, host, timestamp)
}

/// [`classify`] for a `path` already percent-decoded and without its query string (as an
/// access-log parser gives it): it is not decoded again.
pub fn classify_decoded(
    path: &str,
    user_agent: &str,
    host: IpAddr,
    timestamp: DateTime<Utc>,
) -> Option<LogMessage> {
    Some(record(hit(path, user_agent)?, user_agent, host, timestamp))
}

/// The record of `hit`, by `user_agent` from `host` at `timestamp`.
pub fn record(hit: Hit, user_agent: &str, host: IpAddr, timestamp: DateTime<Utc>) -> LogMessage {
    let host = host.to_canonical().to_string();
    let page = |package: String| ProjectHit {
        package,
        host: host.clone(),
        timestamp,
        user_agent: product(user_agent),
    };
    match hit {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIP: &str = r#"pip/23.0.1 {"ci":null,"cpu":"aarch64","distro":{"id":"bookworm","libc":{"lib":"glibc","version":"2.36"},"name":"Debian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.2"},"installer":{"name":"pip","version":"23.0.1"},"openssl_version":"OpenSSL 3.0.11","python":"3.11.2","setuptools_version":"66.1.1","system":{"name":"Linux","release":"6.1.0-rpi7-rpi-v8"}}"#;
    const UV: &str = r#"uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.3","implementation":{"name":"CPython","version":"3.12.3"},"distro":{"name":"Ubuntu","version":"24.04","id":"noble","libc":null},"system":{"name":"Linux","release":"6.8.0"},"cpu":"x86_64","openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":null}"#;
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn dl(name: &str) -> Option<Hit> {
        Some(Hit::Download(name.into()))
    }
    fn search(name: &str) -> Option<Hit> {
        Some(Hit::Search(name.into()))
    }
    fn project(name: &str) -> Option<Hit> {
        Some(Hit::Project(name.into()))
    }
    fn json(name: &str) -> Option<Hit> {
        Some(Hit::Json(name.into()))
    }
    fn page(name: &str) -> Option<Hit> {
        Some(Hit::Page(name.into()))
    }

    /// Request targets as the web server sees them (percent-encoded, with queries).
    #[test]
    fn the_rules_in_order() {
        let wheel = "foo-1.0-py3-none-any.whl";
        let numpy = "numpy-1.26.0-cp311-cp311-linux_armv7l.whl";
        let cases: &[(&str, &str, Option<Hit>)] = &[
            ("/simple/", PIP, None),
            ("/simple/", UV, None),
            ("/simple/", FIREFOX, None),
            ("/project/", FIREFOX, None),
            ("/simple/foo/foo-1.0-py3-none-any.whl", PIP, dl(wheel)),
            // Any client's wheel download counts; the query is not part of the path.
            (
                "/simple/foo/foo-1.0-py3-none-any.whl?x=1",
                "curl/8.0",
                dl(wheel),
            ),
            (&format!("/simple/numpy/{numpy}"), "curl/8.5.0", dl(numpy)),
            ("/simple/Foo_Bar/", PIP, search("foo-bar")),
            ("/simple/Zope.Interface/", PIP, search("zope-interface")),
            ("/simple/foo/", UV, search("foo")),
            ("/simple/foo", PIP, search("foo")),
            ("/simple/foo/index.json", PIP, search("foo")),
            ("/simple/foo/index.html", UV, search("foo")),
            ("/simple/foo/", FIREFOX, None),
            // PEP 658 metadata and other files under the index page are not searches.
            ("/simple/foo/foo-1.0-py3-none-any.whl.metadata", PIP, None),
            ("/simple/foo/bar/", PIP, None),
            // The root index under its file name is not a package called index-html.
            ("/simple/index.html", PIP, None),
            ("/simple/index.json", UV, None),
            ("/project/foo/json/", FIREFOX, json("foo")),
            ("/project/numpy/json/index.json", PIP, json("numpy")),
            ("/project/foo/json", FIREFOX, project("foo")),
            ("/project/foo/bar/json/x", FIREFOX, project("foo")),
            ("/project/foo/", FIREFOX, project("foo")),
            ("/project/NumPy/", FIREFOX, project("numpy")),
            ("/project/foo/index.html", FIREFOX, project("foo")),
            ("/", FIREFOX, page("home")),
            ("/?q=1", FIREFOX, page("home")),
            ("/index.html", FIREFOX, page("home")),
            ("/faq.html", FIREFOX, page("faq")),
            ("/%66aq.html", FIREFOX, page("faq")),
            ("/packages.json", FIREFOX, None),
            ("/logs/00/00/01.txt.gz", FIREFOX, None),
            ("/logs/ab/cd/1.txt", FIREFOX, None),
            // Empty segments collapse, as in PurePosixPath.
            ("/simple//foo//", PIP, search("foo")),
            ("//project//foo/json//", FIREFOX, json("foo")),
        ];
        for (path, ua, want) in cases {
            assert_eq!(&classify_path(path, ua), want, "{path} by {ua}");
        }
    }

    #[test]
    fn hostile_targets_make_no_record() {
        let long_wheel = format!("/simple/x/{}.whl", "a".repeat(300));
        let long_page = format!("/{}.html", "a".repeat(MAX_PAGE + 1));
        let longest_page = format!("/{}.html", "a".repeat(MAX_PAGE));
        assert_eq!(
            classify_path(&longest_page, FIREFOX),
            page(&"a".repeat(MAX_PAGE))
        );
        for target in [
            "/simple/../etc/",
            "/simple/%2e%2e/",
            "/simple/.hidden/",
            "/simple/x/.whl",
            "/simple/x/.foo.whl",
            "/simple/caf%C3%A9/",
            "/simple/caf%E9/",
            "/project/-x/",
            "/project/%00/",
            "/faq%00.html",
            "/fa%0aq.html",
            "/simple/x/a%01b.whl",
            "/.html",
            "/.git/x.html",
            "faq.html",
            "*",
            "",
            &long_wheel,
            &long_page,
        ] {
            for ua in [PIP, FIREFOX] {
                assert_eq!(classify_path(target, ua), None, "{target:?} by {ua}");
            }
        }
    }

    #[test]
    fn decoded_once() {
        // The web server's raw target is decoded; the logger's path is already decoded and
        // is not decoded again (`%66` stays three characters).
        assert_eq!(
            decode_target("/%2566aq.html?x").as_deref(),
            Some("/%66aq.html")
        );
        assert_eq!(hit("/%66aq.html", FIREFOX), page("%66aq"));
        assert_eq!(hit("/faq.html", FIREFOX), page("faq"));
        let at = Utc::now();
        let host: IpAddr = "192.0.2.1".parse().unwrap();
        match classify_decoded("/simple/six/six-1.0-py3-none-any.whl", PIP, host, at) {
            Some(LogMessage::Download(d)) => assert_eq!(d.filename, "six-1.0-py3-none-any.whl"),
            other => panic!("{other:?}"),
        }
        assert_eq!(classify_decoded("/simple/../x/", PIP, host, at), None);
    }

    #[test]
    fn a_user_agent_is_needed() {
        assert_eq!(classify_path("/faq.html", ""), None);
        assert_eq!(classify_path("/faq.html", "  "), None);
        assert_eq!(
            classify_path("/simple/six/six-1.0-py3-none-any.whl", ""),
            None
        );
        assert_eq!(classify_path("/faq.html", "x"), page("faq"));
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
        // Broken JSON: only what the installer's product says.
        for ua in ["pip/1 {not json", "pip/1 [1]"] {
            let info = client_info(ua);
            assert_eq!(info.installer_name.as_deref(), Some("pip"), "{ua}");
            assert_eq!(info.arch, None, "{ua}");
            assert_eq!(info.py_name, None, "{ua}");
        }
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
                assert_eq!(d.filename, "foo-1.0-py3-none-any.whl");
                assert_eq!(d.host, "2001:db8::1");
                assert_eq!(d.timestamp, at);
                assert_eq!(d.arch.as_deref(), Some("aarch64"));
                assert_eq!(d.distro_name.as_deref(), Some("Debian GNU/Linux"));
                assert_eq!(d.distro_version.as_deref(), Some("12"));
                assert_eq!(d.os_name.as_deref(), Some("Linux"));
                assert_eq!(d.os_version.as_deref(), Some("6.1.0-rpi7-rpi-v8"));
                assert_eq!(d.py_name.as_deref(), Some("CPython"));
                assert_eq!(d.py_version.as_deref(), Some("3.11.2"));
                assert_eq!(d.installer_name.as_deref(), Some("pip"));
                assert_eq!(d.installer_version.as_deref(), Some("23.0.1"));
                assert_eq!(d.setuptools_version.as_deref(), Some("66.1.1"));
            }
            other => panic!("{other:?}"),
        }
        match classify("/simple/Six/", UV, host, at) {
            Some(LogMessage::Search(s)) => {
                assert_eq!(s.package, "six");
                assert_eq!(s.arch.as_deref(), Some("x86_64"));
                assert_eq!(s.installer_name.as_deref(), Some("uv"));
            }
            other => panic!("{other:?}"),
        }
        // A download by another client says nothing of it, not even an installer.
        match classify(
            "/simple/foo/foo-1.0-py3-none-any.whl",
            "curl/8.5.0",
            host,
            at,
        ) {
            Some(LogMessage::Download(d)) => {
                assert_eq!((d.installer_name, d.py_name, d.arch), (None, None, None));
            }
            other => panic!("{other:?}"),
        }
        match classify("/project/Foo/", FIREFOX, host, at) {
            Some(LogMessage::Project(p)) => {
                assert_eq!(
                    (p.package.as_str(), p.user_agent.as_str()),
                    ("foo", "mozilla")
                );
            }
            other => panic!("{other:?}"),
        }
        match classify("/project/foo/json/", "curl/8\r\n", host, at) {
            Some(LogMessage::Json(p)) => assert_eq!(p.user_agent, "curl"),
            other => panic!("{other:?}"),
        }
        match classify("/faq.html", FIREFOX, host, at) {
            Some(LogMessage::Page(p)) => {
                assert_eq!((p.page.as_str(), p.user_agent.as_str()), ("faq", "mozilla"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(classify("/simple/", PIP, host, at), None);
    }

    #[test]
    fn ipv4_mapped_hosts_are_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        match classify("/", FIREFOX, mapped, Utc::now()) {
            Some(LogMessage::Page(p)) => assert_eq!(p.host, "192.0.2.9"),
            other => panic!("{other:?}"),
        }
    }
}
