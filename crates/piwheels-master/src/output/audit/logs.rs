//! The build logs: `logs/AAAA/BBBB/CCCC.txt.gz` (see [`log_path`](crate::output::log_path))
//! for every build, and nothing else under `logs/`. The folder is listed before the build
//! ids are read, so a log written meanwhile is never taken for an extra one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use piwheels_db::Database;

use super::scan::{Entry, Ty, blocking, describe, list};
use super::{AuditError, Check, Finding, Kind, Progress, Repair};
use crate::output::log_path;

/// `NNNN` as a number, if the name is four digits.
fn four_digits(name: &std::ffi::OsStr) -> Option<i64> {
    let s = name.to_str()?;
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// Lists `logs/`: the build ids whose logs are there, and what does not belong.
fn walk(out: &Path) -> Result<(BTreeSet<i64>, Vec<Finding>), AuditError> {
    let mut ids = BTreeSet::new();
    let mut extra = Vec::new();
    let top = Path::new("logs");
    if let Some(ty) = super::scan::kind_of(out, top)
        && ty != Ty::Dir
    {
        extra.push(Finding::new(
            Check::Logs,
            Kind::LogExtra,
            top.to_owned(),
            format!(
                "{} is in the place of the logs folder",
                describe(Path::new(""), &ty)
            ),
            Repair::Remove,
        ));
        return Ok((ids, extra));
    }
    let mut odd = |rel: PathBuf, e: &Entry, why: &str| {
        let parent = rel.parent().unwrap_or(Path::new("")).to_owned();
        extra.push(Finding::new(
            Check::Logs,
            Kind::LogExtra,
            rel,
            format!("{} {why}", describe(&parent, &e.ty)),
            Repair::Remove,
        ));
    };
    for a in list(out, top)? {
        let rel_a = top.join(&a.name);
        let Some(na) = four_digits(&a.name).filter(|_| a.ty == Ty::Dir) else {
            odd(rel_a, &a, "that is not a log folder");
            continue;
        };
        for b in list(out, &rel_a)? {
            let rel_b = rel_a.join(&b.name);
            let Some(nb) = four_digits(&b.name).filter(|_| b.ty == Ty::Dir) else {
                odd(rel_b, &b, "that is not a log folder");
                continue;
            };
            for c in list(out, &rel_b)? {
                let rel_c = rel_b.join(&c.name);
                let number = c
                    .name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".txt.gz"))
                    .and_then(|n| four_digits(n.as_ref()));
                match (number, &c.ty) {
                    (Some(nc), Ty::File(_)) => {
                        ids.insert(na * 100_000_000 + nb * 10_000 + nc);
                    }
                    _ => odd(rel_c, &c, "that is not a build log"),
                }
            }
        }
    }
    Ok((ids, extra))
}

/// Checks the build logs; returns what is wrong and how many builds there are.
pub(super) async fn check(
    db: &Database,
    out: &Path,
    progress: &(dyn Progress + 'static),
) -> Result<(Vec<Finding>, usize), AuditError> {
    progress.phase("build logs", 0);
    let o = out.to_owned();
    let (found, mut findings) = blocking(move || walk(&o)).await?;
    let builds = db.all_build_ids().await?;
    for id in found.difference(&builds) {
        let rel = log_path(*id).expect("read from a log path");
        findings.push(
            Finding::new(
                Check::Logs,
                Kind::LogExtra,
                rel,
                "the log of no build the database has".into(),
                Repair::Remove,
            )
            .build(*id),
        );
    }
    for id in builds.difference(&found) {
        let Some(rel) = log_path(*id) else { continue };
        let what = match super::scan::kind_of(out, &rel) {
            None => "the build's log is missing".to_owned(),
            Some(ty) => format!(
                "the build's log is missing: {} is in its place",
                describe(rel.parent().unwrap_or(Path::new("")), &ty)
            ),
        };
        findings.push(
            Finding::new(
                Check::Logs,
                Kind::LogMissing,
                rel,
                what,
                Repair::None("a build's log cannot be made again"),
            )
            .build(*id),
        );
    }
    progress.advance(1);
    Ok((findings, builds.len()))
}
