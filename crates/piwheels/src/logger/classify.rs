//! Which record an access-log entry makes: the adapter from a parsed log [`Entry`] to the
//! one copy of piwheels.md §3.5's rules, [`piwheels_master::access_log`] (shared with the
//! web server's own logging; its module docs list the rules and where they differ from the
//! original's).
//!
//! The entry must be a `GET` answered `200` with a User-Agent; its path is already
//! percent-decoded and without its query (the [`line`](super::line) parser does that), so it
//! is classified with [`access_log::classify_decoded`], which does not decode it again.

use piwheels_master::access_log;
use piwheels_protocol::logger::LogMessage;

use super::line::Entry;

/// The record `entry` makes, if any.
pub fn classify(entry: &Entry) -> Option<LogMessage> {
    if entry.method != "GET" || entry.status != 200 {
        return None;
    }
    let ua = entry.user_agent.as_deref()?;
    access_log::classify_decoded(&entry.path, ua, entry.host, entry.time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::line::{LogFormat, parse_line};

    const PIP: &str = r#"pip/23.0.1 {\"cpu\":\"armv7l\",\"distro\":{\"name\":\"Raspbian GNU/Linux\",\"version\":\"12\"},\"implementation\":{\"name\":\"CPython\",\"version\":\"3.11.2\"},\"installer\":{\"name\":\"pip\",\"version\":\"23.0.1\"},\"python\":\"3.11.2\",\"setuptools_version\":\"66.1.1\",\"system\":{\"name\":\"Linux\",\"release\":\"6.1.21-v7+\"}}"#;
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

    fn record(method: &str, path: &str, status: u16, ua: &str) -> Option<LogMessage> {
        let line = format!(
            "198.51.100.4 - - [05/Mar/2024:10:00:00 +0000] \"{method} {path} HTTP/1.1\" {status} 100 \"-\" \"{ua}\""
        );
        classify(&parse_line(line.as_bytes(), LogFormat::Combined).unwrap())
    }

    fn name(m: &Option<LogMessage>) -> Option<(&'static str, String)> {
        Some(match m.as_ref()? {
            LogMessage::Download(d) => ("LOGDOWNLOAD", d.filename.clone()),
            LogMessage::Search(s) => ("LOGSEARCH", s.package.clone()),
            LogMessage::Project(p) => ("LOGPROJECT", p.package.clone()),
            LogMessage::Json(p) => ("LOGJSON", p.package.clone()),
            LogMessage::Page(p) => ("LOGPAGE", p.page.clone()),
        })
    }

    fn is(kind: &'static str, what: &str) -> Option<(&'static str, String)> {
        Some((kind, what.to_owned()))
    }

    #[test]
    fn the_rules_in_order() {
        let whl = "/simple/numpy/numpy-1.26.0-cp311-cp311-linux_armv7l.whl";
        assert_eq!(name(&record("GET", "/simple/", 200, PIP)), None);
        assert_eq!(name(&record("GET", "/project/", 200, FIREFOX)), None);
        assert_eq!(
            name(&record("GET", whl, 200, PIP)),
            is("LOGDOWNLOAD", "numpy-1.26.0-cp311-cp311-linux_armv7l.whl")
        );
        // Any client's wheel download counts.
        assert_eq!(
            name(&record("GET", whl, 200, "curl/8.5.0")),
            is("LOGDOWNLOAD", "numpy-1.26.0-cp311-cp311-linux_armv7l.whl")
        );
        assert_eq!(
            name(&record("GET", "/simple/Zope.Interface/", 200, PIP)),
            is("LOGSEARCH", "zope-interface")
        );
        assert_eq!(
            name(&record(
                "GET",
                "/simple/six/",
                200,
                r#"uv/0.4.18 {\"cpu\":\"aarch64\"}"#
            )),
            is("LOGSEARCH", "six")
        );
        assert_eq!(name(&record("GET", "/simple/six/", 200, FIREFOX)), None);
        assert_eq!(name(&record("GET", "/simple/", 200, FIREFOX)), None);
        assert_eq!(
            name(&record("GET", "/project/numpy/json/", 200, FIREFOX)),
            is("LOGJSON", "numpy")
        );
        assert_eq!(
            name(&record("GET", "/project/numpy/json/index.json", 200, PIP)),
            is("LOGJSON", "numpy")
        );
        assert_eq!(
            name(&record("GET", "/project/NumPy/", 200, FIREFOX)),
            is("LOGPROJECT", "numpy")
        );
        assert_eq!(
            name(&record("GET", "/project/numpy/json", 200, FIREFOX)),
            is("LOGPROJECT", "numpy")
        );
        assert_eq!(
            name(&record("GET", "/", 200, FIREFOX)),
            is("LOGPAGE", "home")
        );
        assert_eq!(
            name(&record("GET", "/index.html", 200, FIREFOX)),
            is("LOGPAGE", "home")
        );
        assert_eq!(
            name(&record("GET", "/faq.html", 200, FIREFOX)),
            is("LOGPAGE", "faq")
        );
        assert_eq!(name(&record("GET", "/packages.json", 200, FIREFOX)), None);
        assert_eq!(
            name(&record("GET", "/logs/ab/cd/1.txt", 200, FIREFOX)),
            None
        );
    }

    #[test]
    fn only_successful_gets_with_a_user_agent() {
        let whl = "/simple/six/six-1.16.0-py2.py3-none-any.whl";
        assert_eq!(name(&record("HEAD", whl, 200, PIP)), None);
        assert_eq!(name(&record("POST", "/", 200, FIREFOX)), None);
        assert_eq!(name(&record("GET", whl, 304, PIP)), None);
        assert_eq!(name(&record("GET", whl, 404, PIP)), None);
        assert_eq!(name(&record("GET", whl, 206, PIP)), None);
        assert_eq!(name(&record("GET", whl, 200, "-")), None);
        assert_eq!(name(&record("GET", whl, 200, "")), None);
        assert_eq!(name(&record("GET", whl, 200, " ")), None);
    }

    #[test]
    fn the_shared_rules_on_decoded_paths() {
        // The parser decoded the path once; it is not decoded again.
        assert_eq!(
            name(&record("GET", "/%2566aq.html", 200, FIREFOX)),
            is("LOGPAGE", "%66aq")
        );
        assert_eq!(
            name(&record("GET", "/%66aq.html?x=1", 200, FIREFOX)),
            is("LOGPAGE", "faq")
        );
        // PEP 658 metadata is not a search; the root index is not a package.
        let metadata = "/simple/six/six-1.16.0-py2.py3-none-any.whl.metadata";
        assert_eq!(name(&record("GET", metadata, 200, PIP)), None);
        assert_eq!(name(&record("GET", "/simple/index.html", 200, PIP)), None);
        // An IPv4-mapped client is recorded as IPv4; curl is no installer.
        let line = "::ffff:192.0.2.9 - - [05/Mar/2024:10:00:00 +0000] \"GET /simple/six/six-1.16.0-py2.py3-none-any.whl HTTP/1.1\" 200 1 \"-\" \"curl/8.5.0\"";
        let Some(LogMessage::Download(d)) =
            classify(&parse_line(line.as_bytes(), LogFormat::Combined).unwrap())
        else {
            panic!("no download")
        };
        assert_eq!(d.host, "192.0.2.9");
        assert_eq!(d.installer_name, None);
    }

    #[test]
    fn hostile_names_make_no_record() {
        assert_eq!(name(&record("GET", "/simple/../etc/", 200, PIP)), None);
        assert_eq!(name(&record("GET", "/simple/caf%C3%A9/", 200, PIP)), None);
        assert_eq!(name(&record("GET", "/project/-x/", 200, FIREFOX)), None);
        assert_eq!(name(&record("GET", "/simple/x/.whl", 200, PIP)), None);
        let long = format!("/simple/x/{}.whl", "a".repeat(300));
        assert_eq!(name(&record("GET", &long, 200, PIP)), None);
        let long = format!("/{}.html", "a".repeat(31));
        assert_eq!(name(&record("GET", &long, 200, FIREFOX)), None);
        assert_eq!(name(&record("GET", "/.html", 200, FIREFOX)), None);
    }

    #[test]
    fn the_fields_of_each_record() {
        let whl = "/simple/six/six-1.16.0-py2.py3-none-any.whl";
        let Some(LogMessage::Download(d)) = record("GET", whl, 200, PIP) else {
            panic!("no download")
        };
        assert_eq!(d.host, "198.51.100.4");
        assert_eq!(d.timestamp.to_rfc3339(), "2024-03-05T10:00:00+00:00");
        assert_eq!(d.arch.as_deref(), Some("armv7l"));
        assert_eq!(d.distro_name.as_deref(), Some("Raspbian GNU/Linux"));
        assert_eq!(d.distro_version.as_deref(), Some("12"));
        assert_eq!(d.os_name.as_deref(), Some("Linux"));
        assert_eq!(d.os_version.as_deref(), Some("6.1.21-v7+"));
        assert_eq!(d.py_name.as_deref(), Some("CPython"));
        assert_eq!(d.py_version.as_deref(), Some("3.11.2"));
        assert_eq!(d.installer_name.as_deref(), Some("pip"));
        assert_eq!(d.installer_version.as_deref(), Some("23.0.1"));
        assert_eq!(d.setuptools_version.as_deref(), Some("66.1.1"));
        let Some(LogMessage::Search(s)) = record("GET", "/simple/six/", 200, PIP) else {
            panic!("no search")
        };
        assert_eq!(
            (s.package.as_str(), s.arch.as_deref()),
            ("six", Some("armv7l"))
        );
        let Some(LogMessage::Page(p)) = record("GET", "/faq.html", 200, FIREFOX) else {
            panic!("no page")
        };
        assert_eq!((p.page.as_str(), p.user_agent.as_str()), ("faq", "mozilla"));
    }
}
