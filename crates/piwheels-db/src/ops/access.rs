//! The web server's access log (the original's `LOGDOWNLOAD`, `LOGSEARCH`, `LOGPROJECT`,
//! `LOGJSON`, `LOGPAGE`).
//!
//! Log text comes from anybody on the internet. Before it is stored, C0 control characters
//! other than TAB, LF, FF and CR, and DEL, become U+FFFD (as the original does), and each
//! field is cut to its limit instead of failing the record, so nothing is lost for a long
//! User-Agent.
//!
//! [`Database::log_access`] writes any number of records in one transaction, with
//! multi-row statements ([`ROWS_PER_STATEMENT`] rows each) sent as one pipeline, as
//! Lumberjack does in batches; the `log_*` methods write one record each.

use crate::Database;
use crate::backend::{Stmt, Value};
use crate::error::Result;
use crate::types::{AccessRecord, DownloadRecord, PageKind, PageRecord};

/// Rows per `INSERT` of a batch (13 parameters each for downloads and searches: well
/// within both backends' limits).
const ROWS_PER_STATEMENT: usize = 500;

/// The longest file name stored in `downloads` (the original's `VARCHAR(255)`).
pub const MAX_FILENAME: usize = 255;
/// The longest package name stored in `searches` and the page tables.
pub const MAX_PACKAGE: usize = 200;
/// The longest page name stored in `web_page_hits`.
pub const MAX_PAGE: usize = 30;
/// The longest User-Agent stored.
pub const MAX_USER_AGENT: usize = 2000;

/// Replaces the control characters the original replaces (see the module docs).
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\x0c' | '\r' => c,
            '\0'..='\x1f' | '\x7f' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// Cuts text to `max` characters, ending in `…` when it was cut (as the original cuts
/// descriptions).
pub(crate) fn clip(s: &str, max: usize) -> String {
    let s = sanitize(s);
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A sanitised optional field.
fn field(s: &Option<String>, max: usize) -> Option<String> {
    s.as_deref().map(|s| clip(s, max))
}

/// Whether a User-Agent looks like a crawler's.
fn is_bot(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    ["bot", "crawl", "spider", "slurp"]
        .iter()
        .any(|w| ua.contains(w))
}

/// A download or search, cut and sanitised for its table: the name, then the ten optional
/// fields.
struct DownloadRow {
    name: String,
    host: std::net::IpAddr,
    at: chrono::DateTime<chrono::Utc>,
    fields: Vec<Option<String>>,
}

impl DownloadRow {
    fn new(r: &DownloadRecord, max: usize) -> Self {
        DownloadRow {
            name: clip(&r.name, max),
            host: r.host,
            at: r.timestamp,
            fields: [
                (&r.arch, 100),
                (&r.distro_name, 100),
                (&r.distro_version, 100),
                (&r.os_name, 100),
                (&r.os_version, 100),
                (&r.py_name, 100),
                (&r.py_version, 100),
                (&r.installer_name, 20),
                (&r.installer_version, 100),
                (&r.setuptools_version, 100),
            ]
            .into_iter()
            .map(|(f, max)| field(f, max))
            .collect(),
        }
    }

    fn values(&self) -> impl Iterator<Item = Value<'_>> {
        [
            Value::Text(&self.name),
            Value::Ip(self.host),
            Value::Time(self.at),
        ]
        .into_iter()
        .chain(self.fields.iter().map(|f| Value::from(f.as_deref())))
    }
}

/// A page hit, cut and sanitised for its table.
struct PageRow {
    name: String,
    host: std::net::IpAddr,
    at: chrono::DateTime<chrono::Utc>,
    user_agent: String,
    bot: bool,
}

impl PageRow {
    fn new(kind: PageKind, r: &PageRecord) -> Self {
        let max = if kind == PageKind::Page {
            MAX_PAGE
        } else {
            MAX_PACKAGE
        };
        let user_agent = clip(&r.user_agent, MAX_USER_AGENT);
        PageRow {
            name: clip(&r.name, max),
            host: r.host,
            at: r.timestamp,
            bot: is_bot(&user_agent),
            user_agent,
        }
    }

    /// Its values: the JSON table has no `bot` column.
    fn values(&self, kind: PageKind) -> Vec<Value<'_>> {
        let mut v = vec![
            Value::Text(&self.name),
            Value::Ip(self.host),
            Value::Time(self.at),
            Value::Text(&self.user_agent),
        ];
        if kind != PageKind::Json {
            v.push(Value::Bool(self.bot));
        }
        v
    }
}

/// The table and columns of a page hit's kind.
fn page_table(kind: PageKind) -> (&'static str, &'static str, usize) {
    match kind {
        PageKind::Project => (
            "project_page_hits",
            "package, accessed_by, accessed_at, user_agent, bot",
            5,
        ),
        PageKind::Json => (
            "project_json_downloads",
            "package, accessed_by, accessed_at, user_agent",
            4,
        ),
        PageKind::Page => (
            "web_page_hits",
            "page, accessed_by, accessed_at, user_agent, bot",
            5,
        ),
    }
}

const DOWNLOAD_COLUMNS: &str = "accessed_by, accessed_at, arch, distro_name, distro_version, \
     os_name, os_version, py_name, py_version, installer_name, installer_version, setuptools_version";

impl Database {
    /// Logs any number of access-log records, of any kinds, in one transaction (nothing
    /// is written if any statement fails). Text is sanitised and cut as by the `log_*`
    /// methods.
    pub async fn log_access(&self, records: &[AccessRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut downloads = Vec::new();
        let mut searches = Vec::new();
        let mut pages: [(PageKind, Vec<PageRow>); 3] = [
            (PageKind::Project, Vec::new()),
            (PageKind::Json, Vec::new()),
            (PageKind::Page, Vec::new()),
        ];
        for r in records {
            match r {
                AccessRecord::Download(d) => downloads.push(DownloadRow::new(d, MAX_FILENAME)),
                AccessRecord::Search(s) => searches.push(DownloadRow::new(s, MAX_PACKAGE)),
                AccessRecord::Page(kind, p) => {
                    let i = match kind {
                        PageKind::Project => 0,
                        PageKind::Json => 1,
                        PageKind::Page => 2,
                    };
                    pages[i].1.push(PageRow::new(*kind, p));
                }
            }
        }
        self.write("log_access", move |c| {
            let mut stmts: Vec<Stmt<'_>> = Vec::new();
            for (table, column, rows) in [
                ("downloads", "filename", &downloads),
                ("searches", "package", &searches),
            ] {
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    stmts.push(Stmt::new(
                        format!(
                            "INSERT INTO {table} ({column}, {DOWNLOAD_COLUMNS}) VALUES {}",
                            super::values_list(chunk.len(), 13)
                        ),
                        chunk.iter().flat_map(DownloadRow::values).collect(),
                    ));
                }
            }
            for (kind, rows) in &pages {
                let (table, columns, n) = page_table(*kind);
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    stmts.push(Stmt::new(
                        format!(
                            "INSERT INTO {table} ({columns}) VALUES {}",
                            super::values_list(chunk.len(), n)
                        ),
                        chunk.iter().flat_map(|r| r.values(*kind)).collect(),
                    ));
                }
            }
            c.execute_then_commit(&stmts)
        })
        .await
    }

    /// Logs a wheel download.
    pub async fn log_download(&self, record: &DownloadRecord) -> Result<()> {
        self.log_access(&[AccessRecord::Download(record.clone())])
            .await
    }

    /// Logs a search (pip fetching a package's index page).
    pub async fn log_search(&self, record: &DownloadRecord) -> Result<()> {
        self.log_access(&[AccessRecord::Search(record.clone())])
            .await
    }

    /// Logs a project page hit, a project JSON download, or another page's hit.
    pub async fn log_page(&self, kind: PageKind, record: &PageRecord) -> Result<()> {
        self.log_access(&[AccessRecord::Page(kind, record.clone())])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_replacement_characters() {
        assert_eq!(sanitize("a\tb\nc\x0cd\re"), "a\tb\nc\x0cd\re");
        assert_eq!(sanitize("a\0b\x1bc\x7fd"), "a\u{fffd}b\u{fffd}c\u{fffd}d");
        assert_eq!(sanitize("é\u{80}"), "é\u{80}");
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééééé", 4).chars().count(), 4);
    }
}
