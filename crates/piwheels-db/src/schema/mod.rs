//! The schema and its migrations.
//!
//! Each migration takes the schema from one version to the next, with one script per
//! backend. A new database runs them all; an older one runs those after its version. The
//! version lives in `configuration.version`, next to `software = 'piwheels-rs'`, which tells
//! our databases from the original piwheels' (whose `configuration.version` is text such as
//! `0.23`).

use crate::backend::{Conn, Kind, params};
use crate::error::{Error, Result, SchemaProblem};

/// The schema version this software uses.
pub const SCHEMA_VERSION: i64 = 1;

/// One step of the schema's history.
#[derive(Debug)]
pub struct Migration {
    /// The version it leads to.
    pub version: i64,
    /// What it does, for `piw-initdb` to show before it asks.
    pub description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    /// The script for a backend.
    fn script(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Sqlite => self.sqlite,
            Kind::Postgres => self.postgres,
        }
    }
}

/// Every migration, in order. Version `n` is at index `n - 1`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "create the piwheels schema (packages, versions, build targets, builds, \
                  files, dependencies, the build queue, access logs, pending rewrites)",
    sqlite: include_str!("sqlite/0001_initial.sql"),
    postgres: include_str!("postgres/0001_initial.sql"),
}];

/// What a database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No tables at all.
    Empty,
    /// Our schema at this version.
    Version(i64),
    /// The original piwheels' schema, at this version.
    Original(String),
    /// Tables that are not piwheels'.
    Foreign,
}

impl SchemaState {
    /// Whether this software can use it as it is.
    pub fn is_current(&self) -> bool {
        *self == SchemaState::Version(SCHEMA_VERSION)
    }

    /// Why this software cannot use it as it is, if it cannot.
    pub fn problem(&self) -> Option<SchemaProblem> {
        match *self {
            SchemaState::Empty => Some(SchemaProblem::Empty),
            SchemaState::Version(v) if v == SCHEMA_VERSION => None,
            SchemaState::Version(v) if v < SCHEMA_VERSION => Some(SchemaProblem::Old {
                found: v,
                expected: SCHEMA_VERSION,
            }),
            SchemaState::Version(v) => Some(SchemaProblem::Newer {
                found: v,
                expected: SCHEMA_VERSION,
            }),
            SchemaState::Original(ref version) => Some(SchemaProblem::Original {
                version: version.clone(),
            }),
            SchemaState::Foreign => Some(SchemaProblem::Foreign),
        }
    }

    /// The migrations that bring it to [`SCHEMA_VERSION`], or why none can.
    pub fn plan(&self) -> Result<&'static [Migration]> {
        match *self {
            SchemaState::Empty => Ok(MIGRATIONS),
            SchemaState::Version(v) if (0..=SCHEMA_VERSION).contains(&v) => {
                Ok(&MIGRATIONS[usize::try_from(v).unwrap_or(0)..])
            }
            _ => Err(Error::Schema(
                self.problem().unwrap_or(SchemaProblem::Foreign),
            )),
        }
    }
}

/// Reads what the database holds.
pub(crate) fn detect(c: &mut dyn Conn) -> Result<SchemaState> {
    let (tables_sql, columns_sql) = match c.kind() {
        Kind::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            "SELECT name FROM pragma_table_info('configuration')",
        ),
        Kind::Postgres => (
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'configuration'",
        ),
    };
    let tables = c.query_map(tables_sql, params![], |r| r.text(0))?;
    if tables.is_empty() {
        return Ok(SchemaState::Empty);
    }
    if !tables.iter().any(|t| t == "configuration") {
        return Ok(SchemaState::Foreign);
    }
    let columns = c.query_map(columns_sql, params![], |r| r.text(0))?;
    if columns.iter().any(|c| c == "software") {
        let row = c.query_opt(
            "SELECT software, version FROM configuration WHERE id = 1",
            params![],
            |r| Ok((r.text(0)?, r.int(1)?)),
        )?;
        return Ok(match row {
            Some((software, version)) if software == "piwheels-rs" => SchemaState::Version(version),
            _ => SchemaState::Foreign,
        });
    }
    if columns.iter().any(|c| c == "version") {
        let version = c
            .query_opt(
                "SELECT CAST(version AS TEXT) FROM configuration",
                params![],
                |r| r.text(0),
            )?
            .unwrap_or_default();
        return Ok(SchemaState::Original(version));
    }
    Ok(SchemaState::Foreign)
}

/// Refuses a database this software cannot use as it is.
pub(crate) fn check(c: &mut dyn Conn) -> Result<()> {
    match detect(c)?.problem() {
        None => Ok(()),
        Some(problem) => Err(Error::Schema(problem)),
    }
}

/// Runs the migrations that bring the database to [`SCHEMA_VERSION`]; returns the versions
/// it went through. Runs inside the caller's transaction: all or nothing.
pub(crate) fn migrate(c: &mut dyn Conn, up_to: i64) -> Result<Vec<i64>> {
    let state = detect(c)?;
    let mut done = Vec::new();
    for m in state.plan()?.iter().filter(|m| m.version <= up_to) {
        c.batch(m.script(c.kind()))?;
        c.execute(
            "UPDATE configuration SET version = $1 WHERE id = 1",
            params![m.version],
        )?;
        done.push(m.version);
    }
    Ok(done)
}
