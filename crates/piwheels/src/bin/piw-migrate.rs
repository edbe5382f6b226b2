//! `piw-migrate`: copies a piwheels 0.23 database into a new database of this software.
//!
//! ```text
//! piw-migrate --source SOURCE_DSN [-d DSN] --platform PLATFORM [-u USER] [--resume] [-y]
//! piw-migrate --source SOURCE_DSN [-d DSN] --check [--sample N]
//! ```
//!
//! The source is the original's PostgreSQL database (read only: nothing is written to
//! it). Stop the original master first: rows it writes after the migration starts are not
//! copied. The target (`--dsn`, as the master's `dsn`) must be empty: an SQLite file that
//! does not exist yet or a PostgreSQL database without tables (as a superuser there; the
//! master's user `--user` is granted what it needs). `--platform` is the platform the
//! original's build ABIs were built on: each ABI of `build_abis` becomes a build target on
//! it.
//!
//! It is a tool of its own rather than a mode of `piw-initdb`, because it reads a second
//! database, runs for minutes with a progress bar, and resumes: an interrupted run (killed,
//! a full disk, a lost connection) carries on from its last batch with `--resume`. Until
//! it finishes, the master refuses the target. At the end it prints every change it made
//! to fit our rules and every row it dropped, with the reason; `--check` compares the
//! target with its source (row counts per table, and a sample compared field by field).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use piwheels::migrate::{self, Options, check::check};
use piwheels::{CommonOpts, DEFAULT_DSN, confirm, declined, fail, redact_dsn};

/// Copy a piwheels 0.23 database into a new piwheels database.
#[derive(Debug, Parser)]
#[command(name = "piw-migrate", version, about, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    /// The original's database (PostgreSQL), read only.
    #[arg(long, value_name = "DSN")]
    source: String,
    /// The new database: an SQLite file (sqlite:/path) or a PostgreSQL address, as a
    /// superuser; empty, or holding this migration to resume.
    #[arg(short, long, default_value = DEFAULT_DSN)]
    dsn: String,
    /// The platform the original's ABIs were built on.
    #[arg(long, default_value = "linux_armv7l")]
    platform: String,
    /// PostgreSQL only: the (existing, unprivileged) user the master connects as.
    #[arg(short, long, default_value = "piwheels")]
    user: String,
    /// Carry on with the unfinished migration the target holds.
    #[arg(long)]
    resume: bool,
    /// Compare the target with its source, changing nothing.
    #[arg(long, conflicts_with = "resume")]
    check: bool,
    /// With --check: source rows sampled per table.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    sample: u64,
    /// Rows per batch (each batch is one transaction of the target).
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// Wait this many milliseconds after each batch (for tests that interrupt a run).
    #[arg(long, default_value_t = 0, hide = true)]
    throttle_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    if opts.check {
        return match check(&opts.source, &opts.dsn, opts.sample).await {
            Ok(report) => {
                for c in &report.counts {
                    println!(
                        "{:<26} source {:>10}  dropped {:>8}  added {:>6}  target {:>10}  {}",
                        c.table,
                        c.source,
                        c.dropped,
                        c.added,
                        c.target,
                        if c.ok() { "ok" } else { "DIFFERENT" }
                    );
                }
                println!("sampled {} source rows", report.sampled);
                for d in &report.differences {
                    println!("different: {d}");
                }
                if report.ok() {
                    println!("the target matches its source");
                    ExitCode::SUCCESS
                } else {
                    println!("the target does NOT match its source");
                    ExitCode::FAILURE
                }
            }
            Err(e) => fail(e),
        };
    }
    if !opts.yes
        && !confirm(&format!(
            "{} the migration from {} into {} (build targets on {})?",
            if opts.resume { "Resume" } else { "Start" },
            redact_dsn(&opts.source),
            redact_dsn(&opts.dsn),
            opts.platform
        ))
    {
        return declined();
    }
    let run = Options {
        source: opts.source.clone(),
        target: opts.dsn.clone(),
        platform: opts.platform.clone(),
        user: Some(opts.user.clone()),
        resume: opts.resume,
        batch: usize::try_from(opts.batch).unwrap_or(10_000),
        progress: std::io::stderr().is_terminal() && !opts.common.quiet,
        throttle: Duration::from_millis(opts.throttle_ms),
    };
    match migrate::run(&run).await {
        Ok(summary) => {
            for line in migrate::report_lines(&summary.report) {
                println!("{line}");
            }
            for (step, rows, took) in &summary.steps {
                println!(
                    "copied {rows} row(s) of {step} in {:.1} s",
                    took.as_secs_f64()
                );
            }
            println!(
                "rebuilt the build queue in {:.1} s, by our rules: ABIs in Python version order \
                 (cp39 before cp311), an abi3 wheel serving every ABI from its own up, a version \
                 tried on one target first",
                summary.finish.as_secs_f64()
            );
            println!(
                "kept every build id; new builds are numbered after {} (the source's last)",
                summary.last_build_id
            );
            let secs = summary.elapsed.as_secs_f64().max(0.001);
            println!(
                "migrated: {} rows in {:.1} s ({:.0} rows/s); {} version(s) wait in the build queue",
                summary.rows,
                secs,
                summary.rows as f64 / secs,
                summary.queued
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
