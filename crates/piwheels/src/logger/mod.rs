//! The work of `piw-logger`: access-log lines in, Lumberjack's records out.
//!
//! - [`line`](mod@line) parses a line of Apache's or nginx's "combined" log;
//! - [`classify`](mod@classify) turns an entry into the record the original `piw-logger`
//!   sends, if any, by the rules of [`piwheels_master::access_log`] (which also reads what a
//!   User-Agent says, pip's and uv's JSON), the one copy shared with the web server;
//! - [`input`] reads lines from files, gzip streams and standard input;
//! - [`follow`] follows a log file as it grows and is rotated;
//! - [`Sender`] pushes records to the master's log queue, and [`Counts`] says what became of
//!   every line.
//!
//! ```
//! use piwheels::logger::{Counts, LogFormat, handle_line};
//!
//! let line = br#"192.0.2.1 - - [05/Mar/2024:10:00:00 +0000] "GET /faq.html HTTP/1.1" 200 9 "-" "curl/8.5""#;
//! let mut counts = Counts::default();
//! let record = handle_line(line, LogFormat::Combined, &mut counts);
//! assert!(record.is_some());
//! assert_eq!((counts.lines, counts.records), (1, 1));
//! ```

pub mod classify;
pub mod follow;
pub mod input;
pub mod line;

use std::time::Duration;

use piwheels_protocol::logger::{LogMessage, LoggerProtocol};
use piwheels_protocol::transport::{Push, SocketOptions, TransportError, zmq};

pub use classify::classify;
pub use input::Line;
pub use line::{Entry, FormatError, LineError, LogFormat, parse_line};

/// The master's log queue unless told otherwise.
pub const DEFAULT_LOG_QUEUE: &str = "ipc:///tmp/piw-logger";

/// How long `--drop` lets a record wait for room on the socket before it is dropped.
pub const DROP_AFTER: Duration = Duration::from_millis(10);

/// How many records wait on the socket for the master (its high-water mark) before a send
/// blocks, or with `--drop` drops.
pub const QUEUE_HWM: i32 = 1000;

/// What became of the lines read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Lines read.
    pub lines: u64,
    /// Lines that made a record.
    pub records: u64,
    /// Well-formed lines that make no record (another page, a 404, no User-Agent...).
    pub ignored: u64,
    /// Lines that are not well-formed entries, skipped.
    pub malformed: u64,
    /// Lines longer than [`input::MAX_LINE`], skipped.
    pub too_long: u64,
    /// Records dropped because the master could not take them (`--drop`).
    pub dropped: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines: {} records, {} ignored, {} malformed, {} too long; {} records dropped",
            self.lines, self.records, self.ignored, self.malformed, self.too_long, self.dropped
        )
    }
}

/// Parses and classifies one line, counting it; the record it makes, if any.
pub fn handle_line(line: &[u8], format: LogFormat, counts: &mut Counts) -> Option<LogMessage> {
    counts.lines += 1;
    match parse_line(line, format) {
        Ok(entry) => {
            let record = classify(&entry);
            if record.is_some() {
                counts.records += 1;
            } else {
                counts.ignored += 1;
            }
            record
        }
        Err(why) => {
            counts.malformed += 1;
            tracing::debug!("skipped line {}: {why}", counts.lines);
            None
        }
    }
}

/// [`handle_line`] for what [`input`] hands out.
pub fn handle(line: Line<'_>, format: LogFormat, counts: &mut Counts) -> Option<LogMessage> {
    match line {
        Line::Whole(bytes) => handle_line(bytes, format, counts),
        Line::TooLong => {
            counts.lines += 1;
            counts.too_long += 1;
            None
        }
    }
}

/// The log queue: a PUSH socket connected to the master's Lumberjack.
///
/// Without `drop`, a send waits as long as the master needs: records queue (up to
/// [`QUEUE_HWM`]) while it is away, and are delivered when it is back. With `drop`, a
/// record the socket cannot take within [`DROP_AFTER`] is dropped and counted, so the web
/// server writing the log is never held up; after a drop, records that cannot be queued at
/// once are dropped without waiting, until one goes through (a master that is away costs
/// 10 ms once, not 10 ms a line).
pub struct Sender {
    push: Push<LoggerProtocol>,
    drop: bool,
    /// The last record was dropped.
    dropping: bool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("push", &self.push)
            .field("drop", &self.drop)
            .finish()
    }
}

impl Sender {
    /// Connects to `queue`. On drop (at the end of the input), the socket keeps trying to
    /// deliver what is queued for `linger`, then gives up.
    ///
    /// # Errors
    ///
    /// An address ZeroMQ cannot connect to.
    pub fn connect(
        ctx: &zmq::Context,
        queue: &str,
        drop: bool,
        linger: Duration,
    ) -> Result<Sender, TransportError> {
        let options = SocketOptions::new().hwm(QUEUE_HWM).linger(Some(linger));
        Ok(Sender {
            push: Push::connect(ctx, queue, &options)?,
            drop,
            dropping: false,
        })
    }

    /// Sends a record, counting it in `counts.dropped` if `--drop` dropped it.
    ///
    /// # Errors
    ///
    /// The socket's failure (not a timeout under `--drop`).
    pub fn send(&mut self, record: &LogMessage, counts: &mut Counts) -> Result<(), TransportError> {
        if !self.drop {
            return self.push.send(record);
        }
        let wait = if self.dropping {
            Duration::ZERO
        } else {
            DROP_AFTER
        };
        match self.push.send_timeout(record, wait) {
            Err(e) if e.is_timeout() => {
                counts.dropped += 1;
                self.dropping = true;
                Ok(())
            }
            other => {
                self.dropping = false;
                other
            }
        }
    }
}
