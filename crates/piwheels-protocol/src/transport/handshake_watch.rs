//! Telling of peers whose connection fails before authentication: a watcher thread on a
//! guarded (ZAP-checked) socket's monitor.
//!
//! The ZAP handler hears only of peers that complete a handshake: a key not in the
//! allow-list, a NULL peer from elsewhere. A peer that sends garbage, replays a recorded
//! handshake, uses the wrong server key or speaks NULL to a CURVE endpoint never gets that
//! far, and libzmq closes its connection quietly. [`HandshakeWatch`] reads the socket's
//! monitor events (libzmq 4.3):
//!
//! * `ACCEPTED` (value: the new connection's file descriptor): the watcher asks the kernel
//!   for the peer's address at once (`getpeername`) and remembers it by descriptor;
//! * `HANDSHAKE_FAILED_PROTOCOL` (value: a `ZMQ_PROTOCOL_ERROR_*` code),
//!   `HANDSHAKE_FAILED_NO_DETAIL`, `HANDSHAKE_FAILED_AUTH` (a ZAP refusal, which the ZAP
//!   handler reports itself): the I/O thread emits it right before the `DISCONNECTED` of
//!   the same connection, so it is kept for the next `DISCONNECTED`;
//! * `DISCONNECTED` (value: the descriptor) with no failure before it: a normal close
//!   after a handshake, or a connection that never finished one (pure garbage, a peer that
//!   is not ZeroMQ, a replay that stops half way). On a socket with a ZAP domain every
//!   completed handshake is put to ZAP, so the connection is reported only if
//!   [`ZapDecisions`] has no decision for its address since it was accepted.
//!
//! Reports go to a callback at most once per peer address a minute
//! ([`REFUSAL_REPORT_INTERVAL`](crate::auth::zap::REFUSAL_REPORT_INTERVAL)). The
//! descriptor map is bounded ([`HandshakeWatch::MAX_CONNECTIONS`], oldest dropped first), and the watcher
//! only reads the monitor's queue: it never blocks the socket's own work (libzmq drops
//! monitor events rather than wait for a slow reader).
//!
//! Limits, all of the quiet kind (a report missed, never one made up for an admitted
//! peer): a connection accepted while a peer of the same address completes a handshake
//! counts as decided; a descriptor closed and reused before `getpeername` may name the
//! wrong peer, and one already closed is reported as from an unknown peer.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use super::TransportError;
use crate::auth::ZapDecisions;
use crate::auth::zap::ReportLimiter;

/// Why a connection failed before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreAuthFailure {
    /// The handshake broke the protocol: the `ZMQ_PROTOCOL_ERROR_*` code libzmq gave.
    Protocol(u32),
    /// The handshake failed and libzmq said no more.
    NoDetail,
    /// The connection closed before its handshake completed: the peer is not ZeroMQ, sent
    /// garbage, or stopped half way (a replayed handshake it cannot finish).
    Closed,
}

/// A connection that failed before authentication, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAuthReport {
    /// The peer's address, if the kernel still knew it when the connection was accepted.
    pub peer: Option<IpAddr>,
    /// The watched socket's endpoint that accepted it.
    pub endpoint: String,
    /// What went wrong.
    pub failure: PreAuthFailure,
}

/// A `ZMQ_PROTOCOL_ERROR_*` code in words.
pub fn protocol_error_words(code: u32) -> String {
    let words = match code {
        0x1100_0001 => "cryptographic error (a wrong server key, or a replayed handshake)",
        0x1100_0002 => "mechanism mismatch (e.g. a NULL client on a CURVE endpoint)",
        0x1000_0001 => "unexpected command",
        0x1000_0002 => "invalid command sequence",
        0x1000_0003 => "key exchange failed",
        0x1000_0011..=0x1000_0017 => "malformed handshake command",
        0x1000_0018 => "invalid metadata",
        0x1000_0000..=0x10ff_ffff => "ZMTP protocol error",
        0x2000_0000..=0x2fff_ffff => "bad ZAP exchange",
        _ => "protocol error",
    };
    format!("{words} [0x{code:08x}]")
}

impl fmt::Display for PreAuthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = match self.peer {
            Some(ip) => ip.to_string(),
            None => "an unknown peer (gone before its address was read)".to_owned(),
        };
        let endpoint = &self.endpoint;
        match self.failure {
            PreAuthFailure::Protocol(code) => write!(
                f,
                "handshake failed from {peer} on {endpoint}: {}",
                protocol_error_words(code)
            ),
            PreAuthFailure::NoDetail => write!(
                f,
                "handshake failed from {peer} on {endpoint}: no detail given"
            ),
            PreAuthFailure::Closed => write!(
                f,
                "connection from {peer} on {endpoint} closed before its handshake completed \
                 (not ZeroMQ, or garbage)"
            ),
        }
    }
}

/// One failure event waiting for its `DISCONNECTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// ZAP refused the peer: the ZAP handler reports it.
    Auth,
    /// Anything else.
    Failed(PreAuthFailure),
}

/// An open connection: its peer, and a moment at or before its acceptance.
#[derive(Debug, Clone, Copy)]
struct Conn {
    peer: Option<IpAddr>,
    since: Instant,
}

/// The watcher's state: open connections by descriptor, the failure waiting for its
/// `DISCONNECTED`, the report limiter.
#[derive(Debug)]
struct Tracker {
    conns: HashMap<RawFd, Conn>,
    pending: Option<Pending>,
    limiter: ReportLimiter<Option<IpAddr>>,
    decisions: ZapDecisions,
}

impl Tracker {
    fn new(decisions: ZapDecisions) -> Self {
        Tracker {
            conns: HashMap::new(),
            pending: None,
            limiter: ReportLimiter::new(),
            decisions,
        }
    }

    /// A connection `fd` from `peer`, accepted at or after `since`.
    fn accepted(&mut self, fd: RawFd, peer: Option<IpAddr>, since: Instant) {
        if !self.conns.contains_key(&fd) && self.conns.len() >= HandshakeWatch::MAX_CONNECTIONS {
            let oldest = self
                .conns
                .iter()
                .min_by_key(|(_, c)| c.since)
                .map(|(f, _)| *f);
            if let Some(oldest) = oldest {
                self.conns.remove(&oldest);
            }
        }
        // A new connection on a reused descriptor replaces the old one.
        self.pending = None;
        self.conns.insert(fd, Conn { peer, since });
    }

    /// Connection `fd` closed: what to report of it, if anything (limited).
    fn disconnected(&mut self, fd: RawFd, endpoint: &str, now: Instant) -> Option<PreAuthReport> {
        let conn = self.conns.remove(&fd);
        let failure = match (self.pending.take(), conn) {
            (Some(Pending::Auth), _) | (None, None) => return None,
            (Some(Pending::Failed(failure)), _) => failure,
            (None, Some(conn)) => match conn.peer {
                Some(ip) if self.decisions.decided_since(ip, conn.since) => return None,
                _ => PreAuthFailure::Closed,
            },
        };
        let peer = conn.and_then(|c| c.peer);
        self.limiter
            .should_report(&peer, now)
            .then(|| PreAuthReport {
                peer,
                endpoint: endpoint.to_owned(),
                failure,
            })
    }
}

/// The address of the peer of socket `fd`, while it is open.
fn peer_of(fd: RawFd) -> Option<IpAddr> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor is libzmq's and may be closed at any moment; `getpeername`
    // on a closed descriptor fails with EBADF (the peer is then unknown) and reads
    // nothing else, and the borrow ends with this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let addr = rustix::net::getpeername(fd).ok()??;
    std::net::SocketAddr::try_from(addr)
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// Watches one guarded socket for connections that fail before authentication, on a
/// thread of its own; dropping it stops the thread.
pub struct HandshakeWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for HandshakeWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeWatch").finish_non_exhaustive()
    }
}

impl HandshakeWatch {
    /// How many open connections the watcher remembers at most (the oldest is dropped).
    pub const MAX_CONNECTIONS: usize = 4096;

    /// Starts watching `socket` (made in `ctx`, with a ZAP domain on its guarded
    /// endpoints): its monitor publishes on a private `inproc://` endpoint that the
    /// watcher thread reads. `decisions` is the record of the ZAP handler of `ctx`
    /// ([`ZapHandler::decisions`](crate::auth::ZapHandler::decisions)); `on_report` hears
    /// of each failing peer address at most once a minute.
    pub fn start(
        ctx: &zmq::Context,
        socket: &zmq::Socket,
        decisions: ZapDecisions,
        on_report: impl FnMut(&PreAuthReport) + Send + 'static,
    ) -> Result<Self, TransportError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://piw-handshake-watch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let events = zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
        socket.monitor(&endpoint, events)?;
        let events = ctx.socket(zmq::PAIR)?;
        events.set_linger(0)?;
        events.connect(&endpoint)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let tracker = Tracker::new(decisions);
        let thread = std::thread::Builder::new()
            .name("handshake-watch".into())
            .spawn(move || watch(&events, &flag, tracker, on_report))
            .map_err(|_| TransportError::Zmq(zmq::Error::EMFILE))?;
        Ok(HandshakeWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HandshakeWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One monitor event: its kind, value and endpoint.
fn parse_event(frames: &[Vec<u8>]) -> Option<(u16, u32, String)> {
    let first = frames.first()?;
    let event = u16::from_ne_bytes(first.get(..2)?.try_into().ok()?);
    let value = u32::from_ne_bytes(first.get(2..6)?.try_into().ok()?);
    let endpoint = frames
        .get(1)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .unwrap_or_default();
    Some((event, value, endpoint))
}

fn watch(
    events: &zmq::Socket,
    stop: &AtomicBool,
    mut tracker: Tracker,
    mut on_report: impl FnMut(&PreAuthReport),
) {
    use zmq::SocketEvent as E;
    // When the queue was last seen empty: every event read later was emitted after it,
    // so it is a moment at or before the acceptance of a connection read later.
    let mut drained_at = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let before = Instant::now();
        let frames = match events.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) => {
                drained_at = before;
                // Wake now and then to see the stop flag.
                match zmq::poll(&mut [events.as_poll_item(zmq::POLLIN)], 100) {
                    Ok(_) | Err(zmq::Error::EINTR) => continue,
                    Err(_) => return,
                }
            }
            Err(zmq::Error::EINTR) => continue,
            Err(_) => return,
        };
        let Some((event, value, endpoint)) = parse_event(&frames) else {
            continue;
        };
        // Descriptors are small non-negative ints, given as the event's 32-bit value.
        let fd = RawFd::try_from(value).unwrap_or(-1);
        match E::from_raw(event) {
            E::ACCEPTED => tracker.accepted(fd, peer_of(fd), drained_at),
            E::HANDSHAKE_FAILED_AUTH => tracker.pending = Some(Pending::Auth),
            E::HANDSHAKE_FAILED_PROTOCOL => {
                tracker.pending = Some(Pending::Failed(PreAuthFailure::Protocol(value)));
            }
            E::HANDSHAKE_FAILED_NO_DETAIL => {
                tracker.pending = Some(Pending::Failed(PreAuthFailure::NoDetail));
            }
            E::DISCONNECTED => {
                if let Some(report) = tracker.disconnected(fd, &endpoint, Instant::now()) {
                    on_report(&report);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_close_without_a_zap_decision_is_reported_once_a_minute() {
        let decisions = ZapDecisions::default();
        let mut t = Tracker::new(decisions.clone());
        let t0 = Instant::now();
        for i in 0..10 {
            t.accepted(7, ip("192.0.2.1"), t0);
            let report = t.disconnected(7, "tcp://x", t0 + Duration::from_secs(i));
            assert_eq!(report.is_some(), i == 0, "{i}: {report:?}");
        }
        // A minute on, again.
        t.accepted(7, ip("192.0.2.1"), t0);
        let later = t0 + Duration::from_secs(61);
        let report = t.disconnected(7, "tcp://x", later).unwrap();
        assert_eq!(report.failure, PreAuthFailure::Closed);
        assert!(report.to_string().contains("192.0.2.1"), "{report}");
        // Another address is reported on its own.
        t.accepted(8, ip("192.0.2.2"), t0);
        assert!(t.disconnected(8, "tcp://x", later).is_some());
    }

    #[test]
    fn a_close_after_a_zap_decision_is_not_reported() {
        let decisions = ZapDecisions::default();
        let mut t = Tracker::new(decisions.clone());
        let t0 = Instant::now();
        t.accepted(5, ip("192.0.2.1"), t0);
        decisions.record("192.0.2.1", t0 + Duration::from_millis(1));
        assert_eq!(t.disconnected(5, "tcp://x", t0), None);
        // A decision from before the acceptance does not count.
        t.accepted(5, ip("192.0.2.1"), t0 + Duration::from_secs(1));
        assert!(t.disconnected(5, "tcp://x", t0).is_some());
    }

    #[test]
    fn failures_go_to_the_next_disconnection_and_zap_refusals_are_not_reported_twice() {
        let mut t = Tracker::new(ZapDecisions::default());
        let t0 = Instant::now();
        t.accepted(5, ip("192.0.2.1"), t0);
        t.pending = Some(Pending::Auth);
        assert_eq!(t.disconnected(5, "tcp://x", t0), None);
        t.accepted(6, ip("192.0.2.3"), t0);
        t.pending = Some(Pending::Failed(PreAuthFailure::Protocol(0x1100_0001)));
        let report = t.disconnected(6, "tcp://x", t0).unwrap();
        assert!(report.to_string().contains("cryptographic"), "{report}");
        assert_eq!(t.pending, None);
        // An unknown descriptor with no failure: nothing to say.
        assert_eq!(t.disconnected(99, "tcp://x", t0), None);
    }

    #[test]
    fn the_connection_map_is_bounded_and_drops_the_oldest() {
        let mut t = Tracker::new(ZapDecisions::default());
        let t0 = Instant::now();
        for fd in 0..(HandshakeWatch::MAX_CONNECTIONS as RawFd + 100) {
            t.accepted(fd, None, t0 + Duration::from_micros(fd as u64));
        }
        assert_eq!(t.conns.len(), HandshakeWatch::MAX_CONNECTIONS);
        assert!(!t.conns.contains_key(&0) && !t.conns.contains_key(&99));
        assert!(t.conns.contains_key(&100));
    }

    #[test]
    fn the_limiter_and_the_decisions_are_bounded() {
        let t0 = Instant::now();
        let mut limiter = ReportLimiter::<u32>::new();
        let max = ReportLimiter::<u32>::MAX_REMEMBERED as u32;
        for k in 0..max + 100 {
            let reported = limiter.should_report(&k, t0);
            assert_eq!(reported, k < max, "{k}");
        }
        assert_eq!(limiter.len(), max as usize);
        // A minute on, the old ones are forgotten and new ones reported.
        assert!(limiter.should_report(&(max + 1), t0 + Duration::from_secs(61)));
        assert_eq!(limiter.len(), 1);

        let decisions = ZapDecisions::default();
        for i in 0..ZapDecisions::MAX_REMEMBERED + 10 {
            let addr = std::net::Ipv6Addr::from(i as u128 + 1).to_string();
            decisions.record(&addr, t0 + Duration::from_micros(i as u64));
        }
        assert_eq!(decisions.len(), ZapDecisions::MAX_REMEMBERED);
        // The oldest went first.
        assert!(!decisions.decided_since("::1".parse().unwrap(), t0));
        let last = std::net::Ipv6Addr::from(ZapDecisions::MAX_REMEMBERED as u128 + 10);
        assert!(decisions.decided_since(last.into(), t0));
    }
}
