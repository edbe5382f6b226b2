//! The package folders: `simple/` and `project/` against the package list, and each
//! package's folder against its rows (the [`compare`](crate::output::compare) rule). The
//! wheels found are handed to [`work`](super::work) to be read.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use piwheels_db::{Database, OutputFile};

use super::{AuditError, Check, Finding, Kind, Progress, Repair, io_error};
use crate::output::compare::{Expected, METADATA_SUFFIX, Missing, Role, missing};
use crate::output::listing::raw_entries;
use crate::output::{check_package, reconcile::PAGE};

/// What a name in the folder is (links read, never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ty {
    /// A regular file of this size.
    File(u64),
    /// A folder.
    Dir,
    /// A link to this target.
    Link(PathBuf),
    /// Anything else (a FIFO, a socket, a device).
    Other,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) name: OsString,
    pub(super) ty: Ty,
}

/// The entries of `dir` (relative `rel` to the output), with their types.
pub(super) fn list(out: &Path, rel: &Path) -> Result<Vec<Entry>, AuditError> {
    let dir = out.join(rel);
    let mut entries = Vec::new();
    // Only a real folder is listed: a link in a folder's place is never followed.
    if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok(entries);
    }
    for (name, ft) in raw_entries(&dir).map_err(io_error(&dir))? {
        let path = dir.join(&name);
        let ty = if ft.is_dir() {
            Ty::Dir
        } else if ft.is_symlink() {
            Ty::Link(std::fs::read_link(&path).unwrap_or_default())
        } else if ft.is_file() {
            Ty::File(std::fs::symlink_metadata(&path).map_or(0, |m| m.len()))
        } else {
            Ty::Other
        };
        entries.push(Entry { name, ty });
    }
    Ok(entries)
}

/// The type of the one name `rel` in the output (`None`: nothing there).
pub(super) fn kind_of(out: &Path, rel: &Path) -> Option<Ty> {
    let path = out.join(rel);
    let m = std::fs::symlink_metadata(&path).ok()?;
    let ft = m.file_type();
    Some(if ft.is_dir() {
        Ty::Dir
    } else if ft.is_symlink() {
        Ty::Link(std::fs::read_link(&path).unwrap_or_default())
    } else if ft.is_file() {
        Ty::File(m.len())
    } else {
        Ty::Other
    })
}

/// Whether a link in the folder `rel_dir` (relative to the output) to `target` leads out
/// of the output (an absolute target always counts as leaving it).
pub(super) fn leaves_output(rel_dir: &Path, target: &Path) -> bool {
    let mut depth: i64 = rel_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count() as i64;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// What a thing in the folder `rel_dir` is, for a message.
pub(super) fn describe(rel_dir: &Path, ty: &Ty) -> String {
    match ty {
        Ty::File(_) => "a file".into(),
        Ty::Dir => "a folder".into(),
        Ty::Link(t) => {
            let t_text = super::escape(t.as_os_str().as_encoded_bytes());
            if leaves_output(rel_dir, t) {
                format!("a link to {t_text}, outside the output")
            } else {
                format!("a link to {t_text}")
            }
        }
        Ty::Other => "a special file".into(),
    }
}

/// A wheel to read (its hash, its `METADATA`).
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) package: String,
    /// The package's folder, relative to the output.
    pub(super) dir: PathBuf,
    pub(super) wheel: String,
    pub(super) size: u64,
    pub(super) hash: String,
    pub(super) build_id: i64,
    /// Whether its metadata file is there as a regular file (`Some(false)`: missing;
    /// `None`: something else is in its place, reported already).
    pub(super) metadata: Option<bool>,
}

/// What [`packages`] found.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) packages: usize,
    pub(super) files: usize,
    pub(super) findings: Vec<Finding>,
    pub(super) jobs: Vec<Job>,
}

/// One package folder's listing (made before its rows are read).
#[derive(Debug, Default)]
struct Listed {
    /// `simple/<package>/`'s entries (empty if it is not a folder).
    entries: Vec<Entry>,
    /// `project/<package>/index.html` and `json/index.json` are regular files.
    project_pages: [bool; 2],
}

/// Checks the package folders and each package's folder.
pub(super) async fn packages(
    db: &Database,
    out: &Path,
    checks: &[Check],
    since: DateTime<Utc>,
    progress: &(dyn Progress + 'static),
) -> Result<Found, AuditError> {
    let on = |c| checks.contains(&c);
    let o = out.to_owned();
    let tops = blocking(move || {
        Ok((
            list(&o, Path::new("simple"))?,
            list(&o, Path::new("project"))?,
        ))
    })
    .await?;
    let all: BTreeSet<String> = db.all_packages().await?;
    let mut found = Found {
        packages: all.len(),
        ..Found::default()
    };
    if on(Check::Packages) || on(Check::Links) {
        top_level(&all, &tops, checks, &mut found.findings);
    }
    // Each package's folder, in pages of packages: listed first, then the rows read.
    let real_dir = |top: &[Entry], p: &str| {
        top.iter()
            .any(|e| e.name.to_str() == Some(p) && e.ty == Ty::Dir)
    };
    let names: Vec<String> = all.into_iter().collect();
    progress.phase("package folders", names.len() as u64);
    for page in names.chunks(PAGE) {
        let wanted: Vec<(String, bool, bool)> = page
            .iter()
            .map(|p| (p.clone(), real_dir(&tops.0, p), real_dir(&tops.1, p)))
            .collect();
        let listed = list_page(out, wanted).await?;
        let rows = db.output_files(page).await?;
        let mut by_package: BTreeMap<String, Vec<OutputFile>> = BTreeMap::new();
        for f in rows {
            by_package.entry(f.package.clone()).or_default().push(f);
        }
        for (p, (l, project)) in listed {
            let files = by_package.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            found.files += files.iter().filter(|f| f.location == "/simple").count();
            if on(Check::Packages) && project {
                project_pages(out, &p, &l, &mut found.findings);
            }
            package(&p, &l.entries, files, checks, since, &mut found);
            progress.advance(1);
        }
    }
    Ok(found)
}

/// The project pages a package's `project/` folder must have.
const PROJECT_PAGES: [&str; 2] = ["index.html", "json/index.json"];

/// Lists the folders of a page of packages, each `(package, simple/ is a real folder,
/// project/ is)`: each package's listing, and whether its `project/` folder is one.
async fn list_page(
    out: &Path,
    wanted: Vec<(String, bool, bool)>,
) -> Result<BTreeMap<String, (Listed, bool)>, AuditError> {
    let o = out.to_owned();
    blocking(move || {
        let mut listed = BTreeMap::new();
        for (p, simple, project) in wanted {
            let mut l = Listed::default();
            if simple {
                l.entries = list(&o, &Path::new("simple").join(&p))?;
            }
            if project {
                let dir = Path::new("project").join(&p);
                for (i, page) in PROJECT_PAGES.iter().enumerate() {
                    l.project_pages[i] = matches!(kind_of(&o, &dir.join(page)), Some(Ty::File(_)));
                }
            }
            listed.insert(p, (l, project));
        }
        Ok(listed)
    })
    .await
}

/// The project pages of package `p` (whose `project/` folder is a real one) that are not
/// regular files.
fn project_pages(out: &Path, p: &str, l: &Listed, findings: &mut Vec<Finding>) {
    for (i, page) in PROJECT_PAGES.iter().enumerate() {
        if l.project_pages[i] {
            continue;
        }
        let raw = Path::new("project").join(p).join(page);
        let what = match kind_of(out, &raw) {
            None => "missing".to_owned(),
            Some(ty) => format!(
                "{} is in its place",
                describe(raw.parent().unwrap_or(Path::new("")), &ty)
            ),
        };
        findings.push(
            Finding::new(
                Check::Packages,
                Kind::PagesMissing,
                raw,
                format!("its project page: {what}"),
                Repair::Rewrite(p.to_owned()),
            )
            .package(p),
        );
    }
}

/// `simple/` and `project/` against the package list.
fn top_level(
    all: &BTreeSet<String>,
    (simple, project): &(Vec<Entry>, Vec<Entry>),
    checks: &[Check],
    findings: &mut Vec<Finding>,
) {
    let on = |c| checks.contains(&c);
    for (top, entries) in [("simple", simple), ("project", project)] {
        let top_dir = Path::new(top);
        for e in entries {
            let name = e.name.to_str();
            if top == "simple" && matches!(name, Some("index.html" | "index.json")) {
                continue;
            }
            if top == "project"
                && let Ty::Link(target) = &e.ty
            {
                if on(Check::Links) {
                    alias_link(top_dir, e, target, project, findings);
                }
                continue;
            }
            if on(Check::Packages) {
                top_entry(all, top_dir, e, findings);
            }
        }
        if on(Check::Packages) {
            missing_folders(all, top_dir, entries, findings);
        }
    }
}

/// Checks the link `e` in `project/` (to `target`): an alias, a link to a package's
/// folder beside it (among `project`'s entries).
fn alias_link(
    top_dir: &Path,
    e: &Entry,
    target: &Path,
    project: &[Entry],
    findings: &mut Vec<Finding>,
) {
    let plain = target.components().count() == 1
        && matches!(target.components().next(), Some(Component::Normal(_)));
    let there = plain
        && project
            .iter()
            .any(|x| x.name.as_os_str() == target.as_os_str() && x.ty == Ty::Dir);
    if there {
        return;
    }
    let (kind, why) = if plain {
        (
            Kind::LinkBroken,
            "an alias link to a package folder that is not there",
        )
    } else {
        (
            Kind::LinkWrong,
            "an alias link that does not point at a package folder beside it",
        )
    };
    findings.push(Finding::new(
        Check::Links,
        kind,
        top_dir.join(&e.name),
        format!("{why}: {}", describe(top_dir, &e.ty)),
        Repair::Remove,
    ));
}

/// Checks the entry `e` of `simple/` or `project/` (`top_dir`), not an alias: a package's
/// folder, or something of no package.
fn top_entry(all: &BTreeSet<String>, top_dir: &Path, e: &Entry, findings: &mut Vec<Finding>) {
    let raw = top_dir.join(&e.name);
    let name = e.name.to_str();
    match name {
        Some(n) if all.contains(n) => {
            if e.ty != Ty::Dir {
                findings.push(
                    Finding::new(
                        Check::Packages,
                        Kind::PackageMissing,
                        raw,
                        format!(
                            "{} is in the place of the package's folder",
                            describe(top_dir, &e.ty)
                        ),
                        Repair::Rewrite(n.to_owned()),
                    )
                    .package(n),
                );
            }
        }
        _ => {
            let shown = super::escape(e.name.as_encoded_bytes());
            let repair = match name {
                Some(n) if e.ty == Ty::Dir && check_package(n).is_ok() => {
                    Repair::RemovePackage(n.to_owned())
                }
                _ => Repair::Remove,
            };
            findings.push(Finding::new(
                Check::Packages,
                Kind::PackageExtra,
                raw,
                format!(
                    "{} of no package the database has ({shown})",
                    describe(top_dir, &e.ty)
                ),
                repair,
            ));
        }
    }
}

/// The packages with no entry at all in `simple/` or `project/` (`top_dir`).
fn missing_folders(
    all: &BTreeSet<String>,
    top_dir: &Path,
    entries: &[Entry],
    findings: &mut Vec<Finding>,
) {
    for p in all {
        if !entries.iter().any(|e| e.name.to_str() == Some(p)) {
            findings.push(
                Finding::new(
                    Check::Packages,
                    Kind::PackageMissing,
                    top_dir.join(p),
                    "the package's folder is missing".into(),
                    Repair::Rewrite(p.clone()),
                )
                .package(p),
            );
        }
    }
}

/// One package's folder against its rows.
fn package(
    p: &str,
    entries: &[Entry],
    files: &[OutputFile],
    checks: &[Check],
    since: DateTime<Utc>,
    found: &mut Found,
) {
    let folder = Folder::new(p, entries, checks);
    let expected = Expected::new(files);
    for e in entries {
        folder.entry(e, &expected, found);
    }
    folder.missing_rows(files, since, &mut found.findings);
    folder.missing_names(&expected, &mut found.findings);
}

/// One package's folder (`simple/<package>/`) while it is checked against its rows.
struct Folder<'a> {
    /// The package.
    p: &'a str,
    /// Its folder, relative to the output.
    dir: PathBuf,
    /// Its entries whose names are UTF-8, by name.
    by_name: BTreeMap<&'a str, &'a Ty>,
    checks: &'a [Check],
}

impl<'a> Folder<'a> {
    fn new(p: &'a str, entries: &'a [Entry], checks: &'a [Check]) -> Self {
        Folder {
            p,
            dir: Path::new("simple").join(p),
            by_name: entries
                .iter()
                .filter_map(|e| Some((e.name.to_str()?, &e.ty)))
                .collect(),
            checks,
        }
    }

    fn on(&self, c: Check) -> bool {
        self.checks.contains(&c)
    }

    /// Whether the folder has something named `n`.
    fn present(&self, n: &str) -> bool {
        self.by_name.contains_key(n)
    }

    /// Whether the folder's `n` is a regular file.
    fn is_file(&self, n: &str) -> bool {
        matches!(self.by_name.get(n), Some(Ty::File(_)))
    }

    /// A finding of this package.
    fn finding(
        &self,
        check: Check,
        kind: Kind,
        raw: PathBuf,
        detail: String,
        repair: Repair,
    ) -> Finding {
        Finding::new(check, kind, raw, detail, repair).package(self.p)
    }

    /// Checks one entry of the folder against the role its name has (if any).
    fn entry(&self, e: &Entry, expected: &Expected<'_>, found: &mut Found) {
        let raw = self.dir.join(&e.name);
        let what = || describe(&self.dir, &e.ty);
        let f = &mut found.findings;
        let Some(name) = e.name.to_str() else {
            if self.on(Check::Files) {
                f.push(self.finding(
                    Check::Files,
                    Kind::FileExtra,
                    raw,
                    format!("{} whose name is not UTF-8", what()),
                    Repair::Remove,
                ));
            }
            return;
        };
        match expected.role(name) {
            None => {
                if self.on(Check::Files) {
                    f.push(self.finding(
                        Check::Files,
                        Kind::FileExtra,
                        raw,
                        format!("{}; the database has no row for it", what()),
                        Repair::Remove,
                    ));
                }
            }
            Some(Role::Page) => {
                if self.on(Check::Packages) && !matches!(e.ty, Ty::File(_)) {
                    f.push(self.finding(
                        Check::Packages,
                        Kind::PagesMissing,
                        raw,
                        format!("its simple page: {} is in its place", what()),
                        Repair::Rewrite(self.p.to_owned()),
                    ));
                }
            }
            Some(Role::Wheel(row)) => self.wheel(e, name, row, found),
            Some(Role::Metadata(row)) => {
                if self.on(Check::Metadata)
                    && !matches!(e.ty, Ty::File(_))
                    && self.is_file(&row.filename)
                {
                    f.push(self.finding(
                        Check::Metadata,
                        Kind::MetadataMismatch,
                        raw,
                        format!("{} is where the metadata file should be", what()),
                        Repair::WriteMetadata(row.filename.clone()),
                    ));
                }
            }
            Some(Role::Twin(_, real)) => {
                if self.on(Check::Links) {
                    check_link(
                        &self.dir,
                        &e.name,
                        &e.ty,
                        real,
                        self.is_file(real),
                        f,
                        self.p,
                    );
                }
            }
            Some(Role::TwinMetadata(_, real)) => {
                if self.on(Check::Links) {
                    let target = format!("{real}{METADATA_SUFFIX}");
                    let there = self.is_file(&target);
                    check_link(&self.dir, &e.name, &e.ty, &target, there, f, self.p);
                }
            }
        }
    }

    /// The entry `e` named `name`, where the wheel of `row` should be: a regular file is
    /// to be read (a [`Job`]), anything else has its build done again.
    fn wheel(&self, e: &Entry, name: &str, row: &OutputFile, found: &mut Found) {
        match e.ty {
            Ty::File(size) => {
                let meta = format!("{name}{METADATA_SUFFIX}");
                found.jobs.push(Job {
                    package: self.p.to_owned(),
                    dir: self.dir.clone(),
                    wheel: name.to_owned(),
                    size,
                    hash: row.filehash.clone(),
                    build_id: row.build_id,
                    metadata: match self.by_name.get(meta.as_str()) {
                        None => Some(false),
                        Some(Ty::File(_)) => Some(true),
                        Some(_) => None,
                    },
                });
            }
            _ => {
                if self.on(Check::Files) {
                    found.findings.push(
                        self.finding(
                            Check::Files,
                            Kind::NotAFile,
                            self.dir.join(&e.name),
                            format!(
                                "{} is where the wheel should be; its build is done again",
                                describe(&self.dir, &e.ty)
                            ),
                            Repair::Requeue {
                                package: self.p.to_owned(),
                                build_id: row.build_id,
                            },
                        )
                        .build(row.build_id),
                    );
                }
            }
        }
    }

    /// The wheels and alias links of the rows (`files`) that are missing from the folder
    /// (the [`compare`](crate::output::compare) rule: not those newer than `since`).
    fn missing_rows(&self, files: &[OutputFile], since: DateTime<Utc>, f: &mut Vec<Finding>) {
        for m in missing(files, |n| self.present(n), since) {
            match m {
                Missing::Wheel(row) if self.on(Check::Files) => f.push(
                    self.finding(
                        Check::Files,
                        Kind::WheelMissing,
                        self.dir.join(&row.filename),
                        "a wheel the database has is missing; its build is done again".into(),
                        Repair::Requeue {
                            package: self.p.to_owned(),
                            build_id: row.build_id,
                        },
                    )
                    .build(row.build_id),
                ),
                Missing::Link { twin, real } if self.on(Check::Links) => f.push(self.finding(
                    Check::Links,
                    Kind::LinkMissing,
                    self.dir.join(&twin.filename),
                    format!("the alias link to {real} is missing"),
                    Repair::Relink(real.to_owned()),
                )),
                _ => {}
            }
        }
    }

    /// The simple page and the metadata files' alias links that are missing from the folder.
    fn missing_names(&self, expected: &Expected<'_>, f: &mut Vec<Finding>) {
        for (name, role) in expected.iter() {
            if self.present(name) {
                continue;
            }
            match role {
                Role::Page if self.on(Check::Packages) => f.push(self.finding(
                    Check::Packages,
                    Kind::PagesMissing,
                    self.dir.join(name),
                    "its simple page is missing".into(),
                    Repair::Rewrite(self.p.to_owned()),
                )),
                Role::TwinMetadata(twin, real)
                    if self.on(Check::Links) && self.present(&twin.filename) =>
                {
                    let target = format!("{real}{METADATA_SUFFIX}");
                    if self.is_file(&target) {
                        f.push(self.finding(
                            Check::Links,
                            Kind::LinkMissing,
                            self.dir.join(name),
                            format!("the alias link to {target} is missing"),
                            Repair::Relink(target.clone()),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// Checks an alias link `name` in `dir` that should point at `target` (a name beside it,
/// `there` if it is a regular file).
fn check_link(
    dir: &Path,
    name: &OsString,
    ty: &Ty,
    target: &str,
    there: bool,
    f: &mut Vec<Finding>,
    p: &str,
) {
    let raw = dir.join(name);
    let (kind, detail) = match ty {
        Ty::Link(t) if t.as_os_str() == target => {
            if there {
                return;
            }
            (
                Kind::LinkBroken,
                format!("a link to {target}, which is missing"),
            )
        }
        other => (
            Kind::LinkWrong,
            format!("{}, not a link to {target}", describe(dir, other)),
        ),
    };
    f.push(
        Finding::new(
            Check::Links,
            kind,
            raw,
            detail,
            Repair::Relink(target.to_owned()),
        )
        .package(p),
    );
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuditError> + Send + 'static,
) -> Result<T, AuditError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuditError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(format!("a reading thread failed: {e}")),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving() {
        let d = Path::new("simple/foo");
        assert!(!leaves_output(d, Path::new("foo-1.0.whl")));
        assert!(!leaves_output(d, Path::new("../bar/x.whl")));
        assert!(leaves_output(d, Path::new("../../../etc/passwd")));
        assert!(leaves_output(d, Path::new("/etc/passwd")));
        assert!(!leaves_output(Path::new("project"), Path::new("foo")));
    }
}
