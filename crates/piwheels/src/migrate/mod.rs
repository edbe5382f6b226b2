//! `piw-migrate`: copies a piwheels 0.23 database (PostgreSQL, spec §5) into one of ours
//! (PostgreSQL or SQLite), so a farm keeps its history when it moves to this software.
//!
//! The source is read in one read-only, repeatable-read transaction, table by table in key
//! order through cursors ([`source`]); each batch of rows is mapped to our rules
//! ([`map`]) and appended to the target in one transaction with the position reached
//! ([`piwheels_db::load`]), while the next batch is read. Memory holds two batches and the
//! keys of what was dropped. A run that is interrupted (killed, a full disk, a lost
//! connection) resumes with `--resume` from its last committed batch; until the run
//! finishes, the master refuses the target.
//!
//! Where our rules differ, rows are changed and counted with the reason; rows that break
//! them (hostile names, impossible times, a file whose build was dropped) are dropped and
//! listed, with every row that depends on them. [`check`] compares source and target
//! afterwards.
//!
//! ```no_run
//! # async fn example() -> Result<(), piwheels::migrate::MigrateError> {
//! use piwheels::migrate::{Options, run};
//! let summary = run(&Options {
//!     source: "host=/run/postgresql dbname=piwheels user=postgres".into(),
//!     target: "sqlite:/var/lib/piwheels/piwheels.db".into(),
//!     platform: "linux_armv7l".into(),
//!     ..Options::default()
//! })
//! .await?;
//! println!("{} rows copied", summary.rows);
//! # Ok(()) }
//! ```

pub mod check;
pub mod map;
pub mod source;
pub mod steps;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use piwheels_db::load::{self, Dropped, Loader, Report, Table};

use self::map::Mapper;
use self::source::{Snapshot, Source};
use self::steps::{STEPS, StepDef};

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source could not be read.
    #[error("the source: {0}")]
    Source(String),
    /// The source is not a whole piwheels 0.23 database.
    #[error("the source is not a piwheels 0.23 database: {0}")]
    NotOriginal(String),
    /// The target refused.
    #[error("the target: {0}")]
    Target(#[from] piwheels_db::Error),
    /// An option is wrong.
    #[error("{0}")]
    Usage(String),
    /// A task of the run failed.
    #[error("the migration's writer failed: {0}")]
    Task(String),
}

/// What to migrate, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source: a piwheels 0.23 database on PostgreSQL.
    pub source: String,
    /// The target: an SQLite file or a PostgreSQL database, empty (or holding this
    /// migration, to resume it).
    pub target: String,
    /// The platform the source's ABIs were built on (`linux_armv7l`).
    pub platform: String,
    /// PostgreSQL target only: the master's (unprivileged) user, granted what it needs.
    pub user: Option<String>,
    /// Resume the unfinished migration the target holds.
    pub resume: bool,
    /// Rows per batch.
    pub batch: usize,
    /// Show a progress bar (otherwise a log line every 10 s).
    pub progress: bool,
    /// Wait this long after each batch (for tests that interrupt a run).
    pub throttle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            source: String::new(),
            target: String::new(),
            platform: "linux_armv7l".into(),
            user: None,
            resume: false,
            batch: 10_000,
            progress: false,
            throttle: Duration::ZERO,
        }
    }
}

/// What a finished migration did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// What the target records: every step, the rows changed and dropped.
    pub report: Report,
    /// Source rows read by this run.
    pub rows: u64,
    /// Versions waiting in the rebuilt build queue.
    pub queued: u64,
    /// The steps this run did: name, source rows read, time taken.
    pub steps: Vec<(&'static str, u64, Duration)>,
    /// The time the build queue's rebuild (and the end of the migration) took.
    pub finish: Duration,
    /// The source's last build id: the target's new builds are numbered after it.
    pub last_build_id: i64,
    /// How long this run took.
    pub elapsed: Duration,
}

/// Checks a platform tag (`linux_armv7l`): what the slaves' wheels are tagged with.
pub fn check_platform(platform: &str) -> Result<(), MigrateError> {
    let ok = !platform.is_empty()
        && platform.len() <= 100
        && platform != "any"
        && platform
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(MigrateError::Usage(format!(
            "--platform {platform:?} is not a platform tag (such as linux_armv7l)"
        )))
    }
}

/// Runs (or resumes) a migration to its end.
pub async fn run(opts: &Options) -> Result<Summary, MigrateError> {
    let started = Instant::now();
    check_platform(&opts.platform)?;
    let mut source = Source::connect(&opts.source).await?;
    let id = load::Source {
        id: source.id().to_owned(),
        platform: opts.platform.clone(),
    };
    let loader = if opts.resume {
        Loader::resume(&opts.target, &id).await?
    } else {
        Loader::begin(&opts.target, &id, opts.user.as_deref()).await?
    };
    let report = loader.report().await?;
    let snap = source.snapshot().await?;
    loader.set_upstream_serial(snap.serial().await?).await?;

    let mut total = 0;
    for table in source_tables() {
        total += snap.count(table).await?;
    }
    let done: u64 = report.steps.values().map(|s| s.read).sum();
    let bar = progress_bar(opts.progress, total, done);

    let mut mapper = mapper(&snap, &opts.platform, &report).await?;
    mapper.resume(&report.dropped);
    let mut rows = 0;
    let mut steps = Vec::new();
    for step in STEPS {
        let state = report.steps.get(step.name).cloned().unwrap_or_default();
        if state.done {
            continue;
        }
        let position: Option<Vec<String>> = state
            .position
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        bar.set_message(step.name);
        let begun = Instant::now();
        let read = run_step(&snap, &loader, &mut mapper, step, position, opts, &bar).await?;
        loader.step_done(step.name).await?;
        rows += read;
        steps.push((step.name, read, begun.elapsed()));
        tracing::info!(
            step = step.name,
            rows = read,
            seconds = begun.elapsed().as_secs_f64(),
            "copied"
        );
    }
    bar.set_message("rebuilding the build queue");
    let begun = Instant::now();
    let last_build_id = snap.last_build_id().await?;
    let queued = loader.finish(last_build_id).await?;
    bar.finish_and_clear();
    Ok(Summary {
        report: loader.report().await?,
        rows,
        queued,
        steps,
        finish: begun.elapsed(),
        last_build_id,
        elapsed: started.elapsed(),
    })
}

/// Every source table a step reads, once.
pub(crate) fn source_tables() -> Vec<&'static str> {
    let mut seen = Vec::new();
    for s in STEPS {
        if !seen.contains(&s.source) {
            seen.push(s.source);
        }
    }
    seen
}

/// A mapper for this source: the packages stored under names that are not canonical are
/// found first (they are few), so their rows follow them.
async fn mapper(
    snap: &Snapshot<'_>,
    platform: &str,
    report: &Report,
) -> Result<Mapper, MigrateError> {
    let odd: Vec<String> = snap
        .query(
            "SELECT package::text FROM packages \
             WHERE package !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' OR strpos(package, '--') > 0",
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let canon: Vec<String> = odd
        .iter()
        .map(|p| piwheels_db::canonicalize_name(p))
        .collect();
    let existing: HashSet<String> = snap
        .query_with(
            "SELECT package::text FROM packages WHERE package = ANY($1)",
            &canon,
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let now = report.started.unwrap_or_else(chrono::Utc::now);
    Ok(Mapper::new(platform, now, odd, &|p| existing.contains(p)))
}

/// One batch on its way to the target.
struct Job {
    mapped: map::Mapped,
    position: Vec<String>,
    read: u64,
}

/// Copies one step from `position` on; returns the source rows it read. Reading and
/// mapping go on while the previous batch is written.
async fn run_step(
    snap: &Snapshot<'_>,
    loader: &Loader,
    mapper: &mut Mapper,
    step: &'static StepDef,
    position: Option<Vec<String>>,
    opts: &Options,
    bar: &ProgressBar,
) -> Result<u64, MigrateError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(1);
    let writer = {
        let (loader, bar, throttle) = (loader.clone(), bar.clone(), opts.throttle);
        tokio::spawn(async move {
            let mut last_log = Instant::now();
            while let Some(mut job) = rx.recv().await {
                if step.target == Table::RewritesPending {
                    drop_dangling_rewrites(&loader, step, &mut job).await?;
                }
                loader
                    .load(
                        step.name,
                        job.mapped.tables,
                        Some(serde_json::to_string(&job.position).unwrap_or_default()),
                        job.read,
                        job.mapped.dropped,
                        job.mapped.mapped.into_iter().collect(),
                    )
                    .await?;
                bar.inc(job.read);
                if bar.is_hidden() && last_log.elapsed() > Duration::from_secs(10) {
                    last_log = Instant::now();
                    log_progress(&bar, step.name);
                }
                if !throttle.is_zero() {
                    tokio::time::sleep(throttle).await;
                }
            }
            Ok::<_, MigrateError>(())
        })
    };
    let mut read = 0;
    let result = async {
        let mut cursor = snap.cursor(step, position.as_deref()).await?;
        loop {
            let rows = cursor.next(opts.batch.max(1)).await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let position = source::position_of(&step.key, last);
            let mapped = mapper.map(step, &rows);
            read += rows.len() as u64;
            let job = Job {
                mapped,
                position,
                read: rows.len() as u64,
            };
            if tx.send(job).await.is_err() {
                // The writer stopped: its error is the one to report.
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| MigrateError::Task(e.to_string()))?;
    result.and(written).map(|()| read)
}

/// Drops the pending rewrites of packages the target does not have.
async fn drop_dangling_rewrites(
    loader: &Loader,
    step: &StepDef,
    job: &mut Job,
) -> Result<(), MigrateError> {
    for (table, rows) in &mut job.mapped.tables {
        if *table != Table::RewritesPending {
            continue;
        }
        let names: Vec<String> = rows
            .iter()
            .filter_map(|r| match r.first() {
                Some(load::Field::Text(p)) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let have = loader.existing_packages(names).await?;
        rows.retain(|r| match r.first() {
            Some(load::Field::Text(p)) if have.contains(p) => true,
            Some(load::Field::Text(p)) => {
                job.mapped.dropped.push(Dropped {
                    table: step.source.to_owned(),
                    key: serde_json::to_string(&[p]).unwrap_or_default(),
                    reason: format!("its package {p:?} does not exist"),
                });
                false
            }
            _ => false,
        });
    }
    Ok(())
}

fn progress_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_length(total);
    bar.set_position(done.min(total));
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, {eta} left: {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn log_progress(bar: &ProgressBar, step: &str) {
    let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
    let rate = bar.per_sec();
    let left = if rate > 0.0 {
        Duration::from_secs_f64(len.saturating_sub(pos) as f64 / rate)
    } else {
        Duration::ZERO
    };
    tracing::info!(
        step,
        rows = pos,
        of = len,
        per_second = rate as u64,
        left_seconds = left.as_secs(),
        "migrating"
    );
}

/// The lines of a report: every change counted, every row dropped.
pub fn report_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let mut by_step: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for ((step, what), n) in &report.mapped {
        by_step.entry(step).or_default().push((what, *n));
    }
    for (step, items) in by_step {
        for (what, n) in items {
            lines.push(format!("changed {n} row(s) of {step}: {what}"));
        }
    }
    let mut dropped: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &report.dropped {
        *dropped.entry(&d.table).or_default() += 1;
    }
    for (table, n) in dropped {
        lines.push(format!("dropped {n} row(s) of {table}"));
    }
    for d in &report.dropped {
        lines.push(format!("dropped {} {}: {}", d.table, d.key, d.reason));
    }
    lines
}
