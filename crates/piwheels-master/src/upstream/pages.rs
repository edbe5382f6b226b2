//! Reading simple-index pages: PEP 691 JSON and PEP 503 HTML project lists and project
//! pages, and what a file's name says about it.

use chrono::{DateTime, Utc};
use piwheels_db::canonicalize_name;
use serde_json::Value;

use super::{FileKind, ProjectEntry, ProjectFile, ProjectList, ProjectPage};

/// Why an answer is not a simple-index page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Not JSON, or not the JSON expected (the parser's message).
    #[error("{0}")]
    Json(String),
    /// A JSON project list without its `projects`.
    #[error("no \"projects\" list")]
    NoProjects,
    /// A JSON project page without its `files`.
    #[error("no \"files\" list")]
    NoFiles,
    /// An answer larger than the limit, in bytes.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// An answer that is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A JSON API document without a string (or null) `info.summary`.
    #[error("no \"info.summary\"")]
    NoSummary,
}

impl From<serde_json::Error> for PageError {
    fn from(e: serde_json::Error) -> Self {
        PageError::Json(e.to_string())
    }
}

fn serial(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
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
pub fn parse_project_json(asked: &str, text: &str) -> Result<ProjectPage, PageError> {
    let doc: Value = serde_json::from_str(text)?;
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(asked)
        .to_owned();
    let files = doc
        .get("files")
        .and_then(Value::as_array)
        .ok_or(PageError::NoFiles)?;
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
pub(super) struct Anchor {
    attrs: Vec<(String, String)>,
    pub(super) text: String,
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
    anchors_from(html, true).0
}

/// The anchors of the start of an HTML page, and how many bytes of `html` they account
/// for. With `at_end`, `html` is the whole (rest of the) page and every byte is accounted
/// for; without, `html` may stop anywhere, and an anchor that may go on past its end (its
/// tag or its `</a` not there yet) is left, with what follows, for the next call.
pub(super) fn anchors_from(html: &str, at_end: bool) -> (Vec<Anchor>, usize) {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    loop {
        let Some(found) = lower[at..].find("<a") else {
            // Keep a final `<` for the next call: it may begin an anchor.
            let keep = usize::from(!at_end && lower.ends_with('<'));
            return (out, html.len() - keep);
        };
        let start = at + found;
        let after = start + 2;
        // `<a` must be followed by whitespace or `>` (not `<abbr`).
        match lower.as_bytes().get(after) {
            Some(b) if b.is_ascii_whitespace() || *b == b'>' => {}
            None if !at_end => return (out, start),
            _ => {
                at = after;
                continue;
            }
        }
        let Some((attrs, tag_end)) = parse_attrs(html, after) else {
            return (out, if at_end { html.len() } else { start });
        };
        let close = match lower[tag_end..].find("</a") {
            Some(i) => tag_end + i,
            None if at_end => html.len(),
            None => return (out, start),
        };
        let text = unescape(&strip_tags(&html[tag_end..close]));
        out.push(Anchor { attrs, text });
        at = close.max(tag_end);
        if at >= html.len() {
            return (out, html.len());
        }
    }
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
