//! Every operation of the database, one module per subject. Each public method of
//! [`Database`](crate::Database) checks its input, then runs one transaction of portable SQL.

pub(crate) mod access;
mod builds;
pub mod downloads;
pub(crate) mod journal;
mod misc;
mod new_projects;
mod packages;
mod project;
pub(crate) mod queue;
mod stats;
pub(crate) mod upstream;

use crate::backend::{Conn, Kind, Stmt, Value};
use crate::error::{Error, Result};

use crate::names;

/// Refuses text longer than `max` characters (or empty, when `nonempty`).
pub(crate) fn check_len(
    op: &'static str,
    what: &str,
    s: &str,
    max: usize,
    nonempty: bool,
) -> Result<()> {
    if nonempty && s.is_empty() {
        return Err(Error::invalid(op, format!("{what} is empty")));
    }
    let n = s.chars().count();
    if n > max {
        return Err(Error::invalid(
            op,
            format!("{what} is {n} characters long; the limit is {max}"),
        ));
    }
    if s.contains('\0') {
        return Err(Error::invalid(
            op,
            format!("{what} contains a NUL character"),
        ));
    }
    Ok(())
}

/// Refuses a package key that breaks the name rule or is not canonical (see
/// [`names`](crate::names)).
pub(crate) fn check_package(op: &'static str, package: &str) -> Result<()> {
    names::validate_package(package)
        .map(drop)
        .map_err(|e| Error::invalid(op, e.to_string()))
}

/// Refuses a spelling of `package` that breaks the name rule or is not one of its
/// spellings.
pub(crate) fn check_name(op: &'static str, package: &str, name: &str) -> Result<()> {
    names::validate_alias(name, package)
        .map(drop)
        .map_err(|e| Error::invalid(op, e.to_string()))
}

/// Refuses a version that breaks the version rule (see [`names`](crate::names)).
pub(crate) fn check_version(op: &'static str, version: &str) -> Result<()> {
    names::validate_version(version)
        .map(drop)
        .map_err(|e| Error::invalid(op, e.to_string()))
}

/// Refuses a skip reason that cannot be stored.
pub(crate) fn check_skip(op: &'static str, reason: &str) -> Result<()> {
    check_len(op, "the skip reason", reason, 100, false)
}

/// Locks a package's row until the transaction ends, so that everything that decides a
/// version's place in the build queue is read and written by one operation at a time (on
/// SQLite the write lock already covers the whole database). Returns whether it exists.
pub(crate) fn lock_package(c: &mut dyn Conn, package: &str) -> Result<bool> {
    let stmt = lock_stmt(c.kind(), package);
    c.exists(&stmt.sql, &stmt.params)
}

/// The statement of [`lock_package`], to send in a pipeline.
pub(crate) fn lock_stmt(kind: Kind, package: &str) -> Stmt<'_> {
    let sql = match kind {
        Kind::Postgres => "SELECT 1 FROM packages WHERE package = $1 FOR UPDATE",
        Kind::Sqlite => "SELECT 1 FROM packages WHERE package = $1",
    };
    Stmt::new(sql, vec![Value::Text(package)])
}

/// `$first, $first+1, ...` for `n` values: the placeholders of a multi-row statement.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(first + i).to_string());
    }
    s
}

/// A `VALUES` list of `rows` rows of `cols` placeholders each.
pub(crate) fn values_list(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(1 + r * cols, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
    }
}
