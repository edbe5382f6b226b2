//! `piw-audit`: checks the web output folder against the database, and with `--fix`
//! repairs what it can (see `piwheels_master::output::audit`).
//!
//! ```text
//! piw-audit [-d DSN] [-o PATH] [--check CHECK]... [--skip CHECK]... [--json] [--fix [-y]]
//! ```
//!
//! Exit status: 0 when nothing is wrong, 1 when something is (even if `--fix` repaired
//! it: audit again to see it clean), 2 on an error, a usage error or a declined prompt.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use piwheels::master_keys::MasterKeyOpts;
use piwheels::{Chain, CommonOpts, DEFAULT_DSN, ImportQueue, confirm};
use piwheels_db::Database;
use piwheels_master::output::audit::{self, Check, MasterNote, Progress, render};
use piwheels_protocol::import::{ImportReply, ImportRequest, RebuildTarget};
use piwheels_protocol::transport::zmq;

/// A check, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckArg {
    /// Package folders under simple/ and project/ missing from or extra to the database,
    /// and packages' pages missing.
    Packages,
    /// Wheels missing, names no row accounts for, something else where a wheel should be.
    Files,
    /// Wheels whose SHA-256 is not the database's (reads every wheel, on every core).
    Hashes,
    /// Alias links missing, broken, or pointing elsewhere (outside the output, say).
    Links,
    /// `WHEEL.metadata` files missing or not their wheel's `*.dist-info/METADATA`.
    Metadata,
    /// Build logs (logs/AAAA/BBBB/CCCC.txt.gz) missing or extra.
    Logs,
}

impl From<CheckArg> for Check {
    fn from(c: CheckArg) -> Check {
        match c {
            CheckArg::Packages => Check::Packages,
            CheckArg::Files => Check::Files,
            CheckArg::Hashes => Check::Hashes,
            CheckArg::Links => Check::Links,
            CheckArg::Metadata => Check::Metadata,
            CheckArg::Logs => Check::Logs,
        }
    }
}

/// Check the web output against the database: package folders, wheels and their hashes,
/// alias links, metadata files and build logs. Read-only unless --fix.
///
/// Reports one line a finding and a summary (or one JSON document with --json). With
/// --fix it then repairs what it can: removes what the database does not have, makes links
/// and metadata files again, deletes the builds whose wheels are missing or wrong (their
/// versions are built again), and owes the rewrite of the pages it touched in the
/// database; a master running on the import queue is told to write them now, otherwise
/// it writes them when it next starts. Missing build logs cannot be made again.
///
/// Exit status: 0 nothing wrong; 1 something wrong (even if repaired); 2 an error.
#[derive(Debug, Parser)]
#[command(name = "piw-audit", version)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    keys: MasterKeyOpts,
    /// The database.
    #[arg(short, long, default_value = DEFAULT_DSN)]
    dsn: String,
    /// The web output folder.
    #[arg(
        short,
        long = "output-path",
        value_name = "PATH",
        default_value = "/var/www"
    )]
    output_path: PathBuf,
    /// Make only these checks (repeatable, or comma-separated; default: all).
    #[arg(
        long = "check",
        value_enum,
        value_name = "CHECK",
        value_delimiter = ','
    )]
    checks: Vec<CheckArg>,
    /// Leave out these checks (repeatable, or comma-separated).
    #[arg(long = "skip", value_enum, value_name = "CHECK", value_delimiter = ',')]
    skip: Vec<CheckArg>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Repair what can be repaired (asks first, unless -y).
    #[arg(long)]
    fix: bool,
    /// Repair without asking (required with --fix when standard input is not a terminal).
    #[arg(short, long)]
    yes: bool,
    /// Threads reading wheels (default: one a core).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// The master's import queue, told to write the owed pages after --fix.
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-import")]
    import_queue: String,
    /// How long to wait for the master's answer, in seconds.
    #[arg(long, value_name = "SECS", default_value = "5")]
    master_timeout: u64,
}

/// A progress bar on standard error when it is a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn phase(&self, what: &str, total: u64) {
        let template = if what == "hashing wheels" {
            "{msg:16} {bar:40} {bytes}/{total_bytes} {eta}"
        } else {
            "{msg:16} {bar:40} {pos}/{len}"
        };
        self.0.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.0.set_message(what.to_owned());
        self.0.set_position(0);
        self.0.set_length(total);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

fn error(e: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {}", Chain(&e.into()));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    if let Err(e) = opts.keys.security() {
        return error(e);
    }
    if opts.fix && !opts.yes && !std::io::stdin().is_terminal() {
        return error(anyhow::anyhow!(
            "--fix asks before repairing, and standard input is not a terminal: add -y to repair without asking"
        ));
    }
    let mut checks: Vec<Check> = if opts.checks.is_empty() {
        Check::ALL.to_vec()
    } else {
        opts.checks.iter().map(|&c| c.into()).collect()
    };
    let skip: Vec<Check> = opts.skip.iter().map(|&c| c.into()).collect();
    checks.retain(|c| !skip.contains(c));
    let mut options = audit::Options {
        checks,
        ..Default::default()
    };
    if let Some(n) = opts.jobs {
        options.jobs = n.max(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    match runtime.block_on(run(&opts, &options)) {
        Ok(code) => code,
        Err(e) => error(e),
    }
}

async fn run(opts: &Opts, options: &audit::Options) -> anyhow::Result<ExitCode> {
    let db = Database::open(&opts.dsn).await?;
    let bar: &'static Bar = Box::leak(Box::new(Bar(
        if std::io::stderr().is_terminal() && !opts.common.quiet {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        },
    )));
    let report = audit::audit(&db, &opts.output_path, options, bar).await?;
    bar.0.finish_and_clear();
    let fixable = report.fixable();
    let print = |fixed: Option<(&audit::FixReport, &MasterNote)>| {
        if opts.json {
            println!("{}", render::json(&report, fixed));
        } else {
            print!("{}", render::text(&report, fixed));
        }
    };
    if !opts.fix || report.clean() {
        print(None);
        return Ok(exit_for(&report));
    }
    if fixable == 0 {
        print(None);
        eprintln!("nothing of that can be repaired");
        return Ok(exit_for(&report));
    }
    if !opts.yes {
        // The findings first, so the question is about something seen.
        if !opts.json {
            print(None);
        }
        if !confirm(&format!(
            "Repair {fixable} of {} findings?",
            report.findings.len()
        )) {
            eprintln!("nothing was changed");
            return Ok(ExitCode::from(2));
        }
    }
    let fixed = audit::fix(&db, &opts.output_path, &report).await?;
    let note = tell_master(opts, &fixed.rewrites_owed);
    print(Some((&fixed, &note)));
    Ok(exit_for(&report))
}

fn exit_for(report: &audit::Report) -> ExitCode {
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Asks a running master to write the owed pages now (as `piw-rebuild index PACKAGE`).
fn tell_master(opts: &Opts, owed: &[String]) -> MasterNote {
    if owed.is_empty() {
        return MasterNote {
            told: false,
            detail: "no pages are owed".into(),
        };
    }
    let ctx = zmq::Context::new();
    let timeout = Duration::from_secs(opts.master_timeout);
    let not_told = |why: String| MasterNote {
        told: false,
        detail: format!(
            "the pages of {} packages are owed in the database; {why}; the master writes them when it next starts",
            owed.len()
        ),
    };
    let security = match opts.keys.security() {
        Ok(s) => s,
        Err(e) => return not_told(e.to_string()),
    };
    let mut queue = match ImportQueue::connect(&ctx, (&opts.import_queue, security), timeout) {
        Ok(q) => q,
        Err(e) => return not_told(format!("the master was not reachable ({e})")),
    };
    for p in owed {
        match queue.ask(&ImportRequest::Rebuild(RebuildTarget::Both(Some(
            p.clone(),
        )))) {
            Ok(ImportReply::Done(_)) => {}
            Ok(ImportReply::Error(why)) => {
                return not_told(format!("the master refused to rewrite {p}: {why}"));
            }
            Ok(ImportReply::Send(_)) => {
                return not_told("the master answered with a file request".into());
            }
            Err(e) => {
                return not_told(format!(
                    "the master was not reachable ({})",
                    Chain(&e.into())
                ));
            }
        }
    }
    MasterNote {
        told: true,
        detail: format!(
            "the pages of {} packages are owed in the database, and the master on {} was told to write them now",
            owed.len(),
            opts.import_queue
        ),
    }
}

#[cfg(test)]
#[path = "legacy/piw_audit.rs"]
mod legacy_tests;
