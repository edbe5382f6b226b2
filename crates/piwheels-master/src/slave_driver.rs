//! SlaveDriver: the build slaves' protocol (`--slave-queue`, port 5555; piwheels.md §3.1).
//!
//! One `SlaveState` per ROUTER identity runs the state machine of piwheels.md §3.1.2: `HELLO` →
//! `ACK`; `IDLE` → `BUILD`, `SLEEP` or `DIE`; `BUSY` → `CONT` or `DONE`; `BUILT` → `SEND`
//! or `DONE`; `SENT` → the next `SEND` or `DONE`; `BYE` → forgotten. Every request from a
//! known slave gets exactly one reply (none for `BYE` and for anything but `HELLO` from an
//! unknown identity); a request out of order gets `DIE`.
//!
//! Jobs come from TheArchitect's [`BuildQueue`], per build [`Target`]: a slave takes jobs
//! for its ABI *and* platform (from its `HELLO`). A job handed out is not handed out again
//! for the slave's build timeout; deletions (from CloudGazer and MrChase) keep a package or
//! version out for an hour and abandon builds of it.
//!
//! Where this differs from the original, on purpose (no job is ever stuck, and nothing is
//! published before its row: see the README's "What the index promises" and the design
//! note's "How the master works"):
//!
//! - a monitor's per-slave `SLEEP` is honoured; build timeouts are enforced (a slave still
//!   `BUSY` past its timeout and a grace is told `DONE`, the build logged as failed);
//!   absurd `HELLO` timeouts are clamped to [`MIN_BUILD_TIMEOUT`]..[`MAX_BUILD_TIMEOUT`];
//! - a slave uploads only wheels of its job (checked by [`crate::output`]); verifying and
//!   logging run beside the socket loop, and a build the database cannot take is kept and
//!   logged later;
//! - an invalid message from a known slave is answered (`SLEEP false` or `DONE`), never
//!   left to time out;
//! - a `BUILT` that declares more files than `max_build_files` or one larger than
//!   `max_wheel_size` is answered `DONE` before any transfer and logged as a failed build
//!   whose log says why (an honest build can be that large: it is not built again, and
//!   is no strike); a slave that breaks the protocol repeatedly gets `SLEEP true` for a
//!   while ([`CoolOffPolicy`], by its key or address), and monitors are told until when;
//! - with CURVE (`--master-secret-key`), each message's key is checked against the allow-list again: a
//!   slave whose key file was deleted gets `DIE` ([`crate::queue_auth`]);
//! - an `IDLE` with no job is held a few seconds (long polling) only for this project's
//!   slaves ([`is_our_slave`]), which the original slave could not bear;
//! - warnings about a peer's input are [rate-limited](crate::log_limit), and what a slave
//!   says about itself is [quoted and cut short](piwheels_protocol::quote).

mod builds;
mod cool_off;
mod idle;
mod jobs;
mod revoked;
mod socket;
mod state;

pub use builds::{MAX_SEND_ATTEMPTS, MAX_UNLOGGED};
pub use cool_off::{CoolOffPolicy, MAX_TRACKED, Offender};

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_db::{NewBuild, Target};
use piwheels_protocol::monitor::SlaveEvent;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::slave::{Job, SlaveReply, SlaveRequest, is_our_slave};
use piwheels_protocol::transport::asynchronous::Router;
use piwheels_protocol::transport::{Identity, Origin, SocketOptions, zmq};
use piwheels_protocol::{Message, ProtocolError};
use tokio::sync::{mpsc, watch};

use crate::error::Result;
use crate::hub::{BuildQueue, FsError, Hub, SkipRequest, SlaveCommand, Task};
use crate::log_limit::PeerWarnings;
use crate::metrics::SlaveActivity;
use crate::output::Staged;
use crate::queue_auth;
use crate::slave_id::SlaveId;

use self::builds::{Finished, Logged, Pending, Unlogged};
use self::cool_off::CoolOff;
use self::jobs::Jobs;
use self::socket::{Socket, publish};
use self::state::SlaveState;

/// The shortest build timeout a `HELLO` may give (shorter ones are raised to it).
pub const MIN_BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest build timeout a `HELLO` may give (longer ones are cut to it): past it (and
/// the grace) a build still `BUSY` is abandoned, so no job is withheld for longer.
pub const MAX_BUILD_TIMEOUT: Duration = Duration::from_secs(2 * 24 * 3600);

/// The range a `HELLO`'s busy timeout is clamped to.
pub const BUSY_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(3600));

/// The intervals SlaveDriver works by; [`Timing::default`] is production's, tests shorten
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often silent slaves are looked for (and expired exclusions dropped): 10 s.
    pub check_interval: Duration,
    /// How long past its build timeout a slave may stay `BUSY` before it is told `DONE`:
    /// 5 minutes.
    pub build_grace: Duration,
    /// How often logging a build is tried before giving up: 4.
    pub log_attempts: u32,
    /// The wait before the first retry (doubling after each): 1 s.
    pub retry_delay: Duration,
    /// How long an `IDLE` with no job to give is held before `SLEEP` is answered, so a job
    /// that arrives meanwhile goes out at once (long polling; the slave waits up to 5
    /// minutes for any reply): 4 s, so a slave that is stopped meanwhile still gets its
    /// answer within its 5 s wait and can say BYE. Zero answers at once, as the original
    /// does. Capped at half the busy timeout.
    pub idle_hold: Duration,
    /// How long a deleted package or version stays out of the queue: 1 hour.
    pub deletion_exclusion: Duration,
    /// The shortest build timeout a `HELLO` may give: [`MIN_BUILD_TIMEOUT`].
    pub min_build_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            check_interval: Duration::from_secs(10),
            build_grace: Duration::from_secs(300),
            log_attempts: 4,
            retry_delay: Duration::from_secs(1),
            idle_hold: Duration::from_secs(4),
            deletion_exclusion: Duration::from_secs(3600),
            min_build_timeout: MIN_BUILD_TIMEOUT,
        }
    }
}

/// What SlaveDriver knows of one slave beyond its protocol [`SlaveState`].
#[derive(Debug)]
struct Slave {
    state: SlaveState,
    /// When the current job was handed out.
    build_started: Option<Instant>,
    /// Whether the log has been told this slave's target is not enabled.
    warned_target: bool,
    /// Verifications of the current file that failed.
    send_failures: u32,
    /// A verification or a build log runs for it (this token): its reply comes from
    /// that completion.
    busy: Option<u64>,
    /// The current build's wheels, verified and staged, waiting for its row.
    staged: Vec<Staged>,
    /// What its strikes are counted against ([`cool_off`]): its key or address.
    offender: Option<Offender>,
    /// Until when it is in cool-off, as of its last `IDLE` (monitors are told with its
    /// `SLEEP`).
    cooling_until: Option<DateTime<Utc>>,
    /// The connection its `HELLO` came on: its files must come from the same key or
    /// address.
    origin: Origin,
}

impl Slave {
    fn new(state: SlaveState, origin: Origin) -> Self {
        Slave {
            offender: Offender::of(&origin),
            origin,
            state,
            build_started: None,
            warned_target: false,
            send_failures: 0,
            busy: None,
            staged: Vec::new(),
            cooling_until: None,
        }
    }

    fn id(&self) -> SlaveId {
        self.state.slave_id
    }

    fn target(&self) -> Target {
        Target::new(
            self.state.native_abi().to_owned(),
            normalize_platform(&self.state.hello.platform),
        )
    }

    fn label(&self) -> &str {
        &self.state.hello.label
    }

    /// The job this slave was last given, if it is on one.
    fn job(&self) -> Option<&Job> {
        match &self.state.last_reply {
            Some(SlaveReply::Build(job)) => Some(job),
            _ => None,
        }
    }

    /// The package and version it is building or sending, if any.
    fn working_on(&self) -> Option<(&str, &str)> {
        if let Some(b) = &self.state.build {
            return Some((&b.package, &b.version));
        }
        self.job().map(|j| (j.package.as_str(), j.version.as_str()))
    }
}

/// A platform tag as wheels spell it: `linux-x86_64` and `linux.x86_64` become
/// `linux_x86_64` (as `sysconfig`'s platform is turned into a wheel tag).
fn normalize_platform(platform: &str) -> String {
    platform.replace(['-', '.'], "_").to_ascii_lowercase()
}

/// A handler's answer to a slave: the reply to send now, or `None` when work started beside
/// the loop (a verification, a build log) answers it once it completes.
type Answer = Option<SlaveReply>;

/// The result of work done beside the loop, to finish a slave's request with.
#[derive(Debug)]
// One per file or build, short-lived: boxing the staged file buys nothing.
#[allow(clippy::large_enum_variant)]
enum Completion {
    /// A `SENT` file was verified and staged (or not).
    Verified {
        peer: Identity,
        token: u64,
        slave_id: SlaveId,
        filename: String,
        result: std::result::Result<Staged, FsError>,
    },
    /// A build was logged (or could not be).
    Logged {
        peer: Identity,
        token: Option<u64>,
        build: Finished,
        result: Logged,
    },
    /// A round of logging the kept builds ended: these are still waiting.
    Retried(Unlogged),
}

/// What the handlers work with beside the one slave they answer: the jobs, the database
/// and the other tasks, and the work running beside the loop.
struct Core {
    hub: Hub,
    timing: Timing,
    next_id: SlaveId,
    jobs: Jobs,
    /// Enabled build targets, as the database last said.
    enabled: BTreeSet<Target>,
    index_url: Option<String>,
    next_token: u64,
    done_tx: mpsc::UnboundedSender<Completion>,
    /// Builds the database could not take, oldest first, to log once it works.
    unlogged: Unlogged,
    /// A round of logging them is under way.
    retrying: bool,
    /// The rate limit on warnings about peers' messages.
    warnings: PeerWarnings<Identity>,
    /// The strikes and cool-offs of slaves that break the protocol.
    cool_off: CoolOff,
    /// The rate limit on warnings about revoked keys.
    revoked: PeerWarnings<String>,
}

/// The build slaves' task (see the module docs).
pub struct SlaveDriver {
    socket: Socket,
    skip: mpsc::UnboundedReceiver<SkipRequest>,
    commands: mpsc::UnboundedReceiver<SlaveCommand>,
    done_rx: mpsc::UnboundedReceiver<Completion>,
    /// Wakes the held requests when TheArchitect publishes a queue.
    queue_watch: watch::Receiver<Arc<BuildQueue>>,
    /// Wakes the held requests when the master is paused.
    paused_watch: watch::Receiver<bool>,
    slaves: HashMap<Identity, Slave>,
    /// `IDLE` requests held for a job, with when to stop holding them.
    parked: Vec<(Identity, Instant)>,
    core: Core,
}

impl std::fmt::Debug for SlaveDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaveDriver")
            .field("endpoint", &self.socket.endpoint)
            .field("slaves", &self.slaves.len())
            .finish_non_exhaustive()
    }
}

impl SlaveDriver {
    /// Binds the slaves' ROUTER at `hub.config.slave_queue`.
    pub fn bind(
        hub: Hub,
        skip: mpsc::UnboundedReceiver<SkipRequest>,
        commands: mpsc::UnboundedReceiver<SlaveCommand>,
    ) -> Result<SlaveDriver> {
        let ctx = zmq::Context::new();
        let auth = &hub.config.auth;
        let plan = queue_auth::plan(
            auth,
            ("--slave-queue", &hub.config.slave_queue),
            ("--plain-slave-queue", auth.plain_slave_queue.as_deref()),
        )?;
        let zap = queue_auth::start_zap(&ctx, &hub.policy, &plan, Self::NAME)?;
        let options = SocketOptions::new();
        let router = Router::bind(&ctx, &plan.main.0, &options.security(plan.main.1))?;
        let endpoint = router.endpoint()?;
        let plain_endpoint = queue_auth::bind_plain(router.socket(), options, &plan)?;
        let watch = queue_auth::watch_handshakes(&ctx, router.socket(), zap.as_ref(), Self::NAME)?;
        tracing::info!(endpoint = %endpoint, plain = ?plain_endpoint,
            curve = auth.key.is_some(), "slave driver listening");
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let jobs = Jobs::new(hub.queue.clone());
        let (queue_watch, paused_watch) = (hub.queue.clone(), hub.paused.clone());
        let cool_off = hub.config.cool_off;
        Ok(SlaveDriver {
            socket: Socket {
                router,
                endpoint,
                plain_endpoint,
                status: hub.status.clone(),
                _zap: zap,
                _watch: watch,
            },
            skip,
            commands,
            done_rx,
            queue_watch,
            paused_watch,
            slaves: HashMap::new(),
            parked: Vec::new(),
            core: Core {
                hub,
                timing: Timing::default(),
                next_id: SlaveId::FIRST,
                jobs,
                enabled: BTreeSet::new(),
                index_url: None,
                next_token: 1,
                done_tx,
                unlogged: Unlogged::new(),
                retrying: false,
                warnings: PeerWarnings::new(Self::NAME),
                cool_off: CoolOff::new(cool_off),
                revoked: PeerWarnings::new(Self::NAME),
            },
        })
    }

    /// Uses other intervals (tests make them short).
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.core.timing = timing;
        self
    }

    /// The endpoint actually bound, e.g. `tcp://0.0.0.0:5555` (wildcard ports resolved).
    pub fn endpoint(&self) -> &str {
        &self.socket.endpoint
    }

    /// The endpoint for original (NULL) slaves, when CURVE is on and one is configured.
    pub fn plain_endpoint(&self) -> Option<&str> {
        self.socket.plain_endpoint.as_deref()
    }

    async fn handle(
        &mut self,
        peer: Identity,
        origin: Origin,
        msg: std::result::Result<SlaveRequest, ProtocolError>,
    ) -> Result<()> {
        let now = Utc::now();
        if let Some(key) = queue_auth::revoked_key(&self.core.hub.policy, &origin) {
            return self
                .revoked(peer, key.to_owned(), matches!(msg, Ok(SlaveRequest::Bye)))
                .await;
        }
        let Some(slave) = self.slaves.get_mut(&peer) else {
            return self.stranger(peer, origin, msg, now).await;
        };
        let core = &mut self.core;
        if slave.busy.is_some() {
            // A REQ socket cannot send again before its reply: this is a new socket with a
            // recycled identity, or a broken peer.
            if core.warnings.allow(&peer) {
                tracing::warn!(
                    slave = %slave.id(),
                    msg = msg
                        .as_ref()
                        .map(|r| r.name())
                        .unwrap_or("an invalid message"),
                    "request while its last one is being answered; dropped"
                );
            }
            return Ok(());
        }
        let request = match msg {
            Ok(request) => request,
            Err(e) => {
                let reply = core.invalid(&peer, slave, &e, now);
                return self.socket.reply(&peer, slave, reply).await;
            }
        };
        slave.state.record_request(&request, now);
        let id = slave.id();
        tracing::debug!(slave = %id, msg = request.name(), "request");
        if !slave.state.accepts(&request) {
            if core.warnings.allow(&peer) {
                tracing::warn!(
                    slave = %id,
                    msg = request.name(),
                    last_reply = slave
                        .state
                        .last_reply
                        .as_ref()
                        .map(|r| r.name())
                        .unwrap_or("none"),
                    "protocol error: message out of order; telling the slave to die"
                );
            }
            core.release_work(slave, "protocol error");
            core.strike(slave, "a message out of order");
            return self.socket.reply(&peer, slave, SlaveReply::Die).await;
        }
        let answer = match request {
            SlaveRequest::Hello(_) => unreachable!("accepts() refuses HELLO"),
            SlaveRequest::Bye => {
                if let Some(s) = self.slaves.remove(&peer) {
                    self.core.lost(s);
                }
                tracing::info!(slave = %id, "slave said goodbye");
                self.core
                    .publish(SlaveEvent::reply(id.as_i64(), now, &SlaveReply::Die));
                return Ok(());
            }
            SlaveRequest::Idle(stats) => {
                core.publish(SlaveEvent::stats(id.as_i64(), &stats));
                let reply = core.idle(&peer, slave);
                if reply == SlaveReply::Sleep(false) && core.may_hold(&peer, slave) {
                    let hold = core.hold_time(slave);
                    self.parked.push((peer, Instant::now() + hold));
                    return Ok(());
                }
                Some(reply)
            }
            SlaveRequest::Busy(stats) => {
                core.publish(SlaveEvent::stats(id.as_i64(), &stats));
                Some(core.busy(&peer, slave))
            }
            SlaveRequest::Built(report) => core.built(&peer, slave, report).await,
            SlaveRequest::Sent => core.sent(&peer, slave),
        };
        self.socket.answer(&peer, slave, answer).await
    }

    /// A request from a peer that is no registered slave: `HELLO` registers it.
    async fn stranger(
        &mut self,
        peer: Identity,
        origin: Origin,
        msg: std::result::Result<SlaveRequest, ProtocolError>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let warn = self.core.warnings.allow(&peer);
        match msg {
            Err(e) => {
                if warn {
                    tracing::warn!(peer = %peer, error = %e, "invalid message from an unknown peer dropped");
                }
                Ok(())
            }
            Ok(SlaveRequest::Hello(hello)) => {
                let (slave, ack) = self.core.hello(hello, &origin, now).await;
                let slave = self
                    .slaves
                    .entry(peer.clone())
                    .insert_entry(slave)
                    .into_mut();
                self.socket.reply(&peer, slave, ack).await
            }
            Ok(SlaveRequest::Bye) => Ok(()),
            Ok(other) if is_our_slave(peer.as_bytes()) => {
                // One of ours that this master does not know (it restarted while the
                // slave was stopped or asleep): DONE does not fit, so it starts again
                // with HELLO at once. Not registered: nothing to remember.
                if warn {
                    tracing::info!(peer = %peer, msg = other.name(), "a slave this master does not know; telling it to start again");
                }
                self.socket.send_raw(&peer, SlaveReply::Done).await
            }
            Ok(other) => {
                if warn {
                    tracing::warn!(peer = %peer, msg = other.name(), "invalid first message from an unknown peer; ignored");
                }
                Ok(())
            }
        }
    }

    fn command(&mut self, command: SlaveCommand) {
        let select = |target: Option<SlaveId>, slave: &Slave| {
            target.is_none_or(|id| id == slave.state.slave_id)
        };
        match command {
            SlaveCommand::Replay => {
                for e in self.replay() {
                    self.core.publish(e);
                }
            }
            SlaveCommand::Kill(target) => {
                for s in self.slaves.values_mut().filter(|s| select(target, s)) {
                    s.state.killed = true;
                }
            }
            SlaveCommand::Skip(target) => {
                for s in self.slaves.values_mut().filter(|s| select(target, s)) {
                    s.state.skipped = true;
                }
            }
            SlaveCommand::Sleep(target) => {
                for s in self.slaves.values_mut().filter(|s| select(target, s)) {
                    s.state.sleeping = true;
                }
            }
            SlaveCommand::Wake(target) => {
                for s in self.slaves.values_mut().filter(|s| select(target, s)) {
                    s.state.killed = false;
                    s.state.skipped = false;
                    s.state.sleeping = false;
                }
            }
        }
    }

    /// What a monitor that says `HELLO` is told of every slave, in the order it happened:
    /// its `HELLO`; its last reply, at the time it was sent; its latest sample, after the
    /// reply if the slave has spoken since (`BUSY`, or an `IDLE` being held). An `IDLE`
    /// being held (long polling) is followed by the `SLEEP` the original would have sent at
    /// once, so a monitor shows the slave idle rather than still starting (the original
    /// monitor showed such a slave "Initializing" after `ACK`).
    fn replay(&self) -> Vec<std::result::Result<SlaveEvent, ProtocolError>> {
        let mut slaves: Vec<(&Identity, &Slave)> = self.slaves.iter().collect();
        slaves.sort_by_key(|(_, s)| s.state.slave_id);
        let paused = self.core.hub.is_paused();
        let mut events = Vec::new();
        for (peer, s) in slaves {
            let st = &s.state;
            let id = st.slave_id.as_i64();
            events.push(SlaveEvent::hello(id, st.first_seen, &st.hello));
            let spoke_since = st.last_seen > st.last_reply_at;
            let stats = st.stats.as_ref().map(|stats| SlaveEvent::stats(id, stats));
            let reply = st
                .last_reply
                .as_ref()
                .map(|reply| socket::reply_event(id, st.last_reply_at, reply, s.cooling_until));
            if spoke_since {
                events.extend(reply.into_iter().chain(stats));
            } else {
                events.extend(stats.into_iter().chain(reply));
            }
            if self.parked.iter().any(|(p, _)| p == peer) {
                let sleep = SlaveReply::Sleep(paused || st.sleeping);
                events.push(SlaveEvent::reply(id, st.last_seen, &sleep));
            }
        }
        events
    }

    fn skip_request(&mut self, req: SkipRequest) {
        let (package, version) = match &req {
            SkipRequest::Package(p) => (p.as_str(), None),
            SkipRequest::Version(p, v) => (p.as_str(), Some(v.as_str())),
            SkipRequest::Built(p, v) => {
                self.core.jobs.built_elsewhere(p, v);
                return;
            }
        };
        self.core
            .jobs
            .delete(package, version, self.core.timing.deletion_exclusion);
        for s in self.slaves.values_mut() {
            if let Some((p, v)) = s.working_on()
                && p == package
                && version.is_none_or(|version| version == v)
            {
                tracing::info!(
                    slave = %s.state.slave_id,
                    package,
                    "abandoning the build of a deleted package"
                );
                s.state.skipped = true;
            }
        }
    }

    /// Forgets slaves silent for longer than their busy timeout.
    fn expire(&mut self) {
        let now = Utc::now();
        let ours = TimeDelta::from_std(self.core.hub.config.busy_timeout).unwrap_or(TimeDelta::MAX);
        let expired: Vec<Identity> = self
            .slaves
            .iter()
            .filter(|(_, s)| s.busy.is_none() && s.state.expired(now, ours))
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in expired {
            if let Some(s) = self.slaves.remove(&peer) {
                let id = s.id();
                tracing::warn!(slave = %id, label = %Quoted::str(s.label()), "slave silent past its busy timeout; forgotten");
                self.core.lost(s);
                self.core
                    .publish(SlaveEvent::reply(id.as_i64(), now, &SlaveReply::Die));
            }
        }
        self.core.jobs.prune();
        self.core.cool_off.prune(Instant::now());
    }
}

impl Core {
    /// The index URL given to slaves in `ACK`: `build_index`, else the upstream index.
    async fn resolve_index_url(&mut self) {
        if self.index_url.is_some() {
            return;
        }
        let url = match &self.hub.config.build_index {
            Some(url) => url.clone(),
            None => match crate::upstream::index_url(&self.hub.config).await {
                Ok(url) => url,
                Err(e) => {
                    tracing::error!(error = %e,
                        "cannot tell which index slaves should build from; set --build-index (slaves get an empty index URL until then)");
                    return;
                }
            },
        };
        self.index_url = Some(url);
    }

    async fn refresh_targets(&mut self) {
        match self.hub.db.build_targets().await {
            Ok(targets) => {
                self.enabled = targets
                    .into_iter()
                    .filter(|(_, skip)| skip.is_empty())
                    .map(|(t, _)| t)
                    .collect();
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the build targets"),
        }
    }

    /// Counts a strike against a slave's key ([`cool_off`]).
    fn strike(&mut self, slave: &Slave, why: &str) {
        if self
            .cool_off
            .strike(slave.offender.as_ref(), why, Instant::now())
        {
            tracing::warn!(slave = %slave.id(), label = %Quoted::str(slave.label()),
                "slave in cool-off: it gets SLEEP until the cool-off ends");
        }
    }

    fn publish(&self, event: std::result::Result<SlaveEvent, ProtocolError>) {
        publish(&self.hub.status, event);
    }

    /// An invalid message from a known slave: `SLEEP false` when it was idle, else `DONE`
    /// (its work given up), so it never waits for nothing.
    fn invalid(
        &mut self,
        peer: &Identity,
        slave: &mut Slave,
        e: &ProtocolError,
        now: DateTime<Utc>,
    ) -> SlaveReply {
        slave.state.last_seen = now;
        let idle = matches!(
            slave.state.last_reply,
            Some(SlaveReply::Ack(_) | SlaveReply::Sleep(_) | SlaveReply::Done)
        );
        if self.warnings.allow(peer) {
            tracing::warn!(slave = %slave.id(), error = %e, "invalid message from slave");
        }
        self.strike(slave, "an invalid message");
        if idle {
            SlaveReply::Sleep(false)
        } else {
            self.release_work(slave, "invalid message");
            SlaveReply::Done
        }
    }

    /// `BUSY`: carry on, unless skipped or over time.
    fn busy(&mut self, peer: &Identity, slave: &mut Slave) -> SlaveReply {
        if slave.state.skipped {
            slave.state.skipped = false;
            return SlaveReply::Done;
        }
        let limit = slave
            .state
            .hello
            .build_timeout
            .to_std()
            .unwrap_or(Duration::ZERO)
            + self.timing.build_grace;
        if let (Some(started), Some(job)) = (slave.build_started, slave.job().cloned())
            && started.elapsed() > limit
        {
            let id = slave.id();
            let elapsed = started.elapsed();
            tracing::warn!(slave = %id, package = %job.package, version = %job.version,
                "build ran past the slave's build timeout; abandoning it");
            let build = NewBuild {
                package: job.package.clone(),
                version: job.version.clone(),
                built_by: id.as_i64(),
                target: slave.target(),
                status: false,
                duration: TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX),
                built_at: None,
                files: Vec::new(),
            };
            let output = format!(
                "The build was abandoned: it ran for {} s, past the slave's build timeout.",
                elapsed.as_secs()
            );
            let pending = Pending {
                slave_id: id,
                build,
                output,
                staged: Vec::new(),
            };
            self.spawn_log(peer.clone(), None, pending);
            return SlaveReply::Done;
        }
        SlaveReply::Cont
    }

    /// A slave is gone (silent too long, or said `BYE`) with whatever it was doing: its
    /// unfinished transfer and staged wheels are dropped, and its job is handed out again
    /// at once rather than when the exclusion for the slave's build timeout runs out.
    fn lost(&mut self, mut s: Slave) {
        self.release_work(&mut s, "slave gone");
    }
}

impl SlaveDriver {
    /// Tells the metrics how many slaves do what (a few dozen at most: counted afresh
    /// after each event).
    fn count_slaves(&self) {
        let mut counts = std::collections::BTreeMap::new();
        let now = Instant::now();
        for slave in self.slaves.values() {
            // A slave told to stop is stopping; one between jobs in cool-off is counted so.
            let activity = match slave.state.activity() {
                SlaveActivity::Idle | SlaveActivity::Sleeping
                    if self.core.cool_off.cooling(slave.offender.as_ref(), now) =>
                {
                    SlaveActivity::CoolingOff
                }
                activity => activity,
            };
            *counts.entry(activity).or_insert(0) += 1;
        }
        self.core.hub.metrics.set_slaves(&counts);
    }
}

/// Sleeps until `when`, or for ever if there is no `when`.
async fn sleep_until_some(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(tokio::time::Instant::from_std(when)).await,
        None => std::future::pending().await,
    }
}

impl Task for SlaveDriver {
    const NAME: &'static str = "slave_driver";

    async fn run(&mut self) -> Result<()> {
        let quit = self.core.hub.quit.clone();
        self.core.refresh_targets().await;
        self.core.resolve_index_url().await;
        let mut tick = tokio::time::interval(self.core.timing.check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Biased: commands and deletions already queued apply before the next request
            // (a monitor's WAKE, then the slave's IDLE).
            let unpark = self.next_unpark();
            tokio::select! {
                biased;
                () = quit.cancelled() => return Ok(()),
                Some(cmd) = self.commands.recv() => {
                    self.command(cmd);
                    self.serve_parked(false).await?;
                }
                Some(req) = self.skip.recv() => self.skip_request(req),
                Some(done) = self.done_rx.recv() => self.complete(done).await?,
                msg = self.socket.router.recv_with_origin() => {
                    let (origin, (peer, msg)) = msg?;
                    self.handle(peer, origin, msg).await?;
                }
                Ok(()) = self.queue_watch.changed() => {
                    self.queue_watch.borrow_and_update();
                    self.serve_parked(false).await?;
                }
                Ok(()) = self.paused_watch.changed() => {
                    self.paused_watch.borrow_and_update();
                    self.serve_parked(false).await?;
                }
                () = sleep_until_some(unpark) => self.serve_parked(false).await?,
                _ = tick.tick() => {
                    self.expire();
                    self.core.refresh_targets().await;
                    self.core.retry_unlogged();
                }
            }
            self.count_slaves();
        }
    }
}
