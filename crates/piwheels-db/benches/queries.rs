//! The database's hot operations on a PyPI-sized data set, on both backends, with the
//! original's build-queue query on PostgreSQL in the same run:
//!
//! ```sh
//! cargo bench -p piwheels-db --bench queries                  # quick: 5,000 packages
//! cargo bench -p piwheels-db --bench queries -- --size full   # 500,000 packages, 5 M versions, 1 M builds
//! ```
//!
//! Options: `--size quick|full|N` (packages), `--backend sqlite|postgres|both`, `--reps N`,
//! `--no-original`. The data set (see `data/mod.rs`) is generated on first use and kept for
//! later runs. PostgreSQL is the test server of `scripts/pg-env` (or `PIWHEELS_TEST_PG`);
//! note that it runs with `fsync = off` and `synchronous_commit = off`, as SQLite here runs
//! with `synchronous = NORMAL` in WAL mode: neither waits for the disk at each commit, so the
//! logging figures measure the database work, not this machine's disk.
//!
//! Measured:
//! - **build queue**: `build_queue(100000)` (up to 100,000 per target), and on PostgreSQL the
//!   original's `get_build_queue(100000)`, written after its view (piwheels.md §5.2), over the same
//!   tables, interleaved rep by rep;
//! - **project data**: `project_data` of packages with builds, files and dependencies;
//! - **statistics** and the **search index**, for information;
//! - **log a build**: `log_build` of a compiled wheel (plus its armv6l copy and
//!   dependencies) for a version not built before, which also moves it in the queue.

mod data;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use piwheels_db::admin::Admin;
use piwheels_db::{Database, NewBuild, NewFile, Target};

/// The original's build queue (its `builds_pending` view and `get_build_queue`), over our
/// tables: build targets stand in for its build ABIs (the data set has one platform).
const ORIGINAL_QUEUE: &str = "
WITH pending AS (
    SELECT package, version, MIN(abi_tag) AS abi_tag
    FROM (
        SELECT v.package, v.version, t.abi_tag
          FROM packages p JOIN versions v ON v.package = p.package CROSS JOIN build_targets t
         WHERE v.skip = '' AND p.skip = '' AND t.skip = ''
        EXCEPT ALL (
            SELECT b.package, b.version, t.abi_tag
              FROM builds b JOIN files f ON f.build_id = b.build_id CROSS JOIN build_targets t
             WHERE f.abi_tag = 'none'
            UNION ALL
            SELECT b.package, b.version, COALESCE(f.abi_tag, b.abi_tag)
              FROM builds b LEFT JOIN files f ON f.build_id = b.build_id
             WHERE f.build_id IS NULL OR f.abi_tag <> 'none'
        )
    ) AS t
    GROUP BY package, version
), positioned AS (
    SELECT p.abi_tag, ROW_NUMBER() OVER (PARTITION BY p.abi_tag ORDER BY v.released) AS position,
           p.package, p.version
      FROM pending p JOIN versions v ON v.package = p.package AND v.version = p.version
)
SELECT abi_tag, package, version FROM positioned WHERE position <= $1 ORDER BY abi_tag, position";

fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn median(xs: &mut [Duration]) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

struct Row {
    backend: &'static str,
    what: String,
    times: Vec<Duration>,
    target: Option<Duration>,
}

fn report(rows: &mut [Row]) {
    println!(
        "\n{:<10} {:<44} {:>10} {:>21} {:>8}",
        "backend", "operation", "median", "min-max", "target"
    );
    for r in rows {
        let mut t = r.times.clone();
        let m = median(&mut t);
        let range = format!("{}-{}", fmt(t[0]), fmt(*t.last().unwrap()));
        let target = r.target.map_or(String::new(), |t| format!("< {}", fmt(t)));
        println!(
            "{:<10} {:<44} {:>10} {:>21} {:>8}",
            r.backend,
            r.what,
            fmt(m),
            range,
            target
        );
    }
}

/// The SQLite data set, made if missing.
async fn sqlite_db(packages: usize) -> Database {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/bench-data"
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("piwheels-{packages}-g{}.db", data::GENERATION));
    if !path.exists() {
        let tmp = dir.join(format!("piwheels-{packages}-g{}.db.tmp", data::GENERATION));
        let _ = std::fs::remove_file(&tmp);
        let dsn = format!("sqlite:{}", tmp.display());
        let started = Instant::now();
        Admin::connect(&dsn)
            .await
            .unwrap()
            .initialize(None)
            .await
            .unwrap();
        set_targets(&dsn).await;
        let tmp2 = tmp.clone();
        let rows = tokio::task::spawn_blocking(move || data::load_sqlite(&tmp2, packages))
            .await
            .unwrap()
            .unwrap();
        eprintln!(
            "sqlite: loaded {rows} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        rebuild(&dsn, "sqlite").await;
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", tmp.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}{suffix}", path.display())).unwrap();
            }
        }
    }
    Database::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap()
}

async fn set_targets(dsn: &str) {
    let db = Database::open(dsn).await.unwrap();
    let targets: Vec<Target> = data::TARGETS
        .iter()
        .map(|(a, p)| Target::new(*a, *p))
        .collect();
    db.set_build_targets(&targets).await.unwrap();
}

async fn rebuild(dsn: &str, backend: &str) {
    let db = Database::open(dsn).await.unwrap();
    let started = Instant::now();
    let n = db.rebuild_build_queue().await.unwrap();
    eprintln!(
        "{backend}: built the queue from scratch ({n} entries) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The PostgreSQL data set (and the superuser's address), made if missing.
async fn postgres_db(packages: usize) -> Option<(Database, String)> {
    let super_dsn = match std::env::var("PIWHEELS_TEST_PG") {
        Ok(dsn) if !dsn.is_empty() => dsn,
        _ => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-env");
            let out = std::process::Command::new(script).output().ok()?;
            if !out.status.success() {
                eprintln!(
                    "postgres: skipped: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    let name = format!("piwbench_{packages}_g{}", data::GENERATION);
    let (client, conn) = tokio_postgres::connect(&super_dsn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let exists = !client
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_empty();
    if !exists {
        let tmp = format!("{name}_tmp");
        for sql in [
            format!("DROP DATABASE IF EXISTS {tmp} WITH (FORCE)"),
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'piwbench') THEN CREATE ROLE piwbench LOGIN; END IF; END $$".into(),
            format!("CREATE DATABASE {tmp} TEMPLATE template0"),
        ] {
            client.batch_execute(&sql).await.unwrap();
        }
        let admin_dsn = format!("{super_dsn} dbname={tmp}");
        let started = Instant::now();
        Admin::connect(&admin_dsn)
            .await
            .unwrap()
            .initialize(Some("piwbench"))
            .await
            .unwrap();
        set_targets(&admin_dsn).await;
        let (loader, conn) = tokio_postgres::connect(&admin_dsn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let rows = data::load_postgres(&loader, packages).await.unwrap();
        eprintln!(
            "postgres: loaded {rows} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        rebuild(
            &format!("{super_dsn} user=piwbench dbname={tmp}"),
            "postgres",
        )
        .await;
        loader.batch_execute("ANALYZE").await.unwrap();
        drop(loader);
        client
            .batch_execute(&format!("ALTER DATABASE {tmp} RENAME TO {name}"))
            .await
            .unwrap();
    }
    let db = Database::open(&format!("{super_dsn} user=piwbench dbname={name}"))
        .await
        .unwrap();
    Some((db, format!("{super_dsn} dbname={name}")))
}

/// A compiled wheel for version `k` of package `i`, with two apt dependencies.
fn compiled(i: usize, k: usize) -> NewFile {
    let (p, v) = (data::package(i), data::version(k));
    let filename = format!("{p}-{v}-cp311-cp311-linux_armv7l.whl");
    NewFile {
        filehash: format!("{:064x}", i * 100 + k),
        filesize: 123_456,
        package_tag: p,
        package_version_tag: v,
        py_version_tag: "cp311".into(),
        abi_tag: "cp311".into(),
        platform_tag: "linux_armv7l".into(),
        requires_python: Some(">=3.7".into()),
        dependencies: [(
            "apt".to_string(),
            ["libc6".to_string(), "libssl3".to_string()].into(),
        )]
        .into(),
        location: "/simple".into(),
        filename,
    }
}

async fn measure(
    backend: &'static str,
    db: &Database,
    original: Option<&str>,
    packages: usize,
    reps: usize,
    rows: &mut Vec<Row>,
) {
    // Build queue, ours and (on PostgreSQL) the original's, interleaved.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let client = match original {
        Some(dsn) => {
            let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            Some(client)
        }
        None => None,
    };
    let original_reps = if packages >= 100_000 {
        reps.min(3)
    } else {
        reps
    };
    for rep in 0..reps {
        let started = Instant::now();
        let queue = db.build_queue(100_000).await.unwrap();
        ours.push(started.elapsed());
        if rep == 0 {
            let sizes: Vec<String> = queue
                .iter()
                .map(|(t, jobs)| format!("{t}: {}", jobs.len()))
                .collect();
            eprintln!(
                "{backend}: queue lengths (capped at 100,000) {}",
                sizes.join(", ")
            );
        }
        if let Some(client) = &client
            && rep < original_reps
        {
            let started = Instant::now();
            let n = client
                .query(ORIGINAL_QUEUE, &[&100_000i64])
                .await
                .unwrap()
                .len();
            theirs.push(started.elapsed());
            if rep == 0 {
                eprintln!("{backend}: the original's query gave {n} rows");
            }
        }
    }
    rows.push(Row {
        backend,
        what: "build queue, 100,000 per target (ours)".into(),
        times: ours,
        target: Some(Duration::from_secs(1)),
    });
    if !theirs.is_empty() {
        rows.push(Row {
            backend,
            what: "build queue, the original's query".into(),
            times: theirs,
            target: None,
        });
    }

    // Project data of packages with builds.
    let mut times = Vec::new();
    let mut files = 0;
    for n in 0..200 {
        let i = (n * 7919) % packages;
        let started = Instant::now();
        let data = db.project_data(&data::package(i)).await.unwrap().unwrap();
        times.push(started.elapsed());
        files += data.releases.values().map(|r| r.files.len()).sum::<usize>();
    }
    eprintln!(
        "{backend}: project data averaged {:.1} files a package",
        files as f64 / 200.0
    );
    rows.push(Row {
        backend,
        what: "project data (10 versions, 2 builds)".into(),
        times,
        target: Some(Duration::from_millis(5)),
    });

    // Statistics (BigBrother, every minute) and the search index (hourly): no targets, but
    // worth knowing at this size.
    for (what, op) in [("statistics", 0), ("search index", 1)] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            if op == 0 {
                db.statistics().await.unwrap();
            } else {
                db.search_index().await.unwrap();
            }
            times.push(started.elapsed());
        }
        rows.push(Row {
            backend,
            what: what.into(),
            times,
            target: None,
        });
    }

    // Logging builds of versions not built before (version 1 of packages not yet used by an
    // earlier run: each run takes the next slice).
    let used = db.all_build_ids().await.unwrap().len();
    let start = used.saturating_sub(packages * data::VERSIONS_PER_PACKAGE / 5);
    let mut times = Vec::new();
    for n in 0..200 {
        let i = (start + n) % packages;
        let k = 1 + (start + n) / packages % 4;
        let build = NewBuild {
            package: data::package(i),
            version: data::version(k),
            built_by: 9,
            target: Target::new("cp311", "linux_armv7l"),
            status: true,
            duration: TimeDelta::seconds(100),
            built_at: None,
            files: vec![compiled(i, k)],
        };
        let started = Instant::now();
        db.log_build(&build).await.unwrap();
        times.push(started.elapsed());
    }
    rows.push(Row {
        backend,
        what: "log a build (wheel + copy + 4 dependencies)".into(),
        times,
        target: Some(Duration::from_millis(1)),
    });
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let packages = match option("--size").as_deref() {
        None | Some("quick") => 5_000,
        Some("full") => 500_000,
        Some(n) => n.parse().expect("--size quick|full|N"),
    };
    let backend = option("--backend").unwrap_or_else(|| "both".into());
    let reps: usize = option("--reps")
        .map_or(7, |r| r.parse().expect("--reps N"))
        .max(1);
    eprintln!(
        "data set: {packages} packages, {} versions, {} builds",
        packages * data::VERSIONS_PER_PACKAGE,
        packages * data::VERSIONS_PER_PACKAGE / 5
    );
    let mut rows = Vec::new();
    if backend == "sqlite" || backend == "both" {
        let db = sqlite_db(packages).await;
        measure("sqlite", &db, None, packages, reps, &mut rows).await;
    }
    if backend == "postgres" || backend == "both" {
        match postgres_db(packages).await {
            Some((db, admin)) => {
                let original = (!flag("--no-original")).then_some(admin.as_str());
                measure("postgres", &db, original, packages, reps, &mut rows).await;
            }
            None => eprintln!("postgres: no server, left out"),
        }
    }
    report(&mut rows);
}
