//! One access-log line in the "combined" layout that Apache and nginx both write by default:
//!
//! ```text
//! host ident user [10/Oct/2023:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326 "referer" "user agent"
//! ```
//!
//! The two servers differ only in how they escape a quoted field: Apache writes `"` as
//! `\"`, `\` as `\\` and other bytes outside printable ASCII as `\xhh`; nginx writes `"`,
//! `\` and those bytes as `\xhh`. [`LogFormat`] chooses which escapes are read.
//!
//! A line is untrusted: everything is checked, and a line that is not a well-formed entry is
//! a [`LineError`] saying why, never a panic.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

/// Which web server wrote the log (both use the "combined" layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Apache's `combined` LogFormat (`\"` and `\\` escapes, `\xhh` for other bytes).
    #[default]
    Combined,
    /// nginx's default `combined` log_format (`\xhh` for `"`, `\` and other bytes).
    Nginx,
}

impl std::str::FromStr for LogFormat {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, FormatError> {
        match s {
            "combined" | "apache" => Ok(LogFormat::Combined),
            "nginx" => Ok(LogFormat::Nginx),
            other => Err(FormatError(other.to_owned())),
        }
    }
}

/// A `--format` this logger does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown log format {0:?}: use combined (Apache's) or nginx; formats without the \
     User-Agent (common, common_vhost) give nothing to log"
)]
pub struct FormatError(pub String);

/// One access-log entry, its fields checked and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The client's address.
    pub host: IpAddr,
    /// When the request was made, in UTC.
    pub time: DateTime<Utc>,
    /// The request method (`GET`).
    pub method: String,
    /// The request's path, without its query string, percent-decoded.
    pub path: String,
    /// The response's status code.
    pub status: u16,
    /// The User-Agent header, unescaped; `None` when the log has `-`.
    pub user_agent: Option<String>,
}

/// Why a line is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line ended before its last field.
    #[error("the line ends before the {0}")]
    Truncated(&'static str),
    /// A field is not what the layout has there.
    #[error("bad {0}")]
    Field(&'static str),
    /// The host is not an IP address (a name from HostnameLookups, or garbage).
    #[error("the host is not an IP address")]
    Host,
    /// The time is not `[dd/Mon/yyyy:HH:MM:SS +zzzz]`.
    #[error("bad date")]
    Date,
    /// The line holds a NUL byte or is not UTF-8.
    #[error("the line holds a NUL byte or bytes that are not UTF-8")]
    Bytes,
}

/// Parses one line (without its line ending) written in `format`.
///
/// # Errors
///
/// [`LineError`] for anything but a whole, well-formed entry.
pub fn parse_line(line: &[u8], format: LogFormat) -> Result<Entry, LineError> {
    if line.contains(&0) {
        return Err(LineError::Bytes);
    }
    let line = std::str::from_utf8(line).map_err(|_| LineError::Bytes)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut rest = line;
    let host = token(&mut rest, "host")?;
    let host: IpAddr = host.parse().map_err(|_| LineError::Host)?;
    token(&mut rest, "ident")?;
    token(&mut rest, "user")?;
    let time = bracketed(&mut rest)?;
    let request = quoted(&mut rest, format, "request", false)?;
    let status = token(&mut rest, "status")?;
    let status: u16 = match status.parse() {
        Ok(s) if (100..=999).contains(&s) && status.len() == 3 => s,
        _ => return Err(LineError::Field("status")),
    };
    let size = token(&mut rest, "size")?;
    if size != "-" && !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::Field("size"));
    }
    quoted(&mut rest, format, "referer", false)?;
    // The User-Agent runs to the line's end: nothing may follow its closing quote.
    let agent = quoted(&mut rest, format, "user agent", true)?;
    let (method, path) = split_request(&request)?;
    Ok(Entry {
        host,
        time: parse_time(time)?,
        method,
        path,
        status,
        user_agent: (agent != "-").then_some(agent),
    })
}

/// The next space-separated token.
fn token<'a>(rest: &mut &'a str, what: &'static str) -> Result<&'a str, LineError> {
    let s = rest.trim_start_matches(' ');
    if s.is_empty() {
        return Err(LineError::Truncated(what));
    }
    let end = s.find(' ').unwrap_or(s.len());
    *rest = &s[end..];
    Ok(&s[..end])
}

/// The `[...]` field's inside.
fn bracketed<'a>(rest: &mut &'a str) -> Result<&'a str, LineError> {
    let s = rest.trim_start_matches(' ');
    let Some(s) = s.strip_prefix('[') else {
        return Err(if s.is_empty() {
            LineError::Truncated("date")
        } else {
            LineError::Date
        });
    };
    let end = s.find(']').ok_or(LineError::Truncated("date"))?;
    *rest = &s[end + 1..];
    Ok(&s[..end])
}

/// A `"..."` field, unescaped. The last field (`last`) runs to the line's last quote, so a
/// quote a server failed to escape inside the User-Agent does not end it early.
fn quoted(
    rest: &mut &str,
    format: LogFormat,
    what: &'static str,
    last: bool,
) -> Result<String, LineError> {
    let s = rest.trim_start_matches(' ');
    let Some(s) = s.strip_prefix('"') else {
        return Err(if s.is_empty() {
            LineError::Truncated(what)
        } else {
            LineError::Field(what)
        });
    };
    let end = if last {
        // The closing quote must not be escaped itself (`\"` at the end of a cut line).
        s.trim_end()
            .strip_suffix('"')
            .filter(|inner| {
                format == LogFormat::Nginx
                    || inner.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0
            })
            .map(str::len)
    } else {
        closing_quote(s, format)
    };
    let end = end.ok_or(LineError::Truncated(what))?;
    let value = unescape(&s[..end], format).ok_or(LineError::Field(what))?;
    *rest = &s[end + 1..];
    Ok(value)
}

/// Where the field that starts `s` closes: its first quote not escaped.
fn closing_quote(s: &str, format: LogFormat) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i),
            b'\\' if format == LogFormat::Combined => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Undoes the server's escapes; `None` if they are malformed or decode to a NUL byte or
/// bytes that are not UTF-8.
fn unescape(s: &str, format: LogFormat) -> Option<String> {
    if !s.contains('\\') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match (format, bytes.get(i + 1)) {
            (_, Some(b'x')) => {
                let hex = s.get(i + 2..i + 4)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            (LogFormat::Combined, Some(&c @ (b'"' | b'\\'))) => {
                out.push(c);
                i += 2;
            }
            (LogFormat::Combined, Some(b'n')) => {
                out.push(b'\n');
                i += 2;
            }
            (LogFormat::Combined, Some(b't')) => {
                out.push(b'\t');
                i += 2;
            }
            // A backslash that escapes nothing is itself (nginx never escapes with one
            // alone; Apache's other escapes are the ones above).
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// `GET /path?query HTTP/1.1` → method and the percent-decoded path.
fn split_request(request: &str) -> Result<(String, String), LineError> {
    let mut parts = request.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(LineError::Field("request"));
    };
    match (parts.next(), parts.next()) {
        (Some(proto), None) if proto.starts_with("HTTP/") => {}
        // HTTP/0.9 has no protocol part.
        (None, None) => {}
        _ => return Err(LineError::Field("request")),
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(LineError::Field("request"));
    }
    let raw = target.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return Err(LineError::Field("request"));
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    if decoded.contains(&0) {
        return Err(LineError::Field("request"));
    }
    let path = String::from_utf8(decoded).map_err(|_| LineError::Field("request"))?;
    Ok((method.to_owned(), path))
}

/// `10/Oct/2023:13:55:36 +0000` → UTC.
fn parse_time(s: &str) -> Result<DateTime<Utc>, LineError> {
    DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| LineError::Date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PIP_UA: &str = r#"pip/23.0.1 {\"ci\":null,\"cpu\":\"armv7l\",\"distro\":{\"id\":\"bookworm\",\"libc\":{\"lib\":\"glibc\",\"version\":\"2.36\"},\"name\":\"Raspbian GNU/Linux\",\"version\":\"12\"},\"implementation\":{\"name\":\"CPython\",\"version\":\"3.11.2\"},\"installer\":{\"name\":\"pip\",\"version\":\"23.0.1\"},\"openssl_version\":\"OpenSSL 3.0.11 19 Sep 2023\",\"python\":\"3.11.2\",\"setuptools_version\":\"66.1.1\",\"system\":{\"name\":\"Linux\",\"release\":\"6.1.21-v7+\"}}"#;

    fn apache(path: &str, status: u16, ua: &str) -> String {
        format!(
            "192.0.2.7 - - [10/Oct/2023:13:55:36 +0200] \"GET {path} HTTP/1.1\" {status} 2326 \"-\" \"{ua}\""
        )
    }

    #[test]
    fn a_pip_download_in_apache_combined() {
        let line = apache(
            "/simple/numpy/numpy-1.26.0-cp311-cp311-linux_armv7l.whl",
            200,
            PIP_UA,
        );
        let e = parse_line(line.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.host, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            e.time,
            Utc.with_ymd_and_hms(2023, 10, 10, 11, 55, 36).unwrap()
        );
        assert_eq!(e.method, "GET");
        assert_eq!(
            e.path,
            "/simple/numpy/numpy-1.26.0-cp311-cp311-linux_armv7l.whl"
        );
        assert_eq!(e.status, 200);
        let ua = e.user_agent.unwrap();
        assert!(
            ua.starts_with("pip/23.0.1 {\"ci\":null,\"cpu\":\"armv7l\""),
            "{ua}"
        );
        assert!(ua.ends_with("\"release\":\"6.1.21-v7+\"}}"), "{ua}");
    }

    #[test]
    fn nginx_escapes_quotes_as_hex() {
        let ua = PIP_UA.replace("\\\"", "\\x22");
        let line = apache("/simple/six/", 200, &ua);
        let e = parse_line(line.as_bytes(), LogFormat::Nginx).unwrap();
        assert!(e.user_agent.unwrap().contains("{\"ci\":null"));
        // nginx leaves a lone backslash alone; Apache would have doubled it.
        let line = apache("/", 200, r"Mozilla/5.0 (a\b)");
        let e = parse_line(line.as_bytes(), LogFormat::Nginx).unwrap();
        assert_eq!(e.user_agent.as_deref(), Some(r"Mozilla/5.0 (a\b)"));
    }

    #[test]
    fn ipv6_hosts_query_strings_and_percent_escapes() {
        let line = "2001:db8::1 - alice [01/Jan/2024:00:00:00 -0500] \"GET /simple/foo/foo-1.0%2Blocal-py3-none-any.whl?x=1 HTTP/2.0\" 200 - \"https://example.org/\" \"curl/8.5.0\"";
        let e = parse_line(line.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.host, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(e.time, Utc.with_ymd_and_hms(2024, 1, 1, 5, 0, 0).unwrap());
        assert_eq!(e.path, "/simple/foo/foo-1.0+local-py3-none-any.whl");
        assert_eq!(e.user_agent.as_deref(), Some("curl/8.5.0"));
        let mapped = "::ffff:192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"";
        let e = parse_line(mapped.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.user_agent, None);
    }

    #[test]
    fn an_unescaped_quote_inside_the_user_agent_does_not_end_it() {
        let line = apache("/", 200, r#"Evil "quoted" agent/1.0"#);
        let e = parse_line(line.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.user_agent.as_deref(), Some(r#"Evil "quoted" agent/1.0"#));
        // An escaped one is unescaped.
        let line = apache("/", 200, r#"Evil \"quoted\" agent/1.0"#);
        let e = parse_line(line.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.user_agent.as_deref(), Some(r#"Evil "quoted" agent/1.0"#));
        // An escaped quote inside the request does not end it.
        let line = "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET /a\\\"b.html HTTP/1.1\" 200 5 \"-\" \"x/1\"";
        let e = parse_line(line.as_bytes(), LogFormat::Combined).unwrap();
        assert_eq!(e.path, "/a\"b.html");
    }

    #[test]
    fn hostile_lines_are_errors() {
        let good = apache("/simple/six/", 200, PIP_UA);
        // Every truncation of a good line is refused, none panics.
        for cut in 0..good.len() {
            if !good.is_char_boundary(cut) {
                continue;
            }
            assert!(
                parse_line(&good.as_bytes()[..cut], LogFormat::Combined).is_err(),
                "accepted a line cut at {cut}: {}",
                &good[..cut]
            );
        }
        let cases: &[(&str, LineError)] = &[
            ("", LineError::Truncated("host")),
            (
                "host.example.org - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Host,
            ),
            (
                "192.0.2.1 - - [32/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Date,
            ),
            (
                "192.0.2.1 - - [01/Foo/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Date,
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:25:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Date,
            ),
            (
                "192.0.2.1 - - 01/Jan/2024:00:00:00 +0000 \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Date,
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 2000 5 \"-\" \"x\"",
                LineError::Field("status"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5x \"-\" \"x\"",
                LineError::Field("size"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\" extra",
                LineError::Truncated("user agent"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET relative HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Field("request"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET /%00.html HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Field("request"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET /%ff.html HTTP/1.1\" 200 5 \"-\" \"x\"",
                LineError::Field("request"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"\\x16\\x03\\x01\" 400 5 \"-\" \"-\"",
                LineError::Field("request"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"a\\x00b\"",
                LineError::Field("user agent"),
            ),
            (
                "192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"a\\x0\"",
                LineError::Field("user agent"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_line(line.as_bytes(), LogFormat::Combined)
                    .as_ref()
                    .err(),
                Some(want),
                "{line}"
            );
        }
        let mut nul = good.clone().into_bytes();
        nul[20] = 0;
        assert_eq!(parse_line(&nul, LogFormat::Combined), Err(LineError::Bytes));
        assert_eq!(
            parse_line(b"192.0.2.1 \xff\xfe", LogFormat::Combined),
            Err(LineError::Bytes)
        );
        let huge = apache(&format!("/{}.html", "a".repeat(10 << 20)), 200, "x/1");
        // Parsed (the reader, not the parser, limits a line's length) without trouble.
        assert!(parse_line(huge.as_bytes(), LogFormat::Combined).is_ok());
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("combined".parse(), Ok(LogFormat::Combined));
        assert_eq!("nginx".parse(), Ok(LogFormat::Nginx));
        assert!(
            "common"
                .parse::<LogFormat>()
                .unwrap_err()
                .to_string()
                .contains("User-Agent")
        );
    }
}
