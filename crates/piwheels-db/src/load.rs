//! Loading a whole database in batches, for `piw-migrate`: rows are appended table by
//! table in the backend's fastest way (`COPY` on PostgreSQL), and each batch commits
//! together with the position the migration reached, so an interrupted migration resumes
//! exactly where its last batch ended: nothing is copied twice or skipped.
//!
//! While a migration runs, the target holds five tables of its own (`migration_source`,
//! `migration_steps`, `migration_dropped`, `migration_mapped`, `migration_indexes`: the
//! access logs' indexes, made once they are full) and [`Database::open`]
//! refuses it ([`SchemaProblem::Migrating`](crate::SchemaProblem::Migrating)): no master
//! can start on half a database. [`Loader::finish`] makes those indexes, rebuilds the
//! build queue (with its own keys and indexes made once it is full) and marks the
//! migration finished, in one transaction; the tables stay, so what the migration
//! dropped and changed can be read back later ([`Loader::report`]).
//!
//! ```no_run
//! # async fn example() -> piwheels_db::Result<()> {
//! use piwheels_db::load::{Field, Loader, Source, Table};
//! let loader = Loader::begin("sqlite:/tmp/new.db", &Source {
//!     id: "postgres:///piwheels (system 7000000000000000000)".into(),
//!     platform: "linux_armv7l".into(),
//! }, None).await?;
//! let rows = vec![vec![Field::text("foo"), Field::text(""), Field::text("A package")]];
//! loader.load("packages", vec![(Table::Packages, rows)], Some("foo".into()), 1, vec![], vec![]).await?;
//! loader.finish(0).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::backend::{BulkRow, Conn, Kind, Value, params};
use crate::db::{Database, Options};
use crate::error::{Error, Result};
use crate::ops::queue;
use crate::schema::{self, SCHEMA_VERSION, SchemaState};

/// One value of a row to load.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A time (UTC).
    Time(DateTime<Utc>),
    /// An IP address.
    Ip(IpAddr),
}

impl Field {
    /// Text.
    pub fn text(s: impl Into<String>) -> Self {
        Field::Text(s.into())
    }

    /// Text, or NULL.
    pub fn opt_text(s: Option<String>) -> Self {
        s.map_or(Field::Null, Field::Text)
    }

    fn value(&self) -> Value<'_> {
        match self {
            Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Int(i) => Value::Int(*i),
            Field::Text(s) => Value::Text(s),
            Field::Time(t) => Value::Time(*t),
            Field::Ip(ip) => Value::Ip(*ip),
        }
    }
}

/// A table a migration fills, with the columns its rows give, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// `package, skip, description`.
    Packages,
    /// `name, package, seen`.
    PackageNames,
    /// `package, version, released, skip, yanked`.
    Versions,
    /// `abi_tag, platform_tag, skip`.
    BuildTargets,
    /// `abi_tag, apt_package`.
    PreinstalledAptPackages,
    /// `build_id, package, version, built_by, built_at, duration_us, status, abi_tag,
    /// platform_tag`.
    Builds,
    /// `filename, build_id, filesize, filehash, package_tag, package_version_tag,
    /// py_version_tag, abi_tag, platform_tag, requires_python, location, twin_of`.
    Files,
    /// `filename, tool, dependency`.
    Dependencies,
    /// `filename, accessed_by, accessed_at` and the ten optional fields of a download.
    Downloads,
    /// `package, accessed_by, accessed_at` and the ten optional fields of a download.
    Searches,
    /// `package, accessed_by, accessed_at, user_agent, bot`.
    ProjectPageHits,
    /// `package, accessed_by, accessed_at, user_agent`.
    ProjectJsonDownloads,
    /// `page, accessed_by, accessed_at, user_agent, bot`.
    WebPageHits,
    /// `package, added_at, command`.
    RewritesPending,
}

/// The ten optional fields of a download or search, after its name, `accessed_by` and
/// `accessed_at` (the same in the original's schema and ours).
pub const ACCESS_FIELDS: [&str; 10] = [
    "arch",
    "distro_name",
    "distro_version",
    "os_name",
    "os_version",
    "py_name",
    "py_version",
    "installer_name",
    "installer_version",
    "setuptools_version",
];

impl Table {
    /// Every table, in the order a migration fills them (parents before children).
    pub const ALL: [Table; 14] = [
        Table::BuildTargets,
        Table::PreinstalledAptPackages,
        Table::Packages,
        Table::PackageNames,
        Table::Versions,
        Table::Builds,
        Table::Files,
        Table::Dependencies,
        Table::Downloads,
        Table::Searches,
        Table::ProjectPageHits,
        Table::ProjectJsonDownloads,
        Table::WebPageHits,
        Table::RewritesPending,
    ];

    /// Its name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Table::Packages => "packages",
            Table::PackageNames => "package_names",
            Table::Versions => "versions",
            Table::BuildTargets => "build_targets",
            Table::PreinstalledAptPackages => "preinstalled_apt_packages",
            Table::Builds => "builds",
            Table::Files => "files",
            Table::Dependencies => "dependencies",
            Table::Downloads => "downloads",
            Table::Searches => "searches",
            Table::ProjectPageHits => "project_page_hits",
            Table::ProjectJsonDownloads => "project_json_downloads",
            Table::WebPageHits => "web_page_hits",
            Table::RewritesPending => "rewrites_pending",
        }
    }

    /// The columns a row gives, in order.
    pub fn columns(self) -> Vec<&'static str> {
        let fixed: &[&str] = match self {
            Table::Packages => &["package", "skip", "description"],
            Table::PackageNames => &["name", "package", "seen"],
            Table::Versions => &["package", "version", "released", "skip", "yanked"],
            Table::BuildTargets => &["abi_tag", "platform_tag", "skip"],
            Table::PreinstalledAptPackages => &["abi_tag", "apt_package"],
            Table::Builds => &[
                "build_id",
                "package",
                "version",
                "built_by",
                "built_at",
                "duration_us",
                "status",
                "abi_tag",
                "platform_tag",
            ],
            Table::Files => &[
                "filename",
                "build_id",
                "filesize",
                "filehash",
                "package_tag",
                "package_version_tag",
                "py_version_tag",
                "abi_tag",
                "platform_tag",
                "requires_python",
                "location",
                "twin_of",
            ],
            Table::Dependencies => &["filename", "tool", "dependency"],
            Table::Downloads => &["filename", "accessed_by", "accessed_at"],
            Table::Searches => &["package", "accessed_by", "accessed_at"],
            Table::ProjectPageHits | Table::WebPageHits => {
                &["package", "accessed_by", "accessed_at", "user_agent", "bot"]
            }
            Table::ProjectJsonDownloads => &["package", "accessed_by", "accessed_at", "user_agent"],
            Table::RewritesPending => &["package", "added_at", "command"],
        };
        let mut cols = fixed.to_vec();
        if self == Table::WebPageHits {
            cols[0] = "page";
        }
        if matches!(self, Table::Downloads | Table::Searches) {
            cols.extend(ACCESS_FIELDS);
        }
        cols
    }
}

/// Where a migration reads from, and the platform its build ABIs become targets on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// What identifies the source (its address and the server's system identifier): a
    /// resumed migration must read the same one.
    pub id: String,
    /// The platform every ABI of the source is built for (`linux_armv7l`).
    pub platform: String,
}

/// A row the migration did not copy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The source table.
    pub table: String,
    /// The row (its key, or its fields for a table without one).
    pub key: String,
    /// Why it was not copied.
    pub reason: String,
}

/// Where one step of a migration stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepState {
    /// The key of the last source row done (`None` before the first batch).
    pub position: Option<String>,
    /// Source rows read so far.
    pub read: u64,
    /// Whether the step is complete.
    pub done: bool,
}

/// What a migration did, as the target records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The source.
    pub source: String,
    /// The platform.
    pub platform: String,
    /// When it started.
    pub started: Option<DateTime<Utc>>,
    /// Whether it finished.
    pub finished: bool,
    /// Every step, with where it stands.
    pub steps: BTreeMap<String, StepState>,
    /// Rows changed on the way, counted per (step, what was changed and why).
    pub mapped: BTreeMap<(String, String), u64>,
    /// Rows not copied, in the order they were met.
    pub dropped: Vec<Dropped>,
}

/// The tables a migration keeps in its target.
const TABLES_SQL: &str = "
CREATE TABLE migration_source (
    id       {BIGINT} NOT NULL PRIMARY KEY CHECK (id = 1),
    source   TEXT NOT NULL,
    platform TEXT NOT NULL,
    started  {TIMESTAMP} NOT NULL,
    finished {BOOLEAN} NOT NULL DEFAULT {FALSE}
);
CREATE TABLE migration_steps (
    step     TEXT NOT NULL PRIMARY KEY,
    position TEXT NULL,
    read     {BIGINT} NOT NULL DEFAULT 0,
    done     {BOOLEAN} NOT NULL DEFAULT {FALSE}
);
CREATE TABLE migration_dropped (
    seq      {BUILD_ID},
    src      TEXT NOT NULL,
    row_key  TEXT NOT NULL,
    reason   TEXT NOT NULL
);
CREATE TABLE migration_mapped (
    step     TEXT NOT NULL,
    what     TEXT NOT NULL,
    n        {BIGINT} NOT NULL,
    PRIMARY KEY (step, what)
);
CREATE TABLE migration_indexes (
    name     TEXT NOT NULL PRIMARY KEY,
    sql      TEXT NOT NULL
);
";

/// The tables whose indexes are made once they are full, not kept up to date row by row:
/// the access logs, the largest tables, whose rows come in time order but are indexed by
/// name too (an index filled in random order is many times slower to fill than to make).
const LATE_INDEXED: [&str; 5] = [
    "downloads",
    "searches",
    "project_page_hits",
    "project_json_downloads",
    "web_page_hits",
];

/// The build queue, which [`Loader::finish`] fills in one go: its indexes (and on
/// PostgreSQL its primary and foreign keys, each checked row by row otherwise) are made
/// once it is full, in the same transaction.
const QUEUE_TABLE: &str = "builds_pending";

/// Drops the indexes of `tables`, and on PostgreSQL their primary and foreign keys,
/// keeping their definitions in `migration_indexes` for [`make_late_indexes`].
fn drop_late_indexes(c: &mut dyn Conn, tables: &[&str]) -> Result<()> {
    let tables: Vec<String> = tables.iter().map(|t| format!("'{t}'")).collect();
    let tables = tables.join(", ");
    // (name, what makes it again, what drops it), foreign keys before the keys they
    // could depend on, and keys before the indexes.
    let dropped: Vec<(String, String, String)> = match c.kind() {
        Kind::Sqlite => c.query_map(
            &format!(
                "SELECT name, sql, 'DROP INDEX ' || name FROM sqlite_master \
                  WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({tables})"
            ),
            params![],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)),
        )?,
        Kind::Postgres => c.query_map(
            &format!(
                "SELECT name, sql, undo FROM ( \
                   SELECT k.conname::text AS name, \
                          format('ALTER TABLE %I ADD CONSTRAINT %I %s', t.relname, k.conname, \
                                 pg_get_constraintdef(k.oid)) AS sql, \
                          format('ALTER TABLE %I DROP CONSTRAINT %I', t.relname, k.conname) AS undo, \
                          CASE k.contype WHEN 'f' THEN 0 ELSE 1 END AS step \
                     FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid \
                    WHERE t.relnamespace = current_schema()::regnamespace \
                      AND t.relname IN ({tables}) AND k.contype IN ('p', 'f') \
                   UNION ALL \
                   SELECT i.indexname::text, i.indexdef::text, format('DROP INDEX %I', i.indexname), 2 \
                     FROM pg_indexes i \
                    WHERE i.schemaname = current_schema() AND i.tablename IN ({tables}) \
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k \
                                       WHERE k.contype IN ('p', 'u', 'x') AND k.conindid = \
                                             to_regclass(format('%I.%I', i.schemaname, i.indexname))) \
                 ) d ORDER BY step, name"
            ),
            params![],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)),
        )?,
    };
    for (name, sql, undo) in dropped {
        c.execute(
            "INSERT INTO migration_indexes (name, sql) VALUES ($1, $2)",
            params![&name, &sql],
        )?;
        c.batch(&undo)?;
    }
    Ok(())
}

/// Makes the indexes [`drop_late_indexes`] dropped. On SQLite, their sorts spill to
/// temporary files rather than memory (the connections keep temporary data in memory,
/// which for the index of ten million downloads is a gigabyte).
fn make_late_indexes(c: &mut dyn Conn) -> Result<()> {
    if c.kind() == Kind::Sqlite {
        c.batch("PRAGMA temp_store = FILE")?;
    }
    let made = make_saved_indexes(c);
    if c.kind() == Kind::Sqlite {
        c.batch("PRAGMA temp_store = MEMORY")?;
    }
    made
}

fn make_saved_indexes(c: &mut dyn Conn) -> Result<()> {
    let indexes = c.query_map(
        "SELECT name, sql FROM migration_indexes ORDER BY name",
        params![],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?;
    for (name, sql) in indexes {
        c.batch(&sql)?;
        c.execute(
            "DELETE FROM migration_indexes WHERE name = $1",
            params![&name],
        )?;
    }
    Ok(())
}

/// A database being filled by a migration (see the module docs).
#[derive(Debug, Clone)]
pub struct Loader {
    db: Database,
}

impl Loader {
    /// Creates this software's schema in the empty database at `dsn`, with the migration's
    /// tables, in one transaction; on PostgreSQL `user` (required there) is granted what the
    /// master needs, as `piw-initdb` does. Refuses a database that is not empty.
    pub async fn begin(dsn: &str, source: &Source, user: Option<&str>) -> Result<Self> {
        let op = "begin migration";
        let db = Database::connect(dsn, loader_options(), true).await?;
        let user = crate::admin::master_user(op, db.kind(), user)?;
        let source = source.clone();
        db.write(op, move |c| {
            match schema::detect(c)? {
                SchemaState::Empty => {}
                SchemaState::Migrating => {
                    return Err(Error::invalid(
                        op,
                        "the target holds an unfinished migration: resume it with --resume",
                    ));
                }
                _ => {
                    return Err(Error::invalid(
                        op,
                        "the target database is not empty; a migration writes into an empty one \
                         (or resumes its own with --resume)",
                    ));
                }
            }
            if let (Some(user), Kind::Postgres) = (&user, c.kind()) {
                crate::admin::check_master_user(c, user)?;
            }
            schema::migrate(c, SCHEMA_VERSION)?;
            c.batch(&schema::render(TABLES_SQL, c.kind()))?;
            drop_late_indexes(c, &LATE_INDEXED)?;
            c.execute(
                "INSERT INTO migration_source (id, source, platform, started) VALUES (1, $1, $2, $3)",
                params![&source.id, &source.platform, Utc::now()],
            )?;
            if let (Some(user), Kind::Postgres) = (&user, c.kind()) {
                crate::admin::grant(c, user)?;
            }
            Ok(())
        })
        .await?;
        Ok(Self { db })
    }

    /// Opens the unfinished migration in the database at `dsn`, to resume it: refuses one
    /// that holds none, or one from another source or platform.
    pub async fn resume(dsn: &str, source: &Source) -> Result<Self> {
        let op = "resume migration";
        if crate::db::sqlite_path(dsn).is_some_and(|p| !p.exists()) {
            return Err(Error::invalid(
                op,
                "the target holds no migration to resume (it does not exist: start one without --resume)",
            ));
        }
        let db = Database::connect(dsn, loader_options(), false).await?;
        let state = db.read(op, schema::detect).await?;
        if state != SchemaState::Migrating {
            return Err(Error::invalid(
                op,
                match state {
                    SchemaState::Empty => {
                        "the target holds no migration to resume (it is empty: start one without --resume)"
                    }
                    SchemaState::Version(_) => {
                        "the target's migration is finished (or it was never one): nothing to resume"
                    }
                    _ => "the target holds no migration to resume",
                },
            ));
        }
        let loader = Self { db };
        let report = loader.report().await?;
        if report.source != source.id || report.platform != source.platform {
            return Err(Error::invalid(
                op,
                format!(
                    "the target's migration reads {} for {}, not {} for {}",
                    report.source, report.platform, source.id, source.platform
                ),
            ));
        }
        Ok(loader)
    }

    /// Opens a database whose migration may be finished or not, to read what it did and
    /// compare it with its source (`piw-migrate --check`).
    pub async fn inspect(dsn: &str) -> Result<Self> {
        let db = Database::connect(dsn, loader_options(), false).await?;
        let has = db
            .read("inspect migration", |c| {
                let state = schema::detect(c)?;
                Ok(state == SchemaState::Migrating
                    || (state.is_current() && has_migration_tables(c)?))
            })
            .await?;
        if !has {
            return Err(Error::invalid(
                "inspect migration",
                "the target was not made by piw-migrate",
            ));
        }
        Ok(Self { db })
    }

    /// Which backend the target is.
    pub fn kind(&self) -> Kind {
        self.db.kind()
    }

    /// Sets the upstream serial (the source's `pypi_serial`).
    pub async fn set_upstream_serial(&self, serial: i64) -> Result<()> {
        self.db
            .write("load serial", move |c| {
                c.execute(
                    "UPDATE configuration SET upstream_serial = $1 WHERE id = 1",
                    params![serial],
                )?;
                Ok(())
            })
            .await
    }

    /// Appends one batch of a step in one transaction: the rows of each table, the step's
    /// new position and the source rows read, the rows dropped and the counts of rows
    /// changed (`(what, n)`), all or nothing.
    pub async fn load(
        &self,
        step: &str,
        tables: Vec<(Table, Vec<Vec<Field>>)>,
        position: Option<String>,
        read: u64,
        dropped: Vec<Dropped>,
        mapped: Vec<(String, u64)>,
    ) -> Result<()> {
        let step = step.to_owned();
        self.db
            .write("load", move |c| {
                for (table, rows) in &tables {
                    if rows.is_empty() {
                        continue;
                    }
                    let bulk: Vec<BulkRow<'_>> = rows
                        .iter()
                        .map(|r| r.iter().map(Field::value).collect())
                        .collect();
                    c.bulk_insert(table.name(), &table.columns(), &bulk)?;
                }
                record_progress(c, &step, position.as_deref(), read, false)?;
                record_report(c, &step, &dropped, &mapped)
            })
            .await
    }

    /// Marks a step complete (with the source rows read in its last batch).
    pub async fn step_done(&self, step: &str) -> Result<()> {
        let step = step.to_owned();
        self.db
            .write("step done", move |c| {
                let position = c
                    .query_opt(
                        "SELECT position FROM migration_steps WHERE step = $1",
                        params![&step],
                        |r| r.opt_text(0),
                    )?
                    .flatten();
                record_progress(c, &step, position.as_deref(), 0, true)
            })
            .await
    }

    /// Rows of `table` in the target.
    pub async fn count(&self, table: Table) -> Result<u64> {
        self.db
            .read("count", move |c| {
                let n =
                    c.query_int(&format!("SELECT COUNT(*) FROM {}", table.name()), params![])?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }

    /// Which of `packages` the target has.
    pub async fn existing_packages(
        &self,
        packages: Vec<String>,
    ) -> Result<std::collections::BTreeSet<String>> {
        self.db
            .read("existing packages", move |c| {
                let mut out = std::collections::BTreeSet::new();
                for p in packages {
                    if c.exists("SELECT 1 FROM packages WHERE package = $1", params![&p])? {
                        out.insert(p);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// The row of `table` whose key columns (its first `key` columns, in
    /// [`Table::columns`] order) hold `values`, as [`Field`]s of its columns; text-typed
    /// for comparison (times as microseconds, booleans as 0/1, addresses as text).
    pub async fn row(
        &self,
        table: Table,
        key: usize,
        values: Vec<Field>,
    ) -> Result<Option<Vec<Field>>> {
        self.db
            .read("row", move |c| {
                let cols = table.columns();
                let kind = c.kind();
                let select: Vec<String> = cols.iter().map(|col| as_text(kind, col)).collect();
                let cond: Vec<String> = cols[..key]
                    .iter()
                    .enumerate()
                    .map(|(i, col)| format!("{col} = ${}", i + 1))
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} WHERE {}",
                    select.join(", "),
                    table.name(),
                    cond.join(" AND ")
                );
                let params: Vec<Value<'_>> = values.iter().map(Field::value).collect();
                c.query_opt(&sql, &params, |r| {
                    (0..cols.len())
                        .map(|i| r.opt_text(i).map(Field::opt_text))
                        .collect()
                })
            })
            .await
    }

    /// How many rows of `table` hold exactly `values` in every column (NULL matching
    /// NULL): for tables without a key.
    pub async fn matching(&self, table: Table, values: Vec<Field>) -> Result<u64> {
        self.db
            .read("matching", move |c| {
                let cols = table.columns();
                let cond: Vec<String> = cols
                    .iter()
                    .enumerate()
                    .map(|(i, col)| match values.get(i) {
                        Some(Field::Null) => format!("{col} IS NULL AND ${}::text IS NULL", i + 1),
                        _ => format!("{col} = ${}", i + 1),
                    })
                    .collect();
                let sql = format!(
                    "SELECT COUNT(*) FROM {} WHERE {}",
                    table.name(),
                    cond.join(" AND ")
                );
                let sql = if c.kind() == Kind::Sqlite {
                    sql.replace("::text", "")
                } else {
                    sql
                };
                let params: Vec<Value<'_>> = values.iter().map(Field::value).collect();
                Ok(u64::try_from(c.query_int(&sql, &params)?).unwrap_or(0))
            })
            .await
    }

    /// What the migration did so far (or did, once finished).
    pub async fn report(&self) -> Result<Report> {
        self.db
            .read("migration report", |c| {
                let mut report = c
                    .query_opt(
                        "SELECT source, platform, started, finished FROM migration_source WHERE id = 1",
                        params![],
                        |r| {
                            Ok(Report {
                                source: r.text(0)?,
                                platform: r.text(1)?,
                                started: Some(r.time(2)?),
                                finished: r.bool(3)?,
                                ..Report::default()
                            })
                        },
                    )?
                    .ok_or_else(|| Error::corrupt("migration report", "no migration_source row"))?;
                for (step, state) in c.query_map(
                    "SELECT step, position, read, done FROM migration_steps",
                    params![],
                    |r| {
                        Ok((
                            r.text(0)?,
                            StepState {
                                position: r.opt_text(1)?,
                                read: u64::try_from(r.int(2)?).unwrap_or(0),
                                done: r.bool(3)?,
                            },
                        ))
                    },
                )? {
                    report.steps.insert(step, state);
                }
                for (step, what, n) in c.query_map(
                    "SELECT step, what, n FROM migration_mapped",
                    params![],
                    |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)),
                )? {
                    report
                        .mapped
                        .insert((step, what), u64::try_from(n).unwrap_or(0));
                }
                report.dropped = c.query_map(
                    "SELECT src, row_key, reason FROM migration_dropped ORDER BY seq",
                    params![],
                    |r| {
                        Ok(Dropped {
                            table: r.text(0)?,
                            key: r.text(1)?,
                            reason: r.text(2)?,
                        })
                    },
                )?;
                Ok(report)
            })
            .await
    }

    /// Ends the migration: rebuilds the build queue from what was copied, makes sure no
    /// build id up to `last_build_id` (the source's last, which may name a build log) is
    /// given again, and marks the migration finished, in one transaction; from then on
    /// [`Database::open`] takes the database. Returns the build queue's size.
    pub async fn finish(&self, last_build_id: i64) -> Result<u64> {
        let aliases = self.db.options().platform_aliases.clone();
        self.db
            .write("finish migration", move |c| {
                if c.kind() == Kind::Postgres {
                    // The indexes made here sort millions of rows; PostgreSQL's default
                    // of 64 MB sorts them on disk, several times slower.
                    c.batch(
                        "SELECT set_config('maintenance_work_mem', '256MB', true) \
                          WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024",
                    )?;
                }
                make_late_indexes(c)?;
                // The queue is filled with its keys and indexes dropped, and they are
                // made once it is full (five times faster than row by row).
                drop_late_indexes(c, &[QUEUE_TABLE])?;
                let queued = queue::rebuild(c, &aliases)?;
                make_late_indexes(c)?;
                let last = c
                    .query_int("SELECT COALESCE(MAX(build_id), 0) FROM builds", params![])?
                    .max(last_build_id);
                match c.kind() {
                    Kind::Postgres if last > 0 => {
                        c.execute(
                            "SELECT setval(pg_get_serial_sequence('builds', 'build_id'), $1)",
                            params![last],
                        )?;
                    }
                    Kind::Postgres => {}
                    Kind::Sqlite => {
                        c.execute(
                            "DELETE FROM sqlite_sequence WHERE name = 'builds'",
                            params![],
                        )?;
                        c.execute(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES ('builds', $1)",
                            params![last],
                        )?;
                    }
                }
                c.execute(
                    "UPDATE migration_source SET finished = $1 WHERE id = 1",
                    params![true],
                )?;
                Ok(queued)
            })
            .await
    }
}

/// A loader's connections: one writes, one reads (each SQLite connection keeps a page
/// cache of its own, so more would only cost memory).
fn loader_options() -> Options {
    Options {
        pool_size: Some(2),
        ..Options::default()
    }
}

/// Whether the migration's tables exist.
pub(crate) fn has_migration_tables(c: &mut dyn Conn) -> Result<bool> {
    let sql = match c.kind() {
        Kind::Sqlite => {
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migration_source'"
        }
        Kind::Postgres => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'migration_source'"
        }
    };
    c.exists(sql, params![])
}

/// Whether the database holds a migration that has not finished.
pub(crate) fn unfinished(c: &mut dyn Conn) -> Result<bool> {
    Ok(has_migration_tables(c)?
        && c.exists(
            "SELECT 1 FROM migration_source WHERE finished = $1",
            params![false],
        )?)
}

/// A column as text, for comparing a row field by field: times as microseconds since the
/// epoch, booleans as `0` or `1`, addresses without a prefix length.
fn as_text(kind: Kind, col: &str) -> String {
    let time = matches!(
        col,
        "seen" | "released" | "built_at" | "accessed_at" | "added_at"
    );
    let boolean = matches!(col, "yanked" | "status" | "bot");
    match kind {
        Kind::Sqlite => format!("CAST({col} AS TEXT)"),
        Kind::Postgres if time => {
            format!("CAST(CAST(EXTRACT(EPOCH FROM {col}) * 1000000 AS BIGINT) AS TEXT)")
        }
        Kind::Postgres if boolean => format!("CASE WHEN {col} THEN '1' ELSE '0' END"),
        Kind::Postgres if col == "accessed_by" => format!("host({col})"),
        Kind::Postgres => format!("CAST({col} AS TEXT)"),
    }
}

fn record_progress(
    c: &mut dyn Conn,
    step: &str,
    position: Option<&str>,
    read: u64,
    done: bool,
) -> Result<()> {
    let read = i64::try_from(read).unwrap_or(i64::MAX);
    c.execute(
        "INSERT INTO migration_steps (step, position, read, done) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (step) DO UPDATE SET position = excluded.position, \
         read = migration_steps.read + excluded.read, done = excluded.done",
        params![step, position, read, done],
    )?;
    Ok(())
}

fn record_report(
    c: &mut dyn Conn,
    step: &str,
    dropped: &[Dropped],
    mapped: &[(String, u64)],
) -> Result<()> {
    if !dropped.is_empty() {
        let rows: Vec<BulkRow<'_>> = dropped
            .iter()
            .map(|d| {
                vec![
                    Value::Text(&d.table),
                    Value::Text(&d.key),
                    Value::Text(&d.reason),
                ]
            })
            .collect();
        c.bulk_insert("migration_dropped", &["src", "row_key", "reason"], &rows)?;
    }
    for (what, n) in mapped {
        c.execute(
            "INSERT INTO migration_mapped (step, what, n) VALUES ($1, $2, $3) \
             ON CONFLICT (step, what) DO UPDATE SET n = migration_mapped.n + excluded.n",
            params![step, what.as_str(), i64::try_from(*n).unwrap_or(i64::MAX)],
        )?;
    }
    Ok(())
}

/// Text for an access-log table, as the master's loggers store it: control characters
/// replaced, cut to `max` characters.
pub fn access_text(s: &str, max: usize) -> String {
    crate::ops::access::clip(s, max)
}
