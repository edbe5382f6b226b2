//! CloudGazer against a PyPI-sized upstream (the generator of the integration tests,
//! `tests/it/pypi_sim/`, served on 127.0.0.1 from a seed), on SQLite and on PostgreSQL:
//!
//! 1. the first sync from nothing;
//! 2. a poll after `CHANGES` projects changed;
//! 3. a restart (a new CloudGazer on the same database) with nothing changed;
//! 4. a restart after `CHANGES` projects changed.
//!
//! For each: the time, the requests by kind, what the poll added, and the peak RSS of the
//! process during the step (`VmHWM`, reset before each step through `/proc/self/clear_refs`;
//! the generator runs in the same process, so its own memory is counted too), next to the
//! targets of issue 16.
//!
//! ```text
//! cargo bench -p piwheels-master --bench upstream
//! PIWHEELS_BENCH_PROJECTS=20000 PIWHEELS_BENCH_CHANGES=1000 cargo bench -p piwheels-master --bench upstream
//! ```
//!
//! The size defaults to 600,000 projects (about 6 million files). PostgreSQL is the server
//! of `PIWHEELS_TEST_PG` (a superuser DSN, as `scripts/pg-env` prints); without it the
//! PostgreSQL rows are skipped, and the reason printed. `PIWHEELS_BENCH_BACKENDS=sqlite`
//! (or `postgres`) runs one only. `PIWHEELS_BENCH_CONCURRENCY` sets the upstream
//! concurrency (default 8, the targets').

#[path = "../tests/it/pypi_sim/mod.rs"]
mod pypi_sim;

use std::time::{Duration, Instant};

use piwheels_db::admin::Admin;
use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::cloud_gazer::{CloudGazer, PollReport};
use piwheels_master::hub::{Hub, Inboxes};

use pypi_sim::{PypiSim, Requests};

const SEED: u64 = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

/// Resets the process's peak RSS (`VmHWM`), after handing the heap memory freed by the
/// steps before back to the system (glibc keeps it otherwise, and a restarted master is a
/// new process that would not have it).
fn reset_peak() {
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
    // Linux ≥ 4.0; where it fails the peak is the whole run's, which the table says.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak RSS since the last reset, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One step's figures.
struct Row {
    backend: &'static str,
    step: String,
    seconds: f64,
    requests: Requests,
    report: PollReport,
    peak_mib: f64,
    target: &'static str,
}

/// A master's CloudGazer on a database; the hub's other inboxes are drained so nothing
/// piles up.
struct Master {
    gazer: CloudGazer,
    _inboxes: Inboxes,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

impl Master {
    async fn start(dsn: &str, sim: &PypiSim, www: &std::path::Path) -> Master {
        let db = Database::open(dsn).await.expect("open the database");
        let mut config = MasterConfig::new(dsn, www);
        config.upstream = Some(sim.simple_url());
        config.upstream_poll = Duration::from_secs(3600);
        // Issue 16's targets are at concurrency 8.
        config.upstream_concurrency = env_usize("PIWHEELS_BENCH_CONCURRENCY", 8);
        let (hub, mut inboxes) = Hub::new(db, config);
        let (mut web, mut skip, mut stats) = (
            std::mem::replace(&mut inboxes.web, tokio::sync::mpsc::unbounded_channel().1),
            std::mem::replace(&mut inboxes.skip, tokio::sync::mpsc::unbounded_channel().1),
            std::mem::replace(&mut inboxes.stats, tokio::sync::mpsc::unbounded_channel().1),
        );
        let drains = vec![
            tokio::spawn(async move { while web.recv().await.is_some() {} }),
            tokio::spawn(async move { while skip.recv().await.is_some() {} }),
            tokio::spawn(async move { while stats.recv().await.is_some() {} }),
        ];
        Master {
            gazer: CloudGazer::new(hub),
            _inboxes: inboxes,
            drains,
        }
    }

    async fn step(
        &mut self,
        sim: &PypiSim,
        backend: &'static str,
        step: String,
        target: &'static str,
    ) -> Row {
        let before = sim.requests();
        reset_peak();
        let start = Instant::now();
        let report = self.gazer.poll().await.expect("a poll");
        let seconds = start.elapsed().as_secs_f64();
        let row = Row {
            backend,
            step,
            seconds,
            requests: sim.requests() - before,
            report,
            peak_mib: peak_mib(),
            target,
        };
        print_row(&row);
        row
    }

    fn stop(self) {
        for d in self.drains {
            d.abort();
        }
    }
}

async fn run(backend: &'static str, dsn: &str, projects: usize, changes: usize) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    let sim = PypiSim::start(projects, SEED);
    // The generator's own share of the peaks below: serving the list once.
    reset_peak();
    let mut list = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(&sim.simple_url())
            .set("Accept", piwheels_master::upstream::SIMPLE_JSON)
            .call()
            .expect("the generator's list")
            .into_reader(),
        &mut list,
    )
    .expect("the generator's list");
    drop(list);
    println!(
        "{backend}: the generator alone, serving the list once: peak {:.1} MiB",
        peak_mib()
    );
    let mut rows = Vec::new();
    let mut master = Master::start(dsn, &sim, &www).await;
    let first = "< 30 min at full size, RSS < 500 MiB";
    rows.push(master.step(&sim, backend, "first sync".into(), first).await);
    sim.change(changes);
    let poll = "~changes pages + 1 list, < 60 s";
    let name = format!("poll, {changes} changed");
    rows.push(master.step(&sim, backend, name, poll).await);
    master.stop();
    let mut master = Master::start(dsn, &sim, &www).await;
    let restart = "1 list, 0 pages, < 30 s";
    rows.push(
        master
            .step(&sim, backend, "restart, nothing changed".into(), restart)
            .await,
    );
    master.stop();
    sim.change(changes);
    let mut master = Master::start(dsn, &sim, &www).await;
    let name = format!("restart, {changes} changed");
    rows.push(master.step(&sim, backend, name, poll).await);
    master.stop();
    let stored = Database::open(dsn)
        .await
        .unwrap()
        .all_package_versions()
        .await
        .unwrap();
    let expected = sim.versions();
    println!(
        "{backend}: the database holds {} versions, the upstream {} ({})",
        stored.len(),
        expected.len(),
        if stored == expected {
            "the same"
        } else {
            "NOT the same"
        }
    );
    rows
}

fn print_header() {
    println!(
        "{:<9} {:<26} {:>9} {:>6} {:>8} {:>7} {:>8} {:>9} {:>8} {:>9}  target",
        "backend",
        "step",
        "seconds",
        "lists",
        "pages",
        "304s",
        "new pkg",
        "new ver",
        "pages/s",
        "peak MiB"
    );
}

fn print_row(r: &Row) {
    let fetched = r.requests.page;
    println!(
        "{:<9} {:<26} {:>9.2} {:>6} {:>8} {:>7} {:>8} {:>9} {:>8.0} {:>9.1}  {}",
        r.backend,
        r.step,
        r.seconds,
        r.requests.list,
        fetched,
        r.requests.not_modified,
        r.report.new_packages,
        r.report.new_versions,
        fetched as f64 / r.seconds.max(1e-9),
        r.peak_mib,
        r.target
    );
}

/// A fresh PostgreSQL database and role (the master's unprivileged user) on the server of
/// `super_dsn`, its schema made; the master's DSN and the name of both.
async fn pg_database(super_dsn: &str) -> Result<(String, String), String> {
    let name = format!("piwbench_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(super_dsn, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    tokio::spawn(conn);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {name}"),
        format!("CREATE ROLE {name} LOGIN"),
        format!("CREATE DATABASE {name} TEMPLATE template0"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    let admin_dsn = format!("{super_dsn} dbname={name}");
    Admin::connect(&admin_dsn)
        .await
        .map_err(|e| format!("cannot connect as the administrator: {e}"))?
        .initialize(Some(&name))
        .await
        .map_err(|e| format!("cannot create the schema: {e}"))?;
    Ok((format!("{super_dsn} user={name} dbname={name}"), name))
}

async fn drop_pg_database(super_dsn: &str, name: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(super_dsn, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE); DROP ROLE IF EXISTS {name}"
            ))
            .await;
    }
}

async fn prepare(db: &str) {
    Database::open(db)
        .await
        .unwrap()
        .set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
}

fn main() {
    let projects = env_usize("PIWHEELS_BENCH_PROJECTS", 600_000);
    let changes = env_usize("PIWHEELS_BENCH_CHANGES", 1_000);
    let backends = std::env::var("PIWHEELS_BENCH_BACKENDS").unwrap_or_default();
    let wanted = |b: &str| backends.is_empty() || backends.split(',').any(|x| x.trim() == b);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "CloudGazer against a generated upstream of {projects} projects ({changes} changes a step)"
        );
        print_header();
        if wanted("sqlite") {
            let dir = tempfile::tempdir().unwrap();
            let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
            Database::create(&dsn).await.unwrap();
            prepare(&dsn).await;
            run("sqlite", &dsn, projects, changes).await;
        }
        if wanted("postgres") {
            match std::env::var("PIWHEELS_TEST_PG") {
                Ok(super_dsn) if !super_dsn.is_empty() => match pg_database(&super_dsn).await {
                    Ok((dsn, name)) => {
                        prepare(&dsn).await;
                        run("postgres", &dsn, projects, changes).await;
                        drop_pg_database(&super_dsn, &name).await;
                    }
                    Err(why) => println!("SKIPPED postgres: {why}"),
                },
                _ => println!(
                    "SKIPPED postgres: PIWHEELS_TEST_PG is not set (export the DSN scripts/pg-env prints)"
                ),
            }
        }
    });
}
