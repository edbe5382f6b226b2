//! TheScribe: writes every web artefact (piwheels.md §6) as static files under the output
//! directory, servable by any static web server.
//!
//! | request | files |
//! |---|---|
//! | start-up | `OUT`, `OUT/simple`, `OUT/project`; static assets; `faq.html`, `packages.html`, `json.html`, `404.html`; `simple/index.html` and `index.json` if missing |
//! | `PROJECT pkg` | `project/<pkg>/index.html`, `project/<pkg>/json/index.json`, alias symlinks `project/<alias>` → `<pkg>` |
//! | `BOTH pkg` | those, and `simple/<pkg>/index.html` + `index.json`; the root index if the package is new |
//! | `DELVER pkg ver` | unlinks the version's wheels and metadata files, rewrites both pages without it |
//! | `DELPKG pkg` | removes the package's directories and alias symlinks, rewrites the root index |
//! | `LOG id text` | `logs/AAAA/BBBB/CCCC.txt.gz` (replacing any earlier one) |
//! | `HOME stats` | `index.html` (with the 10 projects downloaded most in 30 days, read then), `sitemap.xml`, `sitemap0.xml`… |
//! | `SEARCH` (and at start) | `packages.json` |
//! | the package list changed | `packages.json`, at most once per `rewrite-delay` window |
//!
//! Where this differs from the original, on purpose (the farm-wide promises are in the
//! README's "What the index promises" and the design note's "How the master works"):
//!
//! - simple pages also come as PEP 691 JSON, with PEP 658/714 metadata links; the root
//!   index is sorted; the homepage fetches nothing from the network;
//! - a failed request is logged and what it owed is written again later: owed pages are
//!   journaled in the database ([`piwheels_db::Database::owe_rewrites`]), the rest kept in
//!   memory, retried after [`RETRY`] (doubling to [`MAX_RETRY`]) or when the disk guard
//!   says there is room ([`Hub::retry_output`]);
//! - a package's simple folder holds what the database says, and `DELPKG`/`DELVER` remove
//!   files by name too, so nothing is left behind when the rows went first;
//! - requests waiting together are handled together, and the search index follows the
//!   package list (coalesced, `the_scribe/search.rs`) instead of being written hourly;
//! - a project page carries its downloads (30 days, ever) and its JSON `downloads_30` and
//!   `downloads_all`, read with the page's data (the original's pages show "loading..."
//!   until `project.js` fills them from `packages.json`); the homepage lists the 10
//!   projects downloaded most in 30 days.
//!
//! TheScribe renders; [`crate::output`] owns the folder and does every write, link and
//! removal, with the names checked there. Every file is written to a temporary name in its
//! directory (mode 0644) and renamed over the target. Pages are not fsynced (they are
//! rewritten from the database at will); build logs are. A page whose contents did not change is not written again, so its
//! modification time says when it last changed (the pages carry no write-time stamps, unlike
//! the original's; the web server's `Last-Modified` tells it instead).

mod figures;
mod json;
mod model;
mod owed;
mod pages;
mod search;
mod targets;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use piwheels_db::ProjectData;
use piwheels_protocol::monitor::MasterStats;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::hub::{Hub, Task, WebRequest};
use crate::output::{Output, PackageName, check_package, log_path};

pub use model::{Site, UpstreamLink};
pub use owed::{MAX_RETRY, RETRY};

use owed::{MAX_OWED_LOGS, Owed};

/// How many chunks of packages are read, rendered and written at once, by default.
const PARALLEL: usize = 4;

/// Packages read in one database call and rendered by one blocking thread in one go.
const CHUNK: usize = 100;

/// Projects in the homepage's "top projects" table.
const TOP_PROJECTS: usize = 10;

/// Requests taken from the inbox at once.
const BATCH: usize = 512;

/// The static assets written at start-up: (file name, contents).
const ASSETS: &[(&str, &[u8])] = &[
    ("styles.css", include_bytes!("../static/styles.css")),
    ("packages.js", include_bytes!("../static/packages.js")),
    ("project.js", include_bytes!("../static/project.js")),
    ("sitemap.xsl", include_bytes!("../static/sitemap.xsl")),
    ("favicon.svg", include_bytes!("../static/favicon.svg")),
    ("page.js", include_bytes!("../static/page.js")),
    (
        "status-success.svg",
        include_bytes!("../static/status-success.svg"),
    ),
    (
        "status-fail.svg",
        include_bytes!("../static/status-fail.svg"),
    ),
    (
        "status-error.svg",
        include_bytes!("../static/status-error.svg"),
    ),
    (
        "status-skip.svg",
        include_bytes!("../static/status-skip.svg"),
    ),
    (
        "status-pending.svg",
        include_bytes!("../static/status-pending.svg"),
    ),
];

/// The web-output task (see the module docs).
pub struct TheScribe {
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<WebRequest>,
    site: Arc<Site>,
    /// Every package's canonical name, for the root index; `None` until read from the
    /// database.
    packages: Option<BTreeSet<String>>,
    /// What is owed after a failure, and when to try again.
    owed: Owed,
    retry: Option<(tokio::time::Instant, std::time::Duration)>,
    /// The search index's counts and its owed rewrite.
    search: search::SearchIndex,
    /// Chunks of packages in flight at once ([`PARALLEL`] unless set).
    parallel: usize,
}

impl std::fmt::Debug for TheScribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TheScribe")
            .field("out", &self.site.out)
            .field("packages", &self.packages.as_ref().map(BTreeSet::len))
            .finish_non_exhaustive()
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Other(format!("a page-writing thread failed: {e}")))?
}

impl TheScribe {
    /// Sets how many chunks of packages a rewrite reads, renders and writes at once (at
    /// least one); for the scribe benchmark, which compares settings in one run.
    #[doc(hidden)]
    pub fn set_parallel(&mut self, chunks: usize) {
        self.parallel = chunks.max(1);
    }

    /// Prepares the output directory: makes `OUT`, `OUT/simple` and `OUT/project`, writes
    /// the static assets and the fixed pages (`faq.html`, `packages.html`, `json.html`,
    /// `404.html`; if that fails, as on a full disk, they are owed and written later). The
    /// package list (and the root index) is read from the database when the task first
    /// runs, or on the first request handled.
    pub fn new(hub: Hub, inbox: mpsc::UnboundedReceiver<WebRequest>) -> Result<TheScribe> {
        let site = Arc::new(Site::new(&hub.config));
        hub.output.prepare_site()?;
        let mut scribe = TheScribe {
            hub,
            inbox,
            site,
            packages: None,
            owed: Owed::default(),
            retry: None,
            search: search::SearchIndex::default(),
            parallel: PARALLEL,
        };
        if let Err(e) = write_statics(&scribe.hub.output, &scribe.site) {
            tracing::error!(error = %e, "cannot write the fixed pages; they will be written later");
            scribe.owe(|o| o.statics = true);
        }
        Ok(scribe)
    }

    /// The output directory.
    pub fn output_path(&self) -> &Path {
        &self.site.out
    }

    /// The packages in the root index (empty until read from the database).
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.packages.iter().flatten().map(String::as_str)
    }

    /// Reads the package list from the database (once), and writes the root index from
    /// it (unchanged files are left alone), so a root index a crash left behind is put
    /// right.
    pub async fn load(&mut self) -> Result<()> {
        if self.packages.is_some() {
            return Ok(());
        }
        let all = self.hub.db.all_packages().await?;
        let (good, bad): (BTreeSet<String>, BTreeSet<String>) =
            all.into_iter().partition(|p| check_package(p).is_ok());
        for p in bad {
            tracing::warn!(package = %p, "package name unusable in paths; left out of the index");
        }
        self.packages = Some(good);
        if let Err(e) = self.write_root().await {
            tracing::error!(error = %e, "cannot write the root index; it will be written later");
            self.owe(|o| o.root = true);
        }
        Ok(())
    }

    /// Handles one request.
    pub async fn handle(&mut self, req: WebRequest) -> Result<()> {
        self.load().await?;
        match req {
            WebRequest::Project(pkg) => self
                .rewrite(vec![(pkg, false)])
                .await
                .pop()
                .unwrap_or(Ok(())),
            WebRequest::Both(pkg) | WebRequest::Published(pkg) => self
                .rewrite(vec![(pkg, true)])
                .await
                .pop()
                .unwrap_or(Ok(())),
            WebRequest::DeleteVersion(pkg, version) => self.delete_version(&pkg, &version).await,
            WebRequest::DeletePackage(pkg) => self.delete_package(&pkg).await,
            WebRequest::Log { build_id, log } => {
                let kept = log.clone();
                let r = self.write_log(build_id, log).await;
                if r.is_err() && self.owed.logs.len() < MAX_OWED_LOGS {
                    self.owe(|o| {
                        o.logs.insert(build_id, kept);
                    });
                }
                r
            }
            WebRequest::Home(stats) => {
                let r = self.write_home(*stats).await;
                if r.is_err() {
                    self.owe(|o| o.home = true);
                }
                r
            }
            WebRequest::Search => {
                let r = self.write_search().await;
                if r.is_err() {
                    // Written again a window later, from the package list.
                    self.search.changed();
                }
                r
            }
        }
    }

    /// Handles requests in order, except that runs of `PROJECT`/`BOTH` requests are merged
    /// by package (`BOTH` wins) and written in parallel. Returns what failed (each failure
    /// is also logged).
    pub async fn handle_batch(&mut self, reqs: Vec<WebRequest>) -> Vec<Error> {
        let mut errors = Vec::new();
        if let Err(e) = self.load().await {
            tracing::error!(error = %e, "cannot read the package list");
            errors.push(e);
            return errors;
        }
        let mut run: Vec<(String, bool)> = Vec::new();
        let mut reqs = reqs.into_iter().peekable();
        while let Some(req) = reqs.next() {
            match req {
                WebRequest::Project(p) => merge(&mut run, p, false),
                WebRequest::Both(p) | WebRequest::Published(p) => merge(&mut run, p, true),
                other => {
                    errors.extend(
                        self.rewrite(std::mem::take(&mut run))
                            .await
                            .into_iter()
                            .filter_map(Result::err),
                    );
                    if let Err(e) = self.handle(other).await {
                        errors.push(e);
                    }
                }
            }
            if reqs.peek().is_none() {
                errors.extend(
                    self.rewrite(std::mem::take(&mut run))
                        .await
                        .into_iter()
                        .filter_map(Result::err),
                );
            }
        }
        for e in &errors {
            tracing::warn!(error = %e, "web output request failed");
        }
        errors
    }

    /// Rewrites the pages of these packages (with the simple pages when `true`), in
    /// parallel; the root index once at the end if any package was new or gone. A package
    /// the database does not have loses its pages. What is written is cleared from the
    /// database's owed rewrites (at the generation read before its data); a failure is
    /// retried later.
    async fn rewrite(&mut self, jobs: Vec<(String, bool)>) -> Vec<Result<()>> {
        if jobs.is_empty() {
            return Vec::new();
        }
        let started = std::time::Instant::now();
        let results = self.rewrite_timed(jobs).await;
        let written = results.iter().filter(|r| r.is_ok()).count();
        self.hub.metrics.page_rewrite(started.elapsed(), written);
        results
    }

    /// [`rewrite`](Self::rewrite), once it is timed.
    async fn rewrite_timed(&mut self, jobs: Vec<(String, bool)>) -> Vec<Result<()>> {
        // The generations are read before any data, so a change committed meanwhile keeps
        // its owed rewrite.
        let names: Vec<String> = jobs.iter().map(|(p, _)| p.clone()).collect();
        let generations = self
            .hub
            .db
            .rewrite_generations(&names)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the owed rewrites' generations");
                Default::default()
            });
        // Chunks of packages go through three steps: their simple folders are listed (on a
        // blocking thread), their data read in one database call, and their pages rendered
        // and written (on a blocking thread); PARALLEL chunks are in flight at once, so
        // the reads, the rendering and the writes of different chunks overlap and every
        // core renders.
        let db = &self.hub.db;
        let site = &self.site;
        let output = &self.hub.output;
        let chunks: Vec<Vec<(String, bool)>> = jobs.chunks(CHUNK).map(<[_]>::to_vec).collect();
        let outcomes: Vec<(String, bool, Result<Outcome>)> = futures_util::stream::iter(chunks)
            .map(|chunk| async move {
                let fetched = read_chunk(db, output, &chunk).await;
                write_chunk(site.clone(), output.clone(), fetched).await
            })
            .buffer_unordered(self.parallel)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        let mut results = Vec::with_capacity(outcomes.len());
        let mut changed = false;
        let mut written = Vec::new();
        for (pkg, both, r) in outcomes {
            if let Ok(outcome) = &r {
                if let Some(generation) = generations.get(&pkg) {
                    written.push((pkg.clone(), *generation));
                }
                if let Some(set) = &mut self.packages {
                    match outcome {
                        Outcome::Written if both => changed |= set.insert(pkg),
                        Outcome::Gone => changed |= set.remove(&pkg),
                        Outcome::Written => {}
                    }
                }
            }
            results.push(r.map(drop));
        }
        if (changed || self.owed.root)
            && let Err(e) = self.write_root().await
        {
            self.owe(|o| o.root = true);
            results.push(Err(e));
        }
        if let Err(e) = self.hub.db.clear_rewrites(&written).await {
            tracing::warn!(error = %e, "cannot clear the rewrites written; they will be written again");
        }
        if results.iter().any(Result::is_err) {
            self.owe(|o| o.pages = true);
        }
        results
    }

    /// Writes a package's project page, JSON and alias symlinks, and with `both` its simple
    /// pages, leaving out `exclude` (a version being deleted). `false` if the database has
    /// no such package.
    pub async fn write_package(
        &self,
        pkg: &str,
        both: bool,
        exclude: Option<&str>,
    ) -> Result<bool> {
        let (pkg, Some((data, aliases))) = fetch(&self.hub.db, pkg).await? else {
            return Ok(false);
        };
        let (site, output) = (self.site.clone(), self.hub.output.clone());
        let exclude = exclude.map(str::to_owned);
        blocking(move || {
            let pages = Pages {
                site: &site,
                output: &output,
            };
            pages.write(&pkg, &data, &aliases, both, exclude.as_deref())
        })
        .await?;
        Ok(true)
    }

    /// Writes `simple/index.html` and `simple/index.json` from the package list (which
    /// changed, so the search index is owed a rewrite too).
    async fn write_root(&mut self) -> Result<()> {
        self.search.changed();
        let names: Vec<String> = self.packages().map(str::to_owned).collect();
        let output = self.hub.output.clone();
        blocking(move || {
            let html = pages::simple_root(names.iter().map(String::as_str));
            let json = json::simple_root(names.iter().map(String::as_str));
            Ok(output.write_root_index(html.as_bytes(), &json)?)
        })
        .await
    }

    async fn delete_version(&mut self, pkg: &str, version: &str) -> Result<()> {
        let p = check_package(pkg)?;
        let listed = self.hub.db.version_files(pkg, version).await?;
        let output = self.hub.output.clone();
        let v = version.to_owned();
        let removed = blocking(move || Ok(output.remove_version(&p, &v, listed)?)).await?;
        tracing::info!(package = %pkg, version = %version, files = removed, "version deleted");
        self.write_package(pkg, true, Some(version)).await?;
        Ok(())
    }

    async fn delete_package(&mut self, pkg: &str) -> Result<()> {
        let p = check_package(pkg)?;
        let aliases = self.hub.db.package_aliases(pkg).await?;
        if let Some(set) = &mut self.packages {
            set.remove(pkg);
        }
        self.write_root().await?;
        let output = self.hub.output.clone();
        blocking(move || Ok(output.remove_package(&p, &aliases)?)).await?;
        tracing::info!(package = %pkg, "package deleted");
        Ok(())
    }

    async fn write_log(&self, build_id: i64, log: String) -> Result<()> {
        let rel = log_path(build_id)
            .ok_or_else(|| Error::Other(format!("build id {build_id} cannot name a log file")))?;
        let output = self.hub.output.clone();
        blocking(move || {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(log.len() / 4 + 64),
                flate2::Compression::default(),
            );
            let data = gz
                .write_all(log.as_bytes())
                .and_then(|()| gz.finish())
                .map_err(|e| Error::io("compressing", output.root().join(rel), e))?;
            Ok(output.write_log(build_id, &data)?)
        })
        .await
    }

    async fn write_home(&self, stats: MasterStats) -> Result<()> {
        let targets = self.hub.db.build_targets().await?;
        let top: Vec<figures::TopProject> = self
            .hub
            .db
            .top_projects(TOP_PROJECTS)
            .await?
            .into_iter()
            .map(figures::TopProject::new)
            .collect();
        let names: Vec<String> = self.packages().map(str::to_owned).collect();
        let (site, output) = (self.site.clone(), self.hub.output.clone());
        blocking(move || {
            output.write_top(
                "index.html",
                pages::home(&site, &stats, &targets, top).as_bytes(),
            )?;
            let maps = pages::sitemaps(&site, names.iter().map(String::as_str));
            let count = maps.len() - 1;
            for (name, xml) in maps {
                output.write_top(&name, xml.as_bytes())?;
            }
            // Sitemaps left from when there were more packages.
            for n in count.. {
                if !output.remove_top(&format!("sitemap{n}.xml"))? {
                    break;
                }
            }
            Ok(())
        })
        .await
    }

    /// Writes `packages.json`: with every package's downloads counted afresh when `full`
    /// (`SEARCH`), else from the package list with the counts of the last full rewrite;
    /// the summaries are the database's at the time (a changed summary alone does not owe
    /// a rewrite: it shows at the next one, the hourly `SEARCH` at the latest).
    async fn write_search_index(&mut self, full: bool) -> Result<()> {
        let written = async {
            let index = if full {
                let index = self.hub.db.search_index().await?;
                self.search.keep(&index);
                index
            } else {
                self.search.rows(self.hub.db.all_packages().await?)
            };
            let summaries = self.hub.db.package_descriptions().await?;
            let output = self.hub.output.clone();
            blocking(move || {
                Ok(output
                    .write_top("packages.json", &json::search_index(&index, &summaries))
                    .map(drop)?)
            })
            .await
        }
        .await;
        self.search
            .wrote(tokio::time::Instant::now(), written.is_ok());
        written
    }

    async fn write_search(&mut self) -> Result<()> {
        self.write_search_index(true).await
    }
}

/// What a package rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The pages were written.
    Written,
    /// The database has no such package: its pages were removed.
    Gone,
}

/// Every file of a package the database has, with its SHA-256.
fn files_of(data: &ProjectData) -> std::collections::BTreeMap<String, String> {
    data.releases
        .values()
        .flat_map(|r| r.files.iter().map(|(n, f)| (n.clone(), f.hash.clone())))
        .collect()
}

/// Writes the static assets and the fixed pages.
fn write_statics(output: &Output, site: &Site) -> Result<()> {
    for (name, data) in ASSETS {
        output.write_top(name, data)?;
    }
    for (name, page) in pages::fixed_pages(site) {
        output.write_top(name, page.as_bytes())?;
    }
    Ok(())
}

/// A chunk of packages' data for [`TheScribe::rewrite`], read in one database call, with
/// what each simple folder holds when its simple pages are rewritten too (`both`). The
/// folders are listed before the data is read: a wheel listed and not in the data is not
/// one being published (those are renamed in after their rows commit).
async fn read_chunk(
    db: &piwheels_db::Database,
    output: &Output,
    chunk: &[(String, bool)],
) -> Vec<(String, bool, Result<Fetched>)> {
    let jobs = chunk.to_vec();
    let out = output.clone();
    // Each package's checked name and listing, or why it has none.
    let listed = blocking(move || {
        Ok(jobs
            .into_iter()
            .map(|(pkg, both)| {
                let listed = check_package(&pkg).map_err(Error::from).and_then(|p| {
                    let names = if both {
                        out.list_package(&p)
                            .map_err(|e| Error::io("reading", out.package_dir(&p), e))?
                    } else {
                        BTreeSet::new()
                    };
                    Ok((p, names))
                });
                (pkg, both, listed)
            })
            .collect::<Vec<_>>())
    })
    .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return failed(chunk, &e),
    };
    let names: Vec<String> = listed
        .iter()
        .filter_map(|(_, _, l)| l.as_ref().ok().map(|(p, _)| p.as_str().to_owned()))
        .collect();
    let mut data = match db.projects_pages_data(&names).await {
        Ok(data) => data.into_iter(),
        Err(e) => return failed(chunk, &Error::from(e)),
    };
    listed
        .into_iter()
        .map(|(pkg, both, l)| {
            let fetched = l.map(|(p, names)| {
                let found = data.next().flatten();
                if found.is_none() {
                    tracing::info!(package = %p, "no such package; its pages are removed");
                }
                (p, found, names)
            });
            (pkg, both, fetched)
        })
        .collect()
}

/// Every package of a chunk, failed for one reason.
fn failed<T>(chunk: &[(String, bool)], e: &Error) -> Vec<(String, bool, Result<T>)> {
    chunk
        .iter()
        .map(|(pkg, both)| (pkg.clone(), *both, Err(Error::Other(e.to_string()))))
        .collect()
}

/// What [`read_chunk`] gives: the package, its data and aliases (`None`: the database
/// does not have it), and the wheels its simple folder held.
type Fetched = (
    PackageName,
    Option<(ProjectData, Vec<String>)>,
    BTreeSet<String>,
);

/// Renders and writes a chunk of packages' pages on a blocking thread; a package the
/// database does not have loses its pages.
async fn write_chunk(
    site: Arc<Site>,
    output: Output,
    chunk: Vec<(String, bool, Result<Fetched>)>,
) -> Vec<(String, bool, Result<Outcome>)> {
    let names: Vec<(String, bool)> = chunk.iter().map(|(p, b, _)| (p.clone(), *b)).collect();
    let rendered = tokio::task::spawn_blocking(move || {
        chunk
            .into_iter()
            .map(|(pkg, both, data)| {
                let r = data.and_then(|(p, found, listed)| match found {
                    Some((data, aliases)) => {
                        let pages = Pages {
                            site: &site,
                            output: &output,
                        };
                        pages.write(&p, &data, &aliases, both, None)?;
                        if both {
                            output.remove_strays(&p, &listed, &files_of(&data));
                        }
                        Ok(Outcome::Written)
                    }
                    None => {
                        output.remove_package(&p, &[])?;
                        Ok(Outcome::Gone)
                    }
                });
                (pkg, both, r)
            })
            .collect::<Vec<_>>()
    })
    .await;
    rendered.unwrap_or_else(|e| {
        names
            .into_iter()
            .map(|(pkg, both)| {
                let why = format!("a page-writing thread failed: {e}");
                (pkg, both, Err(Error::Other(why)))
            })
            .collect()
    })
}

/// The package name checked, and what its pages are made of: its data and its aliases
/// (`None` if the database has no such package).
async fn fetch(
    db: &piwheels_db::Database,
    pkg: &str,
) -> Result<(PackageName, Option<(ProjectData, Vec<String>)>)> {
    let pkg = check_package(pkg)?;
    let Some(data) = db.project_data(&pkg).await? else {
        tracing::info!(package = %pkg, "no such package; its pages are removed");
        return Ok((pkg, None));
    };
    let aliases = db.package_aliases(&pkg).await?;
    Ok((pkg, Some((data, aliases))))
}

/// Adds a rewrite to a run, merging with one already there for the package.
fn merge(run: &mut Vec<(String, bool)>, pkg: String, both: bool) {
    match run.iter_mut().find(|(p, _)| *p == pkg) {
        Some((_, b)) => *b |= both,
        None => run.push((pkg, both)),
    }
}

/// Where a package's pages are rendered from, and written to.
struct Pages<'a> {
    site: &'a Site,
    output: &'a Output,
}

impl Pages<'_> {
    /// Renders and writes a package's project page, JSON and alias symlinks, and with
    /// `both` its simple pages, leaving out `exclude` (a version being deleted). Blocking.
    fn write(
        &self,
        pkg: &PackageName,
        data: &ProjectData,
        aliases: &[String],
        both: bool,
        exclude: Option<&str>,
    ) -> Result<()> {
        let prepared = model::prepare(data, exclude, &self.output.package_dir(pkg));
        if both {
            self.output.write_simple(
                pkg,
                pages::simple_project(&prepared).as_bytes(),
                &json::simple_project(&prepared),
            )?;
        }
        self.output.write_project(
            pkg,
            pages::project_page(self.site, &prepared).as_bytes(),
            &json::project(self.site, &prepared),
            aliases,
        )?;
        Ok(())
    }
}

impl Task for TheScribe {
    const NAME: &'static str = "the_scribe";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        let retry_now = Arc::clone(&self.hub.retry_output);
        self.load().await?;
        if let Err(e) = self.write_search().await {
            tracing::warn!(error = %e, "cannot write the search index at start; trying again");
            self.search.changed();
        }
        let window = self.hub.config.effective_rewrite_delay();
        loop {
            let retry_at = self.retry.map(|(at, _)| at);
            let due = self.search.due(window, tokio::time::Instant::now());
            let first = tokio::select! {
                biased;
                () = quit.cancelled() => return Ok(()),
                () = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Err(e) = self.write_search_index(false).await {
                        tracing::warn!(error = %e, "cannot rewrite the search index");
                    }
                    continue;
                }
                req = self.inbox.recv() => match req {
                    Some(req) => req,
                    None => {
                        quit.cancelled().await;
                        return Ok(());
                    }
                },
                () = retry_now.notified() => {
                    if self.owed.any() {
                        self.retry_owed().await;
                    }
                    continue;
                }
                () = async {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.retry_owed().await;
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < BATCH
                && let Ok(req) = self.inbox.try_recv()
            {
                batch.push(req);
            }
            self.handle_batch(batch).await;
        }
    }
}
