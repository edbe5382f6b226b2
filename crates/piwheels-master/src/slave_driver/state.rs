//! SlaveDriver's record of one connected slave as the protocol sees it: what it said in
//! `HELLO`, what it was last told, and what a monitor marked it for (piwheels.md §3.1.2).
//!
//! This is the master's bookkeeping, not a wire format, so it lives here rather than in the
//! protocol crate.

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_protocol::slave::{SlaveHello, SlaveReply, SlaveRequest, SlaveStats};

use crate::incoming::Build;
use crate::metrics::SlaveActivity;
use crate::slave_id::SlaveId;

/// The master's record of one connected build slave (one per ROUTER identity).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SlaveState {
    /// The id given in `ACK`.
    pub(super) slave_id: SlaveId,
    /// What the slave said in `HELLO`.
    pub(super) hello: SlaveHello,
    /// When the `HELLO` arrived.
    pub(super) first_seen: DateTime<Utc>,
    /// When the last request arrived.
    pub(super) last_seen: DateTime<Utc>,
    /// The latest `IDLE`/`BUSY` statistics.
    pub(super) stats: Option<SlaveStats>,
    /// The last reply other than `CONT` (CONT never changes what the slave may say next).
    pub(super) last_reply: Option<SlaveReply>,
    /// When the last reply (other than `CONT`) was sent: monitors started later are told
    /// it with this time, so a build's age is its own, not that of the last `BUSY`.
    pub(super) last_reply_at: DateTime<Utc>,
    /// The build in progress or being transferred.
    pub(super) build: Option<Build>,
    /// Marked by a monitor's `KILL`: gets `DIE` at its next `IDLE`.
    pub(super) killed: bool,
    /// Marked by a monitor's `SKIP` or a deletion: its build is abandoned (`DONE`).
    pub(super) skipped: bool,
    /// Marked by a monitor's `SLEEP`: gets `SLEEP` instead of jobs until `WAKE`.
    pub(super) sleeping: bool,
}

impl SlaveState {
    /// A new slave, from its `HELLO`.
    pub(super) fn new(slave_id: SlaveId, hello: SlaveHello, now: DateTime<Utc>) -> Self {
        SlaveState {
            slave_id,
            hello,
            first_seen: now,
            last_seen: now,
            stats: None,
            last_reply: None,
            last_reply_at: now,
            build: None,
            killed: false,
            skipped: false,
            sleeping: false,
        }
    }

    /// The ABI whose queue this slave takes jobs from.
    pub(super) fn native_abi(&self) -> &str {
        &self.hello.abi
    }

    /// Whether the slave has been silent longer than its busy timeout, or than `cap` (the
    /// master's) if that is shorter.
    pub(super) fn expired(&self, now: DateTime<Utc>, cap: TimeDelta) -> bool {
        now - self.last_seen > cap.min(self.hello.busy_timeout)
    }

    /// Whether `request` may come next, given the last reply (piwheels.md §3.1.2): `IDLE`
    /// after `ACK`, `SLEEP` or `DONE`; `BUILT` after `BUILD`; `SENT` after `SEND`;
    /// `BUSY` and `BYE` at any time; `HELLO` only as a connection's first message.
    pub(super) fn accepts(&self, request: &SlaveRequest) -> bool {
        match request {
            SlaveRequest::Idle(_) => matches!(
                self.last_reply,
                Some(SlaveReply::Ack(_) | SlaveReply::Sleep(_) | SlaveReply::Done)
            ),
            SlaveRequest::Built(_) => matches!(self.last_reply, Some(SlaveReply::Build(_))),
            SlaveRequest::Sent => matches!(self.last_reply, Some(SlaveReply::Send(_))),
            SlaveRequest::Busy(_) | SlaveRequest::Bye => true,
            SlaveRequest::Hello(_) => false,
        }
    }

    /// Records an incoming request: the time, and the statistics of `IDLE`/`BUSY`.
    pub(super) fn record_request(&mut self, request: &SlaveRequest, now: DateTime<Utc>) {
        self.last_seen = now;
        if let SlaveRequest::Idle(stats) | SlaveRequest::Busy(stats) = request {
            self.stats = Some(stats.clone());
        }
    }

    /// What the slave is doing, as the metrics count it: what it was last told, and
    /// asleep when a monitor said so.
    pub(super) fn activity(&self) -> SlaveActivity {
        match &self.last_reply {
            Some(SlaveReply::Build(_)) => SlaveActivity::Building,
            Some(SlaveReply::Send(_)) => SlaveActivity::Sending,
            Some(SlaveReply::Die) => SlaveActivity::Stopping,
            Some(SlaveReply::Sleep(true)) => SlaveActivity::Sleeping,
            _ if self.sleeping => SlaveActivity::Sleeping,
            _ => SlaveActivity::Idle,
        }
    }

    /// Records an outgoing reply (all but `CONT` become the last reply).
    pub(super) fn record_reply(&mut self, reply: &SlaveReply) {
        if *reply != SlaveReply::Cont {
            self.last_reply = Some(reply.clone());
            self.last_reply_at = Utc::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use piwheels_protocol::slave::{Ack, Job};

    use super::*;

    fn hello() -> SlaveHello {
        SlaveHello {
            build_timeout: TimeDelta::hours(3),
            busy_timeout: TimeDelta::minutes(5),
            py_version: "311".into(),
            abi: "cp311".into(),
            platform: "linux_armv7l".into(),
            label: "s".into(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            board_revision: "unknown".into(),
            board_serial: "unknown".into(),
        }
    }

    #[test]
    fn slave_state_follows_the_protocol() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
        let mut slave = SlaveState::new(SlaveId::FIRST, hello(), t0);
        let idle = SlaveRequest::Idle(SlaveStats {
            timestamp: t0,
            disk_size: 1,
            disk_free: 1,
            mem_size: 1,
            mem_free: 1,
            swap_size: 0,
            swap_free: 0,
            load_average: 0.0,
            cpu_temp: 0.0,
        });
        // Nothing but HELLO is expected before the ACK.
        assert!(!slave.accepts(&idle));
        slave.record_reply(&SlaveReply::Ack(Ack {
            slave_id: 1,
            index_url: String::new(),
        }));
        assert!(slave.accepts(&idle));
        assert!(!slave.accepts(&SlaveRequest::Sent));
        assert!(!slave.accepts(&SlaveRequest::Hello(hello())));
        slave.record_request(&idle, t0 + TimeDelta::seconds(1));
        assert!(slave.stats.is_some());
        slave.record_reply(&SlaveReply::Build(Job {
            package: "foo".into(),
            version: "1.0".into(),
        }));
        assert!(
            !slave.accepts(&idle),
            "IDLE while building is a protocol violation"
        );
        // CONT does not change what may come next.
        slave.record_reply(&SlaveReply::Cont);
        assert!(matches!(slave.last_reply, Some(SlaveReply::Build(_))));
        assert!(slave.accepts(&SlaveRequest::Busy(match &idle {
            SlaveRequest::Idle(s) => s.clone(),
            _ => unreachable!(),
        })));
        slave.record_reply(&SlaveReply::Send("foo.whl".into()));
        assert!(slave.accepts(&SlaveRequest::Sent));
        assert!(slave.accepts(&SlaveRequest::Bye));
        // Silent for longer than its busy timeout (5 minutes): expired.
        let never = TimeDelta::MAX;
        assert!(!slave.expired(t0 + TimeDelta::minutes(5), never));
        assert!(slave.expired(t0 + TimeDelta::minutes(5) + TimeDelta::seconds(2), never));
        // The master's busy timeout caps the slave's.
        assert!(slave.expired(t0 + TimeDelta::minutes(2), TimeDelta::minutes(1)));
        assert_eq!(slave.native_abi(), "cp311");
    }
}
