//! The slave's side of the slave protocol (piwheels.md §3.1): one REQ socket to the master's
//! port 5555, one request at a time, each reply checked against what may follow the
//! request it answers.
//!
//! ```text
//! HELLO → ACK
//! IDLE  → SLEEP (wait 5–10 s, IDLE again) | BUILD (start it, BUSY) | DIE (BYE, exit)
//! BUSY  → CONT (wait 5–10 s for the build; BUSY again or BUILT) | DONE (stop it, IDLE)
//! BUILT → SEND name (upload it, SENT) | DONE (clean up, IDLE)
//! SENT  → SEND name (again or the next) | DONE (clean up, IDLE)
//! ```
//!
//! `DIE` is obeyed after any request. No reply within the master timeout (5 minutes) —
//! or, to `HELLO`, `IDLE` and `BUSY`, which every master answers at once (ours holds an
//! `IDLE` a few seconds at most), within [`QUICK_REPLY`] — or the connection the request
//! went out on breaking while the slave waits (ZeroMQ's socket monitor tells) — means the
//! master is gone: the
//! build is stopped, the socket closed (linger 1 s), and a new socket — a new identity to
//! the master — says `HELLO` again, which is how a slave survives a master restart. A
//! reply that does not fit (wrong message, undecodable, a `SEND` of a file that was not
//! built) is logged and leads to the same clean reconnect, after a `BYE` so the master
//! forgets the old identity at once.
//!
//! The socket's identity says it is one of ours
//! ([`our_slave_routing_id`](piwheels_protocol::slave::our_slave_routing_id)): our master
//! then answers a request from an identity it does not know (it restarted while this
//! slave was stopped or asleep) with `DONE`, which does not fit, so the slave starts again
//! at once instead of waiting for a reply that will never come.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use piwheels_protocol::slave::{
    BuiltReport, Job, SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest,
};
use piwheels_protocol::transport::{DisconnectWatch, Req, SocketOptions, TransportError, zmq};

use crate::builder::{Build, BuildSpec};
use crate::transfer::{self, UploadError};
use crate::{Slave, SlaveError, notify, random_between, stats};

/// A `SLEEP` that took this long to come was held by the master for a job (long polling):
/// the slave asks again at once instead of sleeping.
const LONG_POLL: Duration = Duration::from_secs(1);

/// How long a reply to `HELLO`, `IDLE` or `BUSY` may take (at most the master timeout):
/// masters answer them at once, so a longer silence means the request was lost (a master
/// restarted while this slave was stopped, or the connection broke).
pub const QUICK_REPLY: Duration = Duration::from_secs(30);

/// How a connection ended.
enum End {
    /// The master said `DIE`, or the slave was asked to stop: return from `run`.
    Exit,
    /// Start again with a new socket.
    Reconnect,
}

/// Why a request got no usable reply.
enum NoReply {
    /// Nothing within the master timeout (the socket cannot send any more).
    Silent,
    /// The connection the request went out on broke: its reply will never come.
    Lost,
    /// Asked to stop while waiting, and the reply did not come in time.
    Stopped,
    /// A reply that is not a valid message (consumed; the socket may send again).
    Bad(String),
    /// The socket failed.
    Broken(String),
}

/// Runs the slave until `DIE` or a stop (see the module docs).
pub(crate) fn run(slave: &mut Slave) -> Result<(), SlaveError> {
    notify::notify("READY=1");
    loop {
        if slave.stop.is_set() {
            notify::notify("STOPPING=1");
            return Ok(());
        }
        match Session::new(slave).run() {
            End::Exit => {
                notify::notify("STOPPING=1");
                return Ok(());
            }
            End::Reconnect => {
                // A short pause so a master that rejects us at once is not hammered.
                sleep_unless_stopped(slave, Duration::from_secs(1));
            }
        }
    }
}

fn sleep_unless_stopped(slave: &Slave, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        notify::watchdog();
        if slave.stop.is_set() {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
    }
    !slave.stop.is_set()
}

/// The name of a request, for logs.
fn request_name(r: &SlaveRequest) -> &'static str {
    match r {
        SlaveRequest::Hello(_) => "HELLO",
        SlaveRequest::Idle(_) => "IDLE",
        SlaveRequest::Busy(_) => "BUSY",
        SlaveRequest::Built(_) => "BUILT",
        SlaveRequest::Sent => "SENT",
        SlaveRequest::Bye => "BYE",
    }
}

fn reply_name(r: &SlaveReply) -> String {
    match r {
        SlaveReply::Ack(a) => format!("ACK [{}, {:?}]", a.slave_id, a.index_url),
        SlaveReply::Sleep(p) => format!("SLEEP {p}"),
        SlaveReply::Build(j) => format!("BUILD [{:?}, {:?}]", j.package, j.version),
        SlaveReply::Send(f) => format!("SEND {f:?}"),
        SlaveReply::Cont => "CONT".into(),
        SlaveReply::Done => "DONE".into(),
        SlaveReply::Die => "DIE".into(),
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// One connection to the master.
struct Session<'a> {
    slave: &'a Slave,
    socket: Option<Req<SlaveProtocol>>,
    /// Tells when the socket's connection to the master broke (its request is then lost).
    watch: Option<DisconnectWatch>,
    /// Whether the socket may send (it is not awaiting a reply).
    can_send: bool,
    slave_id: i64,
    index_url: String,
    build: Option<Build>,
}

impl<'a> Session<'a> {
    fn new(slave: &'a Slave) -> Self {
        Session {
            slave,
            socket: None,
            watch: None,
            can_send: false,
            slave_id: 0,
            index_url: String::new(),
            build: None,
        }
    }

    fn run(mut self) -> End {
        let end = self.talk();
        if let Some(build) = self.build.take() {
            tracing::info!(
                "stopping the build of {} {}",
                build.package(),
                build.version()
            );
            build.stop();
        }
        if let Some(socket) = self.socket.as_mut()
            && self.can_send
        {
            let _ = socket.send(&SlaveRequest::Bye);
        }
        // Dropping the socket closes it with a 1 s linger (so BYE goes out).
        self.watch = None;
        self.socket = None;
        end
    }

    fn hello(&self) -> SlaveHello {
        let c = &self.slave.config;
        let p = &self.slave.python;
        let m = &self.slave.machine;
        SlaveHello {
            build_timeout: delta(c.build_timeout),
            busy_timeout: delta(c.master_timeout),
            py_version: p.py_version.clone(),
            abi: p.abi.clone(),
            platform: p.platform.clone(),
            label: c.label.clone(),
            os_name: m.os_name.clone(),
            os_version: m.os_version.clone(),
            board_revision: m.board_revision.clone(),
            board_serial: m.board_serial.clone(),
        }
    }

    fn stats(&self) -> piwheels_protocol::slave::SlaveStats {
        stats::sample(&self.slave.config.dir)
    }

    /// Sends `request` and waits for its reply (see [`NoReply`]).
    fn exchange(&mut self, request: &SlaveRequest) -> Result<SlaveReply, NoReply> {
        let timeout = match request {
            SlaveRequest::Hello(_) | SlaveRequest::Idle(_) | SlaveRequest::Busy(_) => {
                self.slave.config.master_timeout.min(QUICK_REPLY)
            }
            _ => self.slave.config.master_timeout,
        };
        let socket = self.socket.as_mut().expect("connected");
        // What broke before this request does not concern it (ZeroMQ connects again, and
        // the request goes out on the new connection).
        let lost = |watch: &Option<DisconnectWatch>| {
            watch
                .as_ref()
                .is_some_and(|w| w.disconnected().unwrap_or(false))
        };
        lost(&self.watch);
        tracing::debug!("-> {}", request_name(request));
        if let Err(e) = socket.send(request) {
            return Err(NoReply::Broken(format!(
                "cannot send {}: {e}",
                request_name(request)
            )));
        }
        self.can_send = false;
        let deadline = Instant::now() + timeout;
        let mut stop_deadline: Option<Instant> = None;
        loop {
            notify::watchdog();
            let now = Instant::now();
            if self.slave.stop.is_set() {
                // Give the master a moment to answer, so BYE can be said.
                let until = *stop_deadline.get_or_insert(now + Duration::from_secs(5));
                if now >= until {
                    return Err(NoReply::Stopped);
                }
            }
            if now >= deadline {
                return Err(NoReply::Silent);
            }
            let was_lost = lost(&self.watch);
            if let Some(failure) = self
                .watch
                .as_ref()
                .and_then(|w| w.handshake_failure().ok().flatten())
            {
                tracing::error!("the master refused this slave's connection: {failure}");
                return Err(NoReply::Lost);
            }
            if was_lost {
                return Err(NoReply::Lost);
            }
            let slice = (deadline - now).min(Duration::from_millis(200));
            match socket.recv_timeout(slice) {
                Ok(reply) => {
                    self.can_send = true;
                    tracing::debug!("<- {}", reply_name(&reply));
                    return Ok(reply);
                }
                Err(TransportError::Timeout(_)) | Err(TransportError::Zmq(zmq::Error::EINTR)) => {}
                Err(TransportError::Protocol(e)) => {
                    self.can_send = true;
                    return Err(NoReply::Bad(e.to_string()));
                }
                Err(e) => return Err(NoReply::Broken(e.to_string())),
            }
        }
    }

    /// What to do about a request without a usable reply.
    fn no_reply(&self, request: &SlaveRequest, why: NoReply) -> End {
        let name = request_name(request);
        match why {
            NoReply::Silent => {
                tracing::warn!("no reply to {name} from the master in time; reconnecting");
                End::Reconnect
            }
            NoReply::Lost => {
                tracing::warn!(
                    "the connection to the master broke while waiting for the reply to {name}; reconnecting"
                );
                End::Reconnect
            }
            NoReply::Stopped => End::Exit,
            NoReply::Bad(e) => {
                tracing::error!("invalid reply to {name} from the master: {e}; reconnecting");
                End::Reconnect
            }
            NoReply::Broken(e) => {
                tracing::error!("slave socket failed ({e}); reconnecting");
                End::Reconnect
            }
        }
    }

    fn unexpected(&self, request: &SlaveRequest, reply: &SlaveReply) -> End {
        tracing::error!(
            "unexpected reply {} to {} from the master; reconnecting",
            reply_name(reply),
            request_name(request)
        );
        End::Reconnect
    }

    fn talk(&mut self) -> End {
        if let Err(end) = self
            .connect()
            .and_then(|endpoint| self.say_hello(&endpoint))
        {
            return end;
        }
        let mut request = SlaveRequest::Idle(self.stats());
        loop {
            if self.slave.stop.is_set() {
                tracing::info!("stopping as asked");
                return End::Exit;
            }
            let asked = Instant::now();
            let reply = match self.exchange(&request) {
                Ok(r) => r,
                Err(why) => return self.no_reply(&request, why),
            };
            request = match self.next_request(&request, reply, asked) {
                Ok(next) => next,
                Err(end) => return end,
            };
        }
    }

    /// Opens the socket to the master (and the watch on its connection); its endpoint.
    fn connect(&mut self) -> Result<String, End> {
        let endpoint = self.slave.config.endpoint(self.slave.config.slave_port);
        let options = SocketOptions::new()
            .linger(Some(Duration::from_secs(1)))
            .routing_id(piwheels_protocol::slave::our_slave_routing_id())
            .security(self.slave.config.security());
        let socket = match Req::<SlaveProtocol>::connect(&self.slave.ctx, &endpoint, &options) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot open a socket to {endpoint}: {e}");
                return Err(End::Reconnect);
            }
        };
        match DisconnectWatch::new(&self.slave.ctx, socket.socket()) {
            Ok(w) => self.watch = Some(w),
            Err(e) => tracing::warn!(
                "cannot watch the connection to the master ({e}); a lost request waits for its timeout"
            ),
        }
        self.socket = Some(socket);
        self.can_send = true;
        Ok(endpoint)
    }

    /// Says `HELLO`, and takes the slave id and index the `ACK` gives.
    fn say_hello(&mut self, endpoint: &str) -> Result<(), End> {
        let hello = SlaveRequest::Hello(self.hello());
        match self.exchange(&hello) {
            Ok(SlaveReply::Ack(ack)) => {
                self.slave_id = ack.slave_id;
                self.index_url = ack.index_url;
                tracing::info!(
                    "connected to the master at {endpoint} as slave {}; builds use the index {}",
                    self.slave_id,
                    self.index_url
                );
                self.slave.log_reachable(&self.index_url);
                Ok(())
            }
            Ok(SlaveReply::Die) => {
                tracing::warn!("the master said DIE");
                Err(End::Exit)
            }
            Ok(other) => Err(self.unexpected(&hello, &other)),
            Err(why) => Err(self.no_reply(&hello, why)),
        }
    }

    /// Does what `reply` to `request` (asked at `asked`) says; the next request, or how
    /// the session ends.
    fn next_request(
        &mut self,
        request: &SlaveRequest,
        reply: SlaveReply,
        asked: Instant,
    ) -> Result<SlaveRequest, End> {
        match (request, reply) {
            (_, SlaveReply::Die) => {
                tracing::warn!("the master said DIE");
                Err(End::Exit)
            }
            (SlaveRequest::Idle(_), SlaveReply::Sleep(paused)) => self.sleep(paused, asked),
            (SlaveRequest::Idle(_), SlaveReply::Build(job)) => Ok(self.start_build(job)),
            (SlaveRequest::Busy(_), SlaveReply::Cont) => match self.wait_build() {
                Some(report) => Ok(report),
                None if self.slave.stop.is_set() => Err(End::Exit),
                None => Ok(SlaveRequest::Busy(self.stats())),
            },
            (SlaveRequest::Busy(_), SlaveReply::Done) => {
                self.end_build("the master cancelled the build of");
                Ok(SlaveRequest::Idle(self.stats()))
            }
            (SlaveRequest::Built(_) | SlaveRequest::Sent, SlaveReply::Send(name)) => {
                self.send_file(&name).map(|()| SlaveRequest::Sent)
            }
            (SlaveRequest::Built(_) | SlaveRequest::Sent, SlaveReply::Done) => {
                self.end_build("finished with");
                Ok(SlaveRequest::Idle(self.stats()))
            }
            (req, reply) => Err(self.unexpected(req, &reply)),
        }
    }

    /// Sleeps after a `SLEEP` (`paused` if the master is paused) to an `IDLE` asked at
    /// `asked`; the next `IDLE`, or `End::Exit` if asked to stop meanwhile.
    fn sleep(&self, paused: bool, asked: Instant) -> Result<SlaveRequest, End> {
        tracing::debug!(
            "nothing to build{}; sleeping",
            if paused {
                " (the master is paused)"
            } else {
                ""
            }
        );
        // A master that held the IDLE until it had nothing to give (long polling) is
        // asked again at once; one that answered at once, as the original does, after the
        // usual 5-10 s.
        let (lo, hi) = self.slave.config.sleep_range;
        let wait = if !paused && asked.elapsed() >= LONG_POLL {
            Duration::from_millis(50)
        } else {
            random_between(lo, hi)
        };
        if !sleep_unless_stopped(self.slave, wait) {
            return Err(End::Exit);
        }
        Ok(SlaveRequest::Idle(self.stats()))
    }

    /// Starts the build of `job`: `BUSY`, or a failed `BUILT` if it cannot start (`BUILT`
    /// may follow `BUILD` at once).
    fn start_build(&mut self, job: Job) -> SlaveRequest {
        tracing::info!("building {} {}", job.package, job.version);
        let spec = BuildSpec {
            package: job.package,
            version: job.version,
            index_url: self.index_url.clone(),
            extra_index_urls: self.slave.config.extra_index_urls.clone(),
            python: self.slave.config.python.clone(),
            timeout: self.slave.config.build_timeout,
            grace: self.slave.config.kill_grace,
            dir: self.slave.config.dir.clone(),
            user: self.slave.user.clone(),
            sandbox: self.slave.sandbox.clone(),
        };
        match Build::start(spec) {
            Ok(b) => {
                self.build = Some(b);
                SlaveRequest::Busy(self.stats())
            }
            Err(e) => {
                tracing::error!("cannot start the build: {e}");
                SlaveRequest::Built(BuiltReport {
                    status: false,
                    duration: TimeDelta::zero(),
                    output: format!("The slave could not start the build: {e}\n"),
                    files: Vec::new(),
                })
            }
        }
    }

    /// Stops the build (if any) and cleans it up, logging `what` with its name.
    fn end_build(&mut self, what: &str) {
        if let Some(b) = self.build.take() {
            tracing::info!("{what} {} {}", b.package(), b.version());
            b.stop();
        }
    }

    /// Waits a random 5–10 s for the build; its `BUILT` once it has ended.
    fn wait_build(&mut self) -> Option<SlaveRequest> {
        let (lo, hi) = self.slave.config.busy_range;
        let until = Instant::now() + random_between(lo, hi);
        let build = self.build.as_mut()?;
        loop {
            notify::watchdog();
            let now = Instant::now();
            if self.slave.stop.is_set() || now >= until {
                return None;
            }
            let (package, version) = (build.package().to_owned(), build.version().to_owned());
            if let Some(result) = build.wait((until - now).min(Duration::from_millis(200))) {
                let files: Vec<_> = result.files.iter().map(|w| w.state.clone()).collect();
                if result.status {
                    tracing::info!(
                        "built {} {} in {}: {}",
                        package,
                        version,
                        crate::format_duration(result.duration),
                        files
                            .iter()
                            .map(|f| f.filename.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                } else {
                    tracing::info!(
                        "the build of {} {} failed after {}{}",
                        package,
                        version,
                        crate::format_duration(result.duration),
                        if result.timed_out { " (timed out)" } else { "" }
                    );
                }
                return Some(SlaveRequest::Built(BuiltReport {
                    status: result.status,
                    duration: delta(result.duration),
                    output: result.output.clone(),
                    files,
                }));
            }
        }
    }

    /// Uploads the built file `name`; an `End` if the session cannot go on.
    fn send_file(&mut self, name: &str) -> Result<(), End> {
        let path = self
            .build
            .as_ref()
            .and_then(|b| b.result())
            .filter(|r| r.status)
            .and_then(|r| r.files.iter().find(|w| w.state.filename == name))
            .map(|w| w.path.clone());
        let Some(path) = path else {
            tracing::error!(
                "the master asked for {name:?}, which this build did not make; reconnecting"
            );
            return Err(End::Reconnect);
        };
        let endpoint = self.slave.config.endpoint(self.slave.config.file_port);
        tracing::info!("sending {name} to {endpoint}");
        match transfer::upload_secured(
            &self.slave.ctx,
            &endpoint,
            self.slave.config.security(),
            self.slave_id,
            &path,
            self.slave.config.master_timeout,
            &self.slave.stop,
        ) {
            Ok(()) => {
                tracing::info!("sent {name}");
                Ok(())
            }
            Err(UploadError::Stopped) => Err(End::Exit),
            Err(e) => {
                tracing::error!("sending {name} failed: {e}; reconnecting");
                Err(End::Reconnect)
            }
        }
    }
}
