//! Fresh databases for the tests, on both backends.
//!
//! SQLite databases are files in a temporary directory. PostgreSQL databases are created
//! in the server `PIWHEELS_TEST_PG` names (a superuser's connection string), else in the
//! one `scripts/pg-env` starts: each test gets its own database and its own unprivileged
//! role, made by `piw-initdb`'s code, and both are dropped afterwards. Without a server
//! the PostgreSQL tests are skipped with the reason printed, unless `PIWHEELS_REQUIRE_PG`
//! is set (as `scripts/test-all` sets it), when they fail instead.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use piwheels_db::admin::Admin;
use piwheels_db::{Database, Options};

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, initialised database.
pub struct TestDb {
    /// The master's handle (on PostgreSQL, as the unprivileged user).
    pub db: Database,
    /// The master's address.
    pub dsn: String,
    /// The administrator's address (on PostgreSQL, the superuser's).
    pub admin_dsn: String,
    pub backend: Backend,
    /// The unprivileged role (PostgreSQL).
    pub role: String,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg { super_dsn: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Pg { super_dsn, name } = self {
            let (dsn, name) = (super_dsn.clone(), name.clone());
            // Drop runs inside the test's runtime; do the clean-up on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(client) = pg_connect(&dsn).await {
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                        let _ = client
                            .batch_execute(&format!("DROP ROLE IF EXISTS {name}"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub use test_support::setup::pg_superuser;
pub use test_support::skip;

/// How long connecting to the test server may take before the test fails.
const PG_CONNECT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client of the server at `dsn`, its connection driven by a task of its own; fails the
/// test if the server does not answer within [`PG_CONNECT_LIMIT`].
pub async fn pg_connect(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio::time::timeout(
        PG_CONNECT_LIMIT,
        tokio_postgres::connect(dsn, tokio_postgres::NoTls),
    )
    .await
    .unwrap_or_else(|_| panic!("PostgreSQL at {dsn:?}: no answer within {PG_CONNECT_LIMIT:?}"))?;
    tokio::spawn(conn);
    Ok(client)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh database with the schema created, or `None` (with the reason printed) when the
/// backend is not available.
pub async fn fresh(backend: Backend, test: &str) -> Option<TestDb> {
    fresh_with(backend, test, Options::default()).await
}

/// [`fresh`] with options.
pub async fn fresh_with(backend: Backend, test: &str, options: Options) -> Option<TestDb> {
    let t = empty(backend, test).await?;
    Admin::connect(&t.admin_dsn)
        .await
        .unwrap()
        .initialize(if backend == Backend::Postgres {
            Some(&t.role)
        } else {
            None
        })
        .await
        .unwrap();
    let db = Database::open_with(&t.dsn, options).await.unwrap();
    Some(TestDb {
        db,
        dsn: t.dsn,
        admin_dsn: t.admin_dsn,
        backend,
        role: t.role,
        _guard: t.guard,
    })
}

/// A database with no schema yet, and the addresses to reach it.
pub struct EmptyDb {
    /// The master's address.
    pub dsn: String,
    /// The administrator's address.
    pub admin_dsn: String,
    pub backend: Backend,
    /// The unprivileged role (PostgreSQL).
    pub role: String,
    guard: Guard,
}

impl EmptyDb {
    /// The role to pass to [`Admin::initialize`].
    pub fn user(&self) -> Option<&str> {
        (self.backend == Backend::Postgres).then_some(self.role.as_str())
    }
}

/// An empty database (no schema), or `None` (with the reason printed) when the backend is
/// not available.
pub async fn empty(backend: Backend, test: &str) -> Option<EmptyDb> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
            Some(EmptyDb {
                admin_dsn: dsn.clone(),
                dsn,
                backend,
                role: String::new(),
                guard: Guard::Dir(dir),
            })
        }
        Backend::Postgres => {
            let super_dsn = match pg_superuser() {
                Ok(dsn) => dsn,
                Err(why) => {
                    if test_support::setup::pg_required() {
                        panic!("{test}: PostgreSQL is required (PIWHEELS_REQUIRE_PG) but: {why}");
                    }
                    skip(test, &format!("no PostgreSQL server: {why}"));
                    return None;
                }
            };
            let name = format!(
                "piwt_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let client = pg_connect(&super_dsn)
                .await
                .expect("connect to the test server");
            // One statement at a time: CREATE DATABASE cannot run in a transaction.
            for sql in [
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                format!("DROP ROLE IF EXISTS {name}"),
                format!("CREATE ROLE {name} LOGIN"),
                format!("CREATE DATABASE {name} TEMPLATE template0"),
            ] {
                client
                    .batch_execute(&sql)
                    .await
                    .expect("create the test database");
            }
            let admin_dsn = format!("{super_dsn} dbname={name}");
            let dsn = format!("{super_dsn} user={name} dbname={name}");
            let guard = Guard::Pg {
                super_dsn,
                name: name.clone(),
            };
            Some(EmptyDb {
                dsn,
                admin_dsn,
                backend,
                role: name,
                guard,
            })
        }
    }
}

/// A cell of a raw query's result, as text (`None` for NULL).
pub type Cell = Option<String>;

/// Runs SQL directly as the administrator, outside the crate (to check what is really
/// stored, or to tamper with it); returns every row as text.
pub async fn raw(backend: Backend, admin_dsn: &str, sql: &str) -> Result<Vec<Vec<Cell>>, String> {
    match backend {
        Backend::Sqlite => {
            let path = admin_dsn.strip_prefix("sqlite:").unwrap().to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                use rusqlite::fallible_iterator::FallibleIterator;
                let mut batch = rusqlite::Batch::new(&conn, &sql);
                while let Some(mut st) = batch.next().map_err(|e| e.to_string())? {
                    let n = st.column_count();
                    let mut rows = st.query([]).map_err(|e| e.to_string())?;
                    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                        let mut cells = Vec::with_capacity(n);
                        for i in 0..n {
                            use rusqlite::types::ValueRef::*;
                            cells.push(match row.get_ref(i).map_err(|e| e.to_string())? {
                                Null => None,
                                Integer(i) => Some(i.to_string()),
                                Real(f) => Some(f.to_string()),
                                Text(t) | Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
                            });
                        }
                        out.push(cells);
                    }
                }
                Ok(out)
            })
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let client = pg_connect(admin_dsn).await.map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for msg in client.simple_query(sql).await.map_err(|e| pg_error(&e))? {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                    out.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    );
                }
            }
            Ok(out)
        }
    }
}

/// PostgreSQL's own message for an error.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

impl TestDb {
    /// [`raw`] on this database, as the administrator.
    pub async fn raw(&self, sql: &str) -> Vec<Vec<Cell>> {
        raw(self.backend, &self.admin_dsn, sql).await.unwrap()
    }

    /// [`raw`] as the master's user (the unprivileged role on PostgreSQL).
    pub async fn raw_as_master(&self, sql: &str) -> Result<Vec<Vec<Cell>>, String> {
        raw(self.backend, &self.dsn, sql).await
    }
}

/// Declares async test functions `async fn name(t: TestDb)` once, and runs each on both
/// backends: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(t) = $crate::common::fresh($crate::common::Backend::Sqlite, concat!("sqlite::", stringify!($name))).await {
                        super::$name(t).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(t) = $crate::common::fresh($crate::common::Backend::Postgres, concat!("postgres::", stringify!($name))).await {
                        super::$name(t).await;
                    }
                }
            )*
        }
    };
}

/// A wheel named `name` (`pkg-ver-py-abi-platform.whl`), with tags from its name, a hash
/// made from it, and the given dependencies.
pub fn wheel(name: &str, deps: &[(&str, &str)]) -> piwheels_db::NewFile {
    let stem = name.strip_suffix(".whl").expect("a wheel name");
    let parts: Vec<&str> = stem.split('-').collect();
    assert!(
        parts.len() >= 5,
        "{name} is not pkg-ver-py-abi-platform.whl"
    );
    let n = parts.len();
    let mut dependencies =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for (tool, dep) in deps {
        dependencies
            .entry(tool.to_string())
            .or_default()
            .insert(dep.to_string());
    }
    piwheels_db::NewFile {
        filename: name.to_owned(),
        filesize: 1000 + name.len() as u64,
        filehash: format!(
            "{:064x}",
            name.bytes()
                .fold(0u128, |h, b| h.wrapping_mul(31).wrapping_add(b as u128))
        ),
        package_tag: parts[0].to_owned(),
        package_version_tag: parts[1].to_owned(),
        py_version_tag: parts[n - 3].to_owned(),
        abi_tag: parts[n - 2].to_owned(),
        platform_tag: parts[n - 1].to_owned(),
        requires_python: None,
        dependencies,
        location: "/simple".to_owned(),
    }
}

/// A build of `package` `version` by `target` (`"cp311/linux_armv7l"`): a success with
/// `files`, or a failure when `files` is `None`.
pub fn build(
    package: &str,
    version: &str,
    target: &str,
    files: Option<Vec<piwheels_db::NewFile>>,
) -> piwheels_db::NewBuild {
    let (abi, platform) = target.split_once('/').expect("abi/platform");
    piwheels_db::NewBuild {
        package: package.to_owned(),
        version: version.to_owned(),
        built_by: 1,
        target: piwheels_db::Target::new(abi, platform),
        status: files.is_some(),
        duration: chrono::TimeDelta::seconds(10),
        built_at: None,
        files: files.unwrap_or_default(),
    }
}

/// A target from `"abi/platform"`.
pub fn target(s: &str) -> piwheels_db::Target {
    let (abi, platform) = s.split_once('/').expect("abi/platform");
    piwheels_db::Target::new(abi, platform)
}

/// A time `n` days after 2024-01-01 (so releases sort by `n`).
pub fn day(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_704_067_200 + n * 86_400, 0).unwrap()
}
