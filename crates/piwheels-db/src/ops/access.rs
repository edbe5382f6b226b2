//! The web server's access log (the original's `LOGDOWNLOAD`, `LOGSEARCH`, `LOGPROJECT`,
//! `LOGJSON`, `LOGPAGE`).
//!
//! Log text comes from anybody on the internet. Before it is stored, C0 control characters
//! other than TAB, LF, FF and CR, and DEL, become U+FFFD (as the original does), and each
//! field is cut to its limit instead of failing the record, so nothing is lost for a long
//! User-Agent.

use crate::Database;
use crate::backend::Value;
use crate::error::Result;
use crate::types::{DownloadRecord, PageKind, PageRecord};

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

impl Database {
    /// Logs a wheel download.
    pub async fn log_download(&self, record: &DownloadRecord) -> Result<()> {
        self.log_download_like("log_download", "downloads", "filename", 255, record)
            .await
    }

    /// Logs a search (pip fetching a package's index page).
    pub async fn log_search(&self, record: &DownloadRecord) -> Result<()> {
        self.log_download_like("log_search", "searches", "package", 200, record)
            .await
    }

    /// Logs a project page hit, a project JSON download, or another page's hit.
    pub async fn log_page(&self, kind: PageKind, record: &PageRecord) -> Result<()> {
        let (op, sql, max) = match kind {
            PageKind::Project => (
                "log_project",
                "INSERT INTO project_page_hits (package, accessed_by, accessed_at, user_agent, bot) \
                 VALUES ($1, $2, $3, $4, $5)",
                200,
            ),
            PageKind::Json => (
                "log_json",
                "INSERT INTO project_json_downloads (package, accessed_by, accessed_at, user_agent) \
                 VALUES ($1, $2, $3, $4)",
                200,
            ),
            PageKind::Page => (
                "log_page",
                "INSERT INTO web_page_hits (page, accessed_by, accessed_at, user_agent, bot) \
                 VALUES ($1, $2, $3, $4, $5)",
                30,
            ),
        };
        let name = clip(&record.name, max);
        let user_agent = clip(&record.user_agent, 2000);
        let bot = is_bot(&user_agent);
        let (host, at) = (record.host, record.timestamp);
        self.write(op, move |c| {
            let mut values = vec![
                Value::Text(&name),
                Value::Ip(host),
                Value::Time(at),
                Value::Text(&user_agent),
            ];
            if kind != PageKind::Json {
                values.push(Value::Bool(bot));
            }
            c.execute(sql, &values)?;
            Ok(())
        })
        .await
    }

    async fn log_download_like(
        &self,
        op: &'static str,
        table: &'static str,
        column: &'static str,
        max: usize,
        r: &DownloadRecord,
    ) -> Result<()> {
        let name = clip(&r.name, max);
        let fields: Vec<Option<String>> = [
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
        .collect();
        let (host, at) = (r.host, r.timestamp);
        let sql = format!(
            "INSERT INTO {table} ({column}, accessed_by, accessed_at, arch, distro_name, distro_version, \
             os_name, os_version, py_name, py_version, installer_name, installer_version, setuptools_version) \
             VALUES ({})",
            super::placeholders(1, 13)
        );
        self.write(op, move |c| {
            let mut values = vec![Value::Text(&name), Value::Ip(host), Value::Time(at)];
            values.extend(fields.iter().map(|f| Value::from(f.as_deref())));
            c.execute(&sql, &values)?;
            Ok(())
        })
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
