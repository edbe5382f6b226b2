//! The monitor's two sockets: status (SUB, everything the master publishes) and control
//! (PUSH, the commands), with `HELLO` said again until the master answers it.
//!
//! A SUB socket sees nothing published before its subscription reaches the master, so a
//! `HELLO` sent at once may be answered into the void; it is said again every
//! [`HELLO_AGAIN`] until the master's own `HELLO` arrives.

use std::time::{Duration, Instant};

use chrono::Utc;
use piwheels_protocol::monitor::{ControlMessage, ControlProtocol, StatusProtocol};
use piwheels_protocol::transport::{
    Push, Security, SocketOptions, Sub, TransportError, connectable, zmq,
};

use super::model::Model;

/// How long to wait between `HELLO`s while the master has not answered.
pub const HELLO_AGAIN: Duration = Duration::from_secs(1);

/// How long a command may wait to be queued (no master listening: it is dropped).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// How many messages the status socket holds before it drops (a replay is a burst of
/// about a hundred statistics samples and three messages a slave).
pub const RECEIVE_HWM: i32 = 10_000;

/// Why the monitor could not talk to the master.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A socket could not be made or connected (a bad address).
    #[error("cannot connect to the {what} queue {queue}")]
    Connect {
        /// `status` or `control`.
        what: &'static str,
        /// The address.
        queue: String,
        /// What ZeroMQ said.
        #[source]
        source: Box<TransportError>,
    },
    /// A command could not be queued in time: no master listens on the control queue.
    #[error("no master takes commands on {queue} (waited {SEND_TIMEOUT:?})")]
    NotSent {
        /// The control queue's address.
        queue: String,
    },
    /// A socket failed.
    #[error("the {what} socket failed")]
    Socket {
        /// `status` or `control`.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: Box<TransportError>,
    },
    /// The master did not answer `HELLO` in time.
    #[error("no answer from a master on {queue} within {waited:?}; is it running?")]
    Silent {
        /// The status queue's address.
        queue: String,
        /// How long the monitor waited.
        waited: Duration,
    },
}

/// The monitor's connection to a master (see the module docs).
pub struct Connection {
    status: Sub<StatusProtocol>,
    control: Push<ControlProtocol>,
    status_queue: String,
    control_queue: String,
    /// When `HELLO` was last said, while the master has not answered it.
    hello_sent: Option<Instant>,
    _ctx: zmq::Context,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("status_queue", &self.status_queue)
            .field("control_queue", &self.control_queue)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects both sockets, secured with `security` (CURVE with `--master-key --key`:
    /// see [`crate::master_keys`]); nothing is sent yet.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Connect`] for an address ZeroMQ cannot connect to.
    pub fn connect(
        status_queue: &str,
        control_queue: &str,
        security: Security,
    ) -> Result<Self, MonitorError> {
        let ctx = zmq::Context::new();
        // A replay comes as a burst (the statistics history and every slave): room for it.
        let options = SocketOptions::new()
            .linger(Some(Duration::ZERO))
            .hwm(RECEIVE_HWM);
        let secured = |queue| options.security(crate::master_keys::on_endpoint(security, queue));
        let status = Sub::connect(&ctx, &connectable(status_queue), &secured(status_queue))
            .map_err(|source| MonitorError::Connect {
                what: "status",
                queue: status_queue.to_owned(),
                source: Box::new(source),
            })?;
        let control = Push::connect(&ctx, &connectable(control_queue), &secured(control_queue))
            .map_err(|source| MonitorError::Connect {
                what: "control",
                queue: control_queue.to_owned(),
                source: Box::new(source),
            })?;
        Ok(Connection {
            status,
            control,
            status_queue: status_queue.to_owned(),
            control_queue: control_queue.to_owned(),
            hello_sent: None,
            _ctx: ctx,
        })
    }

    /// The status queue's address.
    pub fn status_queue(&self) -> &str {
        &self.status_queue
    }

    /// Sends a command to the master.
    ///
    /// # Errors
    ///
    /// [`MonitorError::NotSent`] when no master takes it in time.
    pub fn send(&mut self, msg: &ControlMessage) -> Result<(), MonitorError> {
        match self.control.send_timeout(msg, SEND_TIMEOUT) {
            Ok(()) => Ok(()),
            Err(e) if e.is_timeout() => Err(MonitorError::NotSent {
                queue: self.control_queue.clone(),
            }),
            Err(source) => Err(MonitorError::Socket {
                what: "control",
                source: Box::new(source),
            }),
        }
    }

    /// Says `HELLO` (the master replays its state) if the master has not answered the last
    /// one within [`HELLO_AGAIN`]. A `HELLO` that cannot be queued is tried again later.
    fn hello_if_due(&mut self, model: &Model) {
        let answered = model.master.hello.is_some();
        let due = self.hello_sent.is_none_or(|t| t.elapsed() >= HELLO_AGAIN);
        if !answered && due {
            self.hello_sent = Some(Instant::now());
            let _ = self
                .control
                .send_timeout(&ControlMessage::Hello, Duration::from_millis(100));
        }
    }

    /// Asks for a replay: the master's state is taken in again from the start.
    pub fn replay(&mut self, model: &mut Model) {
        model.master.hello = None;
        self.hello_sent = None;
        self.hello_if_due(model);
    }

    /// Takes in what the master has published, waiting at most `wait` for the first
    /// message; says `HELLO` again when due. Returns how many messages were taken in (bad
    /// ones are counted in the model).
    ///
    /// # Errors
    ///
    /// [`MonitorError::Socket`] when the status socket fails.
    pub fn pump(&mut self, model: &mut Model, wait: Duration) -> Result<usize, MonitorError> {
        self.hello_if_due(model);
        let mut taken = 0;
        let mut timeout = wait;
        loop {
            match self.status.recv_timeout(timeout) {
                Ok(msg) => model.apply(msg, Utc::now()),
                Err(TransportError::Protocol(e)) => model.bad(e.to_string()),
                Err(e) if e.is_timeout() => break,
                Err(source) => {
                    return Err(MonitorError::Socket {
                        what: "status",
                        source: Box::new(source),
                    });
                }
            }
            taken += 1;
            timeout = Duration::ZERO;
            if taken >= 10_000 {
                break;
            }
        }
        self.hello_if_due(model);
        Ok(taken)
    }

    /// Takes in the master's replay: waits (at most `deadline`) for its `HELLO`, then until
    /// nothing has come for `settle`.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Silent`] when no `HELLO` came in time; as [`Connection::pump`].
    pub fn settle(
        &mut self,
        model: &mut Model,
        deadline: Duration,
        settle: Duration,
    ) -> Result<(), MonitorError> {
        let start = Instant::now();
        while model.master.hello.is_none() {
            let left = deadline.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(MonitorError::Silent {
                    queue: self.status_queue.clone(),
                    waited: deadline,
                });
            }
            self.pump(model, left.min(Duration::from_millis(100)))?;
        }
        while start.elapsed() < deadline && self.pump(model, settle)? > 0 {}
        Ok(())
    }
}
