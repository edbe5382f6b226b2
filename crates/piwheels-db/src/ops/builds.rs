//! Builds and their files (the original's `LOGBUILD`, `DELBUILD`, `PKGFILES`, `VERFILES`,
//! and the audit's build ids).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeDelta, Utc};

use super::journal;
use super::queue::{Facts, facts_stmt, refresh_version};
use super::{check_len, check_package, check_version, lock_package, lock_stmt, values_list};
use crate::Database;
use crate::abi::PlatformAliases;
use crate::backend::{Conn, Stmt, Value, micros, params};
use crate::error::{Error, Result};
use crate::types::{FileRecord, NewBuild, NewFile, OutputFile};

/// Rows per multi-row `INSERT`.
const ROWS_PER_INSERT: usize = 100;

/// Checks everything about a build before anything is written.
fn check_build(op: &'static str, b: &NewBuild) -> Result<()> {
    check_package(op, &b.package)?;
    check_version(op, &b.version)?;
    check_len(op, "the ABI tag", &b.target.abi, 100, true)?;
    check_len(op, "the platform tag", &b.target.platform, 100, true)?;
    if b.built_by < 0 {
        return Err(Error::invalid(
            op,
            format!("slave id {} is negative", b.built_by),
        ));
    }
    if !b.status && !b.files.is_empty() {
        return Err(Error::invalid(op, "a failed build cannot have files"));
    }
    let mut names = BTreeSet::new();
    for f in &b.files {
        check_file(op, f)?;
        if !names.insert(f.filename.as_str()) {
            return Err(Error::invalid(
                op,
                format!("file {} is listed twice", f.filename),
            ));
        }
    }
    Ok(())
}

fn check_file(op: &'static str, f: &NewFile) -> Result<()> {
    check_len(op, "the file name", &f.filename, 255, true)?;
    if f.filename.contains('/') || f.filename == "." || f.filename == ".." {
        return Err(Error::invalid(
            op,
            format!("file name {:?} is not a plain name", f.filename),
        ));
    }
    if f.filehash.len() != 64
        || !f
            .filehash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid(
            op,
            format!("{:?} is not a SHA-256 in lowercase hex", f.filehash),
        ));
    }
    if i64::try_from(f.filesize).is_err() {
        return Err(Error::invalid(
            op,
            format!("file size {} is too large", f.filesize),
        ));
    }
    check_len(op, "the package tag", &f.package_tag, 200, true)?;
    check_len(op, "the version tag", &f.package_version_tag, 200, true)?;
    check_len(op, "the Python tag", &f.py_version_tag, 100, true)?;
    check_len(op, "the ABI tag", &f.abi_tag, 100, true)?;
    check_len(op, "the platform tag", &f.platform_tag, 100, true)?;
    if let Some(rp) = &f.requires_python {
        check_len(op, "Requires-Python", rp, 200, false)?;
    }
    check_len(op, "the location", &f.location, 100, true)?;
    for (tool, deps) in &f.dependencies {
        if !matches!(tool.as_str(), "apt" | "pip" | "") {
            return Err(Error::invalid(
                op,
                format!("dependency tool {tool:?} is not apt, pip or \"\""),
            ));
        }
        for d in deps {
            check_len(op, "a dependency", d, 255, true)?;
        }
    }
    Ok(())
}

/// The copies of a build's wheels under platform aliases, paired with the name of the wheel
/// each copies; a name the build itself has is not copied over.
pub fn twins<'f>(files: &'f [NewFile], aliases: &PlatformAliases) -> Vec<(NewFile, &'f str)> {
    let own: BTreeSet<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    let mut out = Vec::new();
    for f in files {
        for alias in aliases.aliases_of(&f.platform_tag) {
            if let Some(name) = PlatformAliases::twin_name(&f.filename, &f.platform_tag, alias)
                && !own.contains(name.as_str())
            {
                let twin = NewFile {
                    filename: name,
                    platform_tag: alias.to_owned(),
                    ..f.clone()
                };
                out.push((twin, f.filename.as_str()));
            }
        }
    }
    out
}

const FILE_COLUMNS: &str = "filename, build_id, filesize, filehash, package_tag, package_version_tag, \
     py_version_tag, abi_tag, platform_tag, requires_python, location, twin_of";

/// Inserts of file rows (`twin_of` set for alias copies). Copies go in with
/// `ON CONFLICT DO NOTHING`, so that a wheel really built for the alias platform stays.
fn insert_files<'a>(
    build_id: i64,
    files: &[(&'a NewFile, Option<&'a str>)],
    keep_existing: bool,
) -> Vec<Stmt<'a>> {
    files
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let sql = format!(
                "INSERT INTO files ({FILE_COLUMNS}) VALUES {}{}",
                values_list(chunk.len(), 12),
                if keep_existing {
                    " ON CONFLICT (filename) DO NOTHING"
                } else {
                    ""
                }
            );
            let mut values = Vec::with_capacity(chunk.len() * 12);
            for (f, twin_of) in chunk {
                values.extend([
                    Value::Text(&f.filename),
                    Value::Int(build_id),
                    Value::Int(f.filesize as i64),
                    Value::Text(&f.filehash),
                    Value::Text(&f.package_tag),
                    Value::Text(&f.package_version_tag),
                    Value::Text(&f.py_version_tag),
                    Value::Text(&f.abi_tag),
                    Value::Text(&f.platform_tag),
                    f.requires_python.as_deref().into(),
                    Value::Text(&f.location),
                    (*twin_of).into(),
                ]);
            }
            Stmt::new(sql, values)
        })
        .collect()
}

/// Inserts of the dependency rows of the files of `build_id` that are really there (an
/// alias copy skipped for a real wheel gets none).
fn insert_dependencies<'a>(build_id: i64, files: &[&'a NewFile]) -> Vec<Stmt<'a>> {
    let mut rows: Vec<(&str, &str, &str)> = Vec::new();
    for f in files {
        for (tool, deps) in &f.dependencies {
            for d in deps {
                rows.push((&f.filename, tool, d));
            }
        }
    }
    rows.chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let sql = format!(
                "INSERT INTO dependencies (filename, tool, dependency) \
                 SELECT d.column1, d.column2, d.column3 FROM (VALUES {}) AS d \
                 JOIN files f ON f.filename = d.column1 WHERE f.build_id = ${}",
                values_list(chunk.len(), 3),
                chunk.len() * 3 + 1
            );
            let mut values = Vec::with_capacity(chunk.len() * 3 + 1);
            for (name, tool, d) in chunk {
                values.extend([Value::Text(name), Value::Text(tool), Value::Text(d)]);
            }
            values.push(Value::Int(build_id));
            Stmt::new(sql, values)
        })
        .collect()
}

/// The stored files a build's wheels and alias copies would take the names of. With
/// `delete`, the statements delete the alias copies among them (a real wheel replaces an
/// alias copy, and an alias copy replaces only another); without, they give every such
/// file as (file name, whether it is an alias copy, build id, package, version), for
/// [`log_build`] to refuse a build that would replace another's real wheel.
fn replaced_files<'a>(names: &[&'a str], twin_names: &[&'a str], delete: bool) -> Vec<Stmt<'a>> {
    let mut stmts = Vec::new();
    for list in [names, twin_names] {
        for chunk in list.chunks(ROWS_PER_INSERT) {
            let marks = super::placeholders(1, chunk.len());
            let sql = if delete {
                format!(
                    "DELETE FROM files AS f WHERE f.filename IN ({marks}) AND f.twin_of IS NOT NULL"
                )
            } else {
                format!(
                    "SELECT f.filename, CASE WHEN f.twin_of IS NULL THEN 0 ELSE 1 END, f.build_id, \
                            b.package, b.version \
                       FROM files f JOIN builds b ON b.build_id = f.build_id \
                      WHERE f.filename IN ({marks})"
                )
            };
            stmts.push(Stmt::new(
                sql,
                chunk.iter().map(|n| Value::Text(n)).collect(),
            ));
        }
    }
    stmts
}

/// What the first round trip of [`log_build`] found.
struct Inserted {
    /// What decides the version's queue entries.
    facts: Facts,
    /// Other versions whose alias copies the wheels replace.
    others: BTreeSet<(String, String)>,
    /// The new build's id.
    build_id: i64,
}

/// The first round trip of [`log_build`], in one batch: the lock, the facts, the versions
/// whose wheels this build replaces, and the build row (if the version does not exist, the
/// insert fails on its foreign key and the facts say why). A real wheel of one of the
/// `names` that is published already is never replaced: the build is refused.
fn insert_build(
    c: &mut dyn Conn,
    b: &NewBuild,
    names: &[&str],
    twin_names: &[&str],
) -> Result<Inserted> {
    let op = "log_build";
    let duration = micros(b.duration.max(TimeDelta::zero()));
    let built_at = b.built_at.unwrap_or_else(Utc::now);
    let mut first = vec![
        lock_stmt(c.kind(), &b.package),
        facts_stmt(&b.package, &b.version),
    ];
    first.extend(replaced_files(names, twin_names, false));
    let insert = first.len();
    first.push(Stmt::new(
        "INSERT INTO builds (package, version, built_by, built_at, duration_us, status, abi_tag, platform_tag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING build_id",
        params![&b.package, &b.version, b.built_by, built_at, duration, b.status, &b.target.abi, &b.target.platform]
            .to_vec(),
    ));
    let mut facts = Facts::default();
    let mut others = BTreeSet::new();
    let mut taken = None;
    let mut build_id = None;
    let real: BTreeSet<&str> = names.iter().copied().collect();
    let result = c.pipeline(&first, &mut |i, r| {
        if i == 1 {
            facts.row(r)?;
        } else if i == insert {
            build_id = Some(r.int(0)?);
        } else if i > 1 {
            let (name, copy, id) = (r.text(0)?, r.int(1)? != 0, r.int(2)?);
            let (package, version) = (r.text(3)?, r.text(4)?);
            if !copy && real.contains(name.as_str()) && taken.is_none() {
                // A real wheel of that name is published: it is never replaced.
                taken = Some(format!(
                    "{name} is already published by build {id} of {package} {version}"
                ));
            }
            if package != b.package || version != b.version {
                others.insert((package, version));
            }
        }
        Ok(())
    });
    if !facts.exists {
        return Err(Error::not_found(
            op,
            format!("version {} {}", b.package, b.version),
        ));
    }
    result?;
    if let Some(why) = taken {
        return Err(Error::invalid(op, why));
    }
    facts.done();
    let build_id =
        build_id.ok_or_else(|| Error::corrupt(op, "INSERT ... RETURNING gave no build id"))?;
    Ok(Inserted {
        facts,
        others,
        build_id,
    })
}

/// Records a build (see [`Database::log_build`]). On PostgreSQL this is two round trips:
/// the lock, what decides the queue, what the wheels would replace and the build row; then
/// the files, dependencies, queue entries and owed rewrite with the commit.
pub(crate) fn log_build(c: &mut dyn Conn, b: &NewBuild, aliases: &PlatformAliases) -> Result<i64> {
    let twins = twins(&b.files, aliases);
    let names: Vec<&str> = b.files.iter().map(|f| f.filename.as_str()).collect();
    let twin_names: Vec<&str> = twins.iter().map(|(t, _)| t.filename.as_str()).collect();
    let Inserted {
        mut facts,
        others,
        build_id,
    } = insert_build(c, b, &names, &twin_names)?;

    // What the version's queue entries become. A replaced file has the same name as its
    // replacement, and so the same tags: the facts need only the new build and wheels.
    facts.version.builds.push(b.target.clone());
    for f in b.files.iter().chain(twins.iter().map(|(t, _)| t)) {
        facts.version.files.push((
            f.py_version_tag.clone(),
            f.abi_tag.clone(),
            f.platform_tag.clone(),
        ));
    }

    // A real wheel replaces an alias copy of the same name (as a wheel really built for the
    // alias platform); an alias copy replaces only another alias copy.
    let mut stmts = replaced_files(&names, &twin_names, true);
    let real: Vec<(&NewFile, Option<&str>)> = b.files.iter().map(|f| (f, None)).collect();
    stmts.extend(insert_files(build_id, &real, false));
    let copies: Vec<(&NewFile, Option<&str>)> =
        twins.iter().map(|(t, of)| (t, Some(*of))).collect();
    stmts.extend(insert_files(build_id, &copies, true));
    let all: Vec<&NewFile> = b.files.iter().chain(twins.iter().map(|(t, _)| t)).collect();
    stmts.extend(insert_dependencies(build_id, &all));
    stmts.extend(facts.write(&b.package, &b.version, aliases));
    stmts.push(journal::owe(
        &b.package,
        journal::command_for(!b.files.is_empty()),
    ));
    if others.is_empty() {
        c.execute_then_commit(&stmts)?;
        return Ok(build_id);
    }
    // Alias copies of the same names from other versions leave those versions' queue
    // entries to redo, and their pages to rewrite.
    c.pipeline(&stmts, &mut |_, _| Ok(()))?;
    for (package, version) in others {
        refresh_version(c, &package, &version, aliases)?;
        journal::owe_now(c, &package, crate::types::RewriteCommand::Both)?;
    }
    Ok(build_id)
}

fn file_record(r: &dyn crate::backend::Row) -> Result<FileRecord> {
    Ok(FileRecord {
        file: NewFile {
            filename: r.text(0)?,
            filesize: r.int(2)? as u64,
            filehash: r.text(3)?,
            package_tag: r.text(4)?,
            package_version_tag: r.text(5)?,
            py_version_tag: r.text(6)?,
            abi_tag: r.text(7)?,
            platform_tag: r.text(8)?,
            requires_python: r.opt_text(9)?,
            dependencies: BTreeMap::new(),
            location: r.text(10)?,
        },
        build_id: r.int(1)?,
        twin_of: r.opt_text(11)?,
    })
}

impl Database {
    /// Records a build: its success or failure, and for a success its wheels with their
    /// dependencies, plus their copies under the platform aliases. Returns the build id.
    /// The version leaves the queue for the builder's target and for every target its
    /// wheels satisfy (and fans out to the rest if this was its first build). The rewrite
    /// of the package's pages is recorded as owed in the same transaction.
    ///
    /// Everything is checked before anything is written: a bad hash, a name with a `/`, a
    /// failed build with files, an unknown version, and a wheel whose name another build's
    /// real wheel already has are refused with nothing stored. (A real wheel does replace
    /// an alias copy of the same name: see [`PlatformAliases`].)
    pub async fn log_build(&self, build: &NewBuild) -> Result<i64> {
        let op = "log_build";
        check_build(op, build)?;
        let build = build.clone();
        let aliases = self.aliases();
        self.write(op, move |c| log_build(c, &build, &aliases))
            .await
    }

    /// Deletes every build of a version (with their files), which puts it back in the
    /// queue unless it is skipped. Returns the number of builds deleted.
    pub async fn delete_build(&self, package: &str, version: &str) -> Result<u64> {
        let (package, version) = (package.to_owned(), version.to_owned());
        let aliases = self.aliases();
        self.write("delete_build", move |c| {
            lock_package(c, &package)?;
            let n = c.execute(
                "DELETE FROM builds WHERE package = $1 AND version = $2",
                params![&package, &version],
            )?;
            refresh_version(c, &package, &version, &aliases)?;
            if n > 0 {
                journal::owe_now(c, &package, crate::types::RewriteCommand::Both)?;
            }
            Ok(n)
        })
        .await
    }

    /// Deletes these builds (with their files): for wheels found missing from the output,
    /// so their versions are built again. Each version's queue entries are brought up to
    /// date and its package's pages are owed a rewrite. Returns how many were deleted.
    pub async fn delete_builds(&self, build_ids: &[i64]) -> Result<u64> {
        let ids = build_ids.to_vec();
        let aliases = self.aliases();
        self.write("delete_builds", move |c| {
            let mut deleted = 0;
            for id in ids {
                let Some((package, version)) = c.query_opt(
                    "SELECT package, version FROM builds WHERE build_id = $1",
                    params![id],
                    |r| Ok((r.text(0)?, r.text(1)?)),
                )?
                else {
                    continue;
                };
                lock_package(c, &package)?;
                deleted += c.execute("DELETE FROM builds WHERE build_id = $1", params![id])?;
                refresh_version(c, &package, &version, &aliases)?;
                journal::owe_now(c, &package, crate::types::RewriteCommand::Both)?;
            }
            Ok(deleted)
        })
        .await
    }

    /// The wheels of these packages, for comparing the output folder with the database.
    pub async fn output_files(&self, packages: &[String]) -> Result<Vec<OutputFile>> {
        let packages = packages.to_vec();
        self.read("output_files", move |c| {
            let mut out = Vec::new();
            for chunk in packages.chunks(ROWS_PER_INSERT) {
                let sql = format!(
                    "SELECT b.package, f.filename, f.filehash, f.build_id, f.twin_of, f.location, \
                            b.built_at, b.version, f.filesize \
                       FROM files f JOIN builds b ON b.build_id = f.build_id \
                      WHERE b.package IN ({})",
                    super::placeholders(1, chunk.len())
                );
                let values: Vec<Value<'_>> = chunk.iter().map(|p| Value::Text(p)).collect();
                c.query_each(&sql, &values, &mut |r| {
                    out.push(OutputFile {
                        package: r.text(0)?,
                        filename: r.text(1)?,
                        filehash: r.text(2)?,
                        build_id: r.int(3)?,
                        twin_of: r.opt_text(4)?,
                        location: r.text(5)?,
                        built_at: r.time(6)?,
                        version: r.text(7)?,
                        filesize: r.int(8)?,
                    });
                    Ok(())
                })?;
            }
            Ok(out)
        })
        .await
    }

    /// Every wheel of a package, with its SHA-256.
    pub async fn package_files(&self, package: &str) -> Result<BTreeMap<String, String>> {
        let package = package.to_owned();
        self.read("package_files", move |c| {
            Ok(c.query_map(
                "SELECT f.filename, f.filehash FROM files f JOIN builds b ON b.build_id = f.build_id \
                 WHERE b.package = $1",
                params![&package],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )?
            .into_iter()
            .collect())
        })
        .await
    }

    /// The wheels of one version.
    pub async fn version_files(&self, package: &str, version: &str) -> Result<BTreeSet<String>> {
        let (package, version) = (package.to_owned(), version.to_owned());
        self.read("version_files", move |c| {
            Ok(c.query_map(
                "SELECT f.filename FROM files f JOIN builds b ON b.build_id = f.build_id \
                 WHERE b.package = $1 AND b.version = $2",
                params![&package, &version],
                |r| r.text(0),
            )?
            .into_iter()
            .collect())
        })
        .await
    }

    /// One wheel as stored, with its dependencies.
    pub async fn file(&self, filename: &str) -> Result<Option<FileRecord>> {
        let filename = filename.to_owned();
        self.read("file", move |c| {
            let Some(mut record) = c.query_opt(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE filename = $1"),
                params![&filename],
                file_record,
            )?
            else {
                return Ok(None);
            };
            c.query_each(
                "SELECT tool, dependency FROM dependencies WHERE filename = $1",
                params![&filename],
                &mut |r| {
                    record
                        .file
                        .dependencies
                        .entry(r.text(0)?)
                        .or_default()
                        .insert(r.text(1)?);
                    Ok(())
                },
            )?;
            Ok(Some(record))
        })
        .await
    }

    /// Every build id (for the audit of build logs).
    pub async fn all_build_ids(&self) -> Result<BTreeSet<i64>> {
        self.read("all_build_ids", |c| {
            let mut ids = BTreeSet::new();
            c.query_each("SELECT build_id FROM builds", params![], &mut |r| {
                ids.insert(r.int(0)?);
                Ok(())
            })?;
            Ok(ids)
        })
        .await
    }
}
