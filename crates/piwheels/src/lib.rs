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
pub mod legacy_options;
pub mod logger;
pub mod master_keys;
pub mod migrate;
pub mod monitor;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use piwheels_db::Target;
use piwheels_protocol::import::{ImportProtocol, ImportReply, ImportRequest};
use piwheels_protocol::transport::{
    Req, Security, SocketOptions, TransportError, connectable, zmq,
};

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

/// Prints an error as the tools do (`error: ` and its whole cause chain, see [`Chain`])
/// and gives the exit status for it (1).
pub fn fail(error: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {}", Chain(&error.into()));
    ExitCode::from(1)
}

/// Prints a usage error (bad input, refused before anything is asked) as [`fail`] does,
/// and gives the exit status for it (2).
pub fn usage_error(error: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {}", Chain(&error.into()));
    ExitCode::from(2)
}

/// An error and its causes, as `anyhow`'s `{:#}` writes them (`outer: inner: ...`), less
/// a cause whose text is already written: many errors (ours, the database drivers', the
/// standard library's I/O errors wrapped in ours) say their source in their own message
/// and give it as their source too.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a anyhow::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut said = String::new();
        for cause in self.0.chain() {
            let text = cause.to_string();
            if said.contains(&text) {
                continue;
            }
            if !said.is_empty() {
                said.push_str(": ");
            }
            said.push_str(&text);
        }
        f.write_str(&said)
    }
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

/// Why the master's MrChase could not be asked (see [`ImportQueue`]).
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The socket could not be made or connected (a bad address).
    #[error("cannot connect to the import queue {queue}")]
    Connect {
        /// The import queue's address.
        queue: String,
        /// What ZeroMQ said.
        #[source]
        source: TransportError,
    },
    /// No answer in time: most likely no master is running there.
    #[error("the master did not answer on {queue} within {timeout:?}; is it running?")]
    Silent {
        /// The import queue's address.
        queue: String,
        /// How long the tool waited.
        timeout: Duration,
    },
    /// The request could not be sent, or the reply was not a valid message.
    #[error("talking to the master on {queue}")]
    Talk {
        /// The import queue's address.
        queue: String,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
}

/// A connection to the master's MrChase on the import queue (`piw-add`, `piw-remove`,
/// `piw-rebuild`, `piw-import`): one request at a time, each answer awaited at most the
/// timeout given.
pub struct ImportQueue {
    req: Req<ImportProtocol>,
    queue: String,
    timeout: Duration,
}

impl std::fmt::Debug for ImportQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportQueue")
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ImportQueue {
    /// Connects to the import queue at `queue`, secured with `security` (CURVE with
    /// `--master-key --key`: see [`master_keys`]); nothing is sent yet, and a socket that
    /// is dropped does not linger.
    ///
    /// # Errors
    ///
    /// [`AskError::Connect`] for an address ZeroMQ cannot connect to.
    pub fn connect(
        ctx: &zmq::Context,
        (queue, security): (&str, Security),
        timeout: Duration,
    ) -> Result<Self, AskError> {
        let options = SocketOptions::new()
            .linger(Some(Duration::ZERO))
            .security(master_keys::on_endpoint(security, queue));
        let req = Req::<ImportProtocol>::connect(ctx, &connectable(queue), &options).map_err(
            |source| AskError::Connect {
                queue: queue.to_owned(),
                source,
            },
        )?;
        Ok(ImportQueue {
            req,
            queue: queue.to_owned(),
            timeout,
        })
    }

    /// Sends `request` and waits for the answer.
    ///
    /// # Errors
    ///
    /// [`AskError::Silent`] when no answer came in time, [`AskError::Talk`] when the
    /// request could not be sent or the answer was not a valid message.
    pub fn ask(&mut self, request: &ImportRequest) -> Result<ImportReply, AskError> {
        self.req.request(request, self.timeout).map_err(|source| {
            if source.is_timeout() {
                AskError::Silent {
                    queue: self.queue.clone(),
                    timeout: self.timeout,
                }
            } else {
                AskError::Talk {
                    queue: self.queue.clone(),
                    source,
                }
            }
        })
    }
}

/// Sends one request to the master's MrChase on the import queue (secured as the
/// [`Security`] says) and waits at most
/// `timeout` for its answer.
///
/// # Errors
///
/// As [`ImportQueue::connect`] and [`ImportQueue::ask`].
pub fn ask_master(
    queue: (&str, Security),
    timeout: Duration,
    request: &ImportRequest,
) -> Result<ImportReply, AskError> {
    let ctx = zmq::Context::new();
    ImportQueue::connect(&ctx, queue, timeout)?.ask(request)
}

/// A build target from the command line (`--target ABI/PLATFORM`).
///
/// # Errors
///
/// [`TargetError`] for anything but two non-empty parts around one `/`.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    match s.split_once('/') {
        Some((abi, platform))
            if !abi.is_empty() && !platform.is_empty() && !platform.contains('/') =>
        {
            Ok(Target::new(abi, platform))
        }
        _ => Err(TargetError(s.to_owned())),
    }
}

/// A `--target` that is not `ABI/PLATFORM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not ABI/PLATFORM (such as cp311/linux_armv7l)")]
pub struct TargetError(pub String);

/// A size that is not one (see [`parse_size`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a size (such as 1G, 512M or a number of bytes)")]
pub struct SizeError(pub String);

/// A size in bytes from the command line: `1073741824`, `512M`, `1G`, `1.5G` (powers of
/// 1024; `K`, `M`, `G`, `T`, with or without `B`/`iB`).
///
/// # Errors
///
/// [`SizeError`] for anything else.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let bad = || SizeError(s.to_owned());
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
    use super::{Chain, redact_dsn};

    /// An error that says its source in its own message and gives it as its source too,
    /// as many do.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot create /x: {source}")]
    struct Repeats {
        source: std::io::Error,
    }

    #[test]
    fn the_whole_chain_is_said_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = anyhow::Error::new(io()).context("cannot create /x");
        assert_eq!(Chain(&e).to_string(), "cannot create /x: denied");
        let e = anyhow::Error::new(Repeats { source: io() });
        assert_eq!(Chain(&e).to_string(), "cannot create /x: denied");
        let e = anyhow::Error::new(Repeats { source: io() }).context("starting");
        assert_eq!(Chain(&e).to_string(), "starting: cannot create /x: denied");
        assert_eq!(
            format!("{e:#}"),
            "starting: cannot create /x: denied: denied"
        );
    }

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
