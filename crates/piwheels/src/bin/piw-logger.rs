//! `piw-logger`: reads a web server's access log and sends the master's Lumberjack a record
//! for each wheel download, pip search, project page, project JSON and page hit
//! (piwheels.md §3.5).
//!
//! ```text
//! piw-logger [--format combined|nginx] [--log-queue ADDR] [--drop] [FILE...]
//! piw-logger --follow [--from-end] FILE
//! ```
//!
//! Files may be gzip (read whatever their name); `-`, the default, is standard input, so
//! Apache can pipe its log to it (`CustomLog "|piw-logger --drop" combined`). With
//! `--follow` it reads one file as it grows, through log rotation, until stopped with
//! SIGTERM or SIGINT. A progress bar shows how far it is through the files when standard
//! error is a terminal.
//!
//! Without `--drop`, nothing is lost while the master is away: records wait for it (and
//! reading waits when too many do). With `--drop`, a record the master cannot take within
//! 10 ms is dropped, so a web server piping its log here is never held up. Lines that are
//! not log entries are skipped and counted; the counts are logged at the end (`-v`).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use butter::EventSource;
use butter::signalfd::{SigSet, Signal, SignalFd};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use piwheels::logger::follow::Follower;
use piwheels::logger::{Counts, DEFAULT_LOG_QUEUE, Line, LogFormat, Sender, handle, input};
use piwheels::{CommonOpts, fail, usage_error};
use piwheels_protocol::transport::zmq;

/// Send a web server's access-log records to the piwheels master.
#[derive(Debug, Parser)]
#[command(name = "piw-logger", version, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    /// The log files to read (plain or gzip); `-` is standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    files: Vec<PathBuf>,
    /// The log's format: combined (Apache's) or nginx (nginx's default "combined").
    #[arg(long, value_name = "FORMAT", default_value = "combined")]
    format: String,
    /// The master's log queue.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LOG_QUEUE)]
    log_queue: String,
    /// Drop records the master cannot take at once (within 10 ms) instead of waiting.
    #[arg(long)]
    drop: bool,
    /// Follow the file as it grows and is rotated, until stopped.
    #[arg(short, long)]
    follow: bool,
    /// With --follow, skip what the file holds already.
    #[arg(long, requires = "follow")]
    from_end: bool,
    /// At the end, how long to wait for the master to take the records still queued, in
    /// seconds.
    #[arg(
        long = "master-timeout",
        alias = "timeout",
        value_name = "SECS",
        default_value = "60"
    )]
    timeout: u64,
}

/// Reads every file (or standard input) in turn.
fn read_files(
    opts: &Opts,
    format: LogFormat,
    sender: &mut Sender,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let files: Vec<&Path> = opts.files.iter().map(PathBuf::as_path).collect();
    let sizes: u64 = files
        .iter()
        .filter(|p| **p != Path::new("-"))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() && sizes > 0 {
        let bar = ProgressBar::new(sizes);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let done = Arc::new(AtomicU64::new(0));
    let mut failed: Option<anyhow::Error> = None;
    for path in files {
        let reader: Box<dyn Read + Send> = if path == Path::new("-") {
            input::maybe_gunzip(std::io::stdin()).context("reading standard input")?
        } else {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            input::maybe_gunzip(Counting {
                inner: file,
                done: Arc::clone(&done),
            })
            .with_context(|| format!("reading {}", path.display()))?
        };
        bar.set_message(path.display().to_string());
        let mut send_error = None;
        input::read_lines(reader, &mut |line| {
            if send_error.is_some() {
                return;
            }
            if let Some(record) = handle(line, format, counts)
                && let Err(e) = sender.send(&record, counts)
            {
                send_error = Some(e);
            }
            bar.set_position(done.load(Ordering::Relaxed));
        })
        .with_context(|| format!("reading {}", path.display()))?;
        if let Some(e) = send_error {
            failed = Some(anyhow::Error::new(e).context("sending to the log queue"));
            break;
        }
    }
    bar.finish_and_clear();
    failed.map_or(Ok(()), Err)
}

/// A reader that adds what it reads to a shared count (the progress bar's position).
struct Counting<R> {
    inner: R,
    done: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Follows one file until SIGTERM or SIGINT.
fn follow(
    path: &Path,
    from_end: bool,
    stop: &mut SignalFd,
    format: LogFormat,
    sender: &mut Sender,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let mut follower =
        Follower::new(path, from_end).with_context(|| format!("following {}", path.display()))?;
    if !follower.is_open() {
        tracing::warn!("{} does not exist yet; waiting for it", path.display());
    }
    let mut send_error = None;
    let mut out = |line: Line<'_>| {
        if send_error.is_some() {
            return;
        }
        if let Some(record) = handle(line, format, counts)
            && let Err(e) = sender.send(&record, counts)
        {
            send_error = Some(e);
        }
    };
    let mut stopped = None;
    let mut keep_going = || {
        match stop.wait(Some(Duration::ZERO)) {
            Ok(Some(info)) => stopped = Some(info.signal),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot read signals: {e}"),
        }
        stopped.is_none()
    };
    follower.run(&mut out, &mut keep_going)?;
    follower.finish(&mut out)?;
    if let Some(e) = send_error {
        return Err(anyhow::Error::new(e).context("sending to the log queue"));
    }
    if let Some(signal) = stopped {
        tracing::info!("stopped by {}", signal.name());
    }
    Ok(())
}

fn run(opts: &Opts, format: LogFormat) -> anyhow::Result<Counts> {
    // Before ZeroMQ starts its threads, so that they inherit the blocked signals.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    let mut stop = if opts.follow {
        Some(SignalFd::new(&signals).context("cannot take SIGTERM and SIGINT")?)
    } else {
        None
    };
    let ctx = zmq::Context::new();
    let mut sender = Sender::connect(
        &ctx,
        &opts.log_queue,
        opts.drop,
        Duration::from_secs(opts.timeout),
    )
    .with_context(|| format!("cannot connect to the log queue {}", opts.log_queue))?;
    let mut counts = Counts::default();
    match &mut stop {
        Some(stop) => follow(
            &opts.files[0],
            opts.from_end,
            stop,
            format,
            &mut sender,
            &mut counts,
        )?,
        None => read_files(opts, format, &mut sender, &mut counts)?,
    }
    // Closing the socket waits (at most --timeout) for the master to take what is queued.
    drop(sender);
    Ok(counts)
}

fn check(opts: &Opts) -> anyhow::Result<LogFormat> {
    let format: LogFormat = opts.format.parse()?;
    if opts.follow && (opts.files.len() != 1 || opts.files[0] == Path::new("-")) {
        bail!("--follow takes one file (standard input is read to its end anyway)");
    }
    Ok(format)
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    let format = match check(&opts) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    match run(&opts, format) {
        Ok(counts) => {
            if counts.malformed + counts.too_long + counts.dropped > 0 {
                tracing::warn!("{counts}");
            } else {
                tracing::info!("{counts}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
#[path = "legacy/piw_logger.rs"]
mod legacy_tests;
