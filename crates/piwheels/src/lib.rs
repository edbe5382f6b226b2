//! The `piw-*` command-line tools of a piwheels farm. This crate holds only option parsing,
//! configuration and terminal handling; the work happens in the crates below
//! (`piwheels-db` for `piw-initdb`).
//!
//! Every tool takes its options as the original's do (see [`config`]): from the command
//! line, the environment, and `piwheels.conf` files, with the same option names and keys.
//! Exit status: 0 on success, 1 on an error (the message is printed), 2 on a usage error or
//! when the user declines a prompt.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Opts {
//!     #[command(flatten)]
//!     common: piwheels::CommonOpts,
//!     #[arg(short, long, default_value = piwheels::DEFAULT_DSN)]
//!     dsn: String,
//! }
//!
//! let opts: Opts = piwheels::config::parse();
//! piwheels::init_logging(&opts.common, false);
//! ```

pub mod config;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The database every tool uses unless told otherwise: the embedded SQLite file of a
/// single-machine farm.
pub const DEFAULT_DSN: &str = "sqlite:/var/lib/piwheels/piwheels.db";

/// The options every tool has (`--version` comes with each tool's own parser).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonOpts {
    /// Read this configuration file after the default ones.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub configuration: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print information messages too.
    #[arg(short, long)]
    pub verbose: bool,
    /// Also log (at information level and above) to this file.
    #[arg(short = 'l', long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Sets up logging to the terminal at the level the options ask for (warnings by default;
/// `debug` for the tools' `--debug`), and to the log file if one is given.
pub fn init_logging(common: &CommonOpts, debug: bool) {
    use tracing_subscriber::fmt;
    use tracing_subscriber::prelude::*;

    let level = if debug {
        tracing::Level::DEBUG
    } else if common.quiet {
        tracing::Level::ERROR
    } else if common.verbose {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    };
    let console = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(tracing_subscriber::filter::LevelFilter::from_level(level));
    let file = common.log_file.as_ref().and_then(|path| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(
                fmt::layer()
                    .with_writer(std::sync::Mutex::new(f))
                    .with_ansi(false)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            ),
            Err(e) => {
                eprintln!("cannot open the log file {}: {e}", path.display());
                None
            }
        }
    });
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file)
        .try_init();
}

/// Asks a yes/no question on the terminal; anything but `y`/`yes` (or the end of input)
/// is no.
pub fn confirm(question: &str) -> bool {
    let mut out = std::io::stderr();
    let _ = write!(out, "{question} [y/N] ");
    let _ = out.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
        if !std::io::stdin().is_terminal() {
            let _ = writeln!(
                out,
                "\n(no answer on standard input; use -y to proceed without asking)"
            );
        }
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints an error as the tools do and gives the exit status for it (1).
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// The exit status for a declined prompt (2).
pub fn declined() -> ExitCode {
    eprintln!("nothing was changed");
    ExitCode::from(2)
}

/// A database address fit to print: a password in it is replaced by `***`.
pub fn redact_dsn(dsn: &str) -> String {
    if let Some(scheme_end) = dsn.find("://") {
        let rest = &dsn[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &dsn[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        return dsn.to_owned();
    }
    dsn.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long a tool waits for the master's answer unless told otherwise, in seconds.
pub const DEFAULT_MASTER_TIMEOUT: &str = "60";

/// Sends one request to the master's MrChase on the import queue (`piw-add`, `piw-remove`,
/// `piw-rebuild`) and waits at most `timeout` for its answer; the error says, in words,
/// what went wrong (no master answering, a bad address, a bad reply).
pub fn ask_master(
    queue: &str,
    timeout: std::time::Duration,
    request: &piwheels_protocol::import::ImportRequest,
) -> Result<piwheels_protocol::import::ImportReply, String> {
    use piwheels_protocol::import::ImportProtocol;
    use piwheels_protocol::transport::{Req, SocketOptions, zmq};

    let ctx = zmq::Context::new();
    let options = SocketOptions::new().linger(Some(std::time::Duration::ZERO));
    let mut req = Req::<ImportProtocol>::connect(&ctx, queue, &options)
        .map_err(|e| format!("cannot connect to the import queue {queue}: {e}"))?;
    req.request(request, timeout).map_err(|e| {
        if e.is_timeout() {
            format!("the master did not answer on {queue} within {timeout:?}; is it running?")
        } else {
            format!("talking to the master on {queue}: {e}")
        }
    })
}

/// A size in bytes from the command line: `1073741824`, `512M`, `1G`, `1.5G` (powers of
/// 1024; `K`, `M`, `G`, `T`, with or without `B`/`iB`).
///
/// # Errors
///
/// Text saying the value is not a size.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size (such as 1G, 512M or a number of bytes)");
    let s = s.trim();
    let (number, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], s[i..].to_ascii_uppercase()),
        None => (s, String::new()),
    };
    let factor: f64 = match unit.trim_end_matches(['B', 'I']) {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::redact_dsn;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact_dsn("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_dsn("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_dsn("host=/tmp user=u password=secret dbname=d"),
            "host=/tmp user=u password=*** dbname=d"
        );
        assert_eq!(
            redact_dsn("sqlite:/var/lib/piwheels/piwheels.db"),
            "sqlite:/var/lib/piwheels/piwheels.db"
        );
    }
}
