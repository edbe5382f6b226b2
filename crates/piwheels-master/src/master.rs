//! The master itself: start-up, the main loop and shutdown (piwheels.md §1.5).
//!
//! [`Master::start`] opens the database, enables the configured build targets, makes the
//! [`Hub`], binds the monitors' sockets (status PUB, control PULL; CURVE on the network
//! with the master's key, `ipc://` files mode 0660 with the piwheels group: see
//! [`admin_auth`](crate::admin_auth)) and starts every task under [`supervise`], which restarts a failed task
//! instead of stopping the master (the [metrics server](crate::metrics::MetricsServer)
//! too, when `metrics-listen` is set). [`Master::run_until_signal`] then runs the main loop:
//!
//! - every status message the tasks produce goes out on the PUB socket;
//! - monitors' control messages: `HELLO` gets the master's `HELLO` and a replay of the
//!   statistics history and of every slave; `KILL`, `SKIP`, `SLEEP`, `WAKE` go to
//!   SlaveDriver, and `SLEEP`/`WAKE` for every slave (no id) also pause and resume the
//!   master; `QUIT` stops it;
//! - the disk guard, every 5 s: with the output's free space at or below
//!   `min_free_space`, the master pauses (slaves get `SLEEP`) and says why; unlike the
//!   original, it resumes by itself when the space is back (unless a monitor paused it),
//!   and then at once writes what the output is owed (pages, wheels of recorded builds
//!   that could not be published);
//! - SIGTERM and SIGINT stop it.
//!
//! At start, before any task runs, the wheels a killed master left staged are published
//! or removed ([`Output::recover`](crate::output::Output::recover)); once the tasks run,
//! the output folder is checked against the database in the background
//! ([`reconcile`](crate::output::reconcile)), and the log says what was put right.
//! Warnings about invalid control messages are [rate-limited](crate::log_limit); a PULL
//! socket cannot tell its peers apart, so they count as one peer, [`CONTROL_PEER`].
//!
//! The original refuses to run as root; this one only warns (containers and CI run as
//! root).

mod sysinfo;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use piwheels_db::Database;
use piwheels_protocol::monitor::{ControlMessage, ControlProtocol, StatusMessage, StatusProtocol};
use piwheels_protocol::transport::asynchronous::{Pub, Pull};
use piwheels_protocol::transport::{HWM, SocketOptions, zmq};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::admin_auth::{AdminGuard, secure_ipc_logged};
use crate::big_brother::BigBrother;
use crate::cloud_gazer::CloudGazer;
use crate::config::MasterConfig;
use crate::error::{Error, Result};
use crate::file_juggler::FileJuggler;
use crate::hub::{Hub, SlaveCommand, StatsMessage, supervise};
use crate::log_limit::PeerWarnings;
use crate::lumberjack::Lumberjack;
use crate::metrics::MetricsServer;
use crate::mr_chase::MrChase;
use crate::slave_driver::SlaveDriver;
use crate::slave_id::SlaveId;
use crate::the_architect::TheArchitect;
use crate::the_scribe::TheScribe;
use crate::the_secretary::TheSecretary;
use crate::web_server::WebServer;

pub use sysinfo::master_hello;

/// How many status messages wait for each monitor before the newest are dropped: a
/// monitor's `HELLO` is answered by a burst (the statistics history, up to 100 samples, and
/// three messages a slave) that the original's 10 would cut short, losing the slaves.
pub const STATUS_HWM: i32 = 10_000;

/// How often the disk guard looks at the output's free space.
pub const DISK_CHECK: Duration = Duration::from_secs(5);

/// How long shutdown waits for each task to finish.
pub const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The name the control socket's peers go by in rate-limited warnings.
pub const CONTROL_PEER: &str = "the control socket's peers";

/// A running master (see the module docs).
pub struct Master {
    hub: Hub,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    status_rx: mpsc::UnboundedReceiver<StatusMessage>,
    paused_tx: watch::Sender<bool>,
    status: Pub<StatusProtocol>,
    control: Pull<ControlProtocol>,
    started: DateTime<Utc>,
    slave_endpoint: String,
    file_endpoint: String,
    status_endpoint: String,
    control_endpoint: String,
    web_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    /// A monitor paused everything.
    monitor_paused: bool,
    /// The disk guard paused everything.
    disk_paused: bool,
    /// The rate limit on warnings about control messages.
    warnings: PeerWarnings<&'static str>,
    /// The ZAP handler of the status and control sockets' context, when they are guarded.
    _guard: AdminGuard,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("slave_endpoint", &self.slave_endpoint)
            .field("file_endpoint", &self.file_endpoint)
            .field("web_addr", &self.web_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field(
                "tasks",
                &self.tasks.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Binds a monitors' socket with the security [`admin_auth`](crate::admin_auth) gives
/// `endpoint`; an `ipc://` socket file gets mode 0660 and the piwheels group.
fn bind_monitor_socket<T>(
    what: &'static str,
    endpoint: &str,
    config: &MasterConfig,
    (guard, base): (&mut AdminGuard, SocketOptions),
    bind: impl FnOnce(
        &SocketOptions,
    ) -> std::result::Result<T, piwheels_protocol::transport::TransportError>,
) -> Result<T> {
    let options = guard.options(what, endpoint, &config.auth, base)?;
    let socket = bind(&options)
        .map_err(|e| Error::Other(format!("cannot bind the {what} socket {endpoint}: {e}")))?;
    secure_ipc_logged(what, endpoint, &config.ipc_group);
    Ok(socket)
}

impl Master {
    /// Starts the master: database, build targets, sockets, every task.
    pub async fn start(config: MasterConfig) -> Result<Master> {
        if rustix::process::geteuid().is_root() {
            tracing::warn!(
                "running as root: the master does not need to, and should not in production"
            );
        }
        crate::output::create_root(&config.output_path)?;
        let config = with_upstream(config).await;
        let db = Database::open(&config.dsn).await?;
        for target in &config.targets {
            if db.add_build_target(target).await? {
                tracing::info!(%target, "build target enabled");
            }
        }
        let (hub, inboxes) = Hub::new(db, config);
        // Before any upload: what a killed master left between commit and publish.
        hub.output
            .prepare()
            .map_err(|e| Error::io(e.what, e.path, e.source))?;
        let recovered = hub.output.recover(&hub.db).await?;
        if recovered != Default::default() {
            tracing::warn!(published = ?recovered.published, removed = ?recovered.removed,
                uploads = recovered.uploads, "staged wheels left by the last run put right");
        }
        let started = Utc::now();
        let ctx = zmq::Context::new();
        let mut guard = AdminGuard::new(&ctx, std::sync::Arc::clone(&hub.policy));
        let status_endpoint = hub.config.status_queue.clone();
        let status_options = (&mut guard, SocketOptions::new().hwm(STATUS_HWM));
        let status = bind_monitor_socket(
            "status",
            &status_endpoint,
            &hub.config,
            status_options,
            |options| Pub::<StatusProtocol>::bind(&ctx, &status_endpoint, options),
        )?;
        let control_endpoint = hub.config.control_queue.clone();
        let control_options = (&mut guard, SocketOptions::new().hwm(HWM));
        let control = bind_monitor_socket(
            "control",
            &control_endpoint,
            &hub.config,
            control_options,
            |options| Pull::<ControlProtocol>::bind(&ctx, &control_endpoint, options),
        )?;
        guard.watch("status", &status_endpoint, status.socket())?;
        guard.watch("control", &control_endpoint, control.socket())?;
        let status_endpoint = status.endpoint()?;
        let control_endpoint = control.endpoint()?;

        let quit = hub.quit.clone();
        // A failed start stops the tasks started so far.
        let stop_on_error = quit.clone().drop_guard();
        let mut tasks = Vec::new();
        macro_rules! start {
            ($task:expr) => {{
                let task = $task;
                tasks.push((name_of(&task), supervise(task, quit.clone())));
            }};
        }
        // In the original's order (piwheels.md §1.5): what others send to exists first.
        let (scribe_tx, scribe_rx) = mpsc::unbounded_channel();
        start!(TheScribe::new(hub.clone(), scribe_rx)?);
        start!(TheSecretary::new(hub.clone(), inboxes.web, scribe_tx));
        let file_juggler = FileJuggler::bind(hub.clone(), inboxes.fs)?;
        let file_endpoint = file_juggler.endpoint().to_owned();
        let slave_driver = SlaveDriver::bind(hub.clone(), inboxes.skip, inboxes.slave_commands)?;
        let slave_endpoint = slave_driver.endpoint().to_owned();
        start!(BigBrother::new(hub.clone(), inboxes.stats));
        start!(file_juggler);
        start!(slave_driver);
        start!(MrChase::bind(hub.clone())?);
        start!(TheArchitect::new(hub.clone(), inboxes.queue));
        start!(CloudGazer::new(hub.clone()));
        let lumberjack = Lumberjack::bind(hub.clone())?;
        let access_log = lumberjack.access_log();
        start!(lumberjack);
        let web_addr = match hub.config.web_listen {
            Some(_) => {
                let web = WebServer::bind(hub.clone())?.with_access_log(access_log);
                let addr = web.local_addr();
                start!(web);
                Some(addr)
            }
            None => None,
        };
        let metrics_addr = match hub.config.metrics_listen {
            Some(_) => {
                let metrics = MetricsServer::bind(hub.clone())?;
                let addr = metrics.local_addr();
                start!(metrics);
                Some(addr)
            }
            None => None,
        };

        stop_on_error.disarm();
        spawn_reconcile(hub.clone(), started);
        tracing::info!(slaves = %slave_endpoint, files = %file_endpoint, status = %status_endpoint,
            control = %control_endpoint, "master started");
        Ok(Master {
            hub,
            tasks,
            status_rx: inboxes.status,
            paused_tx: inboxes.paused,
            status,
            control,
            started: Utc::now(),
            slave_endpoint,
            file_endpoint,
            status_endpoint,
            control_endpoint,
            web_addr,
            metrics_addr,
            monitor_paused: false,
            disk_paused: false,
            warnings: PeerWarnings::new("master"),
            _guard: guard,
        })
    }

    /// The shared hub (channels, database, configuration).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The slaves' endpoint as bound (`tcp://0.0.0.0:5555`; a wildcard port resolved).
    pub fn slave_endpoint(&self) -> &str {
        &self.slave_endpoint
    }

    /// The file-transfer endpoint as bound.
    pub fn file_endpoint(&self) -> &str {
        &self.file_endpoint
    }

    /// The monitors' status endpoint as bound.
    pub fn status_endpoint(&self) -> &str {
        &self.status_endpoint
    }

    /// The monitors' control endpoint as bound.
    pub fn control_endpoint(&self) -> &str {
        &self.control_endpoint
    }

    /// Where the embedded web server listens, if it runs.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    /// Where the metrics server listens, if it runs (`metrics-listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The names of the tasks running, in start order.
    pub fn task_names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(n, _)| *n).collect()
    }

    /// Runs the main loop until SIGTERM, SIGINT or a monitor's `QUIT`, then shuts down.
    pub async fn run_until_signal(self) -> Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| Error::Other(format!("cannot handle SIGINT: {e}")))?;
        self.run_until(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
        })
        .await
    }

    /// Runs the main loop until `stop` completes or a monitor says `QUIT`, then shuts down.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<()> {
        let mut disk = tokio::time::interval(DISK_CHECK);
        disk.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let quit = self.hub.quit.clone();
        tokio::pin!(stop);
        let result = loop {
            tokio::select! {
                () = &mut stop => break Ok(()),
                () = quit.cancelled() => break Ok(()),
                Some(msg) = self.status_rx.recv() => {
                    if let Err(e) = self.publish(&msg).await {
                        break Err(e);
                    }
                }
                msg = self.control.recv() => match msg {
                    Ok(ControlMessage::Quit) => {
                        tracing::info!("a monitor said QUIT: stopping");
                        break Ok(());
                    }
                    Ok(msg) => {
                        if let Err(e) = self.control(msg).await {
                            break Err(e);
                        }
                    }
                    Err(e) if e.is_protocol() => {
                        if self.warnings.allow(&CONTROL_PEER) {
                            tracing::warn!(error = %e, "invalid control message dropped");
                        }
                    }
                    Err(e) => break Err(e.into()),
                },
                _ = disk.tick() => self.disk_guard(),
            }
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "the main loop failed: stopping");
        }
        self.shutdown().await;
        result
    }

    async fn publish(&mut self, msg: &StatusMessage) -> Result<()> {
        match self.status.send(msg).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_protocol() => {
                tracing::warn!(error = %e, "a status message the protocol refuses was not sent");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn set_paused(&self) {
        let paused = self.monitor_paused || self.disk_paused;
        self.paused_tx.send_if_modified(|p| {
            let changed = *p != paused;
            *p = paused;
            changed
        });
    }

    async fn control(&mut self, msg: ControlMessage) -> Result<()> {
        tracing::debug!(msg = msg_name(&msg), "control message");
        let send = |cmd| {
            let _ = self.hub.slave_commands.send(cmd);
        };
        // A monitor names a slave by its wire id: one that cannot be a slave's is no slave
        // of this master (and never all of them).
        let target = match &msg {
            ControlMessage::Kill(id)
            | ControlMessage::Skip(id)
            | ControlMessage::Sleep(id)
            | ControlMessage::Wake(id) => match id.map(SlaveId::try_from).transpose() {
                Ok(target) => target,
                Err(e) => {
                    if self.warnings.allow(&CONTROL_PEER) {
                        tracing::warn!(msg = msg_name(&msg), error = %e, "a monitor's command for no slave; ignored");
                    }
                    return Ok(());
                }
            },
            _ => None,
        };
        match msg {
            ControlMessage::Hello => {
                let hello = master_hello(self.started);
                self.publish(&StatusMessage::Hello(hello)).await?;
                self.hub.stat(StatsMessage::Replay);
                let _ = self.hub.slave_commands.send(SlaveCommand::Replay);
            }
            ControlMessage::Kill(_) => send(SlaveCommand::Kill(target)),
            ControlMessage::Skip(_) => send(SlaveCommand::Skip(target)),
            ControlMessage::Sleep(_) => {
                send(SlaveCommand::Sleep(target));
                if target.is_none() {
                    tracing::warn!("paused by a monitor");
                    self.monitor_paused = true;
                    self.set_paused();
                }
            }
            ControlMessage::Wake(_) => {
                send(SlaveCommand::Wake(target));
                if target.is_none() {
                    tracing::warn!("resumed by a monitor");
                    self.monitor_paused = false;
                    self.set_paused();
                }
            }
            ControlMessage::Quit => {}
        }
        Ok(())
    }

    fn disk_guard(&mut self) {
        let Some((_, free)) = crate::output::statvfs(&self.hub.config.output_path) else {
            return;
        };
        let min = self.hub.config.min_free_space;
        let low = free <= min;
        if low && !self.disk_paused {
            tracing::warn!(free, min_free_space = min, path = %self.hub.config.output_path.display(),
                "the output's disk is (nearly) full: pausing until there is space again");
            self.disk_paused = true;
            self.set_paused();
        } else if !low && self.disk_paused {
            tracing::warn!(free, "there is disk space again: resuming");
            self.disk_paused = false;
            self.set_paused();
            self.hub.retry_output.notify_one();
        }
        if !low && self.hub.output.kept() > 0 {
            let output = self.hub.output.clone();
            tokio::task::spawn_blocking(move || output.retry_kept());
        }
    }

    /// Stops every task (cancelling the hub's `quit`) and waits for them, each at most
    /// [`TASK_STOP_TIMEOUT`], in reverse start order; status messages produced meanwhile
    /// still go out.
    pub async fn shutdown(mut self) {
        self.hub.quit.cancel();
        while let Some((name, mut task)) = self.tasks.pop() {
            let deadline = tokio::time::sleep(TASK_STOP_TIMEOUT);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    r = &mut task => {
                        if let Err(e) = r {
                            tracing::error!(task = name, error = %e, "task ended badly");
                        }
                        break;
                    }
                    Some(msg) = self.status_rx.recv() => {
                        let _ = self.status.send(&msg).await;
                    }
                    () = &mut deadline => {
                        tracing::error!(task = name, "task did not stop in time; abandoned");
                        task.abort();
                        break;
                    }
                }
            }
        }
        tracing::info!("master stopped");
    }
}

/// Checks the output folder against the database in the background, logging what it put
/// right.
fn spawn_reconcile(hub: Hub, started: DateTime<Utc>) {
    tokio::spawn(async move {
        match crate::output::reconcile::reconcile(&hub, started).await {
            Ok(r) if r.repaired() => tracing::warn!(
                packages = r.packages,
                strays_removed = r.strays.len(),
                missing_rebuilt = r.missing.len(),
                links_made = r.links,
                metadata_made = r.metadata,
                damaged_rebuilt = r.damaged.len(),
                pages_owed = r.owed.len(),
                orphan_folders = r.orphans.len(),
                strays = ?r.strays.iter().take(20).collect::<Vec<_>>(),
                missing = ?r.missing.iter().take(20).collect::<Vec<_>>(),
                damaged = ?r.damaged.iter().take(20).collect::<Vec<_>>(),
                "the output folder disagreed with the database; put right"
            ),
            Ok(r) => tracing::info!(
                packages = r.packages,
                "the output folder agrees with the database"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot check the output folder against the database")
            }
        }
    });
}

fn msg_name(msg: &ControlMessage) -> &'static str {
    use piwheels_protocol::Message;
    msg.name()
}

fn name_of<T: crate::hub::Task>(_: &T) -> &'static str {
    T::NAME
}

/// The configuration with its upstream index named: when none is configured, the one pip
/// uses, found once here so that every task (CloudGazer, the slaves' `ACK`, the projects'
/// upstream links) sees the same. If pip cannot tell, it stays unset (CloudGazer asks pip
/// again at each poll; the pages link to no upstream page until a restart).
async fn with_upstream(mut config: MasterConfig) -> MasterConfig {
    if config.upstream.is_none() {
        match crate::upstream::index_url(&config).await {
            Ok(url) => {
                tracing::info!(%url, "the upstream index is the one pip uses");
                config.upstream = Some(url);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the upstream index is not known yet");
            }
        }
    }
    config
}
