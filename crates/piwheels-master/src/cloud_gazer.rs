//! CloudGazer: follows the upstream index (piwheels.md §9), by polling its simple API and diffing
//! it against the database (piwheels.md §9.5, option 2) rather than reading a changelog.
//!
//! Every `upstream_poll` it reads the project list (conditionally, with its `ETag`), then
//! the page of every project that changed (by PEP 691 `_last-serial` or `ETag`), and
//! brings the database in line:
//!
//! | upstream | database |
//! |---|---|
//! | a new project | the package (with its spelling as a name), and its pages (`BOTH`) |
//! | a new version with an sdist | the version, released at its first upload (else now), to build |
//! | a new version with only wheels or other binaries | the version, skipped `binary only` |
//! | a binary-only version gaining an sdist | the skip cleared: it builds now |
//! | every file of a version yanked, or no longer | the version yanked, or no longer |
//! | a version or project gone (on two reads in a row) | skipped `deleted`, SlaveDriver and TheScribe told, rows deleted a grace period later |
//!
//! Only the projects of `config.follow` are looked at when it is set. Names and versions
//! are checked against the rules of [`piwheels_db::names`]: a project whose name breaks
//! them (`../x`, `a/b`, `x y`, ...) and a version with a path separator, whitespace or a
//! control character are skipped, and the poll goes on; each poll says in one warning how
//! many it skipped, with a few examples, and only when they changed (a bad name or version
//! that stays upstream is not reported again at every poll). A version that is not PEP 440
//! but otherwise fine is taken (the upstream has it), and each poll says in one warning how
//! many such it added. Names are canonicalised. After any new buildable version,
//! TheArchitect is woken at once. While the master is paused nothing is polled.
//!
//! What it last read of each project (serial, `ETag`) and the list's `ETag` are kept in the
//! database (schema 4; see `cloud_gazer/state.rs`), written only after the project's
//! changes are applied: a restarted master with nothing new upstream reads the project
//! list and no project page, and one killed in the middle of a poll reads again only the
//! pages it had not applied.
//!
//! After the pages, each project whose page changed is owed its summary from the JSON API
//! (`upstream_json`), asked with bounded concurrency and retried with a backoff while it
//! fails (see [`summaries`]).
//!
//! Nothing is removed on a list's word: a project or version goes only when its own page
//! says so on two reads in a row (see [`absences`]). Upstream errors are counted, logged
//! once a poll and tried again at the next; a poll stops after [`FAILURES_IN_A_ROW`]
//! failed requests in a row, and while the upstream fails the wait between polls grows
//! ([`backoff`]).
//!
//! The database is the baseline, so a package added by hand (`piw-add`) that the index
//! does not have is removed (once its page is gone on two polls in a row) when every
//! project is followed; follow a list to keep such packages.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, StreamExt};
use piwheels_db::names;

use crate::deletion::{DELETE_GRACE, DELETED, Deletion, delete_later};
use crate::error::Result;
use crate::hub::{Hub, SkipRequest, Task, WebRequest};
use crate::upstream::{
    Fetched, FileKind, IndexClient, ProjectEntry, ProjectPage, UpstreamError, index_url,
};

pub mod absences;
mod apply;
mod batch;
pub mod changelog;
mod state;
pub mod summaries;

use absences::{Absences, UNLISTED_LIMIT};
use changelog::Followed;
use summaries::Summaries;

/// The skip reason of a version with no source distribution.
pub const BINARY_ONLY: &str = "binary only";

/// The most requests CloudGazer makes to the upstream at once, whatever
/// [`MasterConfig::upstream_concurrency`](crate::MasterConfig::upstream_concurrency) says.
pub const MAX_UPSTREAM_CONCURRENCY: usize = 64;

/// How many examples a warning about skipped names or versions gives.
const EXAMPLES: usize = 5;

/// Failed page requests in a row after which a poll stops: the upstream is down, and the
/// rest waits for the next poll (at least this many, or four rounds of the concurrency).
pub const FAILURES_IN_A_ROW: usize = 20;

/// The longest wait between polls while the upstream fails (the poll interval doubles
/// with each failing poll, up to 64 times, and never past this unless the interval is).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// What one poll changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Whether the index said its project list was unchanged.
    pub unchanged: bool,
    /// Project pages fetched (not unchanged).
    pub pages: usize,
    /// Packages added.
    pub new_packages: usize,
    /// Versions added (buildable or not).
    pub new_versions: usize,
    /// Binary-only versions that gained an sdist.
    pub enabled: usize,
    /// Versions yanked.
    pub yanked: usize,
    /// Versions no longer yanked.
    pub unyanked: usize,
    /// Versions removed.
    pub removed_versions: usize,
    /// Packages removed.
    pub removed_packages: usize,
    /// Pages that could not be read (they are tried again next time).
    pub errors: usize,
    /// Projects skipped because their names break the name rule.
    pub refused_names: usize,
    /// Versions skipped because they break the version rule (on the pages read).
    pub refused_versions: usize,
    /// Versions added that are not PEP 440 (taken, since the upstream has them).
    pub not_pep440: usize,
    /// Summaries from the JSON API that changed a package's description.
    pub summaries: usize,
    /// Summaries that could not be read from the JSON API (asked again later).
    pub summary_errors: usize,
    /// Packages whose own page was gone for the first time (removed if it is still gone
    /// at the next poll).
    pub absent_packages: usize,
    /// Versions missing from their page for the first time (removed if still missing at
    /// the next read).
    pub absent_versions: usize,
    /// Packages the project list lacks whose own pages are there (the list is incomplete).
    pub unlisted: usize,
    /// Changelog events read (the changelog mode).
    pub events: usize,
    /// Changelog events ignored: a serial not after the one asked from, or implausibly far
    /// past it.
    pub refused_events: usize,
    /// Whether the upstream failed this poll: the list could not be read, or so many page
    /// requests in a row failed that the poll stopped (the next poll waits longer).
    pub failing: bool,
}

/// How many of something, with the first few as examples: one log line, however many.
#[derive(Debug, Default)]
struct Sample {
    count: usize,
    examples: Vec<String>,
}

impl Sample {
    fn add(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }

    /// One warning, if there is anything to say.
    fn warn(&self, what: &str) {
        if self.count > 0 {
            tracing::warn!(task = "cloud_gazer", count = self.count, examples = ?self.examples, "{what}");
        }
    }
}

/// What one poll has to say about the names and versions it met.
#[derive(Debug, Default)]
struct Complaints {
    refused_names: Sample,
    refused_versions: Sample,
    not_pep440: Sample,
    page_errors: Sample,
}

impl Complaints {
    /// A warning for each kind there is something to say about.
    fn warn(&self) {
        self.refused_names
            .warn("skipped upstream projects whose names break the package name rule");
        self.refused_versions
            .warn("skipped upstream versions that break the version rule");
        self.not_pep440
            .warn("added upstream versions that are not PEP 440 (the upstream has them)");
        self.page_errors
            .warn("cannot read upstream project pages (read again at the next poll)");
    }
}

/// What was last read of a project.
#[derive(Debug, Clone, Default)]
struct Seen {
    serial: Option<i64>,
    etag: Option<String>,
    name: String,
    /// A fingerprint of the versions refused on its page (0 if none), so the same ones
    /// are not reported again.
    refused: u64,
}

/// What is kept in memory of each project between polls: [`Seen`] in fewer bytes (there
/// are 600,000 of them on a PyPI-sized index), its name kept only when it is not the
/// canonical one.
#[derive(Debug, Clone)]
struct Known {
    serial: Option<i64>,
    etag: Option<Box<str>>,
    /// The name as upstream spells it, if not the canonical name.
    spelled: Option<Box<str>>,
    refused: u64,
}

impl Known {
    fn new(canon: &str, seen: Seen) -> Known {
        Known {
            serial: seen.serial,
            etag: seen.etag.map(String::into_boxed_str),
            spelled: (seen.name != canon).then(|| seen.name.into_boxed_str()),
            refused: seen.refused,
        }
    }

    /// The name as upstream spells it.
    fn name<'a>(&'a self, canon: &'a str) -> &'a str {
        self.spelled.as_deref().unwrap_or(canon)
    }

    /// The `ETag` to ask with.
    fn etag(&self) -> Option<String> {
        self.etag.as_deref().map(str::to_owned)
    }

    /// Whether `seen` says the same of the page (serial and `ETag`).
    fn same_page(&self, seen: &Seen) -> bool {
        self.serial == seen.serial && self.etag.as_deref() == seen.etag.as_deref()
    }

    /// As a [`Seen`].
    fn seen(&self, canon: &str) -> Seen {
        Seen {
            serial: self.serial,
            etag: self.etag(),
            name: self.name(canon).to_owned(),
            refused: self.refused,
        }
    }
}

/// The versions of a project's page, and the fingerprint of those it refused (see
/// [`Seen::refused`]); the refused ones are counted, and said unless `last_refused` (the
/// fingerprint of the last read) shows they were already.
fn page_versions(
    canon: &str,
    page: &ProjectPage,
    last_refused: Option<u64>,
    report: &mut PollReport,
    complaints: &mut Complaints,
) -> (BTreeMap<String, Upstream>, u64) {
    let mut versions: BTreeMap<String, Upstream> = BTreeMap::new();
    let mut refused: BTreeMap<&str, names::VersionError> = BTreeMap::new();
    for f in &page.files {
        let Some(v) = f.version.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if let Err(e) = names::validate_version(v) {
            refused.insert(v, e);
            continue;
        }
        let entry = versions.entry(v.to_owned()).or_insert(Upstream {
            sdist: false,
            yanked: true,
            released: None,
        });
        entry.sdist |= f.kind == FileKind::Sdist;
        // A release is yanked when every file of it is (PEP 592).
        entry.yanked &= f.yanked;
        if let Some(t) = f.upload_time {
            entry.released = Some(entry.released.map_or(t, |r| r.min(t)));
        }
    }
    report.refused_versions += refused.len();
    let fingerprint = fingerprint(refused.keys().copied());
    if last_refused != Some(fingerprint) {
        for e in refused.values() {
            complaints.refused_versions.add(|| format!("{canon}: {e}"));
        }
    }
    (versions, fingerprint)
}

/// A fingerprint of a set of texts (0 for none), to tell whether it changed.
fn fingerprint<'a>(texts: impl Iterator<Item = &'a str>) -> u64 {
    let mut h = DefaultHasher::new();
    let mut any = false;
    for t in texts {
        t.hash(&mut h);
        any = true;
    }
    if any { h.finish() } else { 0 }
}

/// A project's page as read, with the names it is known by.
#[derive(Clone, Copy)]
struct Page<'a> {
    canon: &'a str,
    name: &'a str,
    page: &'a ProjectPage,
}

/// The projects to look at, by canonical name: each with its name as upstream spells it
/// and its last serial, if the project list gave one.
type Projects = BTreeMap<String, (String, Option<i64>)>;

/// The projects a poll looks at, and what the project list said of itself.
struct Listed {
    upstream: Projects,
    /// The project list's `ETag` (none when following a list).
    etag: Option<String>,
    /// The index's serial, if the list gave one.
    last_serial: Option<i64>,
}

/// A project page to read.
struct Want {
    canon: String,
    /// The name to ask for.
    name: String,
    /// The `ETag` to ask with (none: read in full).
    etag: Option<String>,
    /// The serial the project list (or the changelog) gave it.
    serial: Option<i64>,
    /// Why it is read.
    source: Source,
}

/// Why a page is read, which says what its absence means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The project list (or the follow list) names it: gone is a disagreement for now
    /// (gone evidence only for a followed project).
    Listed,
    /// The database has it and the list lacks it (see [`absences`]): gone is evidence.
    Probe,
    /// The changelog named it: gone is evidence if the database has it.
    Event,
}

/// What reading the project pages found.
#[derive(Debug, Default)]
struct PagesRead {
    /// Whether a version became buildable.
    any_buildable: bool,
    /// Whether a page was not read (then the list is read again next time).
    missed: bool,
    /// Probed projects whose pages are there although the list lacks them.
    unlisted: usize,
    /// Pages that could not be read.
    failed: Vec<String>,
}

impl PagesRead {
    /// Nothing read, and the list to be read again next time.
    fn incomplete() -> Self {
        PagesRead {
            missed: true,
            ..PagesRead::default()
        }
    }

    fn merge(&mut self, other: PagesRead) {
        self.any_buildable |= other.any_buildable;
        self.missed |= other.missed;
        self.unlisted += other.unlisted;
        self.failed.extend(other.failed);
    }
}

/// What applying a page did to its package.
#[derive(Debug, Default)]
struct Changes {
    /// Whether the package's pages change.
    changed: bool,
    /// Whether a version became buildable.
    buildable: bool,
    /// Whether a version is missing from the page for the first time (the page is read in
    /// full again at the next poll).
    suspect: bool,
}

/// A version as upstream has it.
#[derive(Debug, Clone)]
struct Upstream {
    sdist: bool,
    yanked: bool,
    released: Option<DateTime<Utc>>,
}

/// The task (its state survives restarts).
pub struct CloudGazer {
    hub: Hub,
    client: Option<IndexClient>,
    list_etag: Option<String>,
    /// The list's `ETag` as stored in the database.
    stored_list_etag: Option<String>,
    seen: HashMap<Box<str>, Known>,
    /// Whether `seen` and `list_etag` were loaded from the database.
    loaded: bool,
    /// What was read of projects whose changes are applied, not stored yet.
    unstored: Vec<piwheels_db::UpstreamProject>,
    /// Pages of projects the database does not have, not applied yet (see `batch`).
    new_pages: Vec<batch::NewPage>,
    removing: HashSet<String>,
    /// Evidence of removals (see [`absences`]).
    absences: Absences,
    /// Polls in a row that the upstream failed.
    failing: u32,
    /// The changelog client (the changelog mode), once made.
    changelog: Option<crate::upstream::changelog::ChangelogClient>,
    /// Whether the changelog's URL was refused (and said so).
    changelog_refused: bool,
    follow: Option<HashSet<String>>,
    grace: Duration,
    /// A fingerprint of the project names last refused, so the same ones are not reported
    /// at every poll.
    refused_names: u64,
    /// The projects owed a summary from the JSON API.
    summaries: Summaries,
}

impl std::fmt::Debug for CloudGazer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudGazer")
            .field("client", &self.client)
            .field("projects", &self.seen.len())
            .field("owed_summaries", &self.summaries.len())
            .finish_non_exhaustive()
    }
}

impl CloudGazer {
    /// The task for this hub; the index is found (from the configuration, else from pip)
    /// when it first runs.
    pub fn new(hub: Hub) -> CloudGazer {
        let follow = hub.config.follow.as_ref().map(|list| {
            list.iter()
                .filter_map(|p| match names::validate_name(p) {
                    Ok(name) => Some(name.canonical().into_string()),
                    Err(e) => {
                        tracing::warn!(task = "cloud_gazer", error = %e, "ignoring a project of the follow list");
                        None
                    }
                })
                .collect()
        });
        CloudGazer {
            hub,
            client: None,
            list_etag: None,
            stored_list_etag: None,
            seen: HashMap::new(),
            loaded: false,
            unstored: Vec::new(),
            new_pages: Vec::new(),
            removing: HashSet::new(),
            absences: Absences::default(),
            failing: 0,
            changelog: None,
            changelog_refused: false,
            follow,
            grace: DELETE_GRACE,
            refused_names: 0,
            summaries: Summaries::default(),
        }
    }

    /// Sets how long rows of deleted versions and packages are kept for TheScribe
    /// (default [`DELETE_GRACE`]).
    #[must_use]
    pub fn with_delete_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    async fn client(&mut self) -> std::result::Result<IndexClient, UpstreamError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let url = index_url(&self.hub.config).await?;
        tracing::info!(task = "cloud_gazer", %url, "following the upstream index");
        let client = IndexClient::new(&url, self.hub.config.upstream_timeout)?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// How many requests go to the upstream at once: the configured number, within
    /// 1..=[`MAX_UPSTREAM_CONCURRENCY`].
    fn concurrency(&self) -> usize {
        self.hub
            .config
            .upstream_concurrency
            .clamp(1, MAX_UPSTREAM_CONCURRENCY)
    }

    /// What is kept of `canon`, if anything.
    fn known(&self, canon: &str) -> Option<&Known> {
        self.seen.get(canon)
    }

    /// Whether anything is kept of `canon`.
    fn knows(&self, canon: &str) -> bool {
        self.seen.contains_key(canon)
    }

    fn follows(&self, canon: &str) -> bool {
        self.follow.as_ref().is_none_or(|f| f.contains(canon))
    }

    /// Reads the index once and brings the database in line, then asks the JSON API for
    /// the summaries owed (see [`summaries`]). Index failures are logged and counted
    /// (tried again next time); a database failure is an error.
    pub async fn poll(&mut self) -> Result<PollReport> {
        let mut report = self.poll_index().await?;
        if let Some(client) = self.client.clone()
            && !self.hub.quit.is_cancelled()
            && !self.hub.is_paused()
        {
            self.fetch_summaries(&client, &mut report).await?;
        }
        Ok(report)
    }

    /// The index part of [`CloudGazer::poll`].
    async fn poll_index(&mut self) -> Result<PollReport> {
        let mut report = PollReport::default();
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(task = "cloud_gazer", error = %e, "no upstream index");
                report.errors += 1;
                report.failing = true;
                return Ok(report);
            }
        };
        self.load_state().await?;
        let mut complaints = Complaints::default();
        // The changelog mode; `start` is the serial a new farm follows the changelog from
        // once the diff brought it in line.
        let changelog = self.changelog();
        let mut start = None;
        if let Some(changelog) = &changelog {
            let stored = self.hub.db.upstream_serial().await?;
            let fallback = if stored > 0 {
                match self
                    .poll_changelog(&client, changelog, stored, &mut report, &mut complaints)
                    .await?
                {
                    Followed::Done => return Ok(report),
                    Followed::Unavailable(e) => Some(e),
                }
            } else {
                match changelog.last_serial().await {
                    Ok(serial) => {
                        start = Some(serial);
                        None
                    }
                    Err(e) => Some(e),
                }
            };
            if let Some(e) = fallback {
                report.errors += 1;
                if e.is_rate_limit() {
                    // The upstream asks for less: no diff on top, the next poll waits longer.
                    tracing::warn!(task = "cloud_gazer", error = %e, "the changelog is rate limited; this poll ends here");
                    report.failing = true;
                    return Ok(report);
                }
                tracing::warn!(task = "cloud_gazer", error = %e, "cannot read the changelog; following the simple index for this poll");
            }
        }
        let Some(listed) = self.read_list(&client, &mut report, &mut complaints).await else {
            return Ok(report);
        };
        let Listed {
            upstream,
            etag: list_etag,
            last_serial,
        } = listed;
        let db_packages = self.hub.db.all_packages().await?;
        let changed = self.changed_projects(&upstream, &db_packages);
        let Some(mut read) = self
            .read_pages(&client, changed, &db_packages, &mut report, &mut complaints)
            .await?
        else {
            return Ok(report);
        };
        if self.follow.is_none() && !report.failing {
            let Some(probed) = self
                .probe_unlisted(
                    &client,
                    &upstream,
                    &db_packages,
                    &mut report,
                    &mut complaints,
                )
                .await?
            else {
                return Ok(report);
            };
            read.merge(probed);
        }
        report.unlisted = read.unlisted;
        if read.any_buildable {
            self.hub.queue_changed.notify_one();
        }
        complaints.warn();
        // Only a list whose every page was read, that lacks no project that is there, and
        // that leaves no removal waiting for a second look is not read again while unchanged.
        let complete = !read.missed && read.unlisted == 0 && !self.absences.pending();
        self.keep_list_etag(if complete { list_etag } else { None })
            .await?;
        // The index's serial only once the database is in line with it; in the changelog
        // mode, the changelog's serial from before the list was read.
        let serial = if changelog.is_some() {
            start
        } else {
            last_serial
        };
        if let Some(serial) = serial.filter(|_| !read.missed && !report.failing)
            && let Err(e) = self.hub.db.set_upstream_serial(serial).await
        {
            tracing::debug!(task = "cloud_gazer", error = %e, "upstream serial not stored");
        }
        Ok(report)
    }

    /// The projects to look at: the followed ones (only those projects' pages are read,
    /// as an index's project list can be tens of megabytes), else those of the project
    /// list. `None` when the list is unchanged or cannot be read (counted in `report`):
    /// the poll ends there.
    async fn read_list(
        &mut self,
        client: &IndexClient,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Option<Listed> {
        let mut upstream = BTreeMap::new();
        if let Some(follow) = &self.hub.config.follow {
            // Named as the configuration spells them (refused ones were said at the start).
            for name in follow {
                if let Ok(name) = names::validate_name(name) {
                    upstream.insert(name.canonical().into_string(), (name.into_string(), None));
                }
            }
            return Some(Listed {
                upstream,
                etag: None,
                last_serial: None,
            });
        }
        let (list, etag) = match client.projects(self.list_etag.as_deref()).await {
            Ok(Fetched::Unchanged) => {
                report.unchanged = true;
                return None;
            }
            Ok(Fetched::Changed { value, etag }) => (value, etag),
            Err(e) => {
                tracing::warn!(task = "cloud_gazer", error = %e, "cannot read the project list (read again at the next poll)");
                report.errors += 1;
                report.failing = true;
                return None;
            }
        };
        let last_serial = list.last_serial;
        self.take_projects(list.projects, &mut upstream, report, complaints);
        for canon in upstream.keys() {
            self.absences.present(canon);
        }
        Some(Listed {
            upstream,
            etag,
            last_serial,
        })
    }

    /// The pages that may have changed: each with the `ETag` to ask with (none for a
    /// package the database does not have, or one with versions waiting for a second
    /// look).
    fn changed_projects(&self, upstream: &Projects, db_packages: &BTreeSet<String>) -> Vec<Want> {
        upstream
            .iter()
            .filter(|(canon, (_, serial))| {
                let seen = self.known(canon);
                !(serial.is_some()
                    && seen.is_some_and(|s| s.serial == *serial)
                    && db_packages.contains(*canon))
            })
            .map(|(canon, (name, serial))| {
                let etag = self
                    .known(canon)
                    .filter(|_| db_packages.contains(canon) && !self.absences.has_versions(canon))
                    .and_then(Known::etag);
                Want {
                    canon: canon.clone(),
                    name: name.clone(),
                    etag,
                    serial: *serial,
                    source: Source::Listed,
                }
            })
            .collect()
    }

    /// Reads the pages wanted ([`Self::concurrency`] at once) and applies each that
    /// changed. Stops early when the upstream fails [`FAILURES_IN_A_ROW`] requests in a
    /// row (`report.failing`), and, for probes, at the [`UNLISTED_LIMIT`]th page the list
    /// lacks. `None` when the master quits while reading (the poll ends there).
    async fn read_pages(
        &mut self,
        client: &IndexClient,
        wants: Vec<Want>,
        db_packages: &BTreeSet<String>,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<Option<PagesRead>> {
        let mut pages = futures_util::stream::iter(wants.into_iter().map(|want| {
            let client = client.clone();
            async move {
                let page = client.project(&want.name, want.etag.as_deref()).await;
                (want, page)
            }
        }))
        .buffer_unordered(self.concurrency());
        let give_up = FAILURES_IN_A_ROW.max(4 * self.concurrency());
        let mut failures = 0;
        let mut read = PagesRead::default();
        let mut next = pages.next().await;
        while let Some((want, page)) = next {
            if self.hub.quit.is_cancelled() {
                self.store_pages(true, report, complaints).await?;
                return Ok(None);
            }
            if self.hub.is_paused() {
                read.any_buildable |= self.store_pages(true, report, complaints).await?;
                if !self.hub.wait_running().await {
                    return Ok(None);
                }
            }
            if page.is_ok() {
                failures = 0;
            }
            match page {
                Ok(Some(Fetched::Unchanged)) => {
                    if let Some(s) = self.known(&want.canon)
                        && s.serial != want.serial
                    {
                        let seen = Seen {
                            serial: want.serial,
                            ..s.seen(&want.canon)
                        };
                        self.note(want.canon, seen);
                    }
                }
                Ok(Some(Fetched::Changed { value, etag }))
                    if !db_packages.contains(&want.canon) =>
                {
                    // A new project: applied with others (see `batch`).
                    let Want {
                        canon,
                        name,
                        serial,
                        ..
                    } = want;
                    self.defer_new(canon, name, serial, (value, etag), report, complaints);
                }
                Ok(Some(Fetched::Changed { value, etag })) => {
                    if want.source == Source::Probe {
                        read.unlisted += 1;
                    }
                    self.take_page(
                        want,
                        &value,
                        etag,
                        db_packages,
                        &mut read,
                        report,
                        complaints,
                    )
                    .await?;
                }
                Ok(None) if want.source == Source::Event => {
                    // Nothing to remove if the database does not have it.
                    if db_packages.contains(&want.canon) && !self.removing.contains(&want.canon) {
                        self.page_gone(&want.canon, report).await?;
                    }
                }
                Ok(None) if self.follow.is_some() || want.source == Source::Probe => {
                    // Its own page is gone (a followed project, or a probe).
                    self.page_gone(&want.canon, report).await?;
                }
                Ok(None) => {
                    // Listed but not there: the list and the page disagree for now.
                    tracing::debug!(task = "cloud_gazer", package = %want.canon, "listed but not found");
                    read.missed = true;
                }
                Err(e) => {
                    complaints.page_errors.add(|| e.to_string());
                    report.errors += 1;
                    read.missed = true;
                    read.failed.push(want.canon);
                    failures += 1;
                }
            }
            read.any_buildable |= self.store_pages(false, report, complaints).await?;
            if failures >= give_up {
                tracing::warn!(
                    task = "cloud_gazer",
                    failures,
                    "the upstream failed every one of the last requests; this poll stops here"
                );
                report.failing = true;
                break;
            }
            if read.unlisted >= UNLISTED_LIMIT {
                break;
            }
            // What was applied is stored before waiting for the pages still to come.
            next = match pages.next().now_or_never() {
                Some(ready) => ready,
                None => {
                    read.any_buildable |= self.store_pages(true, report, complaints).await?;
                    pages.next().await
                }
            };
        }
        read.any_buildable |= self.store_pages(true, report, complaints).await?;
        Ok(Some(read))
    }

    /// Applies a page read in full, and records what was read of it (only now that its
    /// changes are applied).
    #[allow(clippy::too_many_arguments)]
    async fn take_page(
        &mut self,
        want: Want,
        value: &ProjectPage,
        etag: Option<String>,
        db_packages: &BTreeSet<String>,
        read: &mut PagesRead,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<()> {
        let Want {
            canon,
            name,
            serial,
            ..
        } = want;
        report.pages += 1;
        self.removing.remove(&canon);
        self.absences.present(&canon);
        let page = Page {
            canon: &canon,
            name: &name,
            page: value,
        };
        let (changes, refused) = self.apply(page, db_packages, report, complaints).await?;
        read.any_buildable |= changes.buildable;
        // A page with versions waiting for a second look is read again in full, even
        // after a restart: nothing of it is kept but the name.
        let seen = if changes.suspect {
            Seen {
                serial: None,
                etag: None,
                name,
                refused,
            }
        } else {
            Seen {
                serial: serial.or(value.last_serial),
                etag: state::keepable(etag),
                name,
                refused,
            }
        };
        let before = self.known(&canon);
        if changes.changed || before.is_none_or(|b| !b.same_page(&seen)) {
            self.owe_summary(&canon, &seen.name);
        }
        self.note(canon, seen);
        Ok(())
    }

    /// Takes the projects of the list whose names follow the rule into `upstream`; the
    /// others are counted, and said unless they are the same as last time.
    fn take_projects(
        &mut self,
        projects: Vec<ProjectEntry>,
        upstream: &mut Projects,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) {
        let mut refused = Vec::new();
        for p in projects {
            match names::validate_name(&p.name) {
                Ok(name) => {
                    upstream.insert(name.canonical().into_string(), (p.name, p.last_serial));
                }
                Err(e) => refused.push((p.name, e)),
            }
        }
        report.refused_names += refused.len();
        let fingerprint = fingerprint(refused.iter().map(|(n, _)| n.as_str()));
        if fingerprint != self.refused_names {
            for (_, e) in &refused {
                complaints.refused_names.add(|| e.to_string());
            }
        }
        self.refused_names = fingerprint;
    }
}

/// The wait before the next poll after `failing` polls in a row that the upstream failed:
/// the interval, doubled for each (up to 64 times), and at most [`MAX_BACKOFF`] (or the
/// interval, if that is longer).
pub fn backoff(interval: Duration, failing: u32) -> Duration {
    if failing == 0 {
        return interval;
    }
    let doubled = interval.saturating_mul(1 << failing.min(6));
    doubled.min(MAX_BACKOFF.max(interval))
}

impl Task for CloudGazer {
    const NAME: &'static str = "cloud_gazer";

    async fn run(&mut self) -> Result<()> {
        loop {
            if !self.hub.wait_running().await {
                return Ok(());
            }
            let started = std::time::Instant::now();
            let report = match self.poll().await {
                Ok(report) => report,
                Err(e) => {
                    // The database failed, not the upstream.
                    self.hub.metrics.upstream_poll(started.elapsed(), 0, false);
                    return Err(e);
                }
            };
            self.hub.metrics.upstream_poll(
                started.elapsed(),
                report.errors + report.summary_errors,
                report.failing,
            );
            if report != PollReport::default() && !report.unchanged {
                tracing::info!(task = Self::NAME, ?report, "polled the index");
            }
            self.failing = if report.failing {
                self.failing.saturating_add(1)
            } else {
                0
            };
            let wait = backoff(self.hub.config.upstream_poll, self.failing);
            if self.failing > 0 {
                tracing::warn!(
                    task = Self::NAME,
                    polls = self.failing,
                    wait_secs = wait.as_secs(),
                    "the upstream is failing; waiting longer before the next poll"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.hub.quit.cancelled() => return Ok(()),
            }
        }
    }
}
