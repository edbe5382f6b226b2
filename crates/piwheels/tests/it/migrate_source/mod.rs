//! A database of the original piwheels at schema version 0.23 (spec §5), on the test
//! PostgreSQL server: the source a migration reads (issue 20).
//!
//! [`create`] makes a fresh database with the schema of `tests/fixtures/piwheels-0.23.sql`;
//! [`generate`] fills every table from a [`Scale`] and a seed, streaming `COPY` in bounded
//! memory (so the PyPI-size [`Scale::pypi`] can be generated too), and returns what it
//! wrote as [`Expectations`]: rows per table, counts of each kind a migration must map, and
//! the list of odd rows ([`odd::Odd`]). [`set_version`] and [`mid_upgrade`] make the
//! sources a migration must refuse.
//!
//! Written to be included by a benchmark too: `#[path = "../tests/it/migrate_source/mod.rs"]
//! mod migrate_source;` (it needs tokio-postgres, futures-util, chrono and thiserror, and
//! nothing of the test binary).
#![allow(dead_code)]

pub mod copy;
pub mod odd;
pub mod odd_access;
pub mod odd_builds;
pub mod regular;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{Client, NoTls};

/// The schema of the original piwheels 0.23, as spec §5.1 and §5.2 list it.
pub const SCHEMA_SQL: &str = include_str!("../../fixtures/piwheels-0.23.sql");

/// Every table of the 0.23 schema.
pub const TABLES: [&str; 15] = [
    "configuration",
    "packages",
    "package_names",
    "versions",
    "build_abis",
    "builds",
    "files",
    "dependencies",
    "downloads",
    "searches",
    "project_page_hits",
    "project_json_downloads",
    "web_page_hits",
    "rewrites_pending",
    "preinstalled_apt_packages",
];

/// How much to generate: total rows of the main tables (odd rows included), and the seed
/// every generated value derives from.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// The seed.
    pub seed: u64,
    /// Rows of `packages`.
    pub packages: u64,
    /// Rows of `versions`.
    pub versions: u64,
    /// Rows of `builds` (one in ten of the generated ones failed).
    pub builds: u64,
    /// Rows of `files`.
    pub files: u64,
    /// Rows of `downloads`.
    pub downloads: u64,
    /// Rows of `searches`.
    pub searches: u64,
    /// Rows of `project_page_hits`.
    pub project_page_hits: u64,
    /// Rows of `project_json_downloads`.
    pub project_json_downloads: u64,
    /// Rows of `web_page_hits`.
    pub web_page_hits: u64,
}

impl Scale {
    /// A scale for tests: every kind of row, a few hundred rows in all.
    pub fn small() -> Self {
        Self {
            seed: 20,
            packages: 60,
            versions: 200,
            builds: 150,
            files: 240,
            downloads: 500,
            searches: 100,
            project_page_hits: 80,
            project_json_downloads: 60,
            web_page_hits: 50,
        }
    }

    /// The size of piwheels.org's database, as issue 20 gives it.
    pub fn pypi() -> Self {
        Self {
            seed: 20,
            packages: 500_000,
            versions: 5_000_000,
            builds: 1_000_000,
            files: 1_250_000,
            downloads: 10_000_000,
            searches: 1_000_000,
            project_page_hits: 1_000_000,
            project_json_downloads: 500_000,
            web_page_hits: 500_000,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Rows per table (every table of [`TABLES`]).
    pub rows: BTreeMap<&'static str, u64>,
    /// `configuration.pypi_serial`.
    pub pypi_serial: i64,
    /// The highest `build_id` (the `builds_build_id_seq` is set to it).
    pub last_build_id: i64,
    /// The generated rows' kinds, counted.
    pub regular: regular::Regular,
    /// The odd rows, listed.
    pub odd: odd::Odd,
}

/// Why the fixture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The server refused something.
    #[error("PostgreSQL: {0}")]
    Pg(#[from] tokio_postgres::Error),
    /// The scale is too small for the odd rows, or too dense to generate.
    #[error(transparent)]
    Scale(#[from] regular::BadScale),
}

/// Drops the fixture's database (and the role of [`empty_target`]) when dropped.
pub struct Guard {
    super_dsn: String,
    name: String,
    role: bool,
}

impl Guard {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (dsn, name, role) = (self.super_dsn.clone(), self.name.clone(), self.role);
        // Drop may run inside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(client) = connect(&dsn).await {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    if role {
                        let _ = client
                            .batch_execute(&format!("DROP ROLE IF EXISTS {name}"))
                            .await;
                    }
                }
            });
        })
        .join();
    }
}

/// How long connecting to the server may take.
const CONNECT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client of the server at `dsn`, its connection driven by a task of its own; panics if
/// the server does not answer within 30 s.
pub async fn connect(dsn: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio::time::timeout(CONNECT_LIMIT, tokio_postgres::connect(dsn, NoTls))
        .await
        .unwrap_or_else(|_| panic!("PostgreSQL at {dsn:?}: no answer within {CONNECT_LIMIT:?}"))?;
    tokio::spawn(conn);
    Ok(client)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh database on the server `superuser_dsn` reaches, named uniquely (process id and
/// a counter), holding the 0.23 schema and its configuration row and nothing else: its
/// address (as the superuser) and the guard that drops it.
pub async fn create(superuser_dsn: &str) -> Result<(String, Guard), tokio_postgres::Error> {
    let name = format!(
        "piw023_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let client = connect(superuser_dsn).await?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await?;
    let guard = Guard {
        super_dsn: superuser_dsn.to_owned(),
        name: name.clone(),
        role: false,
    };
    let dsn = format!("{superuser_dsn} dbname={name}");
    connect(&dsn).await?.batch_execute(SCHEMA_SQL).await?;
    Ok((dsn, guard))
}

/// An empty database and an unprivileged role of the same name (a migration's target and
/// the master's user), named uniquely: the name, and the guard that drops both.
pub async fn empty_target(superuser_dsn: &str) -> Result<(String, Guard), tokio_postgres::Error> {
    let name = format!(
        "piwtarget_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let client = connect(superuser_dsn).await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {name}"),
        format!("CREATE ROLE {name} LOGIN"),
        format!("CREATE DATABASE {name} TEMPLATE template0"),
    ] {
        client.batch_execute(&sql).await?;
    }
    let guard = Guard {
        super_dsn: superuser_dsn.to_owned(),
        name: name.clone(),
        role: true,
    };
    Ok((name, guard))
}

/// The test server's superuser address, or `None` with the reason printed (a failure
/// instead when `PIWHEELS_REQUIRE_PG` is set).
pub fn pg_or_skip(test: &str) -> Option<String> {
    match test_support::setup::pg_superuser() {
        Ok(dsn) => Some(dsn),
        Err(why) => {
            assert!(
                !test_support::setup::pg_required(),
                "{test}: PostgreSQL is required (PIWHEELS_REQUIRE_PG) but: {why}"
            );
            test_support::skip(test, &format!("no PostgreSQL server: {why}"));
            None
        }
    }
}

/// Fills every table of a fresh fixture (from [`create`]): the odd rows first, then the
/// generated ones up to `scale`'s totals. Deterministic from `scale.seed`.
pub async fn generate(client: &Client, scale: &Scale) -> Result<Expectations, FixtureError> {
    let mut rows: BTreeMap<&'static str, u64> = TABLES.iter().map(|t| (*t, 0)).collect();
    rows.insert("configuration", 1);
    let odd = odd::write(client, &mut rows).await?;
    let left = |table: &str, total: u64| -> Result<u64, regular::BadScale> {
        total.checked_sub(rows[table]).ok_or_else(|| {
            regular::BadScale(format!(
                "{table}: {total} rows cannot hold the {} odd ones",
                rows[table]
            ))
        })
    };
    // The counts the regular part must add to the odd rows to make the scale's totals.
    let sizes = Scale {
        seed: scale.seed,
        packages: left("packages", scale.packages)?,
        versions: left("versions", scale.versions)?,
        builds: left("builds", scale.builds)?,
        files: left("files", scale.files)?,
        downloads: left("downloads", scale.downloads)?,
        searches: left("searches", scale.searches)?,
        project_page_hits: left("project_page_hits", scale.project_page_hits)?,
        project_json_downloads: left("project_json_downloads", scale.project_json_downloads)?,
        web_page_hits: left("web_page_hits", scale.web_page_hits)?,
    };
    let generator = regular::Gen::new(scale.seed, sizes, odd::LAST_ODD_BUILD)?;
    let mut reg = regular::Regular::default();
    let mut add = |table: &'static str, n: u64| *rows.get_mut(table).expect("a table") += n;
    let (packages, names) = generator.packages(client, &mut reg).await?;
    add("packages", packages);
    add("package_names", names);
    add("versions", generator.versions(client, &mut reg).await?);
    add("builds", generator.builds(client, &mut reg).await?);
    let (files, deps) = generator.files(client, &mut reg).await?;
    add("files", files);
    add("dependencies", deps);
    let access = generator.access(client, &mut reg).await?;
    for (table, n) in [
        "downloads",
        "searches",
        "project_page_hits",
        "project_json_downloads",
        "web_page_hits",
    ]
    .into_iter()
    .zip(access)
    {
        add(table, n);
    }
    let last_build_id = i64::from(odd::LAST_ODD_BUILD) + sizes.builds as i64;
    client
        .execute(
            "SELECT setval(pg_get_serial_sequence('builds', 'build_id'), $1)",
            &[&last_build_id],
        )
        .await?;
    client.batch_execute("ANALYZE").await?;
    Ok(Expectations {
        rows,
        pypi_serial: odd::PYPI_SERIAL,
        last_build_id,
        regular: reg,
        odd,
    })
}

/// Sets `configuration.version` (for example "0.22": a source older than 0.23).
pub async fn set_version(client: &Client, version: &str) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE configuration SET version = $1 WHERE id = 1",
            &[&version],
        )
        .await?;
    Ok(())
}

/// Leaves the fixture as a 0.21 → 0.22 upgrade that stopped half-way would: the 0.22
/// column `files.location` exists, but the version still says "0.21".
pub async fn mid_upgrade(client: &Client) -> Result<(), tokio_postgres::Error> {
    set_version(client, "0.21").await
}
