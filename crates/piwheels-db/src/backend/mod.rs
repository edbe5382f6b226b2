//! The two backends behind one small interface: a connection that runs portable SQL with
//! typed parameters and typed row access. All the logic of the crate is written once,
//! against [`Conn`]; each backend maps the few types that differ (timestamps, booleans, IP
//! addresses) and its placeholder syntax.
//!
//! SQL is written with PostgreSQL's `$1` placeholders; the SQLite backend rewrites them to
//! `?1`. Timestamps are `TIMESTAMP` (UTC) on PostgreSQL and integer microseconds since the
//! epoch on SQLite; durations are integer microseconds on both.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::error::Result;

/// Which backend a connection talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The embedded database.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A statement parameter.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Text(&'a str),
    Time(DateTime<Utc>),
    Ip(IpAddr),
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}

impl From<DateTime<Utc>> for Value<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(v)
    }
}

impl From<IpAddr> for Value<'_> {
    fn from(v: IpAddr) -> Self {
        Value::Ip(v)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Parameters, written `params![a, b, c]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::backend::Value::from($v)),*][..]
    };
}
pub(crate) use params;

/// One row of a result, read by column index.
pub(crate) trait Row {
    /// An integer column (any integer width).
    fn int(&self, i: usize) -> Result<i64>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    /// A text column.
    fn text(&self, i: usize) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A boolean column.
    fn bool(&self, i: usize) -> Result<bool>;
    /// A timestamp column.
    fn time(&self, i: usize) -> Result<DateTime<Utc>>;
    /// A nullable timestamp column.
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>>;
}

/// A row to append with [`Conn::bulk_insert`].
pub(crate) type BulkRow<'a> = Vec<Value<'a>>;

/// One statement of a [`Conn::pipeline`].
pub(crate) struct Stmt<'a> {
    pub(crate) sql: std::borrow::Cow<'a, str>,
    pub(crate) params: Vec<Value<'a>>,
}

impl<'a> Stmt<'a> {
    pub(crate) fn new(sql: impl Into<std::borrow::Cow<'a, str>>, params: Vec<Value<'a>>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }
}

/// A connection inside a transaction (the runner begins and ends it).
pub(crate) trait Conn {
    /// Which backend this is.
    fn kind(&self) -> Kind;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64>;

    /// Runs a query and hands each row to `f` as it arrives.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()>;

    /// Runs statements in order as one batch, handing the rows of statement `i` to
    /// `f(i, row)`; returns how many rows each changed or gave. On PostgreSQL the batch is
    /// sent at once (pipelined), so it costs one round trip however many statements it
    /// holds; use it for statements that do not need each other's results.
    fn pipeline(
        &mut self,
        stmts: &[Stmt<'_>],
        f: &mut dyn FnMut(usize, &dyn Row) -> Result<()>,
    ) -> Result<Vec<u64>>;

    /// Runs statements that give no rows as one batch, as the transaction's last: on
    /// PostgreSQL its `COMMIT` goes out in the same batch (and undoes everything, as a
    /// `ROLLBACK`, if a statement failed). Nothing may be run after it.
    fn execute_then_commit(&mut self, stmts: &[Stmt<'_>]) -> Result<()> {
        self.pipeline(stmts, &mut |_, _| Ok(()))?;
        Ok(())
    }

    /// Runs several statements separated by semicolons, without parameters (schema scripts).
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// Appends rows to a table in the backend's fastest way (`COPY` on PostgreSQL).
    fn bulk_insert(&mut self, table: &str, columns: &[&str], rows: &[BulkRow<'_>]) -> Result<()>;
}

impl dyn Conn + '_ {
    /// Runs a query and maps every row.
    pub(crate) fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        mut f: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a query expected to give at most one row, and maps it.
    pub(crate) fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        mut f: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut out = None;
        self.query_each(sql, params, &mut |row| {
            if out.is_none() {
                out = Some(f(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// A query giving one integer (a count, an id).
    pub(crate) fn query_int(&mut self, sql: &str, params: &[Value<'_>]) -> Result<i64> {
        Ok(self.query_opt(sql, params, |r| r.int(0))?.unwrap_or(0))
    }

    /// Whether a query gives any row.
    pub(crate) fn exists(&mut self, sql: &str, params: &[Value<'_>]) -> Result<bool> {
        Ok(self.query_opt(sql, params, |_| Ok(()))?.is_some())
    }
}

/// Microseconds in a [`chrono::TimeDelta`], saturating.
pub(crate) fn micros(d: chrono::TimeDelta) -> i64 {
    d.num_microseconds()
        .unwrap_or(if d < chrono::TimeDelta::zero() {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// A timestamp from microseconds since the epoch.
pub(crate) fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}
