//! Turning a 0.23 row into ours: where our rules differ the row is changed (and counted,
//! with the reason), and a row that breaks them is dropped (and listed, with the reason),
//! with every row that depends on it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use piwheels_db::load::{Dropped, Field, Table, access_text};
use piwheels_db::{PlatformAliases, names};
use piwheels_master::output::names::check_filename;
use tokio_postgres::Row;

use super::steps::{Key, StepDef};

/// The longest text each access-log column holds (as the master's loggers cut them).
const MAX_ACCESS_FIELD: usize = 100;
/// The longest installer name.
const MAX_INSTALLER_NAME: usize = 20;

/// What one batch of source rows became.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Rows for our tables, in the order they must be written.
    pub tables: Vec<(Table, Vec<Vec<Field>>)>,
    /// Rows not copied.
    pub dropped: Vec<Dropped>,
    /// Rows changed (or added), counted per reason.
    pub mapped: BTreeMap<String, u64>,
}

impl Mapped {
    fn rows(&mut self, table: Table) -> &mut Vec<Vec<Field>> {
        if let Some(i) = self.tables.iter().position(|(t, _)| *t == table) {
            &mut self.tables[i].1
        } else {
            self.tables.push((table, Vec::new()));
            &mut self.tables.last_mut().expect("just pushed").1
        }
    }

    /// Lists `row` of `step` as dropped: its key (for the access logs, which have none, its
    /// address and name), made only here, as few rows are dropped.
    fn drop_row(&mut self, step: &StepDef, row: &Row, reason: impl Into<String>) {
        let mut key = super::source::position_of(&step.key, row);
        if let Key::Ctid = step.key {
            key.push(row.get(step.key.columns()));
        }
        self.dropped.push(Dropped {
            table: step.source.to_owned(),
            key: serde_json::to_string(&key).unwrap_or_default(),
            reason: reason.into(),
        });
    }

    fn count(&mut self, what: &str) {
        *self.mapped.entry(what.to_owned()).or_default() += 1;
    }
}

/// Why a package was renamed.
pub const RENAMED: &str =
    "package stored under a name that is not canonical: stored under its canonical name";
/// The name row added for a renamed package.
pub const ADDED_NAME: &str = "added: the canonical name of a renamed package, as one of its names";
/// An armv6l copy.
pub const TWINS: &str =
    "armv6l copy of an armv7l wheel of the same build: recorded as an alias copy of it";
/// Access-log text cleaned.
pub const CLEANED: &str = "access-log text with control characters (replaced) or too long (cut)";

/// The mapping's state: what was renamed and dropped so far, so that the rows depending
/// on them follow.
#[derive(Debug, Default)]
pub struct Mapper {
    platform: String,
    earliest: NaiveDateTime,
    latest: NaiveDateTime,
    /// Source package → canonical name, for packages stored under another name.
    renamed: HashMap<String, String>,
    /// Why a non-canonical package could not be renamed.
    unrenamable: HashMap<String, String>,
    packages: HashSet<String>,
    versions: HashSet<(String, String)>,
    builds: HashSet<i64>,
    files: HashSet<String>,
}

impl Mapper {
    /// A mapper for targets on `platform`, refusing times before 1970 or after `now` + 1
    /// day; `non_canonical` lists the source's packages whose names are not canonical and
    /// `exists` says whether the source has a package.
    pub fn new(
        platform: &str,
        now: DateTime<Utc>,
        non_canonical: Vec<String>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Self {
        let mut m = Self {
            platform: platform.to_owned(),
            earliest: DateTime::UNIX_EPOCH.naive_utc(),
            latest: (now + TimeDelta::days(1)).naive_utc(),
            ..Self::default()
        };
        let mut taken: HashSet<String> = HashSet::new();
        for p in non_canonical {
            let canon = names::canonicalize_name(&p);
            if let Err(e) = names::validate_package(&canon) {
                let why = format!("package name {p:?}: {e}");
                m.unrenamable.insert(p, why);
            } else if exists(&canon) || !taken.insert(canon.clone()) {
                m.unrenamable.insert(
                    p.clone(),
                    format!("package name {p:?} is not canonical, and its canonical name {canon:?} is another package's"),
                );
            } else {
                m.renamed.insert(p, canon);
            }
        }
        m
    }

    /// Takes back what an interrupted run dropped (from the target's list), so that the
    /// rows depending on it are dropped too.
    pub fn resume(&mut self, dropped: &[Dropped]) {
        for d in dropped {
            let key: Vec<String> = serde_json::from_str(&d.key).unwrap_or_default();
            match (d.table.as_str(), key.as_slice()) {
                ("packages", [p, ..]) => {
                    self.packages.insert(p.clone());
                }
                ("versions", [p, v, ..]) => {
                    self.versions.insert((p.clone(), v.clone()));
                }
                ("builds", [id, ..]) => {
                    if let Ok(id) = id.parse() {
                        self.builds.insert(id);
                    }
                }
                ("files", [f, ..]) => {
                    self.files.insert(f.clone());
                }
                _ => {}
            }
        }
    }

    fn package(&self, p: &str) -> String {
        self.renamed.get(p).cloned().unwrap_or_else(|| p.to_owned())
    }

    fn time(&self, row: &Row, i: usize) -> Result<DateTime<Utc>, String> {
        match row.try_get::<_, NaiveDateTime>(i) {
            Ok(t) if t >= self.earliest && t <= self.latest => Ok(t.and_utc()),
            Ok(t) => Err(format!(
                "impossible time {t} (before 1970 or in the future)"
            )),
            Err(_) => Err("a time that is not a date (infinity)".into()),
        }
    }

    /// Maps one batch of `step`'s rows (each starting with its key columns).
    pub fn map(&mut self, step: &StepDef, rows: &[Row]) -> Mapped {
        let mut out = Mapped::default();
        let k = step.key.columns();
        for row in rows {
            match step.name {
                "build_abis" => self.build_abi(step, row, k, &mut out),
                "preinstalled_apt_packages" => {
                    out.rows(Table::PreinstalledAptPackages)
                        .push(vec![text(row, k), text(row, k + 1)]);
                }
                "packages" => self.package_row(step, row, k, &mut out),
                "package_names" => self.name_row(step, row, k, &mut out),
                "versions" => self.version_row(step, row, k, &mut out),
                "builds" => self.build_row(step, row, k, &mut out),
                "files" | "armv6l_copies" => self.file_row(step, row, k, &mut out),
                "dependencies" => self.dependency_row(step, row, k, &mut out),
                "rewrites_pending" => self.rewrite_row(step, row, k, &mut out),
                _ => self.access_row(step, row, k, &mut out),
            }
        }
        out
    }

    fn build_abi(&self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let abi: String = row.get(k);
        if abi == "abi3" || abi == "none" || abi.is_empty() {
            out.drop_row(step, row, format!("ABI {abi:?} cannot be a build target"));
            return;
        }
        out.rows(Table::BuildTargets).push(vec![
            Field::Text(abi),
            Field::text(&self.platform),
            text(row, k + 1),
        ]);
    }

    fn package_row(&mut self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let p: String = row.get(k);
        if let Some(why) = self.unrenamable.get(&p) {
            out.drop_row(step, row, why.clone());
            self.packages.insert(p);
            return;
        }
        let target = self.package(&p);
        if target != p {
            out.count(RENAMED);
            out.count(ADDED_NAME);
        } else if let Err(e) = names::validate_package(&p) {
            out.drop_row(step, row, format!("package name: {e}"));
            self.packages.insert(p);
            return;
        }
        out.rows(Table::Packages).push(vec![
            Field::text(&target),
            text(row, k + 1),
            text(row, k + 2),
        ]);
        if target != p {
            out.rows(Table::PackageNames).push(vec![
                Field::text(&target),
                Field::text(&target),
                Field::Time(DateTime::UNIX_EPOCH),
            ]);
        }
    }

    fn name_row(&self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let p: String = row.get(k);
        let name: String = row.get(k + 1);
        if self.packages.contains(&p) {
            return out.drop_row(step, row, format!("its package {p:?} was dropped"));
        }
        let target = self.package(&p);
        if target != p && name == target {
            return out.drop_row(
                step,
                row,
                "the same as the name added for its renamed package",
            );
        }
        if let Err(e) = names::validate_name(&name) {
            return out.drop_row(step, row, format!("name: {e}"));
        }
        match self.time(row, k + 2) {
            Ok(seen) => out.rows(Table::PackageNames).push(vec![
                Field::Text(name),
                Field::Text(target),
                Field::Time(seen),
            ]),
            Err(why) => out.drop_row(step, row, format!("seen: {why}")),
        }
    }

    fn version_row(&mut self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let p: String = row.get(k);
        let v: String = row.get(k + 1);
        let why = if self.packages.contains(&p) {
            Some(format!("its package {p:?} was dropped"))
        } else if let Err(e) = names::validate_version(&v) {
            Some(format!("version: {e}"))
        } else {
            match self.time(row, k + 2) {
                Ok(released) => {
                    out.rows(Table::Versions).push(vec![
                        Field::text(self.package(&p)),
                        Field::Text(v),
                        Field::Time(released),
                        text(row, k + 3),
                        Field::Bool(row.get(k + 4)),
                    ]);
                    return;
                }
                Err(why) => Some(format!("released: {why}")),
            }
        };
        if let Some(why) = why {
            out.drop_row(step, row, why);
            self.versions.insert((p, v));
        }
    }

    fn build_row(&mut self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let id = i64::from(row.get::<_, i32>(k));
        let p: String = row.get(k + 1);
        let v: String = row.get(k + 2);
        let duration: Option<i64> = row.try_get(k + 5).ok().flatten();
        let why = if self.packages.contains(&p) || self.versions.contains(&(p.clone(), v.clone())) {
            Some(format!("its version {p:?} {v:?} was dropped"))
        } else if duration.is_none_or(|d| d < 0) {
            Some("a negative or unreadable duration".to_owned())
        } else {
            match self.time(row, k + 4) {
                Ok(at) => {
                    out.rows(Table::Builds).push(vec![
                        Field::Int(id),
                        Field::text(self.package(&p)),
                        Field::Text(v),
                        Field::Int(i64::from(row.get::<_, i32>(k + 3))),
                        Field::Time(at),
                        Field::Int(duration.unwrap_or_default()),
                        Field::Bool(row.get(k + 6)),
                        text(row, k + 7),
                        Field::text(&self.platform),
                    ]);
                    return;
                }
                Err(why) => Some(format!("built_at: {why}")),
            }
        };
        if let Some(why) = why {
            out.drop_row(step, row, why);
            self.builds.insert(id);
        }
    }

    fn file_row(&mut self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let name: String = row.get(k);
        let build = i64::from(row.get::<_, i32>(k + 1));
        let size = i64::from(row.get::<_, i32>(k + 2));
        let hash: String = row.get(k + 3);
        let tags: Vec<String> = (4..9).map(|i| row.get(k + i)).collect();
        let twin_of = (step.name == "armv6l_copies")
            .then(|| PlatformAliases::twin_name(&name, "linux_armv6l", "linux_armv7l"))
            .flatten();
        let why = if self.builds.contains(&build) {
            Some(format!("its build {build} was dropped"))
        } else if let Some(real) = twin_of.as_ref().filter(|r| self.files.contains(*r)) {
            Some(format!("the armv7l wheel it copies ({real:?}) was dropped"))
        } else if let Err(e) = check_filename(&name) {
            Some(format!("file name: {e}"))
        } else if size < 0 {
            Some(format!("a negative size ({size})"))
        } else if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Some(format!("a hash that is not SHA-256 hex ({hash:?})"))
        } else {
            tags.iter()
                .find(|t| t.is_empty())
                .map(|t| format!("an empty tag ({t:?})"))
        };
        if let Some(why) = why {
            out.drop_row(step, row, why);
            self.files.insert(name);
            return;
        }
        if twin_of.is_some() {
            out.count(TWINS);
        }
        let mut fields = vec![
            Field::Text(name),
            Field::Int(build),
            Field::Int(size),
            Field::Text(hash),
        ];
        fields.extend(tags.into_iter().map(Field::Text));
        fields.push(opt_text(row, k + 9));
        fields.push(text(row, k + 10));
        fields.push(Field::opt_text(twin_of));
        out.rows(Table::Files).push(fields);
    }

    fn dependency_row(&self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let f: String = row.get(k);
        let dep: String = row.get(k + 2);
        if self.files.contains(&f) {
            return out.drop_row(step, row, format!("its file {f:?} was dropped"));
        }
        if dep.is_empty() {
            return out.drop_row(step, row, "an empty dependency");
        }
        out.rows(Table::Dependencies).push(vec![
            Field::Text(f),
            text(row, k + 1),
            Field::Text(dep),
        ]);
    }

    fn rewrite_row(&self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let p: String = row.get(k);
        if self.packages.contains(&p) {
            return out.drop_row(step, row, format!("its package {p:?} was dropped"));
        }
        match self.time(row, k + 1) {
            Ok(at) => out.rows(Table::RewritesPending).push(vec![
                Field::text(self.package(&p)),
                Field::Time(at),
                text(row, k + 2),
            ]),
            Err(why) => out.drop_row(step, row, format!("added_at: {why}")),
        }
    }

    fn access_row(&self, step: &StepDef, row: &Row, k: usize, out: &mut Mapped) {
        let name: String = row.get(k);
        let at = match self.time(row, k + 2) {
            Ok(at) => at,
            Err(why) => return out.drop_row(step, row, format!("accessed_at: {why}")),
        };
        let Ok(by) = row.try_get::<_, std::net::IpAddr>(k + 1) else {
            return out.drop_row(step, row, "accessed_by is not an address");
        };
        let mut changed = false;
        let mut clean = |s: String, max: usize| {
            let c = access_text(&s, max);
            changed |= c != s;
            Field::Text(c)
        };
        let mut fields = vec![
            clean(
                name,
                if step.target == Table::WebPageHits {
                    30
                } else {
                    255
                },
            ),
            Field::Ip(by),
            Field::Time(at),
        ];
        match step.target {
            Table::Downloads | Table::Searches => {
                for i in 0..10 {
                    let max = if i == 7 {
                        MAX_INSTALLER_NAME
                    } else {
                        MAX_ACCESS_FIELD
                    };
                    fields.push(match row.get::<_, Option<String>>(k + 3 + i) {
                        Some(s) => clean(s, max),
                        None => Field::Null,
                    });
                }
            }
            _ => {
                fields.push(clean(row.get(k + 3), 2000));
                if step.target != Table::ProjectJsonDownloads {
                    fields.push(Field::Bool(row.get(k + 4)));
                }
            }
        }
        if changed {
            out.count(CLEANED);
        }
        out.rows(step.target).push(fields);
    }
}

fn text(row: &Row, i: usize) -> Field {
    Field::Text(row.get(i))
}

fn opt_text(row: &Row, i: usize) -> Field {
    Field::opt_text(row.get(i))
}
