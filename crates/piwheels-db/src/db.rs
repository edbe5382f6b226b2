//! [`Database`]: the handle every task of the master shares, and the runner that takes each
//! operation to a pooled connection on a blocking thread.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::Mutex;

use crate::abi::PlatformAliases;
use crate::backend::{Conn, Kind, postgres, sqlite};
use crate::error::{Error, Result};
use crate::observe::{QueryObserver, QueryTiming};
use crate::schema;

/// How to open a database.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Platforms whose wheels are also published under another platform's name (by
    /// default `linux_armv7l` → `linux_armv6l`, as piwheels does).
    pub platform_aliases: PlatformAliases,
    /// Connections kept open (default 4 for SQLite, 8 for PostgreSQL).
    pub pool_size: Option<usize>,
}

/// The master's database: SQLite (a file, the embedded default) or PostgreSQL, behind one
/// set of operations. Cheap to clone; every clone shares one connection pool.
///
/// The pool takes the place of piwheels' Seraph router and its three TheOracle workers:
/// instead of queueing requests on an inproc socket for a fixed set of worker threads, each
/// operation takes a connection from the pool, runs on a blocking thread, and gives it
/// back. On SQLite, writers queue on one in-process lock (SQLite has a single writer
/// anyway) while readers run in parallel.
///
/// Every operation runs in one transaction: it happens whole or not at all.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    options: Options,
    /// Told how long each operation took, once one is installed.
    observer: OnceLock<Arc<dyn QueryObserver>>,
}

enum Pool {
    Sqlite {
        path: PathBuf,
        conns: deadpool::unmanaged::Pool<rusqlite::Connection>,
        writer: Mutex<()>,
    },
    Postgres {
        pool: deadpool_postgres::Pool,
    },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.pool {
            Pool::Sqlite { path, .. } => write!(f, "Database(sqlite:{})", path.display()),
            Pool::Postgres { .. } => f.write_str("Database(postgres)"),
        }
    }
}

impl Database {
    /// Opens the database at `dsn` with default [`Options`]: a PostgreSQL URL
    /// (`postgres://user@host/db`, `postgres:///piwheels`) or libpq `key=value` string, or
    /// else an SQLite file (`sqlite:/path`, or a plain path).
    ///
    /// Refuses, with [`Error::Schema`], a database that is not at this software's schema
    /// version: `piw-initdb` creates and upgrades them.
    pub async fn open(dsn: &str) -> Result<Self> {
        Self::open_with(dsn, Options::default()).await
    }

    /// Brings the database at `dsn` to this software's schema (creating an SQLite file that
    /// is missing, as [`Admin::initialize`](crate::admin::Admin::initialize) does, without
    /// PostgreSQL grants) and opens it: what `piw-master` does on first start, and what
    /// tests and benchmarks use for a fresh database.
    pub async fn create(dsn: &str) -> Result<Self> {
        crate::admin::Admin::connect(dsn)
            .await?
            .initialize(None)
            .await?;
        Self::open(dsn).await
    }

    /// Opens the database at `dsn` (see [`open`](Self::open)) with these options.
    pub async fn open_with(dsn: &str, options: Options) -> Result<Self> {
        let db = Self::connect(dsn, options, false).await?;
        db.read("open", |c| schema::check(c)).await?;
        Ok(db)
    }

    /// Connects without checking the schema (for [`crate::admin`]); with `create`, a
    /// missing SQLite file is created.
    pub(crate) async fn connect(dsn: &str, options: Options, create: bool) -> Result<Self> {
        let pool = if postgres::is_postgres(dsn) {
            let config = postgres::config(dsn)?;
            let manager = deadpool_postgres::Manager::from_config(
                config,
                tokio_postgres::NoTls,
                deadpool_postgres::ManagerConfig {
                    recycling_method: deadpool_postgres::RecyclingMethod::Fast,
                },
            );
            let pool = deadpool_postgres::Pool::builder(manager)
                .max_size(options.pool_size.unwrap_or(8).max(1))
                .build()
                .map_err(|e| Error::Pool {
                    op: "open",
                    why: e.to_string(),
                })?;
            // Connect once now, so a wrong address fails here rather than at first use.
            drop(pool.get().await.map_err(|e| pool_error("open", e))?);
            Pool::Postgres { pool }
        } else {
            let path = sqlite::path_of(dsn);
            if path.as_os_str().is_empty() {
                return Err(Error::BadDsn {
                    dsn: dsn.into(),
                    why: "no file named".into(),
                });
            }
            let size = options.pool_size.unwrap_or(4).max(1);
            let mut conns = Vec::with_capacity(size);
            let first = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || sqlite::open(&path, create))
                    .await
                    .map_err(|e| Error::Task {
                        op: "open",
                        why: e.to_string(),
                    })??
            };
            conns.push(first);
            for _ in 1..size {
                let path = path.clone();
                conns.push(
                    tokio::task::spawn_blocking(move || sqlite::open(&path, false))
                        .await
                        .map_err(|e| Error::Task {
                            op: "open",
                            why: e.to_string(),
                        })??,
                );
            }
            Pool::Sqlite {
                path,
                conns: deadpool::unmanaged::Pool::from(conns),
                writer: Mutex::new(()),
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                options,
                observer: OnceLock::new(),
            }),
        })
    }

    /// Which backend this is.
    pub fn kind(&self) -> Kind {
        match self.inner.pool {
            Pool::Sqlite { .. } => Kind::Sqlite,
            Pool::Postgres { .. } => Kind::Postgres,
        }
    }

    /// The options it was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Installs `observer`, told how long each operation of this database (and of every
    /// clone of it) takes from now on. There is one: `false`, and `observer` is not
    /// installed, if one already was.
    pub fn observe_queries(&self, observer: Arc<dyn QueryObserver>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// The platform aliases in force.
    pub(crate) fn aliases(&self) -> PlatformAliases {
        self.inner.options.platform_aliases.clone()
    }

    /// Runs a read-only operation (one snapshot).
    pub(crate) async fn read<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R> + Send + 'static,
    {
        self.run(op, false, f).await
    }

    /// Runs an operation that writes.
    pub(crate) async fn write<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R> + Send + 'static,
    {
        self.run(op, true, f).await
    }

    /// Runs `f` in a transaction on a pooled connection, and tells the observer (if any)
    /// how long it took.
    async fn run<R, F>(&self, op: &'static str, write: bool, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R> + Send + 'static,
    {
        let started = Instant::now();
        let result = self.run_pooled(op, write, f).await;
        if let Some(observer) = self.inner.observer.get() {
            observer.observe(QueryTiming {
                op,
                write,
                elapsed: started.elapsed(),
                ok: result.is_ok(),
            });
        }
        result
    }

    async fn run_pooled<R, F>(&self, op: &'static str, write: bool, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Conn) -> Result<R> + Send + 'static,
    {
        let joined = match &self.inner.pool {
            Pool::Sqlite { conns, writer, .. } => {
                let _turn = if write {
                    Some(writer.lock().await)
                } else {
                    None
                };
                let mut conn = conns.get().await.map_err(|e| Error::Pool {
                    op,
                    why: e.to_string(),
                })?;
                tokio::task::spawn_blocking(move || sqlite::transaction(&mut conn, op, write, f))
                    .await
            }
            Pool::Postgres { pool } => {
                let client = pool.get().await.map_err(|e| pool_error(op, e))?;
                let handle = Handle::current();
                tokio::task::spawn_blocking(move || {
                    let (result, fit) = postgres::transaction(&client, handle, op, write, f);
                    if !fit {
                        // A connection that could not even roll back is not given back.
                        drop(deadpool_postgres::Object::take(client));
                    }
                    result
                })
                .await
            }
        };
        joined.map_err(|e| Error::Task {
            op,
            why: e.to_string(),
        })?
    }
}

/// The file an address names, if it is an SQLite address (`sqlite:/path`, `sqlite:///path`
/// or a plain path); `None` for a PostgreSQL one.
pub fn sqlite_path(dsn: &str) -> Option<PathBuf> {
    (!postgres::is_postgres(dsn)).then(|| sqlite::path_of(dsn))
}

fn pool_error(op: &'static str, e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(source) => Error::Postgres { op, source },
        other => Error::Pool {
            op,
            why: other.to_string(),
        },
    }
}
