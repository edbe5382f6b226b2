//! Every operation of the database, one module per subject. Each public method of
//! [`Database`](crate::Database) checks its input, then runs one transaction of portable SQL.

mod access;
mod builds;
pub(crate) mod journal;
mod misc;
mod packages;
mod project;
pub(crate) mod queue;
mod stats;

use crate::backend::{Conn, Kind, Stmt, Value};
use crate::error::{Error, Result};

/// A package name in PEP 503's canonical form: runs of `-`, `_` and `.` become one `-`, and
/// letters are lower-cased. Package keys in the database are always canonical.
///
/// ```
/// assert_eq!(piwheels_db::canonicalize_name("Foo__Bar.baz"), "foo-bar-baz");
/// ```
pub fn canonicalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

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

/// Refuses a package name that is not canonical (or not storable).
pub(crate) fn check_package(op: &'static str, package: &str) -> Result<()> {
    check_len(op, "the package name", package, 200, true)?;
    let canonical = canonicalize_name(package);
    if canonical != package {
        return Err(Error::invalid(
            op,
            format!("package name {package:?} is not canonical (it would be {canonical:?})"),
        ));
    }
    Ok(())
}

/// Refuses a version string that cannot be stored.
pub(crate) fn check_version(op: &'static str, version: &str) -> Result<()> {
    check_len(op, "the version", version, 200, true)
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
    fn canonical_names() {
        assert_eq!(canonicalize_name("Django"), "django");
        assert_eq!(canonicalize_name("zope.interface"), "zope-interface");
        assert_eq!(canonicalize_name("A-_.-b"), "a-b");
        assert_eq!(canonicalize_name("foo"), "foo");
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
    }
}
