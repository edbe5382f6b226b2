//! How the master's tasks talk: typed channels in place of the original's `inproc://`
//! sockets (piwheels.md §1.2, §4), the run state every task watches (paused, quitting), and the
//! supervisor that restarts a failed task instead of stopping the master.
//!
//! [`Hub::new`] makes every channel once. The [`Hub`] (cheap to clone) holds the sending
//! ends and what every task shares; [`Inboxes`] holds each task's receiving end, to be
//! moved into the task that owns it.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use piwheels_db::{Database, Target};
use piwheels_protocol::auth::Policy;
use piwheels_protocol::monitor::{MasterStats, StatusMessage};
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;
use piwheels_protocol::transport::Origin;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MasterConfig;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::output::{Output, OutputError, Refusal, StageError, Staged};
use crate::slave_id::SlaveId;

/// A web-output request (the original's web queue, piwheels.md §4): what TheSecretary receives
/// and passes on to TheScribe.
#[derive(Debug, Clone, PartialEq)]
pub enum WebRequest {
    /// Rewrite the project page and project JSON of a package (`PROJECT`).
    Project(String),
    /// Rewrite the simple page too, and the root index if the package is new (`BOTH`).
    Both(String),
    /// A package's wheels were just published: rewrite both pages now. TheSecretary
    /// writes this at once even within a coalescing window (a new wheel is what users
    /// wait for), and passes it on as [`WebRequest::Both`].
    Published(String),
    /// Remove a package's pages and files (`DELPKG`).
    DeletePackage(String),
    /// Remove a version's files and rewrite the package's pages (`DELVER`).
    DeleteVersion(String, String),
    /// Write a build log (`LOG`).
    Log {
        /// The build's id.
        build_id: i64,
        /// The log text.
        log: String,
    },
    /// Rewrite the homepage and sitemaps (`HOME`).
    Home(Box<MasterStats>),
    /// Rewrite the search index `packages.json` (`SEARCH`).
    Search,
}

impl WebRequest {
    /// The package a request is about, if it is about one.
    pub fn package(&self) -> Option<&str> {
        match self {
            WebRequest::Project(p)
            | WebRequest::Both(p)
            | WebRequest::Published(p)
            | WebRequest::DeletePackage(p)
            | WebRequest::DeleteVersion(p, _) => Some(p),
            _ => None,
        }
    }
}

/// A message to BigBrother, the statistics keeper (piwheels.md §4).
#[derive(Debug, Clone, PartialEq)]
pub enum StatsMessage {
    /// The output filesystem's size and free space, bytes (`STATFS`).
    StatFs {
        /// Total bytes.
        size: u64,
        /// Free bytes.
        free: u64,
    },
    /// Jobs queued per target (`STATBQ`).
    BuildQueue(BTreeMap<Target, i64>),
    /// Downloads logged since the last count (`LOGDOWNLOAD`).
    Downloads(i64),
    /// Rewrite the homepage now (`piw-rebuild home`).
    Home,
    /// Rewrite the search index now (`piw-rebuild search`).
    Search,
    /// Replay the statistics history to monitors (a monitor said `HELLO`).
    Replay,
}

/// Why FileJuggler could not prepare or check a transfer.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// FileJuggler is not running (the master is stopping).
    #[error("the file juggler is not running")]
    NotRunning,
    /// The declared file cannot be received at all (a bad name, size or hash): the build
    /// fails.
    #[error("{0}")]
    Invalid(String),
    /// Nothing (or not all) of the file arrived: ask for it again.
    #[error("{0}")]
    Incomplete(String),
    /// It arrived damaged (wrong size or SHA-256): ask for it again.
    #[error("{0}")]
    Corrupt(String),
    /// It is not a wheel of the job's package and version, or another build's wheel has
    /// its name: the build fails, with this in its log.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The output folder failed (a full disk): neither the file nor the build is at
    /// fault, so the build is put back in the queue.
    #[error(transparent)]
    Storage(#[from] OutputError),
    /// The database could not say whether another build published the file's name: as
    /// with [`FsError::Storage`], the build is put back in the queue.
    #[error("cannot look {} up in the database: {source}", Quoted::str(.file))]
    Database {
        /// The file's name.
        file: String,
        /// What the database said.
        #[source]
        source: piwheels_db::Error,
    },
}

/// What the sender of a file is to do about an [`FsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Send the file again: it arrived incomplete or damaged.
    SendAgain,
    /// Fail the build: the file is not one the master takes.
    Refuse,
    /// Neither the file nor the build is at fault (the master cannot store or check it,
    /// or is stopping): the build goes back in the queue, unrecorded, and the file is not
    /// asked for again.
    Requeue,
}

impl FsError {
    /// What to do about it.
    pub fn remedy(&self) -> Remedy {
        match self {
            FsError::Incomplete(_) | FsError::Corrupt(_) => Remedy::SendAgain,
            FsError::Invalid(_) | FsError::Refused(_) => Remedy::Refuse,
            FsError::Storage(_) | FsError::Database { .. } | FsError::NotRunning => Remedy::Requeue,
        }
    }

    /// Whether asking the slave to send the file again may help.
    pub fn retry(&self) -> bool {
        self.remedy() == Remedy::SendAgain
    }
}

impl From<StageError> for FsError {
    fn from(e: StageError) -> Self {
        match e {
            StageError::Corrupt(why) => FsError::Corrupt(why),
            StageError::Refused(r) => FsError::Refused(r),
            StageError::Storage(e) => FsError::Storage(e),
        }
    }
}

/// A request to FileJuggler, which receives files (the original's FS RPC, piwheels.md §4).
#[derive(Debug)]
// Few and short-lived (one per file transferred): boxing the file state buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum FsRequest {
    /// Expect this file from this slave ([`SlaveId::IMPORT`]: `piw-import`): the slave's
    /// next transfer.
    Expect {
        /// Who sends it.
        slave_id: SlaveId,
        /// What it must be.
        file: FileState,
        /// Where the transfer must come from: the connection that declared the build (its
        /// CURVE key, else its address). `None`: anywhere (`piw-import`'s uploads).
        origin: Option<Origin>,
        /// The answer: an error if no transfer could be prepared.
        reply: oneshot::Sender<std::result::Result<(), FsError>>,
    },
    /// Check the file the slave has finished sending, and stage it (see [`Output`]) for
    /// publishing once its build is recorded.
    Verify {
        /// Who sent it.
        slave_id: SlaveId,
        /// The job's package (canonical).
        package: String,
        /// The job's version.
        version: String,
        /// The answer: the staged wheel, or why not.
        reply: oneshot::Sender<std::result::Result<Staged, FsError>>,
    },
    /// The slave is gone (killed, or silent too long): drop its unfinished transfer and
    /// its temporary file.
    Forget {
        /// Whose transfer.
        slave_id: SlaveId,
    },
}

/// The sending end of FileJuggler's requests.
#[derive(Debug, Clone)]
pub struct FsClient {
    tx: mpsc::UnboundedSender<FsRequest>,
}

impl FsClient {
    /// Prepares the transfer of `file` from `slave_id`, from anywhere (see
    /// [`prepare_from`](Self::prepare_from)).
    pub async fn prepare(
        &self,
        slave_id: SlaveId,
        file: FileState,
    ) -> std::result::Result<(), FsError> {
        self.prepare_from(slave_id, file, None).await
    }

    /// Prepares the transfer of `file` from `slave_id`, which FileJuggler then takes only
    /// from `origin` (the same CURVE key, else the same address) when it is given.
    pub async fn prepare_from(
        &self,
        slave_id: SlaveId,
        file: FileState,
        origin: Option<Origin>,
    ) -> std::result::Result<(), FsError> {
        let (reply, rx) = oneshot::channel();
        self.call(
            FsRequest::Expect {
                slave_id,
                file,
                origin,
                reply,
            },
            rx,
        )
        .await
    }

    /// Checks what `slave_id` sent, as a wheel of `package` `version`, and stages it.
    pub async fn verify(
        &self,
        slave_id: SlaveId,
        package: &str,
        version: &str,
    ) -> std::result::Result<Staged, FsError> {
        let (reply, rx) = oneshot::channel();
        self.call(
            FsRequest::Verify {
                slave_id,
                package: package.to_owned(),
                version: version.to_owned(),
                reply,
            },
            rx,
        )
        .await
    }

    /// Drops what `slave_id` was sending, if anything (no answer).
    pub fn forget(&self, slave_id: SlaveId) {
        let _ = self.tx.send(FsRequest::Forget { slave_id });
    }

    async fn call<T>(
        &self,
        req: FsRequest,
        rx: oneshot::Receiver<std::result::Result<T, FsError>>,
    ) -> std::result::Result<T, FsError> {
        self.tx.send(req).map_err(|_| FsError::NotRunning)?;
        rx.await.unwrap_or(Err(FsError::NotRunning))
    }
}

/// What SlaveDriver must keep out of its job lists (the original's skip queue, spec
/// piwheels.md §3.1.2): deletions, which a slave building them is told to stop, and builds recorded
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipRequest {
    /// A whole package.
    Package(String),
    /// One version.
    Version(String, String),
    /// A build of this version was recorded outside SlaveDriver (`piw-import`): it is not
    /// handed out until TheArchitect has read the queue again, which knows which targets
    /// its wheels serve.
    Built(String, String),
}

/// A monitor's command for SlaveDriver (piwheels.md §3.3), `None` meaning every slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaveCommand {
    /// Replay every slave's HELLO, statistics and last reply to monitors.
    Replay,
    /// `DIE` at the next `IDLE`.
    Kill(Option<SlaveId>),
    /// Abandon the current build.
    Skip(Option<SlaveId>),
    /// No jobs until `WAKE`.
    Sleep(Option<SlaveId>),
    /// Clear kill, skip and sleep.
    Wake(Option<SlaveId>),
}

/// The build queue TheArchitect publishes: per target, the (package, version) jobs in the
/// order they should be handed out (the map it derefs to), and when the read that gave
/// them began, so SlaveDriver can tell a queue read before a build was logged from one
/// read after.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildQueue {
    jobs: BTreeMap<Target, Vec<(String, String)>>,
    read_at: std::time::Instant,
}

impl BuildQueue {
    /// An empty queue, read now.
    pub fn new() -> Self {
        Self::read(BTreeMap::new(), std::time::Instant::now())
    }

    /// The jobs of a read of the database that began at `read_at`.
    pub fn read(
        jobs: BTreeMap<Target, Vec<(String, String)>>,
        read_at: std::time::Instant,
    ) -> Self {
        BuildQueue { jobs, read_at }
    }

    /// When the read that gave this queue began.
    pub fn read_at(&self) -> std::time::Instant {
        self.read_at
    }
}

impl Default for BuildQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for BuildQueue {
    type Target = BTreeMap<Target, Vec<(String, String)>>;

    fn deref(&self) -> &Self::Target {
        &self.jobs
    }
}

impl std::ops::DerefMut for BuildQueue {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.jobs
    }
}

/// The sending ends of the channels, and what every task shares. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    /// The database; its connection pool takes the place of the original's Seraph router
    /// and TheOracle workers.
    pub db: Database,
    /// The configuration.
    pub config: Arc<MasterConfig>,
    /// To TheSecretary (then TheScribe).
    pub web: mpsc::UnboundedSender<WebRequest>,
    /// To BigBrother.
    pub stats: mpsc::UnboundedSender<StatsMessage>,
    /// To FileJuggler.
    pub fs: FsClient,
    /// The output folder's wheels: staging and publishing.
    pub output: Output,
    /// To SlaveDriver: deletions.
    pub skip: mpsc::UnboundedSender<SkipRequest>,
    /// To SlaveDriver: monitors' commands.
    pub slave_commands: mpsc::UnboundedSender<SlaveCommand>,
    /// To the main loop, which publishes to monitors.
    pub status: mpsc::UnboundedSender<StatusMessage>,
    /// Wakes TheArchitect to re-read the build queue now (new versions, new builds).
    pub queue_changed: Arc<Notify>,
    /// Wakes TheScribe to write what it owes now (the disk guard: there is space again).
    pub retry_output: Arc<Notify>,
    /// The build queue, as TheArchitect last read it.
    pub queue: watch::Receiver<Arc<BuildQueue>>,
    /// Whether the master is paused (a monitor's `SLEEP` for everything, or the disk guard).
    pub paused: watch::Receiver<bool>,
    /// Cancelled when the master shuts down.
    pub quit: CancellationToken,
    /// The figures the tasks keep (served when `metrics-listen` is set); the database's
    /// operations are timed into it too.
    pub metrics: Arc<Metrics>,
    /// Who may use the guarded queues (`config.auth`'s allow-list and plain networks):
    /// one policy, shared by the ZAP handler of every task's context and by SlaveDriver's
    /// check of each message against revoked keys.
    pub policy: Arc<Policy>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.config)
            .field("paused", &*self.paused.borrow())
            .finish_non_exhaustive()
    }
}

/// The receiving ends, each for the task that owns it, and the senders only the owner of a
/// state uses (the queue and the pause switch).
#[derive(Debug)]
pub struct Inboxes {
    /// TheSecretary's requests.
    pub web: mpsc::UnboundedReceiver<WebRequest>,
    /// BigBrother's messages.
    pub stats: mpsc::UnboundedReceiver<StatsMessage>,
    /// FileJuggler's requests.
    pub fs: mpsc::UnboundedReceiver<FsRequest>,
    /// SlaveDriver's deletions.
    pub skip: mpsc::UnboundedReceiver<SkipRequest>,
    /// SlaveDriver's commands.
    pub slave_commands: mpsc::UnboundedReceiver<SlaveCommand>,
    /// The main loop's status messages for monitors.
    pub status: mpsc::UnboundedReceiver<StatusMessage>,
    /// TheArchitect publishes the queue here.
    pub queue: watch::Sender<Arc<BuildQueue>>,
    /// The main loop pauses and resumes the master here.
    pub paused: watch::Sender<bool>,
}

impl Hub {
    /// Makes every channel, for a database and a configuration.
    pub fn new(db: Database, config: MasterConfig) -> (Hub, Inboxes) {
        let (web, web_rx) = mpsc::unbounded_channel();
        let (stats, stats_rx) = mpsc::unbounded_channel();
        let (fs, fs_rx) = mpsc::unbounded_channel();
        let (skip, skip_rx) = mpsc::unbounded_channel();
        let (slave_commands, commands_rx) = mpsc::unbounded_channel();
        let (status, status_rx) = mpsc::unbounded_channel();
        let (queue_tx, queue) = watch::channel(Arc::new(BuildQueue::new()));
        let (paused_tx, paused) = watch::channel(false);
        let output = Output::new(&config.output_path, db.options().platform_aliases.clone());
        let metrics = Arc::new(Metrics::new());
        if !db.observe_queries(metrics.clone()) {
            tracing::debug!("the database's operations are timed for another hub already");
        }
        let policy = crate::admin_auth::policy(&config.auth);
        let hub = Hub {
            db,
            config: Arc::new(config),
            web,
            stats,
            fs: FsClient { tx: fs },
            output,
            skip,
            slave_commands,
            status,
            queue_changed: Arc::new(Notify::new()),
            retry_output: Arc::new(Notify::new()),
            queue,
            paused,
            quit: CancellationToken::new(),
            metrics,
            policy,
        };
        let inboxes = Inboxes {
            web: web_rx,
            stats: stats_rx,
            fs: fs_rx,
            skip: skip_rx,
            slave_commands: commands_rx,
            status: status_rx,
            queue: queue_tx,
            paused: paused_tx,
        };
        (hub, inboxes)
    }

    /// Asks for a page rewrite (or any web request); lost only if the master is stopping.
    pub fn web(&self, req: WebRequest) {
        let _ = self.web.send(req);
    }

    /// Tells BigBrother something.
    pub fn stat(&self, msg: StatsMessage) {
        let _ = self.stats.send(msg);
    }

    /// Whether the master is paused now.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Waits until the master is not paused; false if it is quitting instead.
    pub async fn wait_running(&self) -> bool {
        let mut paused = self.paused.clone();
        tokio::select! {
            r = paused.wait_for(|p| !*p) => r.is_ok(),
            () = self.quit.cancelled() => false,
        }
    }
}

/// One of the master's tasks: a loop that runs until the master quits (the hub's `quit`
/// token), returning `Ok(())` then. An error or a panic ends only this run: the supervisor
/// logs it and runs the task again (its state, owned by the struct, survives).
pub trait Task: Send + 'static {
    /// The task's name, as the original's thread names (`the_scribe`, `slave_driver`).
    const NAME: &'static str;

    /// Runs until the master quits.
    fn run(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// Runs `task` on the runtime, restarting it (after a second, then doubling up to a
/// minute) whenever it fails or panics, until `quit` is cancelled.
pub fn supervise<T: Task>(mut task: T, quit: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let outcome = AssertUnwindSafe(task.run()).catch_unwind().await;
            if quit.is_cancelled() {
                return;
            }
            match outcome {
                Ok(Ok(())) => {
                    tracing::warn!(task = T::NAME, "stopped without being asked; restarting");
                }
                Ok(Err(e)) => tracing::error!(task = T::NAME, error = %e, "failed; restarting"),
                Err(_) => tracing::error!(task = T::NAME, "panicked; restarting"),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = quit.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(errno: i32) -> FsError {
        FsError::Storage(OutputError {
            what: "creating an upload file in",
            path: "/srv/www/simple/.staging".into(),
            source: std::io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn a_damaged_upload_is_sent_again_and_a_full_disk_is_not() {
        let damaged = FsError::Corrupt("foo.whl: 10 bytes, expected 12".into());
        assert_eq!(damaged.remedy(), Remedy::SendAgain);
        assert!(damaged.retry());
        let missing = FsError::Incomplete("no file transfer from slave 1".into());
        assert_eq!(missing.remedy(), Remedy::SendAgain);

        let full = storage(28); // ENOSPC
        assert_eq!(full.remedy(), Remedy::Requeue);
        assert!(!full.retry());
        assert_eq!(storage(30).remedy(), Remedy::Requeue); // EROFS
        assert_eq!(FsError::NotRunning.remedy(), Remedy::Requeue);
        let down = FsError::Database {
            file: "foo.whl".into(),
            source: piwheels_db::Error::BadDsn {
                dsn: "nowhere".into(),
                why: "no backend".into(),
            },
        };
        assert_eq!(down.remedy(), Remedy::Requeue);
        assert!(down.to_string().contains("foo.whl"), "{down}");

        let refused = FsError::Refused(Refusal {
            file: "bar.whl".into(),
            why: "not a wheel of foo".into(),
        });
        assert_eq!(refused.remedy(), Remedy::Refuse);
        assert_eq!(FsError::Invalid("bad hash".into()).remedy(), Remedy::Refuse);
    }
}
