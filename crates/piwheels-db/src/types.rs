//! The records the database takes and gives.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::abi::Target;

/// A build to record: what a slave (or `piw-import`) reports, as the master logs it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBuild {
    /// The package's canonical name.
    pub package: String,
    /// The version.
    pub version: String,
    /// The slave's id (0 for imports).
    pub built_by: i64,
    /// The builder's target.
    pub target: Target,
    /// Whether the build succeeded.
    pub status: bool,
    /// How long it took (a negative duration, from a slave's clock jumping, is stored as 0).
    pub duration: TimeDelta,
    /// When it was recorded; `None` is now.
    pub built_at: Option<DateTime<Utc>>,
    /// The wheels it produced (none for a failure).
    pub files: Vec<NewFile>,
}

/// A wheel a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// The wheel's file name.
    pub filename: String,
    /// Its size in bytes.
    pub filesize: u64,
    /// Its SHA-256, lowercase hex.
    pub filehash: String,
    /// The distribution name from the file name.
    pub package_tag: String,
    /// The version from the file name.
    pub package_version_tag: String,
    /// The Python tag (`py3`, `cp311`).
    pub py_version_tag: String,
    /// The ABI tag (`none`, `abi3`, `cp311`).
    pub abi_tag: String,
    /// The platform tag.
    pub platform_tag: String,
    /// The wheel's `Requires-Python`, if it has one.
    pub requires_python: Option<String>,
    /// Dependencies by tool: `apt` (Debian packages), `pip` (Python packages), and `""`
    /// (shared libraries no package owns).
    pub dependencies: BTreeMap<String, BTreeSet<String>>,
    /// Where it is served from: `/simple`, or the URL of an archive server.
    pub location: String,
}

/// A wheel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The file as it was logged.
    pub file: NewFile,
    /// The build that produced it.
    pub build_id: i64,
    /// For the copy published under a platform alias, the name of the wheel it copies.
    pub twin_of: Option<String>,
}

/// A wheel as the output folder should hold it (see [`Database::output_files`]).
///
/// [`Database::output_files`]: crate::Database::output_files
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Its package.
    pub package: String,
    /// The version its build was of (as upstream spells it).
    pub version: String,
    /// Its file name.
    pub filename: String,
    /// Its size, bytes.
    pub filesize: i64,
    /// Its SHA-256, lowercase hex.
    pub filehash: String,
    /// The build that produced it.
    pub build_id: i64,
    /// For an alias copy (a link in the output), the wheel it copies.
    pub twin_of: Option<String>,
    /// Where it is served from (`/simple` for the output folder).
    pub location: String,
    /// When its build was recorded.
    pub built_at: DateTime<Utc>,
}

/// Everything a project's pages show (the original's `get_project_data`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectData {
    /// The canonical name.
    pub package: String,
    /// The display name: the spelling seen most recently upstream.
    pub name: String,
    /// The summary.
    pub description: String,
    /// The package's skip reason (`''` when it builds).
    pub skip: String,
    /// Every version, newest release first.
    pub releases: IndexMap<String, Release>,
    /// Its downloads in the last 30 days and ever.
    pub downloads: Downloads,
}

/// One version on a project's pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Whether upstream yanked it.
    pub yanked: bool,
    /// When upstream released it.
    pub released: DateTime<Utc>,
    /// The version's skip reason, else the package's (`''` when neither is skipped).
    pub skip: String,
    /// Its wheels, by file name.
    pub files: BTreeMap<String, ProjectFile>,
    /// How each build target fares, in target order.
    pub targets: BTreeMap<Target, TargetStatus>,
}

/// A wheel on a project's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// Where it is served from.
    pub location: String,
    /// SHA-256, lowercase hex.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// The builder's ABI.
    pub abi_builder: String,
    /// The wheel's own ABI tag.
    pub abi_file: String,
    /// The wheel's platform tag.
    pub platform: String,
    /// Its `Requires-Python`.
    pub requires_python: Option<String>,
    /// Debian packages it needs, less those preinstalled for the builder's ABI.
    pub apt_dependencies: BTreeSet<String>,
    /// Python packages it needs.
    pub pip_dependencies: BTreeSet<String>,
    /// The build that produced it.
    pub build_id: i64,
}

/// How one version fares on one build target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    /// A wheel that installs on the target exists.
    Success,
    /// The target's build failed.
    Fail,
    /// The package or version is skipped.
    Skip,
    /// Not built for the target yet.
    Pending,
    /// The target's build succeeded but left no wheel that installs on it.
    Error,
}

impl BuildStatus {
    /// The name the original uses (`success`, `fail`, `skip`, `pending`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::Pending => "pending",
            Self::Error => "error",
        }
    }
}

/// A target's status and the build it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetStatus {
    /// The status.
    pub status: BuildStatus,
    /// The build behind it (its log), if any.
    pub build_id: Option<i64>,
}

/// The farm's statistics (the original's `get_statistics` and `get_builds_last_hour`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistics {
    /// The time spent building (builds of a week or more, from broken clocks, left out).
    pub builds_time: TimeDelta,
    /// The bytes of wheels stored (alias copies not counted twice).
    pub builds_size: i64,
    /// Packages with at least one wheel.
    pub packages_built: i64,
    /// Wheels stored.
    pub files_count: i64,
    /// Versions released upstream in the last hour.
    pub new_last_hour: i64,
    /// Downloads in the last 30 days.
    pub downloads_last_month: i64,
    /// Downloads in the last hour.
    pub downloads_last_hour: i64,
    /// Builds in the last hour, for every enabled target (zeros included).
    pub builds_last_hour: BTreeMap<Target, i64>,
}

/// A file download or a `pip` search (an index page fetched by pip), from the web
/// server's log: the original's `LOGDOWNLOAD` and `LOGSEARCH` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    /// The wheel's file name (for a download) or the package's name (for a search).
    pub name: String,
    /// The client's address.
    pub host: IpAddr,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// The client's CPU architecture.
    pub arch: Option<String>,
    /// Its distribution's name.
    pub distro_name: Option<String>,
    /// Its distribution's version.
    pub distro_version: Option<String>,
    /// Its OS name.
    pub os_name: Option<String>,
    /// Its OS version.
    pub os_version: Option<String>,
    /// Its Python implementation.
    pub py_name: Option<String>,
    /// Its Python version.
    pub py_version: Option<String>,
    /// The installer (`pip`, `uv`).
    pub installer_name: Option<String>,
    /// The installer's version.
    pub installer_version: Option<String>,
    /// Its setuptools version.
    pub setuptools_version: Option<String>,
}

/// A page hit from the web server's log: a project page, a project's JSON, or another
/// page (the original's `LOGPROJECT`, `LOGJSON`, `LOGPAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    /// The package (project pages and JSON) or the page's name (`home`, `faq`).
    pub name: String,
    /// The client's address.
    pub host: IpAddr,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// The client's User-Agent.
    pub user_agent: String,
}

/// Which kind of web hit a [`PageRecord`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// A project page.
    Project,
    /// A project's JSON.
    Json,
    /// Another page of the site.
    Page,
}

/// A page rewrite waiting in TheSecretary's buffer, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRewrite {
    /// The package.
    pub package: String,
    /// When the rewrite was asked for.
    pub added_at: DateTime<Utc>,
    /// What to rewrite.
    pub command: RewriteCommand,
}

/// What a pending rewrite rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteCommand {
    /// The project page.
    Project,
    /// The project page and the simple index page.
    Both,
}

impl RewriteCommand {
    /// `PROJECT` or `BOTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "PROJECT",
            Self::Both => "BOTH",
        }
    }
}

/// One entry of the search index: a package and its downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Downloads {
    /// In the last 30 days.
    pub recent: i64,
    /// Ever.
    pub all: i64,
}

/// What CloudGazer last read of one upstream project (schema 4), written only after the
/// project's changes were applied, so a restarted master asks only for what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProject {
    /// The package's canonical name (the key).
    pub package: String,
    /// The spelling of its name upstream last recorded as one of its names.
    pub name: String,
    /// Its last serial (PEP 691 `_last-serial`), if the index gave one.
    pub serial: Option<i64>,
    /// The `ETag` of its page, to ask with next time (at most
    /// [`MAX_ETAG`](crate::MAX_ETAG) characters).
    pub etag: Option<String>,
    /// A fingerprint of the versions its page refused (0 for none).
    pub refused: u64,
}

/// A project to add with [`Database::add_new_projects`](crate::Database::add_new_projects):
/// a package the database does not have yet (as far as the caller knows), with its
/// spelling and its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// The package's canonical name.
    pub package: String,
    /// The spelling upstream uses, recorded as one of its names (seen at the batch's time,
    /// with the canonical spelling seen at the epoch when they differ); `None` records no
    /// name.
    pub name: Option<String>,
    /// Its versions, each at most once.
    pub versions: Vec<NewVersion>,
}

/// A version of a [`NewProject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// The version.
    pub version: String,
    /// When it was released (default: the epoch, as for
    /// [`Database::add_new_package_version`](crate::Database::add_new_package_version)).
    pub released: Option<DateTime<Utc>>,
    /// Why it is not built (`""` to build it).
    pub skip: String,
    /// Whether it is yanked upstream.
    pub yanked: bool,
}

/// What [`Database::add_new_projects`](crate::Database::add_new_projects) really did to
/// one project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProjectAdded {
    /// The package's canonical name.
    pub package: String,
    /// Whether the package was added (false: it was there already).
    pub package_added: bool,
    /// The versions added, in the order given (those the database had already are left
    /// as they were).
    pub versions_added: Vec<String>,
    /// How many of the versions added are yanked.
    pub yanked: usize,
}

/// One access-log record of any kind, for [`Database::log_access`](crate::Database::log_access),
/// which writes many in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessRecord {
    /// A wheel download (`LOGDOWNLOAD`).
    Download(DownloadRecord),
    /// A pip index lookup (`LOGSEARCH`).
    Search(DownloadRecord),
    /// A project page, project JSON or other page hit (`LOGPROJECT`, `LOGJSON`, `LOGPAGE`).
    Page(PageKind, PageRecord),
}
