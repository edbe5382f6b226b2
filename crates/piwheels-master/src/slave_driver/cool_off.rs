//! Cool-off: a slave that breaks the protocol repeatedly is refused jobs for a while
//! (issue 19, item 3).
//!
//! A slave is held to account by its [`Offender`] key, not by its ROUTER identity (a slave
//! that reconnects gets a new one): the public key its CURVE handshake proved, once the
//! slave queue has CURVE (ZAP's `User-Id`), else the address it connects from. Every
//! slave behind one address shares the address's record, so an operator who runs several
//! slaves behind one NAT should give them keys.
//!
//! A *strike* is: a message out of order (answered `DIE`), or a message that does not
//! decode (answered `SLEEP` or `DONE`). Failed builds, verification failures, wheels the
//! master refuses for their names, and a `BUILT` that declares a file larger than
//! `--max-wheel-size` or more files than `--max-build-files` (logged as a failed build
//! that says why) are no strikes: an honest slave meets them, and a strike for an honestly
//! large build would cool off every slave that built it in turn. Messages from peers that
//! never said `HELLO` are no strikes either: an original slave says `IDLE` first after a
//! master restart.
//!
//! [`CoolOffPolicy::strikes`] strikes within [`CoolOffPolicy::window`] put the key in
//! cool-off for [`CoolOffPolicy::period`]: its slaves' `IDLE`s get `SLEEP true` (the reply
//! a monitor's per-slave `SLEEP` gives: the original slave waits and asks again), and a
//! `HELLO` is answered `ACK` as usual, so the slave stays on the monitors. The original
//! protocol has no way to refuse a `HELLO` (anything but `ACK` makes the original slave
//! exit, and systemd reboots a host whose slave fails four times in five minutes).
//!
//! Monitors are told on the status queue by the `SLEEP` event itself: its data is the
//! time the cool-off ends instead of `true`
//! ([`SlaveEvent::cooling_off`](piwheels_protocol::monitor::SlaveEvent::cooling_off)).
//! The original monitor asserts on unknown message names but ignores `SLEEP`'s data and
//! accepts any data in `SLAVE` (it shows the slave waiting for jobs); `piw-monitor` shows
//! "cooling off until HH:MM". The log says it once per cool-off (and once when it ends),
//! and the metrics count the slaves in cool-off (`piwheels_slaves{state="cooling_off"}`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use piwheels_protocol::quote::Quoted;
use piwheels_protocol::transport::Origin;

/// The most keys whose strikes are remembered at once: past it, the record of a key not in
/// cool-off is dropped (a flood of addresses cannot grow the master without bound).
pub const MAX_TRACKED: usize = 10_000;

/// When a slave is put in cool-off, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolOffPolicy {
    /// Strikes within [`window`](Self::window) that put a slave in cool-off: 3. Zero
    /// turns cool-off off.
    pub strikes: u32,
    /// How far back strikes count: 10 minutes.
    pub window: Duration,
    /// How long a slave in cool-off gets no job: 10 minutes.
    pub period: Duration,
}

impl Default for CoolOffPolicy {
    fn default() -> Self {
        CoolOffPolicy {
            strikes: 3,
            window: Duration::from_secs(600),
            period: Duration::from_secs(600),
        }
    }
}

/// What a slave is held to account by (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Offender {
    /// The key a ZAP handler named the connection by (CURVE).
    Key(String),
    /// The address it connects from.
    Address(IpAddr),
}

impl Offender {
    /// The key of a connection: its ZAP user id, else its address; `None` when it has
    /// neither (an `ipc://` slave queue), which no cool-off can follow.
    pub fn of(origin: &Origin) -> Option<Offender> {
        match (&origin.user_id, origin.address) {
            (Some(key), _) => Some(Offender::Key(key.clone())),
            (None, Some(address)) => Some(Offender::Address(address)),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Offender::Key(key) => write!(f, "key {}", Quoted::str(key)),
            Offender::Address(address) => write!(f, "address {address}"),
        }
    }
}

#[derive(Debug, Default)]
struct Record {
    /// When the strikes within the window happened, oldest first.
    strikes: VecDeque<Instant>,
    /// Until when the key is in cool-off.
    until: Option<Instant>,
}

/// The strikes and cool-offs of every key.
#[derive(Debug)]
pub(super) struct CoolOff {
    policy: CoolOffPolicy,
    records: HashMap<Offender, Record>,
}

impl CoolOff {
    pub(super) fn new(policy: CoolOffPolicy) -> Self {
        CoolOff {
            policy,
            records: HashMap::new(),
        }
    }

    /// Counts a strike against `who`, saying why; logs (once) and returns `true` if this
    /// strike puts it in cool-off.
    pub(super) fn strike(&mut self, who: Option<&Offender>, why: &str, now: Instant) -> bool {
        let Some(who) = who else {
            return false;
        };
        if self.policy.strikes == 0 {
            return false;
        }
        if !self.records.contains_key(who) && self.records.len() >= MAX_TRACKED {
            self.prune(now);
            if self.records.len() >= MAX_TRACKED {
                let spare = self
                    .records
                    .iter()
                    .find(|(_, r)| r.until.is_none())
                    .map(|(k, _)| k.clone());
                match spare {
                    Some(k) => {
                        self.records.remove(&k);
                    }
                    None => return false,
                }
            }
        }
        let policy = self.policy;
        let record = self.records.entry(who.clone()).or_default();
        if record.until.is_some_and(|until| until > now) {
            return false;
        }
        record.until = None;
        record
            .strikes
            .retain(|at| now.saturating_duration_since(*at) < policy.window);
        record.strikes.push_back(now);
        tracing::debug!(slave = %who, why, strikes = record.strikes.len(), "strike");
        if record.strikes.len() < policy.strikes as usize {
            return false;
        }
        record.strikes.clear();
        record.until = Some(now + policy.period);
        tracing::warn!(slave = %who, why, strikes = policy.strikes, window = ?policy.window,
            period = ?policy.period,
            "the slave broke the protocol too often; it gets no job during a cool-off");
        true
    }

    /// Whether `who` is in cool-off now.
    pub(super) fn is_cooling(&mut self, who: Option<&Offender>, now: Instant) -> bool {
        let Some(record) = who.and_then(|who| self.records.get_mut(who)) else {
            return false;
        };
        match record.until {
            Some(until) if until > now => true,
            Some(_) => {
                record.until = None;
                over(who.expect("found by it"));
                false
            }
            None => false,
        }
    }

    /// Until when `who` is in cool-off, if it is at `now`.
    pub(super) fn until(&self, who: Option<&Offender>, now: Instant) -> Option<Instant> {
        who.and_then(|who| self.records.get(who))
            .and_then(|r| r.until)
            .filter(|until| *until > now)
    }

    /// Whether `who` is in cool-off now, without noting that one has ended.
    pub(super) fn cooling(&self, who: Option<&Offender>, now: Instant) -> bool {
        who.and_then(|who| self.records.get(who))
            .and_then(|r| r.until)
            .is_some_and(|until| until > now)
    }

    /// Drops records with nothing left in them.
    pub(super) fn prune(&mut self, now: Instant) {
        let window = self.policy.window;
        self.records.retain(|who, r| {
            r.strikes
                .retain(|at| now.saturating_duration_since(*at) < window);
            if r.until.is_some_and(|u| u <= now) {
                r.until = None;
                over(who);
            }
            r.until.is_some() || !r.strikes.is_empty()
        });
    }
}

/// Logs the end of a cool-off (once: whoever sees it first clears it).
fn over(who: &Offender) {
    tracing::info!(slave = %who, "the cool-off is over; the slave gets jobs again");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_strikes_in_the_window_cool_off_for_the_period() {
        let policy = CoolOffPolicy {
            strikes: 3,
            window: Duration::from_secs(10),
            period: Duration::from_secs(60),
        };
        let mut c = CoolOff::new(policy);
        let a = Some(Offender::Address("192.0.2.1".parse().unwrap()));
        let b = Some(Offender::Address("192.0.2.2".parse().unwrap()));
        let t0 = Instant::now();
        assert!(!c.strike(a.as_ref(), "x", t0));
        assert!(!c.strike(a.as_ref(), "x", t0 + Duration::from_secs(5)));
        // The first strike is out of the window by now: two again, not three.
        assert!(!c.strike(a.as_ref(), "x", t0 + Duration::from_secs(11)));
        assert!(!c.is_cooling(a.as_ref(), t0 + Duration::from_secs(11)));
        assert!(c.strike(a.as_ref(), "x", t0 + Duration::from_secs(12)));
        assert!(c.is_cooling(a.as_ref(), t0 + Duration::from_secs(13)));
        assert!(!c.is_cooling(b.as_ref(), t0 + Duration::from_secs(13)));
        // Strikes during the cool-off do not prolong it.
        assert!(!c.strike(a.as_ref(), "x", t0 + Duration::from_secs(20)));
        assert!(!c.is_cooling(a.as_ref(), t0 + Duration::from_secs(73)));
        c.prune(t0 + Duration::from_secs(200));
        assert!(c.records.is_empty());
        // No key, or no cool-off at all: never.
        assert!(!c.strike(None, "x", t0));
        let mut off = CoolOff::new(CoolOffPolicy {
            strikes: 0,
            ..policy
        });
        for _ in 0..10 {
            assert!(!off.strike(a.as_ref(), "x", t0));
        }
    }
}
