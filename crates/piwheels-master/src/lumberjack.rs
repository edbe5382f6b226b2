//! Lumberjack: the access log (piwheels.md §1.3, §3.5).
//!
//! It binds the log queue (`--log-queue`, a PULL socket) that the original's `piw-logger`
//! pushes `LOGDOWNLOAD`, `LOGSEARCH`, `LOGPROJECT`, `LOGJSON` and `LOGPAGE` records to,
//! and takes the embedded web server's own hits through an [`AccessLog`] handle (a
//! channel, not the socket). Both go the same way:
//!
//! - each record is checked ([`check`]): a message the protocol refuses (bad CBOR, an
//!   unknown verb, the wrong shape) or a record that cannot be stored (a host that is not
//!   an IP address, a NUL, an empty name, a name longer than its column, a field past
//!   [`MAX_FIELD`] bytes) is dropped and counted ([`Counters::malformed`]), with one
//!   warning a [`Timing::report`] interval at most, and never stops the task;
//! - records are written to the database in batches
//!   ([`Database::log_access`](piwheels_db::Database::log_access)): at most
//!   [`Timing::batch`] records, or [`Timing::flush`] after the first record of a batch,
//!   whichever comes first, and whatever is held when the master stops;
//! - when the database fails, the records are kept and written again later (backing off
//!   up to [`MAX_RETRY`]); at most [`Timing::max_pending`] are kept, and past that the
//!   oldest are dropped and counted ([`Counters::overflowed`]);
//! - every [`Timing::report`] interval (a minute) it tells BigBrother how many downloads
//!   it wrote in that interval (the original's `LOGDOWNLOAD int`), which BigBrother adds
//!   to the `downloads_all` figure of the monitors' `STATS` and the homepage.
//!
//! The socket's high-water mark is the original's 10, so a logger that pushes faster than
//! the database takes the records waits (or, with `--drop`, drops them itself).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use piwheels_db::{AccessRecord, DownloadRecord, PageKind, PageRecord};
use piwheels_protocol::logger::{LogMessage, LoggerProtocol};
use piwheels_protocol::transport::asynchronous::Pull;
use piwheels_protocol::transport::{HWM, SocketOptions, zmq};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Result;
use crate::hub::{Hub, StatsMessage, Task};

/// The longest text field (User-Agent, the client's details) taken, in bytes; the database
/// keeps at most 2000 characters of a User-Agent and 100 of the others.
pub const MAX_FIELD: usize = 4096;
/// The longest wheel file name taken (the `downloads` column's limit).
pub const MAX_FILENAME: usize = 255;
/// The longest package name taken.
pub const MAX_PACKAGE: usize = 200;
/// The longest page name taken.
pub const MAX_PAGE: usize = 30;
/// The longest wait between attempts to write to a failing database.
pub const MAX_RETRY: Duration = Duration::from_secs(30);
/// At shutdown, how long the log queue may stay quiet before it counts as read dry.
pub const DRAIN_IDLE: Duration = Duration::from_millis(50);
/// At shutdown, the longest the log queue is read for.
pub const DRAIN_FOR: Duration = Duration::from_secs(2);
/// How many of the web server's records may wait in the channel to Lumberjack; past that
/// the web server drops them (counted in [`Counters::overflowed`]) rather than wait.
pub const CHANNEL: usize = 10_000;

/// Lumberjack's limits and intervals; [`Timing::default`] is production's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The most records written in one transaction: 1000.
    pub batch: usize,
    /// How long the first record of a batch waits for more: 1 s.
    pub flush: Duration,
    /// How often downloads are reported to BigBrother (and suppressed warnings summed
    /// up): a minute.
    pub report: Duration,
    /// The most records kept while the database fails: 100,000.
    pub max_pending: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            batch: 1000,
            flush: Duration::from_secs(1),
            report: Duration::from_secs(60),
            max_pending: 100_000,
        }
    }
}

/// What Lumberjack has done since it started; shared, so tests and the caller can read it
/// while the task runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records taken (from the socket and the web server).
    pub received: AtomicU64,
    /// Records dropped as malformed.
    pub malformed: AtomicU64,
    /// Records dropped because too many were waiting (the database failing, or the web
    /// server's channel full).
    pub overflowed: AtomicU64,
    /// Records written to the database.
    pub written: AtomicU64,
    /// Downloads among them.
    pub downloads: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Why a record was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The host is not an IP address.
    #[error("the host is not an IP address")]
    BadHost,
    /// A field holds a NUL.
    #[error("the {0} holds a NUL")]
    Nul(&'static str),
    /// A required name is empty.
    #[error("the {0} is empty")]
    Empty(&'static str),
    /// A field is too long.
    #[error("the {field} is {len} bytes long (at most {max})")]
    TooLong {
        /// Which.
        field: &'static str,
        /// Its length, bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// The web server's way into Lumberjack: it records a hit without waiting, and drops it
/// (counted) if [`CHANNEL`] records are waiting already.
#[derive(Debug, Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<LogMessage>,
    counters: Arc<Counters>,
}

impl AccessLog {
    /// Records a hit.
    pub fn record(&self, msg: LogMessage) {
        if self.tx.try_send(msg).is_err() {
            Counters::add(&self.counters.overflowed, 1);
        }
    }
}

fn text(field: &'static str, s: &str, max: usize) -> std::result::Result<(), Malformed> {
    if s.len() > max {
        return Err(Malformed::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    if s.contains('\0') {
        return Err(Malformed::Nul(field));
    }
    Ok(())
}

fn name(field: &'static str, s: &str, max_chars: usize) -> std::result::Result<(), Malformed> {
    if s.is_empty() {
        return Err(Malformed::Empty(field));
    }
    // Characters, as the columns count; bytes bound the count first.
    text(field, s, max_chars * 4)?;
    let chars = s.chars().count();
    if chars > max_chars {
        return Err(Malformed::TooLong {
            field,
            len: chars,
            max: max_chars,
        });
    }
    Ok(())
}

fn host(s: &str) -> std::result::Result<IpAddr, Malformed> {
    if s.len() > 64 {
        return Err(Malformed::BadHost);
    }
    s.parse().map_err(|_| Malformed::BadHost)
}

fn optional(fields: &[(&'static str, &Option<String>)]) -> std::result::Result<(), Malformed> {
    for (field, value) in fields {
        if let Some(v) = value {
            text(field, v, MAX_FIELD)?;
        }
    }
    Ok(())
}

macro_rules! download_record {
    ($d:expr, $name:expr) => {{
        let d = $d;
        optional(&[
            ("arch", &d.arch),
            ("distro name", &d.distro_name),
            ("distro version", &d.distro_version),
            ("OS name", &d.os_name),
            ("OS version", &d.os_version),
            ("Python name", &d.py_name),
            ("Python version", &d.py_version),
            ("installer name", &d.installer_name),
            ("installer version", &d.installer_version),
            ("setuptools version", &d.setuptools_version),
        ])?;
        DownloadRecord {
            name: $name,
            host: host(&d.host)?,
            timestamp: d.timestamp,
            arch: d.arch,
            distro_name: d.distro_name,
            distro_version: d.distro_version,
            os_name: d.os_name,
            os_version: d.os_version,
            py_name: d.py_name,
            py_version: d.py_version,
            installer_name: d.installer_name,
            installer_version: d.installer_version,
            setuptools_version: d.setuptools_version,
        }
    }};
}

/// Checks a record and makes it the database's; `Err` says why it is dropped.
pub fn check(msg: LogMessage) -> std::result::Result<AccessRecord, Malformed> {
    Ok(match msg {
        LogMessage::Download(d) => {
            name("file name", &d.filename, MAX_FILENAME)?;
            let filename = d.filename.clone();
            AccessRecord::Download(download_record!(d, filename))
        }
        LogMessage::Search(s) => {
            name("package", &s.package, MAX_PACKAGE)?;
            let package = s.package.clone();
            AccessRecord::Search(download_record!(s, package))
        }
        LogMessage::Project(p) => page(
            PageKind::Project,
            p.package,
            &p.host,
            p.timestamp,
            p.user_agent,
        )?,
        LogMessage::Json(p) => page(
            PageKind::Json,
            p.package,
            &p.host,
            p.timestamp,
            p.user_agent,
        )?,
        LogMessage::Page(p) => page(PageKind::Page, p.page, &p.host, p.timestamp, p.user_agent)?,
    })
}

fn page(
    kind: PageKind,
    name_: String,
    host_: &str,
    timestamp: chrono::DateTime<chrono::Utc>,
    user_agent: String,
) -> std::result::Result<AccessRecord, Malformed> {
    match kind {
        PageKind::Page => name("page", &name_, MAX_PAGE)?,
        _ => name("package", &name_, MAX_PACKAGE)?,
    }
    text("User-Agent", &user_agent, MAX_FIELD)?;
    Ok(AccessRecord::Page(
        kind,
        PageRecord {
            name: name_,
            host: host(host_)?,
            timestamp,
            user_agent,
        },
    ))
}

/// The task (see the module docs).
pub struct Lumberjack {
    hub: Hub,
    pull: Pull<LoggerProtocol>,
    endpoint: String,
    web_rx: mpsc::Receiver<LogMessage>,
    web_tx: mpsc::Sender<LogMessage>,
    timing: Timing,
    counters: Arc<Counters>,
    pending: VecDeque<AccessRecord>,
    /// When the pending records are to be written.
    due: Option<Instant>,
    /// Consecutive failed writes.
    failures: u32,
    /// Downloads written since the last report.
    downloads: i64,
    /// Malformed records not warned about since the last report.
    suppressed: u64,
    /// Whether a malformed record was warned about in this report interval.
    warned: bool,
}

impl std::fmt::Debug for Lumberjack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lumberjack")
            .field("endpoint", &self.endpoint)
            .field("pending", &self.pending.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Lumberjack {
    /// Binds the log queue (`hub.config.log_queue`, a PULL socket); an `ipc://` socket file
    /// is made mode 0660 with the piwheels group, so a logger run by the group can use it.
    pub fn bind(hub: Hub) -> Result<Lumberjack> {
        let ctx = zmq::Context::new();
        let endpoint = hub.config.log_queue.clone();
        let pull = Pull::<LoggerProtocol>::bind(&ctx, &endpoint, &SocketOptions::new().hwm(HWM))?;
        crate::admin_auth::secure_ipc_logged("log", &endpoint, &hub.config.ipc_group);
        let endpoint = pull.endpoint()?;
        let (web_tx, web_rx) = mpsc::channel(CHANNEL);
        Ok(Lumberjack {
            hub,
            pull,
            endpoint,
            web_rx,
            web_tx,
            timing: Timing::default(),
            counters: Arc::default(),
            pending: VecDeque::new(),
            due: None,
            failures: 0,
            downloads: 0,
            suppressed: 0,
            warned: false,
        })
    }

    /// Uses other limits and intervals (tests make them short).
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// The endpoint bound (wildcards resolved).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The log queue's ZeroMQ socket (to watch it; reading from it bypasses the checks).
    pub fn socket(&self) -> &zmq::Socket {
        self.pull.socket()
    }

    /// What it has done so far.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The handle the web server records its hits with.
    pub fn access_log(&self) -> AccessLog {
        AccessLog {
            tx: self.web_tx.clone(),
            counters: self.counters.clone(),
        }
    }

    fn take(&mut self, msg: LogMessage) {
        Counters::add(&self.counters.received, 1);
        match check(msg) {
            Ok(record) => self.hold(record),
            Err(e) => self.malformed(&e),
        }
    }

    fn malformed(&mut self, why: &dyn std::fmt::Display) {
        Counters::add(&self.counters.malformed, 1);
        if self.warned {
            self.suppressed += 1;
        } else {
            self.warned = true;
            tracing::warn!(task = Self::NAME, error = %why, "malformed access-log record dropped");
        }
    }

    fn hold(&mut self, record: AccessRecord) {
        if self.pending.len() >= self.timing.max_pending {
            self.pending.pop_front();
            Counters::add(&self.counters.overflowed, 1);
        }
        self.pending.push_back(record);
        if self.due.is_none() {
            self.due = Some(Instant::now() + self.timing.flush);
        }
        if self.pending.len() >= self.timing.batch && self.failures == 0 {
            self.due = Some(Instant::now());
        }
    }

    /// Writes what is held, a batch per transaction; on a failure keeps the rest and
    /// tries again later.
    async fn flush(&mut self) {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.timing.batch);
            let batch: Vec<AccessRecord> = self.pending.range(..n).cloned().collect();
            match self.hub.db.log_access(&batch).await {
                Ok(()) => {
                    self.pending.drain(..n);
                    let downloads = batch
                        .iter()
                        .filter(|r| matches!(r, AccessRecord::Download(_)))
                        .count();
                    self.downloads += downloads as i64;
                    Counters::add(&self.counters.written, n);
                    Counters::add(&self.counters.downloads, downloads);
                    self.hub.metrics.downloads(downloads as u64);
                    if self.failures > 0 {
                        tracing::info!(
                            task = Self::NAME,
                            "the database takes access-log records again"
                        );
                        self.failures = 0;
                    }
                }
                Err(e) => {
                    if self.failures == 0 {
                        tracing::warn!(task = Self::NAME, error = %e, held = self.pending.len(),
                            "cannot write access-log records; they are kept and written later");
                    }
                    self.failures = self.failures.saturating_add(1);
                    let wait = self
                        .timing
                        .flush
                        .saturating_mul(1 << self.failures.min(8))
                        .min(MAX_RETRY);
                    self.due = Some(Instant::now() + wait);
                    return;
                }
            }
        }
        self.due = None;
    }

    /// Takes what is waiting in the log queue, until it is quiet for [`DRAIN_IDLE`] or
    /// [`DRAIN_FOR`] has passed.
    async fn drain(&mut self) {
        let end = Instant::now() + DRAIN_FOR;
        while let Ok(msg) =
            tokio::time::timeout_at(end.min(Instant::now() + DRAIN_IDLE), self.pull.recv()).await
        {
            match msg {
                Ok(msg) => self.take(msg),
                Err(e) if e.is_protocol() => self.refused(&e),
                Err(_) => break,
            }
        }
    }

    fn refused(&mut self, e: &dyn std::fmt::Display) {
        Counters::add(&self.counters.received, 1);
        self.malformed(e);
    }

    fn report(&mut self) {
        let downloads = std::mem::take(&mut self.downloads);
        if downloads > 0 {
            self.hub.stat(StatsMessage::Downloads(downloads));
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        if suppressed > 0 {
            tracing::warn!(
                task = Self::NAME,
                count = suppressed,
                "more malformed access-log records dropped"
            );
        }
        self.warned = false;
    }
}

impl Task for Lumberjack {
    const NAME: &'static str = "lumberjack";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        let start = Instant::now();
        let mut report = tokio::time::interval_at(start + self.timing.report, self.timing.report);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.due;
            tokio::select! {
                () = quit.cancelled() => break,
                msg = self.pull.recv() => match msg {
                    Ok(msg) => self.take(msg),
                    Err(e) if e.is_protocol() => self.refused(&e),
                    Err(e) => return Err(e.into()),
                },
                Some(msg) = self.web_rx.recv() => self.take(msg),
                () = sleep_until(due) => self.flush().await,
                _ = report.tick() => self.report(),
            }
        }
        // What the loggers pushed and the web server recorded before the master stopped,
        // then one last write. ZeroMQ has no acknowledgements: records queued in the
        // socket when it closes would be lost, so it is read dry first (while records keep
        // coming, for at most DRAIN_FOR).
        self.drain().await;
        while let Ok(msg) = self.web_rx.try_recv() {
            self.take(msg);
        }
        self.flush().await;
        if !self.pending.is_empty() {
            tracing::warn!(
                task = Self::NAME,
                lost = self.pending.len(),
                "access-log records not written at shutdown"
            );
        }
        Ok(())
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use piwheels_protocol::logger::{DownloadState, PageHit, ProjectHit};

    fn download(filename: &str, host: &str) -> LogMessage {
        LogMessage::Download(DownloadState {
            filename: filename.into(),
            host: host.into(),
            timestamp: Utc::now(),
            arch: None,
            distro_name: None,
            distro_version: None,
            os_name: None,
            os_version: None,
            py_name: None,
            py_version: None,
            installer_name: None,
            installer_version: None,
            setuptools_version: None,
        })
    }

    #[test]
    fn records_that_cannot_be_stored_are_refused() {
        assert!(check(download("foo-1.0-py3-none-any.whl", "192.0.2.1")).is_ok());
        assert!(check(download("foo-1.0-py3-none-any.whl", "::1")).is_ok());
        assert_eq!(
            check(download("foo.whl", "example.org")),
            Err(Malformed::BadHost)
        );
        assert_eq!(
            check(download("foo.whl", &"1".repeat(10 << 20))),
            Err(Malformed::BadHost)
        );
        assert_eq!(
            check(download("", "::1")),
            Err(Malformed::Empty("file name"))
        );
        assert_eq!(
            check(download("f\0.whl", "::1")),
            Err(Malformed::Nul("file name"))
        );
        assert!(matches!(
            check(download(&"é".repeat(256), "::1")),
            Err(Malformed::TooLong {
                field: "file name",
                len: 256,
                max: 255
            })
        ));
        let mut big = download("foo.whl", "::1");
        if let LogMessage::Download(d) = &mut big {
            d.os_name = Some("x".repeat(10 << 20));
        }
        assert!(matches!(
            check(big),
            Err(Malformed::TooLong {
                field: "OS name",
                ..
            })
        ));
        let page = |ua: &str| {
            LogMessage::Page(PageHit {
                page: "home".into(),
                host: "::1".into(),
                timestamp: Utc::now(),
                user_agent: ua.into(),
            })
        };
        assert!(check(page("mozilla")).is_ok());
        assert_eq!(check(page("a\0b")), Err(Malformed::Nul("User-Agent")));
        let json = LogMessage::Json(ProjectHit {
            package: "foo".into(),
            host: "10.0.0.1".into(),
            timestamp: Utc::now(),
            user_agent: "curl".into(),
        });
        assert!(matches!(
            check(json),
            Ok(AccessRecord::Page(PageKind::Json, _))
        ));
    }
}
