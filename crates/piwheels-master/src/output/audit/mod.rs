//! The audit of the output folder against the database (`piw-audit`): what is missing,
//! extra or wrong, reported as [`Finding`]s, and with [`fix`] repaired where it can be.
//! Without [`fix`] nothing is written, in the folder or the database.
//!
//! The checks ([`Check`]), each selectable:
//!
//! - `packages`: package folders under `simple/` and `project/` missing from or extra to
//!   the database, and packages' pages missing;
//! - `files`: per package, wheels missing, names no row accounts for, and something other
//!   than a file where a wheel should be;
//! - `hashes`: wheels whose SHA-256 is not the database's (every wheel is read, on every
//!   core);
//! - `links`: alias links (the armv6l copies of armv7l wheels, and `project/<alias>`)
//!   missing, broken, or pointing somewhere else (outside the output, say);
//! - `metadata`: `<wheel>.metadata` files (PEP 658) missing, or not their wheel's
//!   `*.dist-info/METADATA` (at most [`MAX_METADATA`](super::wheel::MAX_METADATA) bytes
//!   are read of either);
//! - `logs`: build logs (`logs/AAAA/BBBB/CCCC.txt.gz`) missing, or extra to the builds
//!   table.
//!
//! Folders are listed before the rows are read (as the start-up check does), so a wheel
//! or log being published while the audit runs is never taken for an extra one; real
//! wheels of builds recorded after the audit started are not reported missing.
//!
//! Names come from the folder and are hostile: a name that is not UTF-8 or holds a newline
//! is reported with escapes (see [`escape`]), links are read and never followed, and only
//! names found in the output's own listings are ever removed.

mod fix;
mod logs;
pub mod render;
mod scan;
mod work;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use piwheels_db::Database;
use serde::Serialize;

pub use fix::{FixReport, Outcome, fix};
pub use render::MasterNote;

/// The checks the audit can make (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// Package folders and pages.
    Packages,
    /// Wheels missing or extra.
    Files,
    /// Wheels' SHA-256.
    Hashes,
    /// Alias links.
    Links,
    /// Metadata files.
    Metadata,
    /// Build logs.
    Logs,
}

impl Check {
    /// Every check, in the order they are reported.
    pub const ALL: [Check; 6] = [
        Check::Packages,
        Check::Files,
        Check::Hashes,
        Check::Links,
        Check::Metadata,
        Check::Logs,
    ];

    /// Its name, as the command line and the JSON report give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Packages => "packages",
            Check::Files => "files",
            Check::Hashes => "hashes",
            Check::Links => "links",
            Check::Metadata => "metadata",
            Check::Logs => "logs",
        }
    }
}

/// What is wrong (see [`Finding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A package the database has lacks its folder (or something else is in its place).
    PackageMissing,
    /// A folder (or anything) under `simple/` or `project/` of no package the database has.
    PackageExtra,
    /// A package's page is missing (or something else is in its place).
    PagesMissing,
    /// A name in a package's folder no row accounts for.
    FileExtra,
    /// A real wheel the database has is missing.
    WheelMissing,
    /// Something other than a regular file where a wheel should be.
    NotAFile,
    /// A wheel whose SHA-256 is not the database's.
    HashMismatch,
    /// An alias link the database calls for is missing.
    LinkMissing,
    /// A link whose target does not exist.
    LinkBroken,
    /// A link (or something else) pointing where it should not.
    LinkWrong,
    /// A wheel's metadata file is missing.
    MetadataMissing,
    /// A wheel's metadata file is not its wheel's `METADATA`.
    MetadataMismatch,
    /// A wheel whose `METADATA` cannot be read (not a zip, too large, none).
    WheelUnreadable,
    /// A build's log is missing.
    LogMissing,
    /// A file under `logs/` of no build the database has.
    LogExtra,
}

impl Kind {
    /// Its name, as the reports give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PackageMissing => "package-missing",
            Kind::PackageExtra => "package-extra",
            Kind::PagesMissing => "pages-missing",
            Kind::FileExtra => "file-extra",
            Kind::WheelMissing => "wheel-missing",
            Kind::NotAFile => "not-a-file",
            Kind::HashMismatch => "hash-mismatch",
            Kind::LinkMissing => "link-missing",
            Kind::LinkBroken => "link-broken",
            Kind::LinkWrong => "link-wrong",
            Kind::MetadataMissing => "metadata-missing",
            Kind::MetadataMismatch => "metadata-mismatch",
            Kind::WheelUnreadable => "wheel-unreadable",
            Kind::LogMissing => "log-missing",
            Kind::LogExtra => "log-extra",
        }
    }
}

/// How a finding is repaired (by [`fix`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repair {
    /// It cannot be (the reason).
    None(&'static str),
    /// Remove what is at the path (a link is removed, not followed).
    Remove,
    /// Remove a package's folders and the alias links to it.
    RemovePackage(String),
    /// Remove what is in the way at the path (if anything), and owe the package's pages.
    Rewrite(String),
    /// Delete the build (its version is built again) and remove its files; the path is
    /// removed first (anything there is not the wheel).
    Requeue { package: String, build_id: i64 },
    /// Make the path a link to this target, in its folder, if the target is there (or
    /// else remove the path).
    Relink(String),
    /// Write the metadata file at the path from this wheel (a name in the same folder).
    WriteMetadata(String),
}

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check that found it.
    pub check: Check,
    /// What is wrong.
    pub kind: Kind,
    /// The path, relative to the output folder, escaped (see [`escape`]).
    pub path: String,
    /// The package, if it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The build, if it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<i64>,
    /// What exactly (one line).
    pub detail: String,
    /// Whether `--fix` can repair it.
    pub fixable: bool,
    /// The path as it is, relative to the output folder.
    #[serde(skip)]
    pub(crate) raw: PathBuf,
    #[serde(skip)]
    pub(crate) repair: Repair,
}

impl Finding {
    pub(crate) fn new(
        check: Check,
        kind: Kind,
        raw: PathBuf,
        detail: String,
        repair: Repair,
    ) -> Self {
        Finding {
            check,
            kind,
            path: escape(raw.as_os_str().as_encoded_bytes()),
            package: None,
            build_id: None,
            detail: escape_line(&detail),
            fixable: !matches!(repair, Repair::None(_)),
            raw,
            repair,
        }
    }

    pub(crate) fn package(mut self, package: &str) -> Self {
        self.package = Some(package.to_owned());
        self
    }

    pub(crate) fn build(mut self, build_id: i64) -> Self {
        self.build_id = Some(build_id);
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind.as_str(), self.path, self.detail)
    }
}

/// A path or name as the reports give it: as it is when it is UTF-8 without control
/// characters or backslashes; otherwise with `\\` for a backslash, `\n`, `\t`, `\r`, and
/// `\xNN` for any other control character or byte that is not UTF-8. One line, always.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A message made one line (its control characters escaped).
fn escape_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        escape(text.as_bytes()).replace("\\\\", "\\")
    } else {
        text.to_owned()
    }
}

/// What the audit is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The checks to make.
    pub checks: Vec<Check>,
    /// Threads reading wheels (at least 1).
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checks: Check::ALL.to_vec(),
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Packages in the database.
    pub packages: usize,
    /// Wheels (and alias copies) the database serves from the output.
    pub files: usize,
    /// Bytes of wheels read (for their hashes or their `METADATA`).
    pub bytes_read: u64,
    /// Builds in the database (for the logs check).
    pub builds: usize,
}

/// What the audit found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The output folder.
    pub output_path: String,
    /// The checks made.
    pub checks: Vec<Check>,
    /// What was looked at.
    pub counts: Counts,
    /// What is wrong, in the order of the checks, then of the paths.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether nothing is wrong.
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// How many findings of each kind.
    pub fn by_kind(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry(f.kind.as_str()).or_default() += 1;
        }
        out
    }

    /// How many findings `--fix` can repair.
    pub fn fixable(&self) -> usize {
        self.findings.iter().filter(|f| f.fixable).count()
    }
}

/// What a long audit reports as it goes (the tool shows a progress bar; a library user
/// may ignore it). Called from several threads.
pub trait Progress: Sync {
    /// A new phase starts, `total` units long (0 when not known).
    fn phase(&self, what: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
}

/// No progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Why the audit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] piwheels_db::Error),
    /// The output folder could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output folder is not a folder.
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Audits the output folder `out` against `db` (reading only). Blocking work runs on
/// threads of its own; `progress` hears how far it got.
pub async fn audit(
    db: &Database,
    out: &Path,
    options: &Options,
    progress: &(dyn Progress + 'static),
) -> Result<Report, AuditError> {
    let meta = std::fs::metadata(out).map_err(io_error(out))?;
    if !meta.is_dir() {
        return Err(AuditError::NotAFolder(out.to_owned()));
    }
    let since = Utc::now();
    let mut checks = options.checks.clone();
    checks.sort();
    checks.dedup();
    let on = |c| checks.contains(&c);
    let mut counts = Counts::default();
    let mut findings = Vec::new();
    if on(Check::Packages)
        || on(Check::Files)
        || on(Check::Hashes)
        || on(Check::Links)
        || on(Check::Metadata)
    {
        let found = scan::packages(db, out, &checks, since, progress).await?;
        counts.packages = found.packages;
        counts.files = found.files;
        let (more, bytes) = work::read_wheels(out, found.jobs, &checks, options.jobs, progress);
        counts.bytes_read = bytes;
        findings.extend(found.findings);
        findings.extend(more);
    }
    if on(Check::Logs) {
        let (more, builds) = logs::check(db, out, progress).await?;
        counts.builds = builds;
        findings.extend(more);
    }
    findings.sort_by(|a, b| (a.check, &a.raw, a.kind).cmp(&(b.check, &b.raw, b.kind)));
    Ok(Report {
        output_path: out.display().to_string(),
        checks,
        counts,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape(b"simple/foo/a.whl"), "simple/foo/a.whl");
        assert_eq!(escape(b"a\nb"), "a\\nb");
        assert_eq!(escape(b"a\\b"), "a\\\\b");
        assert_eq!(escape(b"caf\xe9"), "caf\\xe9");
        assert_eq!(escape("ü\u{7f}".as_bytes()), "ü\\x7f");
        assert_eq!(escape_line("two\nlines"), "two\\nlines");
    }
}
