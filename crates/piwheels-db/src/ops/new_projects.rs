//! Many new projects at once (the first sync of a farm from the whole upstream): packages,
//! their spellings and versions in one transaction, with the effects of the one-by-one
//! operations ([`Database::add_new_package`], [`Database::add_package_name`],
//! [`Database::add_new_package_version`], [`Database::yank_version`]): the build queue and
//! the owed page rewrites included.
//!
//! Every statement is a multi-row one, sent in two pipelines (two round trips on
//! PostgreSQL, whatever the size of the batch). Row counts of a statement are powers of
//! two up to [`MAX_ROWS`] (see [`shaped`]), so a connection prepares a few shapes of each
//! statement, not one per batch size.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::queue::{VersionFacts, pending_targets};
use super::{check_name, check_package, check_skip, check_version, placeholders, values_list};
use crate::Database;
use crate::abi::{PlatformAliases, Target};
use crate::backend::{Conn, Kind, Row, Stmt, Value};
use crate::error::{Error, Result};
use crate::types::{NewProject, NewProjectAdded, RewriteCommand};

/// The most rows of one statement.
const MAX_ROWS: usize = 512;

/// `items` in slices of [`MAX_ROWS`], then the rest in powers of two, largest first.
fn shaped<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = if rest.len() >= MAX_ROWS {
            MAX_ROWS
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        out.push(chunk);
        rest = tail;
    }
    out
}

/// What the first pipeline gives back, statement kind by statement kind.
#[derive(Default)]
struct Found {
    added_packages: HashSet<String>,
    /// Each package's skip reason (every package of the batch exists by then).
    skips: HashMap<String, String>,
    /// Names that were recorded before this batch.
    known_names: HashSet<String>,
    added_versions: HashSet<(String, String)>,
    targets: Vec<Target>,
}

/// The kinds of statement of the first pipeline.
#[derive(Clone, Copy)]
enum Kind1 {
    AddPackages,
    Lock,
    KnownNames,
    AddNames,
    AddVersions,
    Targets,
}

impl Found {
    fn row(&mut self, kind: Kind1, r: &dyn Row) -> Result<()> {
        match kind {
            Kind1::AddPackages => {
                self.added_packages.insert(r.text(0)?);
            }
            Kind1::Lock => {
                self.skips.insert(r.text(0)?, r.text(1)?);
            }
            Kind1::KnownNames => {
                self.known_names.insert(r.text(0)?);
            }
            Kind1::AddVersions => {
                self.added_versions.insert((r.text(0)?, r.text(1)?));
            }
            Kind1::Targets => self.targets.push(Target::new(r.text(0)?, r.text(1)?)),
            Kind1::AddNames => {}
        }
        Ok(())
    }
}

/// The names of a project to record: (name, seen).
fn names_of(p: &NewProject, seen: DateTime<Utc>) -> Vec<(&str, DateTime<Utc>)> {
    match p.name.as_deref() {
        None => Vec::new(),
        Some(name) if name == p.package => vec![(name, seen)],
        Some(name) => vec![(p.package.as_str(), DateTime::UNIX_EPOCH), (name, seen)],
    }
}

/// Refuses a batch with an invalid item, or a package or a version given twice.
fn check(op: &'static str, projects: &[NewProject]) -> Result<()> {
    let mut packages = HashSet::with_capacity(projects.len());
    for p in projects {
        check_package(op, &p.package)?;
        if !packages.insert(p.package.as_str()) {
            return Err(Error::invalid(
                op,
                format!("package {} is given twice", p.package),
            ));
        }
        if let Some(name) = &p.name {
            check_name(op, &p.package, name)?;
        }
        let mut versions = HashSet::with_capacity(p.versions.len());
        for v in &p.versions {
            check_version(op, &v.version)?;
            check_skip(op, &v.skip)?;
            if !versions.insert(v.version.as_str()) {
                return Err(Error::invalid(
                    op,
                    format!("version {} {} is given twice", p.package, v.version),
                ));
            }
        }
    }
    Ok(())
}

impl Database {
    /// Adds projects the database does not have yet, with their spellings and versions, in
    /// one transaction: for each, what [`add_new_package`](Self::add_new_package)`(package,
    /// "", "")`, [`add_package_name`](Self::add_package_name) (its canonical spelling seen
    /// at the epoch when `name` differs from it, then `name` seen at `seen`),
    /// [`add_new_package_version`](Self::add_new_package_version) for each version and
    /// [`yank_version`](Self::yank_version) for each yanked version it added would do, with
    /// the same build queue and owed page rewrites. A package the database has already
    /// is kept as it is, and gets only the versions it does not have. Says, project by
    /// project in the order given, what was really added.
    ///
    /// Nothing is written if any item is invalid (a package key that is not canonical, a
    /// name that is not one of its spellings, a version that breaks the version rule, a
    /// skip reason that cannot be stored) or given twice.
    pub async fn add_new_projects(
        &self,
        projects: &[NewProject],
        seen: DateTime<Utc>,
    ) -> Result<Vec<NewProjectAdded>> {
        let op = "add_new_projects";
        check(op, projects)?;
        if projects.is_empty() {
            return Ok(Vec::new());
        }
        let projects = projects.to_vec();
        let aliases = self.aliases();
        self.write(op, move |c| add(c, &projects, seen, &aliases))
            .await
    }
}

/// The statements of the first pipeline, each with its kind.
fn first_pipeline<'a>(
    kind: Kind,
    projects: &'a [NewProject],
    names: &'a [(&'a str, &'a str, DateTime<Utc>)],
    versions: &'a [(&'a str, &'a crate::types::NewVersion)],
) -> Vec<(Kind1, Stmt<'a>)> {
    let mut stmts = Vec::new();
    for chunk in shaped(projects) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, '', '')", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        stmts.push((
            Kind1::AddPackages,
            Stmt::new(
                format!(
                    "INSERT INTO packages (package, skip, description) VALUES {values} \
                     ON CONFLICT (package) DO NOTHING RETURNING package"
                ),
                chunk.iter().map(|p| Value::Text(&p.package)).collect(),
            ),
        ));
    }
    // Each package's row is locked until the end, as add_new_package_version does, so
    // what decides its versions' place in the queue holds.
    let lock = match kind {
        Kind::Postgres => " ORDER BY package FOR UPDATE",
        Kind::Sqlite => "",
    };
    for chunk in shaped(projects) {
        stmts.push((
            Kind1::Lock,
            Stmt::new(
                format!(
                    "SELECT package, skip FROM packages WHERE package IN ({}){lock}",
                    placeholders(1, chunk.len())
                ),
                chunk.iter().map(|p| Value::Text(&p.package)).collect(),
            ),
        ));
    }
    for chunk in shaped(names) {
        stmts.push((
            Kind1::KnownNames,
            Stmt::new(
                format!(
                    "SELECT name FROM package_names WHERE name IN ({})",
                    placeholders(1, chunk.len())
                ),
                chunk.iter().map(|(n, _, _)| Value::Text(n)).collect(),
            ),
        ));
    }
    for chunk in shaped(names) {
        stmts.push((
            Kind1::AddNames,
            Stmt::new(
                format!(
                    "INSERT INTO package_names (name, package, seen) VALUES {} \
                     ON CONFLICT (name) DO UPDATE SET seen = CASE \
                         WHEN excluded.seen > package_names.seen THEN excluded.seen \
                         ELSE package_names.seen END",
                    values_list(chunk.len(), 3)
                ),
                chunk
                    .iter()
                    .flat_map(|(n, p, s)| [Value::Text(n), Value::Text(p), Value::Time(*s)])
                    .collect(),
            ),
        ));
    }
    for chunk in shaped(versions) {
        stmts.push((
            Kind1::AddVersions,
            Stmt::new(
                format!(
                    "INSERT INTO versions (package, version, released, skip, yanked) VALUES {} \
                     ON CONFLICT (package, version) DO NOTHING RETURNING package, version",
                    values_list(chunk.len(), 5)
                ),
                chunk
                    .iter()
                    .flat_map(|(p, v)| {
                        [
                            Value::Text(p),
                            Value::Text(&v.version),
                            Value::Time(v.released.unwrap_or(DateTime::UNIX_EPOCH)),
                            Value::Text(&v.skip),
                            Value::Bool(v.yanked),
                        ]
                    })
                    .collect(),
            ),
        ));
    }
    stmts.push((
        Kind1::Targets,
        Stmt::new(
            "SELECT abi_tag, platform_tag FROM build_targets WHERE skip = ''",
            Vec::new(),
        ),
    ));
    stmts
}

/// A rewrite owed by the batch to one package: how many changes owe it, and whether any
/// owes `BOTH`.
#[derive(Default)]
struct Owed {
    changes: i64,
    both: bool,
}

impl Owed {
    fn add(&mut self, command: RewriteCommand) {
        self.changes += 1;
        self.both |= command == RewriteCommand::Both;
    }
}

/// The transaction of [`Database::add_new_projects`].
fn add(
    c: &mut dyn Conn,
    projects: &[NewProject],
    seen: DateTime<Utc>,
    aliases: &PlatformAliases,
) -> Result<Vec<NewProjectAdded>> {
    let names: Vec<(&str, &str, DateTime<Utc>)> = projects
        .iter()
        .flat_map(|p| {
            names_of(p, seen)
                .into_iter()
                .map(|(n, s)| (n, p.package.as_str(), s))
        })
        .collect();
    let versions: Vec<(&str, &crate::types::NewVersion)> = projects
        .iter()
        .flat_map(|p| p.versions.iter().map(|v| (p.package.as_str(), v)))
        .collect();
    let (kinds, stmts): (Vec<Kind1>, Vec<Stmt<'_>>) =
        first_pipeline(c.kind(), projects, &names, &versions)
            .into_iter()
            .unzip();
    let mut found = Found::default();
    c.pipeline(&stmts, &mut |i, r| found.row(kinds[i], r))?;
    found.targets.sort();

    let mut results = Vec::with_capacity(projects.len());
    let mut owed: Vec<(&str, Owed)> = Vec::with_capacity(projects.len());
    let mut queue: Vec<(&Target, &str, &str, DateTime<Utc>)> = Vec::new();
    for p in projects {
        let package = p.package.as_str();
        let mut o = Owed::default();
        let mut result = NewProjectAdded {
            package: p.package.clone(),
            package_added: found.added_packages.contains(package),
            ..NewProjectAdded::default()
        };
        if result.package_added {
            o.add(RewriteCommand::Both);
        }
        for (name, _) in names_of(p, seen) {
            if !found.known_names.contains(name) {
                // A new spelling: a new alias link to the project page.
                o.add(RewriteCommand::Project);
            }
        }
        let package_skipped = !found
            .skips
            .get(package)
            .ok_or_else(|| {
                Error::corrupt("add_new_projects", format!("package {package} vanished"))
            })?
            .is_empty();
        for v in &p.versions {
            if !found
                .added_versions
                .contains(&(p.package.clone(), v.version.clone()))
            {
                continue;
            }
            let released = v.released.unwrap_or(DateTime::UNIX_EPOCH);
            // A version just added has no builds and no files.
            let facts = VersionFacts {
                skipped: package_skipped || !v.skip.is_empty(),
                released: Some(released),
                builds: Vec::new(),
                files: Vec::new(),
            };
            for t in pending_targets(&facts, &found.targets, aliases) {
                queue.push((t, package, &v.version, released));
            }
            o.add(RewriteCommand::Project);
            if v.yanked {
                // Yanked wheels are marked in the simple pages (PEP 592).
                o.add(RewriteCommand::Both);
                result.yanked += 1;
            }
            result.versions_added.push(v.version.clone());
        }
        if o.changes > 0 {
            owed.push((package, o));
        }
        results.push(result);
    }
    c.execute_then_commit(&last_statements(&queue, &owed))?;
    Ok(results)
}

/// The statements of the second pipeline: the versions added join the queue, and the
/// rewrites they owe are recorded.
fn last_statements<'a>(
    queue: &'a [(&'a Target, &'a str, &'a str, DateTime<Utc>)],
    owed: &'a [(&'a str, Owed)],
) -> Vec<Stmt<'a>> {
    let now = Utc::now();
    let mut last = Vec::new();
    for chunk in shaped(queue) {
        last.push(Stmt::new(
            format!(
                "INSERT INTO builds_pending (abi_tag, platform_tag, package, version, released) \
                 VALUES {} ON CONFLICT DO NOTHING",
                values_list(chunk.len(), 5)
            ),
            chunk
                .iter()
                .flat_map(|(t, p, v, r)| {
                    [
                        Value::Text(&t.abi),
                        Value::Text(&t.platform),
                        Value::Text(p),
                        Value::Text(v),
                        Value::Time(*r),
                    ]
                })
                .collect(),
        ));
    }
    for chunk in shaped(owed) {
        // As `journal::owe` would, once per change: the generation goes up by the number of
        // changes, and the command is BOTH if it was or any change owes it.
        last.push(Stmt::new(
            format!(
                "INSERT INTO rewrites_pending (package, added_at, command, gen) VALUES {} \
                 ON CONFLICT (package) DO UPDATE SET gen = rewrites_pending.gen + excluded.gen, \
                     command = CASE WHEN rewrites_pending.command = 'BOTH' THEN 'BOTH' \
                                    ELSE excluded.command END",
                values_list(chunk.len(), 4)
            ),
            chunk
                .iter()
                .flat_map(|(p, o)| {
                    let command = if o.both {
                        RewriteCommand::Both
                    } else {
                        RewriteCommand::Project
                    };
                    [
                        Value::Text(p),
                        Value::Time(now),
                        Value::Text(command.as_str()),
                        Value::Int(o.changes),
                    ]
                })
                .collect(),
        ));
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_powers_of_two() {
        let items: Vec<usize> = (0..1100).collect();
        let sizes: Vec<usize> = shaped(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [512, 512, 64, 8, 4]);
        assert_eq!(shaped(&items[..0]).len(), 0);
        let flat: Vec<usize> = shaped(&items).concat();
        assert_eq!(flat, items);
    }
}
