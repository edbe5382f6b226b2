//! SlaveDriver's `HELLO` and `IDLE`: registering a slave (its timeouts clamped), handing
//! out jobs, and holding an `IDLE` a few seconds for a job that may come (long polling),
//! for this project's slaves only.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_protocol::monitor::SlaveEvent;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::slave::{Ack, Job, SlaveHello, SlaveReply, is_our_slave};
use piwheels_protocol::transport::{Identity, Origin};

use super::state::SlaveState;
use super::{BUSY_TIMEOUT_RANGE, Core, MAX_BUILD_TIMEOUT, Slave, SlaveDriver};
use crate::error::Result;
use crate::slave_id::SlaveId;

impl Core {
    /// `HELLO`: a new slave, with its timeouts clamped, and its `ACK`.
    pub(super) async fn hello(
        &mut self,
        mut hello: SlaveHello,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> (Slave, SlaveReply) {
        let id = self.next_id;
        self.next_id = id.next();
        tracing::info!(slave = %id, label = %Quoted::str(&hello.label), abi = %Quoted::str(&hello.abi),
            platform = %Quoted::str(&hello.platform), "new slave");
        clamp_timeouts(id, &mut hello, self.timing.min_build_timeout);
        let state = SlaveState::new(id, hello, now);
        self.publish(SlaveEvent::hello(id.as_i64(), now, &state.hello));
        self.resolve_index_url().await;
        let ack = SlaveReply::Ack(Ack {
            slave_id: id.as_i64(),
            index_url: self.index_url.clone().unwrap_or_default(),
        });
        (Slave::new(state, origin.clone()), ack)
    }

    /// `IDLE`: a job, a sleep, or death.
    pub(super) fn idle(&mut self, peer: &Identity, slave: &mut Slave) -> SlaveReply {
        slave.state.skipped = false;
        slave.state.build = None;
        if slave.state.killed {
            return SlaveReply::Die;
        }
        let now = Instant::now();
        slave.cooling_until = if self.cool_off.is_cooling(slave.offender.as_ref(), now) {
            self.cool_off
                .until(slave.offender.as_ref(), now)
                .map(|until| Utc::now() + TimeDelta::from_std(until - now).unwrap_or_default())
        } else {
            None
        };
        if self.hub.is_paused() || slave.state.sleeping || slave.cooling_until.is_some() {
            return SlaveReply::Sleep(true);
        }
        let target = slave.target();
        if !self.enabled.contains(&target) && !self.jobs.has_target(&target) {
            if !slave.warned_target {
                slave.warned_target = true;
                if self.warnings.allow(peer) {
                    tracing::warn!(
                        "slave {} ({}) builds for {}, which is not an enabled build target; \
                         enable it with piw-initdb or the master's --target option",
                        slave.id(),
                        Quoted::str(slave.label()),
                        piwheels_protocol::quote::cut(&target.to_string(), 200)
                    );
                }
            }
            return SlaveReply::Sleep(false);
        }
        let timeout = slave
            .state
            .hello
            .build_timeout
            .to_std()
            .unwrap_or(Duration::ZERO);
        match self.jobs.take(&target, timeout) {
            Some((package, version)) => {
                slave.build_started = Some(Instant::now());
                tracing::info!(slave = %slave.id(), package = %package, version = %version, "build handed out");
                SlaveReply::Build(Job { package, version })
            }
            None => SlaveReply::Sleep(false),
        }
    }

    /// Whether an `IDLE` without a job may be held: long polling is on, and the slave's
    /// target is one the master builds for.
    pub(super) fn may_hold(&mut self, peer: &Identity, slave: &Slave) -> bool {
        if !is_our_slave(peer.as_bytes()) {
            return false;
        }
        let target = slave.target();
        !self.hold_time(slave).is_zero()
            && (self.enabled.contains(&target) || self.jobs.has_target(&target))
    }

    /// How long to hold this slave's `IDLE`: the configured hold, at most half of the
    /// slave's (or the master's) busy timeout.
    pub(super) fn hold_time(&self, slave: &Slave) -> Duration {
        let busy = slave
            .state
            .hello
            .busy_timeout
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(self.hub.config.busy_timeout);
        self.timing.idle_hold.min(busy / 2)
    }
}

impl SlaveDriver {
    /// Answers the held `IDLE`s that can be answered now: with a job that has arrived,
    /// `SLEEP true` if the master was paused, `DIE` if killed, or `SLEEP false` once held
    /// long enough (all of them with `all`).
    pub(super) async fn serve_parked(&mut self, all: bool) -> Result<()> {
        let now = Instant::now();
        for (peer, until) in std::mem::take(&mut self.parked) {
            let Some(slave) = self.slaves.get_mut(&peer) else {
                continue;
            };
            let reply = self.core.idle(&peer, slave);
            if reply == SlaveReply::Sleep(false) && !all && now < until {
                self.parked.push((peer, until));
                continue;
            }
            self.socket.reply(&peer, slave, reply).await?;
        }
        Ok(())
    }

    /// When the first held `IDLE` is due its `SLEEP`.
    pub(super) fn next_unpark(&self) -> Option<Instant> {
        self.parked.iter().map(|(_, until)| *until).min()
    }
}

/// Clamps a `HELLO`'s timeouts to what this master accepts (at least `min_build`, see
/// [`MAX_BUILD_TIMEOUT`], [`BUSY_TIMEOUT_RANGE`]), saying so.
fn clamp_timeouts(id: SlaveId, hello: &mut SlaveHello, min_build: Duration) {
    let clamp = |what: &str, t: &mut TimeDelta, (lo, hi): (Duration, Duration)| {
        let given = t.to_std().unwrap_or(Duration::ZERO);
        let kept = given.clamp(lo, hi);
        if kept != given || *t < TimeDelta::zero() {
            tracing::warn!(slave = %id, given = %t, used = ?kept,
                "the slave's {what} is out of range; using the nearest allowed");
            *t = TimeDelta::from_std(kept).unwrap_or(TimeDelta::MAX);
        }
    };
    clamp(
        "build timeout",
        &mut hello.build_timeout,
        (min_build, MAX_BUILD_TIMEOUT),
    );
    clamp("busy timeout", &mut hello.busy_timeout, BUSY_TIMEOUT_RANGE);
}
