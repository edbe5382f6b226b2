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
        let o = out.to_owned();
        let wanted: Vec<(String, bool, bool)> = page
            .iter()
            .map(|p| (p.clone(), real_dir(&tops.0, p), real_dir(&tops.1, p)))
            .collect();
        let listed = blocking(move || {
            let mut listed = BTreeMap::new();
            for (p, simple, project) in wanted {
                let mut l = Listed::default();
                if simple {
                    l.entries = list(&o, &Path::new("simple").join(&p))?;
                }
                if project {
                    let dir = Path::new("project").join(&p);
                    for (i, page) in ["index.html", "json/index.json"].iter().enumerate() {
                        l.project_pages[i] =
                            matches!(kind_of(&o, &dir.join(page)), Some(Ty::File(_)));
                    }
                }
                listed.insert(p, (l, project));
            }
            Ok(listed)
        })
        .await?;
        let rows = db.output_files(page).await?;
        let mut by_package: BTreeMap<String, Vec<OutputFile>> = BTreeMap::new();
        for f in rows {
            by_package.entry(f.package.clone()).or_default().push(f);
        }
        for (p, (l, project)) in listed {
            let files = by_package.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            found.files += files.iter().filter(|f| f.location == "/simple").count();
            if on(Check::Packages) && project {
                for (i, page) in ["index.html", "json/index.json"].iter().enumerate() {
                    if !l.project_pages[i] {
                        let raw = Path::new("project").join(&p).join(page);
                        let what = match kind_of(out, &raw) {
                            None => "missing".to_owned(),
                            Some(ty) => format!(
                                "{} is in its place",
                                describe(raw.parent().unwrap_or(Path::new("")), &ty)
                            ),
                        };
                        found.findings.push(
                            Finding::new(
                                Check::Packages,
                                Kind::PagesMissing,
                                raw,
                                format!("its project page: {what}"),
                                Repair::Rewrite(p.clone()),
                            )
                            .package(&p),
                        );
                    }
                }
            }
            package(&p, &l.entries, files, checks, since, &mut found);
            progress.advance(1);
        }
    }
    Ok(found)
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
            let raw = top_dir.join(&e.name);
            let name = e.name.to_str();
            if top == "simple" && matches!(name, Some("index.html" | "index.json")) {
                continue;
            }
            if top == "project"
                && let Ty::Link(target) = &e.ty
            {
                // An alias: a link to a package's folder beside it.
                let plain = target.components().count() == 1
                    && matches!(target.components().next(), Some(Component::Normal(_)));
                let there = plain
                    && project
                        .iter()
                        .any(|x| x.name.as_os_str() == target.as_os_str() && x.ty == Ty::Dir);
                if on(Check::Links) && !there {
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
                        raw,
                        format!("{why}: {}", describe(top_dir, &e.ty)),
                        Repair::Remove,
                    ));
                }
                continue;
            }
            if !on(Check::Packages) {
                continue;
            }
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
        if on(Check::Packages) {
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
    let on = |c| checks.contains(&c);
    let dir = Path::new("simple").join(p);
    let expected = Expected::new(files);
    let by_name: BTreeMap<&str, &Ty> = entries
        .iter()
        .filter_map(|e| Some((e.name.to_str()?, &e.ty)))
        .collect();
    let present = |n: &str| by_name.contains_key(n);
    let is_file = |n: &str| matches!(by_name.get(n), Some(Ty::File(_)));
    let f = &mut found.findings;
    for e in entries {
        let raw = dir.join(&e.name);
        let Some(name) = e.name.to_str() else {
            if on(Check::Files) {
                f.push(
                    Finding::new(
                        Check::Files,
                        Kind::FileExtra,
                        raw,
                        format!("{} whose name is not UTF-8", describe(&dir, &e.ty)),
                        Repair::Remove,
                    )
                    .package(p),
                );
            }
            continue;
        };
        match expected.role(name) {
            None => {
                if on(Check::Files) {
                    f.push(
                        Finding::new(
                            Check::Files,
                            Kind::FileExtra,
                            raw,
                            format!("{}; the database has no row for it", describe(&dir, &e.ty)),
                            Repair::Remove,
                        )
                        .package(p),
                    );
                }
            }
            Some(Role::Page) => {
                if on(Check::Packages) && !matches!(e.ty, Ty::File(_)) {
                    f.push(
                        Finding::new(
                            Check::Packages,
                            Kind::PagesMissing,
                            raw,
                            format!("its simple page: {} is in its place", describe(&dir, &e.ty)),
                            Repair::Rewrite(p.to_owned()),
                        )
                        .package(p),
                    );
                }
            }
            Some(Role::Wheel(row)) => match e.ty {
                Ty::File(size) => {
                    let meta = format!("{name}{METADATA_SUFFIX}");
                    found.jobs.push(Job {
                        package: p.to_owned(),
                        dir: dir.clone(),
                        wheel: name.to_owned(),
                        size,
                        hash: row.filehash.clone(),
                        build_id: row.build_id,
                        metadata: match by_name.get(meta.as_str()) {
                            None => Some(false),
                            Some(Ty::File(_)) => Some(true),
                            Some(_) => None,
                        },
                    });
                }
                _ => {
                    if on(Check::Files) {
                        f.push(
                            Finding::new(
                                Check::Files,
                                Kind::NotAFile,
                                raw,
                                format!(
                                    "{} is where the wheel should be; its build is done again",
                                    describe(&dir, &e.ty)
                                ),
                                Repair::Requeue {
                                    package: p.to_owned(),
                                    build_id: row.build_id,
                                },
                            )
                            .package(p)
                            .build(row.build_id),
                        );
                    }
                }
            },
            Some(Role::Metadata(row)) => {
                if on(Check::Metadata) && !matches!(e.ty, Ty::File(_)) && is_file(&row.filename) {
                    f.push(
                        Finding::new(
                            Check::Metadata,
                            Kind::MetadataMismatch,
                            raw,
                            format!(
                                "{} is where the metadata file should be",
                                describe(&dir, &e.ty)
                            ),
                            Repair::WriteMetadata(row.filename.clone()),
                        )
                        .package(p),
                    );
                }
            }
            Some(Role::Twin(_, real)) => {
                if on(Check::Links) {
                    check_link(&dir, &e.name, &e.ty, real, is_file(real), f, p);
                }
            }
            Some(Role::TwinMetadata(_, real)) => {
                if on(Check::Links) {
                    let target = format!("{real}{METADATA_SUFFIX}");
                    check_link(&dir, &e.name, &e.ty, &target, is_file(&target), f, p);
                }
            }
        }
    }
    for m in missing(files, present, since) {
        match m {
            Missing::Wheel(row) if on(Check::Files) => f.push(
                Finding::new(
                    Check::Files,
                    Kind::WheelMissing,
                    dir.join(&row.filename),
                    "a wheel the database has is missing; its build is done again".into(),
                    Repair::Requeue {
                        package: p.to_owned(),
                        build_id: row.build_id,
                    },
                )
                .package(p)
                .build(row.build_id),
            ),
            Missing::Link { twin, real } if on(Check::Links) => f.push(
                Finding::new(
                    Check::Links,
                    Kind::LinkMissing,
                    dir.join(&twin.filename),
                    format!("the alias link to {real} is missing"),
                    Repair::Relink(real.to_owned()),
                )
                .package(p),
            ),
            _ => {}
        }
    }
    for (name, role) in expected.iter() {
        if present(name) {
            continue;
        }
        match role {
            Role::Page if on(Check::Packages) => f.push(
                Finding::new(
                    Check::Packages,
                    Kind::PagesMissing,
                    dir.join(name),
                    "its simple page is missing".into(),
                    Repair::Rewrite(p.to_owned()),
                )
                .package(p),
            ),
            Role::TwinMetadata(twin, real) if on(Check::Links) && present(&twin.filename) => {
                let target = format!("{real}{METADATA_SUFFIX}");
                if is_file(&target) {
                    f.push(
                        Finding::new(
                            Check::Links,
                            Kind::LinkMissing,
                            dir.join(name),
                            format!("the alias link to {target} is missing"),
                            Repair::Relink(target.clone()),
                        )
                        .package(p),
                    );
                }
            }
            _ => {}
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
