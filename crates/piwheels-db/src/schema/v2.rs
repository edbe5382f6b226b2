//! Schema version 2: the rules of [`names`](crate::names) as the database's own
//! constraints (CHECKs on PostgreSQL, triggers on SQLite), and the removal of the rows an
//! older database holds that break them.
//!
//! A row that breaks the rules could never be served (the page writer refuses such
//! names, and no slave should build such a version), so nothing is lost by removing it:
//! a package goes with everything of it (names, versions, builds, files), a name or a
//! version alone (a version with its builds and files), a pending page rewrite alone.
//! `piw-initdb` lists what is removed before it asks, and again once it is done.

use super::Removed;
use crate::backend::{Conn, Kind, params};
use crate::error::Result;
use crate::names;

/// Which rule a column keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// A canonical package name.
    Package,
    /// A name (a spelling of a package).
    Name,
    /// A version.
    Version,
}

impl Rule {
    /// The rule's word in a schema script: `{VALID_PACKAGE(column)}`.
    pub(crate) const ALL: [(&'static str, Rule); 3] = [
        ("VALID_PACKAGE", Rule::Package),
        ("VALID_NAME", Rule::Name),
        ("VALID_VERSION", Rule::Version),
    ];

    /// An SQL condition, true when the text `x` follows the rule: the same rule as
    /// [`names`](crate::names), in each backend's words. SQLite's also refuses what is not
    /// text or holds a NUL (its `GLOB` stops at one).
    pub(crate) fn sql(self, kind: Kind, x: &str) -> String {
        match kind {
            Kind::Sqlite => {
                let rest = match self {
                    Rule::Package => format!(
                        "{x} GLOB '[a-z0-9]*' AND {x} GLOB '*[a-z0-9]' \
                         AND {x} NOT GLOB '*[^a-z0-9-]*' AND instr({x}, '--') = 0"
                    ),
                    Rule::Name => format!(
                        "{x} GLOB '[A-Za-z0-9]*' AND {x} GLOB '*[A-Za-z0-9]' \
                         AND {x} NOT GLOB '*[^A-Za-z0-9._-]*'"
                    ),
                    Rule::Version => format!(
                        "{x} NOT GLOB '*[^!-~]*' AND instr({x}, '/') = 0 \
                         AND instr({x}, char(92)) = 0 AND instr({x}, '..') = 0 AND {x} <> '.'"
                    ),
                };
                format!(
                    "(typeof({x}) = 'text' AND length({x}) BETWEEN 1 AND {max} \
                     AND length(CAST({x} AS BLOB)) = length({x}) AND {rest})",
                    max = names::MAX_LEN
                )
            }
            Kind::Postgres => {
                let rest = match self {
                    Rule::Package => format!(
                        "{x} COLLATE \"C\" ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' \
                         AND strpos({x}, '--') = 0"
                    ),
                    Rule::Name => {
                        format!("{x} COLLATE \"C\" ~ '^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$'")
                    }
                    Rule::Version => format!(
                        "{x} COLLATE \"C\" ~ '^[!-~]+$' AND strpos({x}, '/') = 0 \
                         AND strpos({x}, chr(92)) = 0 AND strpos({x}, '..') = 0 AND {x} <> '.'"
                    ),
                };
                format!(
                    "(length({x}) BETWEEN 1 AND {max} AND {rest})",
                    max = names::MAX_LEN
                )
            }
        }
    }
}

/// Finds the rows that break the rules and, unless `dry_run`, removes them. A dry run
/// finds what a real one would remove (the names and versions of a package that goes
/// are not listed on their own).
pub(crate) fn cleanup(c: &mut dyn Conn, dry_run: bool) -> Result<Vec<Removed>> {
    let kind = c.kind();
    let package_ok = |col: &str| Rule::Package.sql(kind, col);
    let mut removed = Vec::new();

    let bad = select_texts(
        c,
        &format!(
            "SELECT {} FROM packages WHERE NOT {} ORDER BY package",
            text(kind, "package"),
            package_ok("package")
        ),
    )?;
    removed.extend(bad.into_iter().map(|package| Removed {
        table: "packages",
        why: why_package(&package),
        package,
        item: None,
    }));
    delete(c, dry_run, "packages", &package_ok("package"))?;

    let names_bad = format!(
        "NOT {} AND {}",
        Rule::Name.sql(kind, "name"),
        package_ok("package")
    );
    let bad = select_pairs(
        c,
        &format!(
            "SELECT package, {} FROM package_names WHERE {names_bad} ORDER BY package, name",
            text(kind, "name")
        ),
    )?;
    removed.extend(bad.into_iter().map(|(package, name)| {
        Removed {
            table: "package_names",
            why: names::validate_name(&name)
                .err()
                .map_or_else(|| RULE.to_owned(), |e| e.to_string()),
            package,
            item: Some(name),
        }
    }));
    if !dry_run {
        c.execute(
            &format!("DELETE FROM package_names WHERE {names_bad}"),
            params![],
        )?;
    }

    let versions_bad = format!(
        "NOT {} AND {}",
        Rule::Version.sql(kind, "version"),
        package_ok("package")
    );
    let bad = select_pairs(
        c,
        &format!(
            "SELECT package, {} FROM versions WHERE {versions_bad} \
             ORDER BY package, version",
            text(kind, "version")
        ),
    )?;
    removed.extend(bad.into_iter().map(|(package, version)| {
        Removed {
            table: "versions",
            why: names::validate_version(&version)
                .err()
                .map_or_else(|| RULE.to_owned(), |e| e.to_string()),
            package,
            item: Some(version),
        }
    }));
    if !dry_run {
        c.execute(
            &format!("DELETE FROM versions WHERE {versions_bad}"),
            params![],
        )?;
    }

    let bad = select_texts(
        c,
        &format!(
            "SELECT {} FROM rewrites_pending WHERE NOT {} ORDER BY package",
            text(kind, "package"),
            package_ok("package")
        ),
    )?;
    removed.extend(bad.into_iter().map(|package| Removed {
        table: "rewrites_pending",
        why: why_package(&package),
        package,
        item: None,
    }));
    delete(c, dry_run, "rewrites_pending", &package_ok("package"))?;
    Ok(removed)
}

/// Why a row was removed when the Rust rules find nothing wrong (they and the SQL
/// conditions are tested to agree, so this is not expected).
const RULE: &str = "it breaks the database's rule";

fn why_package(package: &str) -> String {
    names::validate_package(package)
        .err()
        .map_or_else(|| RULE.to_owned(), |e| e.to_string())
}

fn delete(c: &mut dyn Conn, dry_run: bool, table: &str, package_ok: &str) -> Result<()> {
    if !dry_run {
        c.execute(
            &format!("DELETE FROM {table} WHERE NOT {package_ok}"),
            params![],
        )?;
    }
    Ok(())
}

/// A column as text whatever it holds: on SQLite, where a hand-made row may hold a blob
/// or bytes that are not UTF-8, as hex (see [`decode`]).
fn text(kind: Kind, col: &str) -> String {
    match kind {
        Kind::Sqlite => format!("hex({col})"),
        Kind::Postgres => col.to_owned(),
    }
}

/// The one column of every row, made by [`text`].
fn select_texts(c: &mut dyn Conn, sql: &str) -> Result<Vec<String>> {
    let kind = c.kind();
    c.query_map(sql, params![], |r| Ok(decode(kind, &r.text(0)?)))
}

/// A package (valid, so plain text) and a column made by [`text`], of every row.
fn select_pairs(c: &mut dyn Conn, sql: &str) -> Result<Vec<(String, String)>> {
    let kind = c.kind();
    c.query_map(sql, params![], |r| {
        Ok((r.text(0)?, decode(kind, &r.text(1)?)))
    })
}

/// What [`text`] made, as text.
fn decode(kind: Kind, s: &str) -> String {
    match kind {
        Kind::Sqlite => unhex(s),
        Kind::Postgres => s.to_owned(),
    }
}

/// The text of SQLite's `hex()`, lossily (bytes that are not UTF-8 shown as U+FFFD).
fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = s
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
