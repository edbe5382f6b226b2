//! The request headers the file server reads, parsed as RFC 9110 says, every one of them
//! hostile until checked: `Accept-Encoding` (q-values, `*`, `identity;q=0`),
//! `If-None-Match` (lists, `*`, weak comparison), `If-Modified-Since`, `If-Range` and
//! `Range`. Anything malformed is treated as absent (the whole file, `200`), never as an
//! error that stops the server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};

/// The longest `Range` header read; a longer one is ignored (the whole file is sent).
const MAX_RANGE_HEADER: usize = 256;

/// The content coding chosen for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// gzip.
    Gzip,
    /// As it is.
    Identity,
    /// The client takes neither (`identity;q=0` or `*;q=0` without gzip): `406`.
    Neither,
}

/// The q-value a client gives each coding, from its `Accept-Encoding` headers.
#[derive(Debug, Default)]
struct Qualities {
    gzip: Option<f32>,
    identity: Option<f32>,
    any: Option<f32>,
}

fn qualities(headers: &HeaderMap) -> Option<Qualities> {
    let mut seen = false;
    let mut q = Qualities::default();
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        seen = true;
        let Ok(value) = value.to_str() else { continue };
        for coding in value.split(',') {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut weight = 1.0f32;
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    weight = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|w: &f32| w.is_finite())
                        .unwrap_or(0.0);
                }
            }
            let weight = weight.clamp(0.0, 1.0);
            match name.as_str() {
                "gzip" | "x-gzip" => q.gzip = Some(weight),
                "identity" => q.identity = Some(weight),
                "*" => q.any = Some(weight),
                _ => {}
            }
        }
    }
    seen.then_some(q)
}

/// Chooses the coding of a compressible answer: gzip whenever the client takes it, unless
/// it names `identity` with a higher q-value; the file as it is when the client says
/// nothing or does not take gzip; [`Coding::Neither`] when it refuses both.
pub fn choose_coding(headers: &HeaderMap) -> Coding {
    let Some(q) = qualities(headers) else {
        return Coding::Identity;
    };
    let gzip = q.gzip.or(q.any).unwrap_or(0.0);
    if gzip > 0.0 && gzip >= q.identity.unwrap_or(0.0) {
        return Coding::Gzip;
    }
    // The identity coding is acceptable unless refused by name or by `*;q=0`.
    let identity = q.identity.or(q.any.filter(|w| *w == 0.0)).unwrap_or(1.0);
    if identity > 0.0 {
        Coding::Identity
    } else {
        Coding::Neither
    }
}

/// Whether the client takes gzip at all (for build logs, which are stored gzipped).
pub fn takes_gzip(headers: &HeaderMap) -> bool {
    qualities(headers).is_some_and(|q| q.gzip.or(q.any).unwrap_or(0.0) > 0.0)
}

/// The entity tags of an `If-None-Match` or `If-Range` value, their `W/` dropped (weak
/// comparison); `None` for `*`. A malformed list ends where it stops parsing.
fn entity_tags(value: &str) -> Option<Vec<(&str, bool)>> {
    if value.trim() == "*" {
        return None;
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, tail) = match rest.strip_prefix("W/") {
            Some(t) => (true, t),
            None => (false, rest),
        };
        let Some(tail) = tail.strip_prefix('"') else {
            break;
        };
        let Some(end) = tail.find('"') else { break };
        tags.push((&tail[..end], weak));
        rest = &tail[end + 1..];
    }
    Some(tags)
}

/// Whether `If-None-Match` matches `etag` (the opaque tag, without quotes): `*`, or any
/// tag of the list by weak comparison. `None` if there is no such header.
pub fn none_match_hits(headers: &HeaderMap, etag: &str) -> Option<bool> {
    let mut present = false;
    for value in headers.get_all(header::IF_NONE_MATCH) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        match entity_tags(value) {
            None => return Some(true),
            Some(tags) if tags.iter().any(|(t, _)| *t == etag) => return Some(true),
            Some(_) => {}
        }
    }
    present.then_some(false)
}

/// Formats a time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
/// Written out field by field: every page answer carries one, and chrono's `format` parses
/// its pattern again each time.
pub fn http_date(t: SystemTime) -> String {
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t: chrono::DateTime<chrono::Utc> = t.into();
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().num_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date (the IMF-fixdate form; RFC 9110 obliges no other).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc2822(s.trim()).ok()?;
    let secs = u64::try_from(t.timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whole seconds since the epoch (HTTP dates have no finer resolution).
fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether `If-Modified-Since` says the client's copy is current: the file was not
/// modified after the date given. `false` without the header or with a bad date.
pub fn not_modified_since(headers: &HeaderMap, modified: Option<SystemTime>) -> bool {
    let (Some(modified), Some(since)) = (
        modified,
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date),
    ) else {
        return false;
    };
    secs(modified) <= secs(since)
}

/// Whether a `Range` header may be used: no `If-Range`, or one that names this very
/// version (the strong ETag, or exactly its modification date).
pub fn if_range_holds(headers: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return matches!(entity_tags(value).as_deref(), Some([(t, false)]) if *t == etag);
    }
    match (parse_http_date(value), modified) {
        (Some(date), Some(modified)) => secs(date) == secs(modified),
        _ => false,
    }
}

/// The most ranges one request may ask for; more get the whole file.
pub const MAX_PARTS: usize = 16;

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file, `200`: no range, a malformed one, more than [`MAX_PARTS`], or
    /// several that overlap or are out of order (a range DoS, many tiny overlapping ranges,
    /// is answered with the whole file rather than a multipart built of pieces the client
    /// chose).
    Whole,
    /// Bytes `start..=end`, `206`.
    Part {
        /// The first byte.
        start: u64,
        /// The last byte (inclusive).
        end: u64,
    },
    /// Several ranges `(start, end)` (inclusive), in order and apart: `206` with a
    /// `multipart/byteranges` body (RFC 9110 §14.6). Ranges that fall past the end of the
    /// file are left out.
    Parts(Vec<(u64, u64)>),
    /// No byte of the file: `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// One range spec of a file of `len` bytes: `None` if malformed, `Some(None)` if it holds
/// no byte of the file.
fn one_range(spec: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix)? {
            0 => Some(None),
            _ if len == 0 => Some(None),
            n => Some(Some((len.saturating_sub(n), len - 1))),
        },
        (first, last) => {
            let start = number(first)?;
            let end = if last.is_empty() {
                u64::MAX
            } else {
                Some(number(last)?).filter(|end| *end >= start)?
            };
            Some((start < len).then(|| (start, end.min(len - 1))))
        }
    }
}

/// Reads the `Range` header for a file of `len` bytes.
pub fn range(headers: &HeaderMap, len: u64) -> Ranged {
    let mut values = headers.get_all(header::RANGE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Ranged::Whole;
    };
    let Ok(value) = value.to_str() else {
        return Ranged::Whole;
    };
    if value.len() > MAX_RANGE_HEADER {
        return Ranged::Whole;
    }
    let Some((unit, set)) = value.split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Whole;
    }
    let specs: Vec<&str> = set.split(',').map(str::trim).collect();
    if specs.len() > MAX_PARTS {
        return Ranged::Whole;
    }
    let mut parts: Vec<(u64, u64)> = Vec::with_capacity(specs.len());
    for spec in specs {
        match one_range(spec, len) {
            None => return Ranged::Whole,
            Some(None) => {}
            Some(Some((start, end))) => {
                if parts.last().is_some_and(|(_, prev)| start <= *prev) {
                    return Ranged::Whole;
                }
                parts.push((start, end));
            }
        }
    }
    match parts[..] {
        [] => Ranged::Unsatisfiable,
        [(start, end)] => Ranged::Part { start, end },
        _ => Ranged::Parts(parts),
    }
}

/// Whether `If-Match` fails for the representation whose tag is `etag`: the header is
/// there, is not `*`, and names no tag equal to it by strong comparison (`412`).
pub fn match_fails(headers: &HeaderMap, etag: &str) -> bool {
    let mut present = false;
    for value in headers.get_all(header::IF_MATCH) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        match entity_tags(value) {
            None => return false,
            Some(tags) if tags.iter().any(|(t, weak)| !weak && *t == etag) => return false,
            Some(_) => {}
        }
    }
    present
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn codings() {
        let ae = |v| choose_coding(&with(header::ACCEPT_ENCODING, v));
        assert_eq!(choose_coding(&HeaderMap::new()), Coding::Identity);
        assert_eq!(ae("gzip"), Coding::Gzip);
        assert_eq!(ae("br, gzip;q=0.5"), Coding::Gzip);
        assert_eq!(ae("GZIP;Q=0.5"), Coding::Gzip);
        assert_eq!(ae("gzip;q=0, br"), Coding::Identity);
        assert_eq!(ae("*"), Coding::Gzip);
        assert_eq!(ae("*;q=0, identity"), Coding::Identity);
        assert_eq!(ae("br"), Coding::Identity);
        assert_eq!(ae(""), Coding::Identity);
        assert_eq!(ae("gzip;q=0.2, identity;q=0.9"), Coding::Identity);
        assert_eq!(ae("identity;q=0"), Coding::Neither);
        assert_eq!(ae("*;q=0"), Coding::Neither);
        assert_eq!(ae("identity;q=0, gzip;q=0.1"), Coding::Gzip);
        assert_eq!(ae("gzip;q=nan"), Coding::Identity);
        assert_eq!(ae("gzip;q=-1"), Coding::Identity);
        assert!(takes_gzip(&with(header::ACCEPT_ENCODING, "x-gzip")));
        assert!(!takes_gzip(&with(header::ACCEPT_ENCODING, "gzip;q=0")));
    }

    #[test]
    fn entity_tag_lists() {
        let inm = |v| none_match_hits(&with(header::IF_NONE_MATCH, v), "a-1");
        assert_eq!(none_match_hits(&HeaderMap::new(), "a-1"), None);
        assert_eq!(inm("\"a-1\""), Some(true));
        assert_eq!(inm("W/\"a-1\""), Some(true));
        assert_eq!(inm("\"x\", \"a-1\""), Some(true));
        assert_eq!(inm("*"), Some(true));
        assert_eq!(inm("\"a-2\""), Some(false));
        assert_eq!(inm("a-1"), Some(false));
        assert_eq!(inm("\"a-1"), Some(false));
        assert_eq!(inm("\"x\" junk \"a-1\""), Some(false));
    }

    #[test]
    fn ranges() {
        let r = |v| range(&with(header::RANGE, v), 100);
        assert_eq!(range(&HeaderMap::new(), 100), Ranged::Whole);
        assert_eq!(r("bytes=0-3"), Ranged::Part { start: 0, end: 3 });
        assert_eq!(r("bytes=90-"), Ranged::Part { start: 90, end: 99 });
        assert_eq!(r("bytes=90-500"), Ranged::Part { start: 90, end: 99 });
        assert_eq!(r("bytes=-10"), Ranged::Part { start: 90, end: 99 });
        assert_eq!(r("bytes=-1000"), Ranged::Part { start: 0, end: 99 });
        assert_eq!(r("bytes=100-"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=5-1"), Ranged::Whole);
        assert_eq!(r("bytes=0-1,2-3"), Ranged::Parts(vec![(0, 1), (2, 3)]));
        assert_eq!(r("bytes=0-1,-5"), Ranged::Parts(vec![(0, 1), (95, 99)]));
        assert_eq!(r("bytes=0-1, 500-600"), Ranged::Part { start: 0, end: 1 });
        assert_eq!(r("bytes=500-, 600-700"), Ranged::Unsatisfiable);
        // Overlapping, out of order, too many, or one malformed: the whole file.
        assert_eq!(r("bytes=0-5,3-8"), Ranged::Whole);
        assert_eq!(r("bytes=10-20,0-1"), Ranged::Whole);
        assert_eq!(r("bytes=0-1,x"), Ranged::Whole);
        let many: Vec<String> = (0..17).map(|i| format!("{0}-{0}", i * 2)).collect();
        let mut h = HeaderMap::new();
        h.insert(
            header::RANGE,
            HeaderValue::from_str(&format!("bytes={}", many.join(","))).unwrap(),
        );
        assert_eq!(range(&h, 100), Ranged::Whole);
        assert_eq!(r("items=0-1"), Ranged::Whole);
        assert_eq!(r("bytes=+1-2"), Ranged::Whole);
        assert_eq!(r("bytes=99999999999999999999999-"), Ranged::Whole);
        assert_eq!(
            range(&with(header::RANGE, "bytes=-5"), 0),
            Ranged::Unsatisfiable
        );
    }

    #[test]
    fn if_match() {
        let im = |v| match_fails(&with(header::IF_MATCH, v), "a-1");
        assert!(!match_fails(&HeaderMap::new(), "a-1"));
        assert!(!im("\"a-1\""));
        assert!(!im("*"));
        assert!(!im("\"x\", \"a-1\""));
        assert!(im("W/\"a-1\""));
        assert!(im("\"a-2\""));
        assert!(im("junk"));
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        for secs in [
            0,
            951_782_400,
            1_709_251_199,
            4_102_444_800,
            253_402_300_799,
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let chrono: chrono::DateTime<chrono::Utc> = t.into();
            let want = chrono.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            assert_eq!(http_date(t), want);
            assert_eq!(parse_http_date(&want), Some(t));
        }
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("yesterday"), None);
        let h = with(header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(not_modified_since(&h, Some(t + Duration::from_millis(500))));
        assert!(!not_modified_since(&h, Some(t + Duration::from_secs(1))));
        assert!(if_range_holds(&HeaderMap::new(), "e", Some(t)));
        assert!(if_range_holds(
            &with(header::IF_RANGE, "\"e\""),
            "e",
            Some(t)
        ));
        assert!(!if_range_holds(
            &with(header::IF_RANGE, "W/\"e\""),
            "e",
            Some(t)
        ));
        assert!(!if_range_holds(
            &with(header::IF_RANGE, "\"f\""),
            "e",
            Some(t)
        ));
        let h = with(header::IF_RANGE, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(if_range_holds(&h, "e", Some(t)));
        assert!(!if_range_holds(&h, "e", Some(t + Duration::from_secs(9))));
    }
}
