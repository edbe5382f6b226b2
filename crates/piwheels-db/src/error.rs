//! The error type of every database operation.

use std::fmt;

/// What went wrong in a database operation. Each variant says which operation failed and
/// why; the backend errors keep the driver's own error (and so its SQLSTATE or SQLite code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string that names no backend we know, or that the backend's parser
    /// rejects.
    #[error("bad database address {dsn:?}: {why}")]
    BadDsn {
        /// The address as given.
        dsn: String,
        /// Why it was refused.
        why: String,
    },
    /// SQLite said no.
    #[error("{op}: SQLite: {source}")]
    Sqlite {
        /// The operation that failed.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL said no.
    #[error("{op}: PostgreSQL: {}", pg_message(source))]
    Postgres {
        /// The operation that failed.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be had from the pool.
    #[error("{op}: no database connection: {why}")]
    Pool {
        /// The operation that failed.
        op: &'static str,
        /// Why.
        why: String,
    },
    /// The database is not at the schema version this software uses.
    #[error("{0}")]
    Schema(SchemaProblem),
    /// An argument the database cannot store (a name too long, a hash that is not
    /// SHA-256 hex, a non-canonical package name, ...). Nothing was changed.
    #[error("{op}: {why}")]
    Invalid {
        /// The operation refused.
        op: &'static str,
        /// What was wrong with its input.
        why: String,
    },
    /// The upstream serial would go backwards. Nothing was changed.
    #[error("set_upstream_serial: the new serial {new} is lower than the stored one {current}")]
    SerialBackwards {
        /// The serial stored.
        current: i64,
        /// The serial refused.
        new: i64,
    },
    /// The operation refers to a package or version the database does not have.
    #[error("{op}: {what} does not exist")]
    NotFound {
        /// The operation that failed.
        op: &'static str,
        /// What is missing (`package foo`, `version foo 1.0`).
        what: String,
    },
    /// A value read back could not be understood (a corrupted or hand-edited row).
    #[error("{op}: unexpected value in the database: {why}")]
    Corrupt {
        /// The operation that failed.
        op: &'static str,
        /// What was found.
        why: String,
    },
    /// The blocking task running the operation died (a panic in the driver).
    #[error("{op}: the database task failed: {why}")]
    Task {
        /// The operation that failed.
        op: &'static str,
        /// The join error.
        why: String,
    },
}

/// Why a database's schema cannot be used (see [`Error::Schema`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaProblem {
    /// The database has no piwheels schema at all.
    Empty,
    /// An older version of our schema: `piw-initdb` upgrades it.
    Old {
        /// The version found.
        found: i64,
        /// The version this software uses.
        expected: i64,
    },
    /// A newer version of our schema, written by newer software: refused.
    Newer {
        /// The version found.
        found: i64,
        /// The version this software uses.
        expected: i64,
    },
    /// A database of the original (Python) piwheels, whose schema this software does not use.
    Original {
        /// Its `configuration.version`.
        version: String,
    },
    /// Tables that are not piwheels'.
    Foreign,
    /// A migration from the original piwheels into this database has not finished.
    Migrating,
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "the database has no piwheels schema; create it with piw-initdb"
            ),
            Self::Old { found, expected } => write!(
                f,
                "the database schema is version {found} but this software uses version {expected}; \
                 upgrade it with piw-initdb"
            ),
            Self::Newer { found, expected } => write!(
                f,
                "the database schema is version {found}, newer than this software's version \
                 {expected}; run the newer software (or restore a backup)"
            ),
            Self::Original { version } => write!(
                f,
                "this is a database of the original Python piwheels (version {version}); this \
                 software keeps its own schema: copy it into a new database with piw-migrate \
                 (or create an empty one with piw-initdb)"
            ),
            Self::Foreign => write!(
                f,
                "the database holds tables that are not a piwheels schema; refusing to touch it"
            ),
            Self::Migrating => write!(
                f,
                "a migration from piwheels 0.23 into this database has not finished; finish it \
                 with piw-migrate --resume (or start again on an empty database)"
            ),
        }
    }
}

/// PostgreSQL's own message (with its SQLSTATE) where the server sent one.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        None => e.to_string(),
    }
}

impl Error {
    /// The error for input that cannot be stored.
    pub(crate) fn invalid(op: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid {
            op,
            why: why.into(),
        }
    }

    /// The error for a missing package or version.
    pub(crate) fn not_found(op: &'static str, what: impl Into<String>) -> Self {
        Self::NotFound {
            op,
            what: what.into(),
        }
    }

    /// The error for a value read back that makes no sense.
    pub(crate) fn corrupt(op: &'static str, why: impl Into<String>) -> Self {
        Self::Corrupt {
            op,
            why: why.into(),
        }
    }

    /// The name of the operation that failed, where known.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Self::Sqlite { op, .. }
            | Self::Postgres { op, .. }
            | Self::Pool { op, .. }
            | Self::Invalid { op, .. }
            | Self::NotFound { op, .. }
            | Self::Corrupt { op, .. }
            | Self::Task { op, .. } => Some(op),
            Self::SerialBackwards { .. } => Some("set_upstream_serial"),
            Self::BadDsn { .. } | Self::Schema(_) => None,
        }
    }
}

/// A result of a database operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
