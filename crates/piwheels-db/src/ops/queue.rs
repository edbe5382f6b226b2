//! Build targets and the build queue.
//!
//! `builds_pending` holds, for every version, the targets it still waits for; it is brought
//! up to date by every operation that changes what decides it (a new version, a skip, a
//! logged or deleted build, a change of targets), so reading the queue is an index scan.
//! What decides it is one function, [`pending_targets`]; the incremental updates and the
//! full rebuild both use it, and the tests check that they agree.
//!
//! The rule: a skipped version (or a version of a skipped package) waits for nothing. A
//! target is done for a version when a build by that target exists (success or failure)
//! or a wheel of the version installs on it ([`satisfies`]). A version nobody has built yet
//! waits for the first target only (lowest ABI, as a Python version), because most builds
//! give a pure wheel that serves every target; once it has a build, it waits for every
//! target still not done.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::values_list;
use crate::Database;
use crate::abi::{PlatformAliases, Target, WheelTags, satisfies};
use crate::backend::{BulkRow, Conn, Row, Stmt, Value, params};
use crate::error::{Error, Result};

/// What decides one version's place in the queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionFacts {
    pub(crate) skipped: bool,
    pub(crate) released: Option<DateTime<Utc>>,
    /// The targets of its builds.
    pub(crate) builds: Vec<Target>,
    /// Its wheels' (py, abi, platform) tags.
    pub(crate) files: Vec<(String, String, String)>,
}

/// The targets a version waits for (see the module docs). `targets` are the enabled ones,
/// in order.
pub(crate) fn pending_targets<'t>(
    facts: &VersionFacts,
    targets: &'t [Target],
    aliases: &PlatformAliases,
) -> Vec<&'t Target> {
    if facts.skipped {
        return Vec::new();
    }
    let done = |t: &Target| {
        facts.builds.contains(t)
            || facts
                .files
                .iter()
                .any(|(py, abi, platform)| satisfies(WheelTags { py, abi, platform }, t, aliases))
    };
    let remaining = targets.iter().filter(|t| !done(t));
    if facts.builds.is_empty() {
        remaining.take(1).collect()
    } else {
        remaining.collect()
    }
}

/// The enabled (not skipped) targets, in order.
pub(crate) fn enabled_targets(c: &mut dyn Conn) -> Result<Vec<Target>> {
    let mut targets = c.query_map(
        "SELECT abi_tag, platform_tag FROM build_targets WHERE skip = ''",
        params![],
        |r| Ok(Target::new(r.text(0)?, r.text(1)?)),
    )?;
    targets.sort();
    Ok(targets)
}

/// The query for everything that decides one version's place: the version (kind 0), its
/// builds (1), its wheels (2) and the enabled targets (3), in one round trip.
pub(crate) fn facts_stmt<'a>(package: &'a str, version: &'a str) -> Stmt<'a> {
    Stmt::new(
        "SELECT 0, CASE WHEN v.skip <> '' OR p.skip <> '' THEN 'y' ELSE '' END, \
                CAST(NULL AS TEXT), CAST(NULL AS TEXT), v.released \
           FROM versions v JOIN packages p ON p.package = v.package \
          WHERE v.package = $1 AND v.version = $2 \
         UNION ALL \
         SELECT 1, abi_tag, platform_tag, NULL, NULL FROM builds WHERE package = $1 AND version = $2 \
         UNION ALL \
         SELECT 2, f.py_version_tag, f.abi_tag, f.platform_tag, NULL \
           FROM files f JOIN builds b ON b.build_id = f.build_id \
          WHERE b.package = $1 AND b.version = $2 \
         UNION ALL \
         SELECT 3, abi_tag, platform_tag, NULL, NULL FROM build_targets WHERE skip = ''",
        vec![Value::Text(package), Value::Text(version)],
    )
}

/// What [`facts_stmt`] gives, gathered row by row.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// Whether the version exists.
    pub(crate) exists: bool,
    pub(crate) version: VersionFacts,
    /// The enabled targets, in order once [`Facts::done`] has run.
    pub(crate) targets: Vec<Target>,
}

impl Facts {
    /// Takes one row of [`facts_stmt`].
    pub(crate) fn row(&mut self, r: &dyn Row) -> Result<()> {
        match r.int(0)? {
            0 => {
                self.exists = true;
                self.version.skipped = !r.text(1)?.is_empty();
                self.version.released = Some(r.time(4)?);
            }
            1 => self
                .version
                .builds
                .push(Target::new(r.text(1)?, r.text(2)?)),
            2 => self
                .version
                .files
                .push((r.text(1)?, r.text(2)?, r.text(3)?)),
            _ => self.targets.push(Target::new(r.text(1)?, r.text(2)?)),
        }
        Ok(())
    }

    /// Puts the targets in order, once every row is in.
    pub(crate) fn done(&mut self) {
        self.targets.sort();
    }

    /// The statements that make the version's queue entries what the facts say: a delete
    /// of the old ones, and an insert of the new ones if there are any.
    pub(crate) fn write<'a>(
        &'a self,
        package: &'a str,
        version: &'a str,
        aliases: &PlatformAliases,
    ) -> Vec<Stmt<'a>> {
        let mut stmts = vec![delete_pending(package, version)];
        if !self.exists {
            return stmts;
        }
        let pending = pending_targets(&self.version, &self.targets, aliases);
        if pending.is_empty() {
            return stmts;
        }
        let released = self.version.released.unwrap_or(DateTime::UNIX_EPOCH);
        let mut values = Vec::with_capacity(pending.len() * 5);
        for t in &pending {
            values.extend([
                Value::Text(&t.abi),
                Value::Text(&t.platform),
                Value::Text(package),
                Value::Text(version),
                Value::Time(released),
            ]);
        }
        stmts.push(Stmt::new(
            format!(
                "INSERT INTO builds_pending (abi_tag, platform_tag, package, version, released) VALUES {} \
                 ON CONFLICT DO NOTHING",
                values_list(pending.len(), 5)
            ),
            values,
        ));
        stmts
    }
}

fn delete_pending<'a>(package: &'a str, version: &'a str) -> Stmt<'a> {
    Stmt::new(
        "DELETE FROM builds_pending WHERE package = $1 AND version = $2",
        vec![Value::Text(package), Value::Text(version)],
    )
}

/// Brings one version's queue entries up to date (two round trips on PostgreSQL).
pub(crate) fn refresh_version(
    c: &mut dyn Conn,
    package: &str,
    version: &str,
    aliases: &PlatformAliases,
) -> Result<()> {
    let mut facts = Facts::default();
    c.pipeline(
        &[
            delete_pending(package, version),
            facts_stmt(package, version),
        ],
        &mut |i, r| {
            if i == 1 { facts.row(r) } else { Ok(()) }
        },
    )?;
    facts.done();
    let stmts = facts.write(package, version, aliases);
    // The delete is done already.
    if let Some(insert) = stmts.get(1) {
        c.execute(&insert.sql, &insert.params)?;
    }
    Ok(())
}

/// Brings every version of a package up to date.
pub(crate) fn refresh_package(
    c: &mut dyn Conn,
    package: &str,
    aliases: &PlatformAliases,
) -> Result<()> {
    let versions = c.query_map(
        "SELECT version FROM versions WHERE package = $1",
        params![package],
        |r| r.text(0),
    )?;
    for version in versions {
        refresh_version(c, package, &version, aliases)?;
    }
    Ok(())
}

/// Packages handled per step of a full rebuild.
const REBUILD_CHUNK: i64 = 2000;

/// Build ids whose wheels are asked for in one query of a full rebuild.
const FILES_PER_QUERY: usize = 500;

/// Recomputes the whole queue from the versions, builds and wheels; returns the number of
/// entries. Works through the packages in chunks, so memory stays bounded however large
/// the database is; every query of a chunk is a range or key lookup on an index (no
/// chunk reads a whole table, so the rebuild is linear in the database's size), and a
/// chunk's entries go in in key order.
pub(crate) fn rebuild(c: &mut dyn Conn, aliases: &PlatformAliases) -> Result<u64> {
    let targets = enabled_targets(c)?;
    c.execute("DELETE FROM builds_pending", params![])?;
    if targets.is_empty() {
        return Ok(0);
    }
    let mut total = 0;
    let mut after = String::new();
    loop {
        let packages = c.query_map(
            "SELECT package, CASE WHEN skip <> '' THEN 1 ELSE 0 END FROM packages \
              WHERE package > $1 ORDER BY package LIMIT $2",
            params![&after, REBUILD_CHUNK],
            |r| Ok((r.text(0)?, r.int(1)? != 0)),
        )?;
        let (Some((first, _)), Some((last, _))) = (packages.first(), packages.last()) else {
            break;
        };
        let (first, last) = (first.clone(), last.clone());
        let skipped: HashSet<String> = packages
            .into_iter()
            .filter_map(|(package, skipped)| skipped.then_some(package))
            .collect();
        // Ordered by key, so the entries go in in the order of the queue's primary key.
        let mut facts: BTreeMap<(String, String), VersionFacts> = BTreeMap::new();
        c.query_each(
            "SELECT package, version, CASE WHEN skip <> '' THEN 1 ELSE 0 END, released \
               FROM versions WHERE package BETWEEN $1 AND $2",
            params![&first, &last],
            &mut |r| {
                let package = r.text(0)?;
                let package_skipped = skipped.contains(&package);
                let f = facts.entry((package, r.text(1)?)).or_default();
                f.skipped = r.int(2)? != 0 || package_skipped;
                f.released = Some(r.time(3)?);
                Ok(())
            },
        )?;
        let mut built: HashMap<i64, (String, String)> = HashMap::new();
        c.query_each(
            "SELECT build_id, package, version, abi_tag, platform_tag FROM builds \
              WHERE package BETWEEN $1 AND $2",
            params![&first, &last],
            &mut |r| {
                let key = (r.text(1)?, r.text(2)?);
                if let Some(f) = facts.get_mut(&key) {
                    f.builds.push(Target::new(r.text(3)?, r.text(4)?));
                    built.insert(r.int(0)?, key);
                }
                Ok(())
            },
        )?;
        // The wheels by their builds' ids (an index lookup each), not by a join that the
        // planner may answer by reading every wheel for every chunk.
        let mut ids: Vec<i64> = built.keys().copied().collect();
        ids.sort_unstable();
        for batch in ids.chunks(FILES_PER_QUERY) {
            let sql = format!(
                "SELECT build_id, py_version_tag, abi_tag, platform_tag FROM files \
                  WHERE build_id IN ({})",
                super::placeholders(1, batch.len())
            );
            let values: Vec<Value<'_>> = batch.iter().map(|id| Value::Int(*id)).collect();
            c.query_each(&sql, &values, &mut |r| {
                if let Some(f) = built.get(&r.int(0)?).and_then(|key| facts.get_mut(key)) {
                    f.files.push((r.text(1)?, r.text(2)?, r.text(3)?));
                }
                Ok(())
            })?;
        }
        let pending: Vec<_> = facts
            .iter()
            .map(|(key, f)| (key, f, pending_targets(f, &targets, aliases)))
            .collect();
        let mut rows: Vec<BulkRow<'_>> = Vec::new();
        for t in &targets {
            for ((package, version), f, waits) in &pending {
                if waits.contains(&t) {
                    rows.push(vec![
                        Value::Text(&t.abi),
                        Value::Text(&t.platform),
                        Value::Text(package),
                        Value::Text(version),
                        Value::Time(f.released.unwrap_or(DateTime::UNIX_EPOCH)),
                    ]);
                }
            }
        }
        total += rows.len() as u64;
        c.bulk_insert(
            "builds_pending",
            &["abi_tag", "platform_tag", "package", "version", "released"],
            &rows,
        )?;
        after = last;
    }
    Ok(total)
}

/// Validates a target's tags.
fn check_target(op: &'static str, t: &Target) -> Result<()> {
    super::check_len(op, "the ABI tag", &t.abi, 100, true)?;
    super::check_len(op, "the platform tag", &t.platform, 100, true)?;
    if t.abi == "none" || t.abi == "abi3" || t.platform == "any" {
        return Err(Error::invalid(
            op,
            format!("{t} is not a build target (a slave's ABI and platform)"),
        ));
    }
    Ok(())
}

impl Database {
    /// The build queue: for every enabled target, up to `limit` (package, version) pairs
    /// still to build for it, oldest release first (the original's
    /// `get_build_queue(limit)`, keyed by target).
    pub async fn build_queue(
        &self,
        limit: usize,
    ) -> Result<BTreeMap<Target, Vec<(String, String)>>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("build_queue", move |c| {
            let mut queue = BTreeMap::new();
            for t in enabled_targets(c)? {
                let jobs = c.query_map(
                    "SELECT package, version FROM builds_pending \
                     WHERE abi_tag = $1 AND platform_tag = $2 \
                     ORDER BY released, package, version LIMIT $3",
                    params![&t.abi, &t.platform, limit],
                    |r| Ok((r.text(0)?, r.text(1)?)),
                )?;
                queue.insert(t, jobs);
            }
            Ok(queue)
        })
        .await
    }

    /// How many versions wait for each enabled target (for the monitor's "pending" count).
    pub async fn build_queue_sizes(&self) -> Result<BTreeMap<Target, i64>> {
        self.read("build_queue_sizes", |c| {
            let mut sizes = BTreeMap::new();
            for t in enabled_targets(c)? {
                let n = c.query_int(
                    "SELECT COUNT(*) FROM builds_pending WHERE abi_tag = $1 AND platform_tag = $2",
                    params![&t.abi, &t.platform],
                )?;
                sizes.insert(t, n);
            }
            Ok(sizes)
        })
        .await
    }

    /// Every build target with its skip reason (`""` for an enabled one), in order (the
    /// original's `GETABIS`, with platforms).
    pub async fn build_targets(&self) -> Result<Vec<(Target, String)>> {
        self.read("build_targets", |c| {
            let mut all = c.query_map(
                "SELECT abi_tag, platform_tag, skip FROM build_targets",
                params![],
                |r| Ok((Target::new(r.text(0)?, r.text(1)?), r.text(2)?)),
            )?;
            all.sort();
            Ok(all)
        })
        .await
    }

    /// Makes the build targets exactly `targets` (keeping the skip reasons of those that
    /// stay) and, if that changed anything, rebuilds the queue. Returns whether it changed.
    pub async fn set_build_targets(&self, targets: &[Target]) -> Result<bool> {
        let op = "set_build_targets";
        for t in targets {
            check_target(op, t)?;
        }
        let mut wanted = targets.to_vec();
        wanted.sort();
        wanted.dedup();
        let aliases = self.aliases();
        self.write(op, move |c| {
            let current: Vec<Target> = c.query_map(
                "SELECT abi_tag, platform_tag FROM build_targets",
                params![],
                |r| Ok(Target::new(r.text(0)?, r.text(1)?)),
            )?;
            let mut changed = false;
            for t in current.iter().filter(|t| !wanted.contains(t)) {
                c.execute(
                    "DELETE FROM build_targets WHERE abi_tag = $1 AND platform_tag = $2",
                    params![&t.abi, &t.platform],
                )?;
                changed = true;
            }
            for t in wanted.iter().filter(|t| !current.contains(t)) {
                c.execute(
                    "INSERT INTO build_targets (abi_tag, platform_tag, skip) VALUES ($1, $2, '')",
                    params![&t.abi, &t.platform],
                )?;
                changed = true;
            }
            if changed {
                rebuild(c, &aliases)?;
            }
            Ok(changed)
        })
        .await
    }

    /// Adds a build target (enabled) and rebuilds the queue; `false` if it was there.
    pub async fn add_build_target(&self, target: &Target) -> Result<bool> {
        let op = "add_build_target";
        check_target(op, target)?;
        let t = target.clone();
        let aliases = self.aliases();
        self.write(op, move |c| {
            let n = c.execute(
                "INSERT INTO build_targets (abi_tag, platform_tag, skip) VALUES ($1, $2, '') \
                 ON CONFLICT DO NOTHING",
                params![&t.abi, &t.platform],
            )?;
            if n == 1 {
                rebuild(c, &aliases)?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Skips a build target (nothing is queued for it), or with `""` enables it again;
    /// rebuilds the queue.
    pub async fn skip_build_target(&self, target: &Target, reason: &str) -> Result<()> {
        let op = "skip_build_target";
        super::check_skip(op, reason)?;
        let (t, reason) = (target.clone(), reason.to_owned());
        let aliases = self.aliases();
        self.write(op, move |c| {
            let n = c.execute(
                "UPDATE build_targets SET skip = $3 WHERE abi_tag = $1 AND platform_tag = $2",
                params![&t.abi, &t.platform, &reason],
            )?;
            if n == 0 {
                return Err(Error::not_found(op, format!("build target {t}")));
            }
            rebuild(c, &aliases)?;
            Ok(())
        })
        .await
    }

    /// Recomputes the whole build queue (it is kept up to date as things are logged; this
    /// is for after the platform aliases change, or to check). Returns its size.
    pub async fn rebuild_build_queue(&self) -> Result<u64> {
        let aliases = self.aliases();
        self.write("rebuild_build_queue", move |c| rebuild(c, &aliases))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        let mut t = vec![
            Target::new("cp311", "linux_armv7l"),
            Target::new("cp39", "linux_armv7l"),
            Target::new("cp311", "linux_aarch64"),
        ];
        t.sort();
        t
    }

    fn f(py: &str, abi: &str, platform: &str) -> (String, String, String) {
        (py.into(), abi.into(), platform.into())
    }

    #[test]
    fn an_unbuilt_version_waits_for_the_first_target_only() {
        let t = targets();
        let facts = VersionFacts::default();
        assert_eq!(
            pending_targets(&facts, &t, &PlatformAliases::none()),
            [&Target::new("cp39", "linux_armv7l")]
        );
    }

    #[test]
    fn a_pure_wheel_ends_it_and_a_compiled_one_fans_out() {
        let t = targets();
        let aliases = PlatformAliases::none();
        let pure = VersionFacts {
            builds: vec![Target::new("cp39", "linux_armv7l")],
            files: vec![f("py3", "none", "any")],
            ..Default::default()
        };
        assert!(pending_targets(&pure, &t, &aliases).is_empty());
        let compiled = VersionFacts {
            builds: vec![Target::new("cp39", "linux_armv7l")],
            files: vec![f("cp39", "cp39", "linux_armv7l")],
            ..Default::default()
        };
        assert_eq!(
            pending_targets(&compiled, &t, &aliases),
            [
                &Target::new("cp311", "linux_aarch64"),
                &Target::new("cp311", "linux_armv7l")
            ]
        );
        let abi3 = VersionFacts {
            builds: vec![Target::new("cp39", "linux_armv7l")],
            files: vec![f("cp37", "abi3", "linux_armv7l")],
            ..Default::default()
        };
        assert_eq!(
            pending_targets(&abi3, &t, &aliases),
            [&Target::new("cp311", "linux_aarch64")]
        );
        let failed = VersionFacts {
            builds: vec![Target::new("cp39", "linux_armv7l")],
            ..Default::default()
        };
        assert_eq!(pending_targets(&failed, &t, &aliases).len(), 2);
        let skipped = VersionFacts {
            skipped: true,
            ..Default::default()
        };
        assert!(pending_targets(&skipped, &t, &aliases).is_empty());
    }
}
