//! The embedded backend: SQLite (bundled), one file, in WAL mode.
//!
//! Connections are kept in a pool and used on tokio's blocking threads. Readers run in
//! parallel on their own snapshots; writers queue on an in-process lock before
//! `BEGIN IMMEDIATE`, so they never spin in SQLite's busy handler against each other (the
//! busy timeout remains for other processes, such as `piw-initdb`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{BulkRow, Conn, Kind, Row, Stmt, Value, from_micros};
use crate::error::{Error, Result};

/// How long a writer waits for another process's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Opens a connection with the settings every connection uses. With `create`, a missing
/// file is created (only `piw-initdb` does that).
pub(crate) fn open(path: &Path, create: bool) -> Result<Connection> {
    let op = "open";
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    } else if !path.exists() {
        return Err(Error::Schema(crate::SchemaProblem::Empty));
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite(op, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sqlite(op, e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans stay as first made: without this, SQLite re-prepares a statement whenever a
    // newly bound value might change its plan (the partial index on twin files makes
    // that every query on `files`), which was a third of the time of reading project data.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(|e| sqlite(op, e))?;
    // WAL: readers never block the writer; NORMAL: a commit survives a crash of the
    // process (not of the machine) without an fsync each time.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .map_err(|e| sqlite(op, e))?;
    Ok(conn)
}

/// The file a `sqlite:` address names.
pub(crate) fn path_of(dsn: &str) -> PathBuf {
    let rest = dsn
        .strip_prefix("sqlite://")
        .or_else(|| dsn.strip_prefix("sqlite:"))
        .unwrap_or(dsn);
    PathBuf::from(rest)
}

pub(crate) fn sqlite(op: &'static str, source: rusqlite::Error) -> Error {
    Error::Sqlite { op, source }
}

/// A connection inside a transaction, for the operation `op`.
pub(crate) struct SqliteConn<'c> {
    pub(crate) conn: &'c mut Connection,
    pub(crate) op: &'static str,
}

/// Rewrites PostgreSQL's `$1` placeholders to SQLite's `?1`, outside quoted text.
fn placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Time(t) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(t.timestamp_micros()))
            }
            Value::Ip(ip) => ToSqlOutput::Owned(rusqlite::types::Value::Text(ip.to_string())),
        })
    }
}

struct SqliteRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    op: &'static str,
}

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> Result<T> {
        self.row.get(i).map_err(|e| sqlite(self.op, e))
    }
}

impl Row for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i)
    }
    fn text(&self, i: usize) -> Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i)
    }
    fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.get::<i64>(i)? != 0)
    }
    fn time(&self, i: usize) -> Result<DateTime<Utc>> {
        self.opt_time(i)?
            .ok_or_else(|| Error::corrupt(self.op, format!("column {i} is NULL, not a time")))
    }
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>> {
        match self.get::<Option<i64>>(i)? {
            None => Ok(None),
            Some(us) => from_micros(us)
                .map(Some)
                .ok_or_else(|| Error::corrupt(self.op, format!("time {us} µs is out of range"))),
        }
    }
}

impl Conn for SqliteConn<'_> {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64> {
        let op = self.op;
        let mut stmt = self
            .conn
            .prepare_cached(&placeholders(sql))
            .map_err(|e| sqlite(op, e))?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(|e| sqlite(op, e))?;
        Ok(n as u64)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        let op = self.op;
        let mut stmt = self
            .conn
            .prepare_cached(&placeholders(sql))
            .map_err(|e| sqlite(op, e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| sqlite(op, e))?;
        while let Some(row) = rows.next().map_err(|e| sqlite(op, e))? {
            f(&SqliteRow { row, op })?;
        }
        Ok(())
    }

    fn pipeline(
        &mut self,
        stmts: &[Stmt<'_>],
        f: &mut dyn FnMut(usize, &dyn Row) -> Result<()>,
    ) -> Result<Vec<u64>> {
        let op = self.op;
        let mut counts = Vec::with_capacity(stmts.len());
        for (i, stmt) in stmts.iter().enumerate() {
            let mut prepared = self
                .conn
                .prepare_cached(&placeholders(&stmt.sql))
                .map_err(|e| sqlite(op, e))?;
            if prepared.column_count() == 0 {
                let n = prepared
                    .execute(rusqlite::params_from_iter(&stmt.params))
                    .map_err(|e| sqlite(op, e))?;
                counts.push(n as u64);
                continue;
            }
            let mut rows = prepared
                .query(rusqlite::params_from_iter(&stmt.params))
                .map_err(|e| sqlite(op, e))?;
            let mut n = 0;
            while let Some(row) = rows.next().map_err(|e| sqlite(op, e))? {
                f(i, &SqliteRow { row, op })?;
                n += 1;
            }
            counts.push(n);
        }
        Ok(counts)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| sqlite(self.op, e))
    }

    fn bulk_insert(&mut self, table: &str, columns: &[&str], rows: &[BulkRow<'_>]) -> Result<()> {
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            marks.join(", ")
        );
        let op = self.op;
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| sqlite(op, e))?;
        for row in rows {
            stmt.execute(rusqlite::params_from_iter(row))
                .map_err(|e| sqlite(op, e))?;
        }
        Ok(())
    }
}

/// Runs `f` in a transaction on `conn`: `BEGIN IMMEDIATE` for writers (so the write lock is
/// taken at the start, not half-way), a deferred `BEGIN` (one snapshot) for readers.
pub(crate) fn transaction<R>(
    conn: &mut Connection,
    op: &'static str,
    write: bool,
    f: impl FnOnce(&mut dyn Conn) -> Result<R>,
) -> Result<R> {
    conn.execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })
        .map_err(|e| sqlite(op, e))?;
    let result = f(&mut SqliteConn { conn, op });
    match result {
        Ok(value) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(sqlite(op, e))
            }
        },
        Err(e) => {
            // A failed statement can leave SQLite's transaction open or already rolled back;
            // either way the connection must be clean when it goes back to the pool.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn rewrites_placeholders_outside_quotes() {
        assert_eq!(placeholders("SELECT 1"), "SELECT 1");
        assert_eq!(
            placeholders("SELECT a FROM t WHERE a = $1 AND b = '$2' AND c = $10"),
            "SELECT a FROM t WHERE a = ?1 AND b = '$2' AND c = ?10"
        );
        assert_eq!(placeholders("SELECT \"$1\", $2"), "SELECT \"$1\", ?2");
    }
}
