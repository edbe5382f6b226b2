//! Repairs what an audit found: removes what does not belong, makes links and metadata
//! files again, deletes the builds whose wheels are missing or wrong (so their versions
//! are built again) and owes the rewrite of every package's pages it touched in the
//! database, as the start-up check does. Every path written or removed is one the audit
//! found in the output's own listings, under folders checked to be real ones (never
//! through a link).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use piwheels_db::{Database, RewriteCommand};
use serde::Serialize;

use super::{AuditError, Finding, Repair, Report};
use crate::output::{Output, check_package, files, wheel};

/// What became of one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum Outcome {
    /// Repaired, and how.
    Repaired(String),
    /// Not repaired: it cannot be, and why.
    NotRepairable(String),
    /// The repair failed, and why.
    Failed(String),
}

/// What [`fix`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FixReport {
    /// Each finding's outcome, in the report's order.
    pub outcomes: Vec<Outcome>,
    /// Builds deleted (their versions are queued again).
    pub builds_deleted: Vec<i64>,
    /// Packages whose pages are owed a rewrite in the database.
    pub rewrites_owed: Vec<String>,
}

impl FixReport {
    /// How many findings were repaired.
    pub fn repaired(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Repaired(_)))
            .count()
    }

    /// How many repairs failed.
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count()
    }
}

/// `out/raw`, if `raw` is a relative path of plain names whose folders are real folders
/// (not links) in the output.
fn inside(out: &Path, raw: &Path) -> Result<PathBuf, String> {
    if raw.as_os_str().is_empty() || raw.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err("not a plain path in the output".into());
    }
    let mut dir = out.to_owned();
    if let Some(parent) = raw.parent() {
        for c in parent.components() {
            dir.push(c);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                _ => return Err(format!("{} is not a real folder", dir.display())),
            }
        }
    }
    Ok(out.join(raw))
}

/// Removes what is at `raw` (a link, not what it points at).
fn remove(out: &Path, raw: &Path) -> Outcome {
    match inside(out, raw).and_then(|p| files::remove_tree(&p).map_err(|e| e.to_string())) {
        Ok(()) => Outcome::Repaired("removed".into()),
        Err(e) => Outcome::Failed(e),
    }
}

/// Removes whatever is at `raw` unless it is a regular file.
fn clear_unless_file(out: &Path, raw: &Path) -> Result<(), String> {
    let path = inside(out, raw)?;
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => files::remove_tree(&path).map_err(|e| e.to_string()),
        Err(_) => Ok(()),
    }
}

fn relink(out: &Path, raw: &Path, target: &str) -> Outcome {
    let result = (|| {
        let path = inside(out, raw)?;
        let dir = path.parent().ok_or("no folder")?;
        let name = raw
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("not a name")?;
        if std::fs::symlink_metadata(dir.join(target)).is_ok_and(|m| m.is_file()) {
            files::ensure_symlink(dir, name, target).map_err(|e| e.to_string())?;
            Ok(format!("linked to {target}"))
        } else {
            files::remove_tree(&path).map_err(|e| e.to_string())?;
            Ok(format!("removed: {target} is not there"))
        }
    })();
    result.map_or_else(Outcome::Failed, Outcome::Repaired)
}

fn write_metadata(out: &Path, raw: &Path, wheel_name: &str) -> Outcome {
    let result = (|| {
        let path = inside(out, raw)?;
        let dir = path.parent().ok_or("no folder")?;
        let wheel_path = dir.join(wheel_name);
        if !std::fs::symlink_metadata(&wheel_path).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let data = wheel::read_metadata(wheel_name, &wheel_path).map_err(|e| e.to_string())?;
        clear_unless_file(out, raw)?;
        files::write_atomic(&path, &data, true).map_err(|e| e.to_string())?;
        Ok(Some(data.len()))
    })();
    match result {
        Ok(Some(n)) => Outcome::Repaired(format!("written from the wheel ({n} bytes)")),
        Ok(None) => Outcome::Repaired("its wheel is gone (its build is done again)".into()),
        Err(e) => Outcome::Failed(e),
    }
}

/// Repairs what `report` found in the output folder `out` (see the module docs).
pub async fn fix(db: &Database, out: &Path, report: &Report) -> Result<FixReport, AuditError> {
    let output = Output::new(out, db.options().platform_aliases.clone());
    let findings = &report.findings;
    let mut owed: BTreeSet<String> = BTreeSet::new();

    // Removals first, and what is in the way of pages and wheels.
    let mut outcomes = clear_the_way(out, &output, findings).await?;
    let requeue = sort_out(findings, &mut outcomes, &mut owed);

    // Builds whose wheels are missing or wrong: deleted, then their files removed.
    let mut fix = FixReport::default();
    if !requeue.is_empty() {
        fix.builds_deleted = delete_builds(db, out, &output, &requeue, &mut owed).await?;
        for (i, f) in findings.iter().enumerate() {
            if let Repair::Requeue { build_id, .. } = &f.repair
                && outcomes[i].is_none()
            {
                outcomes[i] = Some(Outcome::Repaired(format!(
                    "build {build_id} deleted (its version is built again) and its files removed"
                )));
            }
        }
    }

    // Links and metadata files, now that the wheels are settled.
    links_and_metadata(out, findings, &mut outcomes).await?;

    let rewrites: Vec<(String, RewriteCommand)> = owed
        .iter()
        .map(|p| (p.clone(), RewriteCommand::Both))
        .collect();
    db.owe_rewrites(&rewrites).await?;
    fix.rewrites_owed = owed.into_iter().collect();
    fix.outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Repaired("repaired with another finding".into())))
        .collect();
    Ok(fix)
}

/// The first pass, over every finding: removes what does not belong and what is in the
/// way of pages and wheels. Gives each finding's outcome if this pass settled it.
async fn clear_the_way(
    out: &Path,
    output: &Output,
    findings: &[Finding],
) -> Result<Vec<Option<Outcome>>, AuditError> {
    let o = out.to_owned();
    let output = output.clone();
    let findings = findings.to_vec();
    super::scan::blocking(move || Ok(findings.iter().map(|f| clear(&o, &output, f)).collect()))
        .await
}

/// The first pass's repair of one finding (`None`: left to a later step).
fn clear(o: &Path, output: &Output, f: &Finding) -> Option<Outcome> {
    match &f.repair {
        Repair::Remove => Some(remove(o, &f.raw)),
        Repair::RemovePackage(name) => Some(match check_package(name) {
            Ok(p) => match output.remove_package(&p, &[]) {
                Ok(()) => Outcome::Repaired("removed, with the links to it".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Err(_) => remove(o, &f.raw),
        }),
        Repair::Rewrite(_) => {
            // A missing page has nothing in its way; a file or link where a folder
            // should be, or a folder where a page should be, goes.
            let path = o.join(&f.raw);
            let blocking_page = std::fs::symlink_metadata(&path).is_ok_and(|m| {
                let is_page = f
                    .raw
                    .extension()
                    .is_some_and(|e| e == "html" || e == "json");
                if is_page { !m.is_file() } else { !m.is_dir() }
            });
            blocking_page
                .then(|| remove(o, &f.raw))
                .filter(|r| matches!(r, Outcome::Failed(_)))
        }
        Repair::Requeue { .. } => clear_unless_file(o, &f.raw).err().map(Outcome::Failed),
        _ => None,
    }
}

/// After the first pass: the pages still to rewrite are owed (into `owed`), what cannot
/// be repaired is said so, and the builds to delete are given (build id to package).
fn sort_out(
    findings: &[Finding],
    outcomes: &mut [Option<Outcome>],
    owed: &mut BTreeSet<String>,
) -> BTreeMap<i64, String> {
    let mut requeue = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        match &f.repair {
            Repair::Rewrite(p) if outcomes[i].is_none() => {
                owed.insert(p.clone());
                outcomes[i] = Some(Outcome::Repaired(
                    "the package's pages are owed a rewrite".into(),
                ));
            }
            Repair::Requeue { package, build_id } if outcomes[i].is_none() => {
                requeue.insert(*build_id, package.clone());
            }
            Repair::None(why) => outcomes[i] = Some(Outcome::NotRepairable((*why).into())),
            _ => {}
        }
    }
    requeue
}

/// Deletes the builds of `requeue` (build id to package) and their logs, removes what of
/// their packages' folders no row accounts for now, and owes those packages' pages a
/// rewrite. Gives the ids deleted.
async fn delete_builds(
    db: &Database,
    out: &Path,
    output: &Output,
    requeue: &BTreeMap<i64, String>,
    owed: &mut BTreeSet<String>,
) -> Result<Vec<i64>, AuditError> {
    let ids: Vec<i64> = requeue.keys().copied().collect();
    db.delete_builds(&ids).await?;
    // Their logs are of no build now.
    let o = out.to_owned();
    let logs = ids.clone();
    super::scan::blocking(move || {
        for id in logs {
            if let Some(rel) = crate::output::log_path(id)
                && let Outcome::Failed(e) = remove(&o, &rel)
            {
                tracing::warn!(build_id = id, error = %e, "cannot remove the log of a deleted build");
            }
        }
        Ok(())
    })
    .await?;
    let packages: BTreeSet<String> = requeue.values().cloned().collect();
    for p in packages {
        let Ok(name) = check_package(&p) else {
            continue;
        };
        let listed = output.list_package(&name).unwrap_or_default();
        let db_files = db.package_files(&p).await?;
        let o2 = output.clone();
        super::scan::blocking(move || Ok(o2.remove_strays(&name, &listed, &db_files))).await?;
        owed.insert(p);
    }
    Ok(ids)
}

/// The last pass, over the findings not settled yet: makes the links and metadata files
/// again.
async fn links_and_metadata(
    out: &Path,
    findings: &[Finding],
    outcomes: &mut [Option<Outcome>],
) -> Result<(), AuditError> {
    let o = out.to_owned();
    let rest: Vec<(usize, Finding)> = findings
        .iter()
        .enumerate()
        .filter(|(i, _)| outcomes[*i].is_none())
        .map(|(i, f)| (i, f.clone()))
        .collect();
    let done = super::scan::blocking(move || {
        Ok(rest
            .into_iter()
            .map(|(i, f)| {
                let outcome = match &f.repair {
                    Repair::Relink(target) => relink(&o, &f.raw, target),
                    Repair::WriteMetadata(wheel) => write_metadata(&o, &f.raw, wheel),
                    _ => Outcome::Repaired("repaired with another finding".into()),
                };
                (i, outcome)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    for (i, outcome) in done {
        outcomes[i] = Some(outcome);
    }
    Ok(())
}
