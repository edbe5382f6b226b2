//! The start-up check of the output folder against the database: what a crash, a full
//! disk, an older master or a hand on the folder left out of line is put right, and the
//! log says what.
//!
//! It goes through every package in pages of [`PAGE`], in the background while the
//! master serves. For each package it lists `simple/<package>/` *first*, then reads the
//! package's wheels from the database (a wheel is renamed in only after its row commits,
//! so one listed and not in the database is not one being published), and:
//!
//! - removes the wheels (and metadata files and alias links) the database does not have;
//! - for a wheel the database has and the folder does not, recorded before this start (a
//!   build recorded since is being published now), deletes its build, so the version is
//!   built again;
//! - makes missing alias links;
//! - gives the wheels without a metadata file one, and removes damaged wheels, deleting
//!   their builds (see [`adopt`](super::adopt): how another master's folder, a 0.23
//!   farm's, is taken over);
//! - owes a rewrite of the package's pages if any of that happened or a page is missing
//!   (any of [`PAGES`](super::compare::PAGES), such as the PEP 691 `index.json` a 0.23
//!   farm never wrote).
//!
//! Folders under `simple/` and `project/` of packages the database does not have are
//! owed a rewrite too (which removes them), and folders under `simple/` that no package
//! could have (not a canonical name) are removed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use piwheels_db::{OutputFile, RewriteCommand};

use super::compare::Missing;
use super::{PackageName, check_package};
use crate::error::{Error, Result};
use crate::hub::{Hub, WebRequest};

/// Packages checked per step.
pub const PAGE: usize = 500;

/// What the check found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Packages checked.
    pub packages: usize,
    /// Files removed that the database does not have.
    pub strays: Vec<String>,
    /// Wheels the database has that were missing; their builds were deleted.
    pub missing: Vec<String>,
    /// Alias links made (with the metadata links of alias copies).
    pub links: usize,
    /// Metadata files made from the wheels that had none.
    pub metadata: usize,
    /// Wheels found damaged (a size other than their row's, not a readable wheel, no
    /// `METADATA` or one naming another project or version), removed; their builds were
    /// deleted.
    pub damaged: Vec<String>,
    /// Packages whose pages were owed a rewrite.
    pub owed: BTreeSet<String>,
    /// Folders of packages the database does not have.
    pub orphans: BTreeSet<String>,
}

impl Report {
    /// Whether anything was out of line.
    pub fn repaired(&self) -> bool {
        !(self.strays.is_empty()
            && self.missing.is_empty()
            && self.links == 0
            && self.metadata == 0
            && self.damaged.is_empty()
            && self.owed.is_empty()
            && self.orphans.is_empty())
    }
}

/// What one package's folder holds, read before its rows.
#[derive(Debug, Default)]
struct Seen {
    listed: BTreeSet<String>,
    pages: bool,
}

/// Checks the output folder against the database (see the module docs). Builds recorded
/// at or after `since` (this start) are left alone: they are being published.
pub async fn reconcile(hub: &Hub, since: DateTime<Utc>) -> Result<Report> {
    let (mut simple_dirs, mut project_dirs) = list_folders(hub).await?;
    let mut report = Report::default();
    let mut lost_builds = BTreeSet::new();
    let mut after = String::new();
    loop {
        if hub.quit.is_cancelled() {
            return Ok(report);
        }
        let page = hub.db.packages_after(&after, PAGE).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for p in &page {
            simple_dirs.remove(p);
            project_dirs.remove(p);
        }
        check_page(hub, &page, since, &mut report, &mut lost_builds).await?;
        after = last;
        tokio::task::yield_now().await;
    }
    // Folders of packages the database does not have.
    let orphans: BTreeSet<String> = simple_dirs.into_iter().chain(project_dirs).collect();
    let mut unusable = Vec::new();
    for name in orphans {
        if check_package(&name).is_ok() {
            report.owed.insert(name.clone());
        } else {
            unusable.push(name.clone());
        }
        report.orphans.insert(name);
    }
    remove_unusable(hub, unusable).await?;
    settle(hub, &report, lost_builds).await?;
    Ok(report)
}

/// The package folders in `simple/` and `project/` (alias links in `project/` are the
/// scribe's; only real folders count).
async fn list_folders(hub: &Hub) -> Result<(HashSet<String>, HashSet<String>)> {
    let out = hub.config.output_path.clone();
    blocking(move || {
        super::listing::package_folders(&out).map_err(|e| Error::io("reading", &out, e))
    })
    .await
}

/// Compares one page of packages' folders with their rows, fixes what it can, and adds
/// the rest to `report` (and the builds whose wheels are gone to `lost_builds`).
async fn check_page(
    hub: &Hub,
    page: &[String],
    since: DateTime<Utc>,
    report: &mut Report,
    lost_builds: &mut BTreeSet<i64>,
) -> Result<()> {
    // The folders first, then the rows.
    let seen = look_at_folders(hub, page.to_vec()).await?;
    let rows = hub.db.output_files(page).await?;
    // Pages already owed are being written anyway.
    let already = hub.db.rewrite_generations(page).await?;
    let mut by_package: BTreeMap<String, Vec<OutputFile>> = BTreeMap::new();
    for f in rows {
        by_package.entry(f.package.clone()).or_default().push(f);
    }
    let output = hub.output.clone();
    let fixed = blocking(move || Ok(fix_page(&output, seen, by_package, since))).await?;
    report.packages += page.len();
    for (package, fix) in fixed {
        report.strays.extend(fix.strays);
        report.links += fix.links;
        report.metadata += fix.metadata;
        // A rewrite owed already may have been written before this check made metadata
        // files (the pages give their hashes) or deleted builds: owed again then.
        let again = fix.metadata > 0 || !fix.missing.is_empty() || !fix.damaged.is_empty();
        for (name, build) in fix.missing {
            report.missing.push(name);
            lost_builds.insert(build);
        }
        for (name, build) in fix.damaged {
            report.damaged.push(name);
            lost_builds.insert(build);
        }
        if fix.owed && (again || !already.contains_key(&package)) {
            report.owed.insert(package);
        }
    }
    Ok(())
}

/// What the folders of `page`'s packages hold, and whether their pages exist (all of
/// [`PAGES`](super::compare::PAGES) in `simple/<package>/`, and the project page).
async fn look_at_folders(hub: &Hub, page: Vec<String>) -> Result<BTreeMap<PackageName, Seen>> {
    let out = hub.config.output_path.clone();
    let output = hub.output.clone();
    blocking(move || {
        let mut seen = BTreeMap::new();
        for p in page {
            // The database's constraints hold every package to the name rule.
            let p = match check_package(&p) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "a package the output cannot hold; left alone");
                    continue;
                }
            };
            let listed = output
                .list_package(&p)
                .map_err(|e| Error::io("reading", output.package_dir(&p), e))?;
            let dir = output.package_dir(&p);
            let pages = super::compare::PAGES
                .iter()
                .all(|page| dir.join(page).is_file())
                && out
                    .join("project")
                    .join(p.as_str())
                    .join("index.html")
                    .is_file();
            seen.insert(p, Seen { listed, pages });
        }
        Ok(seen)
    })
    .await
}

/// Removes the `simple/` folders whose names no package can have.
async fn remove_unusable(hub: &Hub, unusable: Vec<String>) -> Result<()> {
    if unusable.is_empty() {
        return Ok(());
    }
    let s = hub.config.output_path.join("simple");
    blocking(move || {
        for name in unusable {
            let dir = s.join(&name);
            if dir.is_dir() {
                tracing::warn!(folder = %dir.display(), "removing a folder no package can have");
                super::files::remove_tree(&dir).map_err(|e| Error::io("removing", &dir, e))?;
            }
        }
        Ok(())
    })
    .await
}

/// Deletes the builds whose wheels are gone (their versions are queued again) and owes
/// the pages of every package the check found wrong.
async fn settle(hub: &Hub, report: &Report, lost_builds: BTreeSet<i64>) -> Result<()> {
    if !lost_builds.is_empty() {
        let ids: Vec<i64> = lost_builds.into_iter().collect();
        let n = hub.db.delete_builds(&ids).await?;
        tracing::warn!(
            builds = n,
            "builds whose wheels are missing from the output were deleted; their versions are queued again"
        );
        hub.queue_changed.notify_one();
    }
    let owed: Vec<(String, RewriteCommand)> = report
        .owed
        .iter()
        .map(|p| (p.clone(), RewriteCommand::Both))
        .collect();
    hub.db.owe_rewrites(&owed).await?;
    for (p, _) in owed {
        hub.web(WebRequest::Both(p));
    }
    Ok(())
}

/// What was done for one package.
#[derive(Debug, Default)]
struct Fix {
    strays: Vec<String>,
    /// Missing wheels and their builds.
    missing: Vec<(String, i64)>,
    /// Damaged wheels (removed) and their builds.
    damaged: Vec<(String, i64)>,
    links: usize,
    metadata: usize,
    owed: bool,
}

/// Puts one page of packages right (blocking).
fn fix_page(
    output: &crate::output::Output,
    seen: BTreeMap<PackageName, Seen>,
    rows: BTreeMap<String, Vec<OutputFile>>,
    since: DateTime<Utc>,
) -> Vec<(String, Fix)> {
    let mut out = Vec::new();
    for (package, seen) in seen {
        let files = rows.get(package.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let mut fix = Fix::default();
        let hashes: BTreeMap<String, String> = files
            .iter()
            .map(|f| (f.filename.clone(), f.filehash.clone()))
            .collect();
        fix.strays = output
            .remove_strays(&package, &seen.listed, &hashes)
            .into_iter()
            .map(|n| format!("{package}/{n}"))
            .collect();
        let mut listed = seen.listed;
        for name in &fix.strays {
            listed.remove(name.rsplit_once('/').map_or(name.as_str(), |(_, n)| n));
        }
        let adopted = output.adopt_wheels(&package, files, &listed, since);
        fix.metadata = adopted.metadata;
        fix.links = adopted.links;
        for d in adopted.damaged {
            listed.remove(&d.filename);
            fix.damaged.push((d.filename, d.build_id));
        }
        let damaged: BTreeSet<&str> = fix.damaged.iter().map(|(n, _)| n.as_str()).collect();
        let dir = output.package_dir(&package);
        for m in super::compare::missing(files, |n| listed.contains(n), since) {
            match m {
                Missing::Link { twin, real } => {
                    let link = dir.join(&twin.filename);
                    if std::os::unix::fs::symlink(real, &link).is_ok() {
                        fix.links += 1;
                        let _ = std::os::unix::fs::symlink(
                            format!("{real}.metadata"),
                            dir.join(format!("{}.metadata", twin.filename)),
                        );
                    }
                }
                // Renamed in since the folder was listed: not missing. (A damaged one was
                // removed, and its build goes already.)
                Missing::Wheel(f)
                    if dir.join(&f.filename).exists() || damaged.contains(f.filename.as_str()) => {}
                Missing::Wheel(f) => {
                    tracing::warn!(package = %package, file = %f.filename, build = f.build_id,
                        "a recorded wheel is missing from the output; its build is deleted, to be built again");
                    fix.missing.push((f.filename.clone(), f.build_id));
                }
            }
        }
        fix.owed = !seen.pages
            || !fix.strays.is_empty()
            || !fix.missing.is_empty()
            || !fix.damaged.is_empty()
            || fix.links > 0
            || fix.metadata > 0;
        out.push((package.into_string(), fix));
    }
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Other(format!("checking the output folder: {e}")))?
}
