//! The production backend: PostgreSQL through `tokio-postgres`, pooled by
//! `deadpool-postgres`.
//!
//! The crate's logic is synchronous code over [`Conn`]; on PostgreSQL it runs on one of
//! tokio's blocking threads and drives each statement with [`Handle::block_on`], while the
//! connection itself is served by its task on the runtime. Statements are prepared once per
//! connection (deadpool's statement cache).

use std::str::FromStr;

use bytes::BytesMut;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::future::Future;

use futures_util::future::maybe_done;
use futures_util::{TryStreamExt, pin_mut};
use tokio::runtime::Handle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{BulkRow, Conn, Kind, Row, Stmt, Value};
use crate::error::{Error, Result};

/// Whether an address is PostgreSQL's (a URL or libpq's `key=value` form).
pub(crate) fn is_postgres(dsn: &str) -> bool {
    let d = dsn.trim_start();
    d.starts_with("postgres://")
        || d.starts_with("postgresql://")
        || (d.contains('=')
            && d.starts_with(|c: char| c.is_ascii_alphabetic())
            && !d.starts_with("sqlite:"))
}

/// Parses an address, filling in what libpq would take from the environment (`PGHOST`,
/// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`) and its default socket directory, so
/// the original's default `postgres:///piwheels` works as it does with psycopg2.
pub(crate) fn config(dsn: &str) -> Result<tokio_postgres::Config> {
    let bad = |why: String| Error::BadDsn {
        dsn: dsn.to_owned(),
        why,
    };
    let mut config = tokio_postgres::Config::from_str(dsn).map_err(|e| bad(e.to_string()))?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        let host = env("PGHOST").unwrap_or_else(|| {
            if std::path::Path::new("/var/run/postgresql").is_dir() {
                "/var/run/postgresql".into()
            } else {
                "localhost".into()
            }
        });
        config.host(&host);
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT")
    {
        config.port(
            port.parse()
                .map_err(|_| bad(format!("PGPORT={port} is not a port")))?,
        );
    }
    if config.get_user().is_none()
        && let Some(user) = env("PGUSER")
    {
        config.user(user);
    }
    if config.get_password().is_none()
        && let Some(password) = env("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_dbname().is_none()
        && let Some(db) = env("PGDATABASE")
    {
        config.dbname(db);
    }
    config.application_name("piwheels");
    Ok(config)
}

pub(crate) fn pg(op: &'static str, source: tokio_postgres::Error) -> Error {
    Error::Postgres { op, source }
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Time(t) => match *ty {
                Type::TIMESTAMPTZ => t.to_sql(ty, out),
                _ => t.naive_utc().to_sql(ty, out),
            },
            Value::Ip(ip) => match *ty {
                Type::INET => ip.to_sql(ty, out),
                _ => ip.to_string().to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow<'r> {
    row: &'r tokio_postgres::Row,
    op: &'static str,
}

impl PgRow<'_> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T> {
        self.row.try_get(i).map_err(|e| pg(self.op, e))
    }
}

impl Row for PgRow<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| Error::corrupt(self.op, format!("column {i} is NULL, not an integer")))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match *self.row.columns()[i].type_() {
            Type::INT2 => Ok(self.get::<Option<i16>>(i)?.map(i64::from)),
            Type::INT4 => Ok(self.get::<Option<i32>>(i)?.map(i64::from)),
            _ => self.get(i),
        }
    }
    fn text(&self, i: usize) -> Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i)
    }
    fn bool(&self, i: usize) -> Result<bool> {
        self.get(i)
    }
    fn time(&self, i: usize) -> Result<DateTime<Utc>> {
        self.opt_time(i)?
            .ok_or_else(|| Error::corrupt(self.op, format!("column {i} is NULL, not a time")))
    }
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>> {
        match *self.row.columns()[i].type_() {
            Type::TIMESTAMPTZ => self.get(i),
            _ => Ok(self.get::<Option<NaiveDateTime>>(i)?.map(|t| t.and_utc())),
        }
    }
}

/// A pooled connection inside a transaction, for the operation `op`. The transaction's
/// `BEGIN` goes out with the first statement (pipelined), so it costs no round trip of its
/// own; an operation that runs no statement sends neither `BEGIN` nor `COMMIT`.
pub(crate) struct PgConn<'c> {
    pub(crate) client: &'c deadpool_postgres::ClientWrapper,
    pub(crate) handle: Handle,
    pub(crate) op: &'static str,
    /// The `BEGIN` to send before the first statement; `None` once sent.
    pub(crate) begin: Option<&'static str>,
    /// Whether the transaction was committed with its last statements.
    pub(crate) committed: bool,
}

impl PgConn<'_> {
    fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        self.handle
            .block_on(self.client.prepare_cached(sql))
            .map_err(|e| pg(self.op, e))
    }

    /// Runs `fut` (which sends its statements when first polled), preceded by the
    /// transaction's `BEGIN` if that has not gone out yet.
    fn run<T>(&mut self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let op = self.op;
        let client = self.client;
        match self.begin.take() {
            None => self.handle.block_on(fut),
            Some(begin) => self.handle.block_on(async move {
                // join polls in order: BEGIN is sent first, then the statement.
                let (began, result) =
                    futures_util::future::join(client.batch_execute(begin), fut).await;
                began.map_err(|e| pg(op, e))?;
                result
            }),
        }
    }
}

impl Conn for PgConn<'_> {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64> {
        let stmt = self.prepare(sql)?;
        let (client, op) = (self.client, self.op);
        self.run(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
            client.execute(&stmt, &refs).await.map_err(|e| pg(op, e))
        })
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        let stmt = self.prepare(sql)?;
        let (client, op) = (self.client, self.op);
        self.run(async move {
            let refs = params.iter().map(|v| v as &(dyn ToSql + Sync));
            let rows = client.query_raw(&stmt, refs).await.map_err(|e| pg(op, e))?;
            pin_mut!(rows);
            while let Some(row) = rows.try_next().await.map_err(|e| pg(op, e))? {
                f(&PgRow { row: &row, op })?;
            }
            Ok(())
        })
    }

    fn pipeline(
        &mut self,
        stmts: &[Stmt<'_>],
        f: &mut dyn FnMut(usize, &dyn Row) -> Result<()>,
    ) -> Result<Vec<u64>> {
        let (client, op) = (self.client, self.op);
        // Prepare (those not cached yet, together), then send every statement at once and
        // read the answers in order.
        let prepared = self
            .handle
            .block_on(futures_util::future::try_join_all(
                stmts.iter().map(|s| client.prepare_cached(&s.sql)),
            ))
            .map_err(|e| pg(op, e))?;
        self.run(async move {
            // Each query's future sends its statement when first polled, then waits for the
            // server's first answer. Poll them all once, so that every statement goes out
            // now; then read the answers in order, each stream to its end before the next
            // (tokio-postgres holds later answers back until earlier ones are read, so
            // waiting for all of them before reading any would never end).
            let mut sends: Vec<_> = stmts
                .iter()
                .zip(&prepared)
                .map(|(s, stmt)| {
                    Box::pin(maybe_done(client.query_raw(
                        stmt,
                        s.params.iter().map(|v| v as &(dyn ToSql + Sync)),
                    )))
                })
                .collect();
            std::future::poll_fn(|cx| {
                for send in &mut sends {
                    let _ = send.as_mut().poll(cx);
                }
                std::task::Poll::Ready(())
            })
            .await;
            let mut counts = Vec::with_capacity(stmts.len());
            let mut first_error = None;
            for (i, send) in sends.iter_mut().enumerate() {
                send.as_mut().await;
                let rows = match send.as_mut().take_output().expect("a finished query") {
                    Ok(rows) => rows,
                    Err(e) => {
                        first_error.get_or_insert(pg(op, e));
                        continue;
                    }
                };
                pin_mut!(rows);
                let mut n = 0;
                loop {
                    match rows.as_mut().try_next().await {
                        Ok(Some(row)) => {
                            if first_error.is_none()
                                && let Err(e) = f(i, &PgRow { row: &row, op })
                            {
                                first_error = Some(e);
                            }
                            n += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            first_error.get_or_insert(pg(op, e));
                            break;
                        }
                    }
                }
                counts.push(rows.rows_affected().unwrap_or(n));
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(counts),
            }
        })
    }

    fn execute_then_commit(&mut self, stmts: &[Stmt<'_>]) -> Result<()> {
        let mut all: Vec<Stmt<'_>> = stmts
            .iter()
            .map(|s| Stmt::new(s.sql.as_ref(), s.params.clone()))
            .collect();
        all.push(Stmt::new("COMMIT", Vec::new()));
        // From here the transaction is over, whatever the answer: a COMMIT after a failed
        // statement is a ROLLBACK.
        self.committed = true;
        self.pipeline(&all, &mut |_, _| Ok(()))?;
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let (client, op) = (self.client, self.op);
        self.run(async move { client.batch_execute(sql).await.map_err(|e| pg(op, e)) })
    }

    fn bulk_insert(&mut self, table: &str, columns: &[&str], rows: &[BulkRow<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let cols = columns.join(", ");
        let types: Vec<Type> = self
            .prepare(&format!("SELECT {cols} FROM {table} LIMIT 0"))?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let copy = format!("COPY {table} ({cols}) FROM STDIN BINARY");
        let (client, op) = (self.client, self.op);
        self.run(async move {
            let sink = client.copy_in(&copy).await.map_err(|e| pg(op, e))?;
            let writer = BinaryCopyInWriter::new(sink, &types);
            pin_mut!(writer);
            for row in rows {
                let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v as _).collect();
                writer.as_mut().write(&refs).await.map_err(|e| pg(op, e))?;
            }
            writer.finish().await.map_err(|e| pg(op, e))?;
            Ok(())
        })
    }
}

/// Runs `f` in a transaction: a plain one for writers, a read-only repeatable-read one (one
/// snapshot for every query) for readers. Returns, with the result, whether the connection
/// is still fit for the pool.
pub(crate) fn transaction<R>(
    client: &deadpool_postgres::ClientWrapper,
    handle: Handle,
    op: &'static str,
    write: bool,
    f: impl FnOnce(&mut dyn Conn) -> Result<R>,
) -> (Result<R>, bool) {
    let begin = if write {
        "BEGIN"
    } else {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    };
    let mut conn = PgConn {
        client,
        handle: handle.clone(),
        op,
        begin: Some(begin),
        committed: false,
    };
    let result = f(&mut conn);
    let began = conn.begin.is_none();
    if !began || conn.committed {
        // Nothing was sent (an operation that failed its checks, or did nothing), or the
        // transaction ended with its last statements.
        return (result, !client.is_closed());
    }
    if !write && result.is_ok() {
        // A read-only transaction has nothing to lose at COMMIT: send it without waiting
        // for the answer (the connection keeps requests in order, so whoever uses it next
        // starts after it).
        use futures_util::FutureExt;
        let _ = client.batch_execute("COMMIT").now_or_never();
        return (result, true);
    }
    match result {
        Ok(value) => match handle.block_on(client.batch_execute("COMMIT")) {
            Ok(()) => (Ok(value), true),
            Err(e) => {
                let fit = handle.block_on(client.batch_execute("ROLLBACK")).is_ok();
                (Err(pg(op, e)), fit)
            }
        },
        Err(e) => {
            let fit = handle.block_on(client.batch_execute("ROLLBACK")).is_ok();
            (Err(e), fit)
        }
    }
}
