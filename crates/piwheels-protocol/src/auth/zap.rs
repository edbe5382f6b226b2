//! The ZAP handler (ZeroMQ's authentication protocol, RFC 27) and the policy it applies.
//!
//! libzmq asks the handler about each new connection of a socket that has a ZAP domain
//! (see [`super::curve_server`]): CURVE peers after their handshake proves they hold the
//! secret half of the key they show, NULL peers by address alone. The handler admits a
//! CURVE peer whose public key is in the allow-list folder, and a NULL peer whose address
//! is in one of the `--allow-plain` networks; everything else is refused, and a refused
//! peer's connection is closed by libzmq before any message of it is delivered.
//!
//! The allow-list folder is read again whenever its modification time changed (a key
//! file added, deleted or renamed into place), at the next connection: that is when ZAP
//! asks, so no watcher is needed for a revocation to apply to every new connection.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::keys::PublicKey;

/// Where libzmq sends ZAP requests (fixed by RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How often a refused peer (by address) is reported at most.
pub const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// An address or a network (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`), as
/// `--allow-plain` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed `--allow-plain` network.
#[derive(Debug, thiserror::Error)]
#[error("not an address or network (e.g. 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8): {0:?}")]
pub struct BadNetwork(String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(s: &str) -> Result<Self, BadNetwork> {
        let bad = || BadNetwork(crate::quote::cut(s, 60).into_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr = normalise(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Network { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Network {
    /// Whether `addr` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let bits = |a: IpAddr| match a {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let addr = normalise(addr);
        if addr.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        // The top `prefix` bits (an IPv4 address sits in the top 32).
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0);
        bits(addr) & mask == bits(self.addr) & mask
    }
}

fn normalise(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Why a peer was refused, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The peer's address as libzmq gave it.
    pub address: String,
    /// The mechanism it spoke (`CURVE`, `NULL`, `PLAIN`…).
    pub mechanism: String,
    /// Its public key, for a CURVE peer.
    pub key: Option<PublicKey>,
    /// Why it was refused.
    pub why: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused {} peer {}", self.mechanism, self.address)?;
        if let Some(key) = &self.key {
            write!(f, " with key {key}")?;
        }
        write!(f, ": {}", self.why)
    }
}

/// Who is admitted: CURVE keys from an allow-list folder, NULL peers from networks.
#[derive(Debug)]
pub struct Policy {
    key_dir: Option<PathBuf>,
    plain: Vec<Network>,
    keys: Mutex<KeyCache>,
}

#[derive(Debug, Default)]
struct KeyCache {
    stamp: Option<SystemTime>,
    keys: HashSet<PublicKey>,
    /// Keys whose file says they expired.
    expired: HashSet<PublicKey>,
    /// When the next admitted key expires: the folder is read again then.
    next_expiry: Option<SystemTime>,
}

/// What the allow-list says of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStatus {
    Admitted,
    Expired,
    Unknown,
}

impl Policy {
    /// Admits CURVE peers whose public key is in a `*.key` or `*.key_secret` file of
    /// `key_dir` (none if `None`), and NULL peers from `plain` (none if empty).
    pub fn new(key_dir: Option<PathBuf>, plain: Vec<Network>) -> Self {
        Policy {
            key_dir,
            plain,
            keys: Mutex::default(),
        }
    }

    /// Whether a CURVE peer with `key` is admitted now (reading the folder again if it
    /// changed).
    ///
    /// A key file with czmq's `expires = "YYYY-MM-DDTHH:MM:SSZ"` metadata admits its key
    /// until then only.
    pub fn admits_key(&self, key: &PublicKey) -> bool {
        self.key_status(key) == KeyStatus::Admitted
    }

    fn key_status(&self, key: &PublicKey) -> KeyStatus {
        let Some(dir) = &self.key_dir else {
            return KeyStatus::Unknown;
        };
        let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        let now = SystemTime::now();
        if stamp.is_none() || stamp != cache.stamp || cache.next_expiry.is_some_and(|t| t <= now) {
            *cache = read_key_dir(dir, now);
            cache.stamp = stamp;
        }
        if cache.keys.contains(key) {
            KeyStatus::Admitted
        } else if cache.expired.contains(key) {
            KeyStatus::Expired
        } else {
            KeyStatus::Unknown
        }
    }

    /// Whether a NULL peer from `address` (as ZAP gives it) is admitted.
    pub fn admits_plain(&self, address: &str) -> bool {
        address
            .parse::<IpAddr>()
            .is_ok_and(|ip| self.plain.iter().any(|n| n.contains(ip)))
    }

    fn decide(&self, req: &Request) -> Result<String, Refusal> {
        let refuse = |why, key| Refusal {
            address: req.address.clone(),
            mechanism: req.mechanism.clone(),
            key,
            why,
        };
        match req.mechanism.as_str() {
            "CURVE" => {
                let key = req
                    .credential
                    .as_deref()
                    .and_then(|c| <[u8; 32]>::try_from(c).ok())
                    .map(PublicKey::from_bytes)
                    .ok_or_else(|| refuse("no CURVE key", None))?;
                match self.key_status(&key) {
                    KeyStatus::Admitted => Ok(key.to_z85()),
                    KeyStatus::Expired => Err(refuse("key expired", Some(key))),
                    KeyStatus::Unknown => Err(refuse("key not in the allow-list", Some(key))),
                }
            }
            "NULL" if self.admits_plain(&req.address) => Ok(format!("plain:{}", req.address)),
            "NULL" => Err(refuse("address not in --allow-plain", None)),
            _ => Err(refuse("mechanism not accepted", None)),
        }
    }
}

/// Every public key in the folder's `*.key` and `*.key_secret` files that has not expired
/// by `now`; unreadable or malformed files are skipped (they admit nobody).
fn read_key_dir(dir: &Path, now: SystemTime) -> KeyCache {
    let mut cache = KeyCache::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return cache;
    };
    let files = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "key" || x == "key_secret")
        });
    for (key, expires) in files.filter_map(|p| PublicKey::read_with_expiry(&p).ok()) {
        match expires {
            Some(t) if t <= now => {
                cache.expired.insert(key);
            }
            Some(t) => {
                cache.next_expiry = Some(cache.next_expiry.map_or(t, |n| n.min(t)));
                cache.keys.insert(key);
            }
            None => {
                cache.keys.insert(key);
            }
        }
    }
    // A key listed twice, once expired, is admitted by its valid file.
    let admitted = cache.keys.clone();
    cache.expired.retain(|k| !admitted.contains(k));
    cache
}

/// One ZAP request's fields that matter here.
struct Request {
    request_id: Vec<u8>,
    address: String,
    mechanism: String,
    credential: Option<Vec<u8>>,
}

fn parse_request(frames: &[Vec<u8>]) -> Option<Request> {
    // version, request id, domain, address, routing id, mechanism, credentials…
    if frames.len() < 6 || frames[0] != b"1.0" {
        return None;
    }
    Some(Request {
        request_id: frames[1].clone(),
        address: String::from_utf8_lossy(&frames[3]).into_owned(),
        mechanism: String::from_utf8_lossy(&frames[5]).into_owned(),
        credential: frames.get(6).cloned(),
    })
}

/// Reports each key (a refused address, a peer whose handshake failed) at most once per
/// [`REFUSAL_REPORT_INTERVAL`], with a bounded memory of keys: when
/// [`ReportLimiter::MAX_REMEMBERED`] keys were reported within the interval, new keys are
/// not reported until older ones expire (a flood from many addresses makes no flood of
/// logs, nor unbounded memory).
#[derive(Debug)]
pub(crate) struct ReportLimiter<K> {
    last: HashMap<K, Instant>,
}

impl<K: std::hash::Hash + Eq + Clone> ReportLimiter<K> {
    /// How many keys are remembered at most.
    pub(crate) const MAX_REMEMBERED: usize = 4096;

    /// A limiter that has reported nothing yet.
    pub(crate) fn new() -> Self {
        ReportLimiter {
            last: HashMap::new(),
        }
    }

    /// Whether `key` should be reported `now` (and if so, remembers that it was).
    pub(crate) fn should_report(&mut self, key: &K, now: Instant) -> bool {
        if self.last.len() >= Self::MAX_REMEMBERED {
            self.last
                .retain(|_, t| now.duration_since(*t) < REFUSAL_REPORT_INTERVAL);
        }
        match self.last.get(key) {
            Some(t) if now.duration_since(*t) < REFUSAL_REPORT_INTERVAL => false,
            _ if self.last.len() >= Self::MAX_REMEMBERED => false,
            _ => {
                self.last.insert(key.clone(), now);
                true
            }
        }
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

/// When the ZAP handler last decided (admitted or refused) a peer of each address: shared
/// with [`HandshakeWatch`](crate::transport::HandshakeWatch), which tells by it a
/// connection that completed its handshake (every such connection of a socket with a ZAP
/// domain is put to ZAP) from one that closed before (garbage, a peer that is not
/// ZeroMQ).
///
/// Bounded: at most [`ZapDecisions::MAX_REMEMBERED`] addresses; when full, the decisions
/// older than [`ZapDecisions::KEEP`] are forgotten, then the oldest ones.
#[derive(Clone, Debug, Default)]
pub struct ZapDecisions {
    last: Arc<Mutex<HashMap<IpAddr, Instant>>>,
}

impl ZapDecisions {
    /// How many addresses are remembered at most.
    pub const MAX_REMEMBERED: usize = 4096;
    /// How long a decision is surely kept when the record is full.
    pub const KEEP: Duration = Duration::from_secs(600);

    /// Records a decision about a peer at `address` (as ZAP gives it) made `at`;
    /// an address that does not parse (not TCP) is not recorded.
    pub fn record(&self, address: &str, at: Instant) {
        let Ok(ip) = address.parse::<IpAddr>() else {
            return;
        };
        let ip = normalise(ip);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if !last.contains_key(&ip) && last.len() >= Self::MAX_REMEMBERED {
            last.retain(|_, t| at.saturating_duration_since(*t) < Self::KEEP);
            while last.len() >= Self::MAX_REMEMBERED {
                let Some(oldest) = last.iter().min_by_key(|(_, t)| **t).map(|(ip, _)| *ip) else {
                    break;
                };
                last.remove(&oldest);
            }
        }
        last.insert(ip, at);
    }

    /// Whether a peer at `ip` was decided at or after `since`.
    pub fn decided_since(&self, ip: IpAddr, since: Instant) -> bool {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.get(&normalise(ip)).is_some_and(|t| *t >= since)
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no decision is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The ZAP handler thread of one ZeroMQ context. Start it before the guarded sockets
/// bind; dropping it stops the thread (after which libzmq refuses every guarded peer).
pub struct ZapHandler {
    stop: Arc<AtomicBool>,
    decisions: ZapDecisions,
    thread: Option<JoinHandle<()>>,
}

impl ZapHandler {
    /// Binds the handler's REP socket to [`ZAP_ENDPOINT`] on `ctx` and serves `policy`
    /// on a thread. `on_refusal` hears of refused peers, each address at most once a
    /// minute (so a flood of bad handshakes makes no flood of logs).
    pub fn start(
        ctx: &zmq::Context,
        policy: Arc<Policy>,
        on_refusal: impl FnMut(&Refusal) + Send + 'static,
    ) -> zmq::Result<Self> {
        let socket = ctx.socket(zmq::REP)?;
        socket.set_linger(0)?;
        socket.bind(ZAP_ENDPOINT)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let decisions = ZapDecisions::default();
        let record = decisions.clone();
        let thread = std::thread::Builder::new()
            .name("zap-handler".into())
            .spawn(move || serve(&socket, &policy, (&flag, &record), on_refusal))
            .map_err(|_| zmq::Error::EMFILE)?;
        Ok(ZapHandler {
            stop,
            decisions,
            thread: Some(thread),
        })
    }

    /// The record of when this handler last decided each address (for a
    /// [`HandshakeWatch`](crate::transport::HandshakeWatch) on the same context).
    pub fn decisions(&self) -> ZapDecisions {
        self.decisions.clone()
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: &zmq::Socket,
    policy: &Policy,
    (stop, decisions): (&AtomicBool, &ZapDecisions),
    mut on_refusal: impl FnMut(&Refusal),
) {
    let mut limiter = ReportLimiter::<String>::new();
    while !stop.load(Ordering::Relaxed) {
        // Wake now and then to see the stop flag.
        match zmq::poll(&mut [socket.as_poll_item(zmq::POLLIN)], 100) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(_) => return,
        }
        let Ok(frames) = socket.recv_multipart(0) else {
            return;
        };
        let reply = match parse_request(&frames) {
            Some(req) => {
                // Before the reply: libzmq goes on (and may close the connection) only
                // once it has the answer.
                decisions.record(&req.address, Instant::now());
                let (code, text, user) = match policy.decide(&req) {
                    Ok(user) => ("200", "OK", user),
                    Err(refusal) => {
                        if limiter.should_report(&refusal.address, Instant::now()) {
                            on_refusal(&refusal);
                        }
                        ("400", refusal.why, String::new())
                    }
                };
                let frames: [&[u8]; 6] = [
                    b"1.0",
                    &req.request_id,
                    code.as_bytes(),
                    text.as_bytes(),
                    user.as_bytes(),
                    b"",
                ];
                socket.send_multipart(frames, 0)
            }
            // Not a ZAP request (only libzmq itself can reach this socket): answer so
            // the REP socket stays in step.
            None => socket.send_multipart([&b"1.0"[..], b"", b"500", b"bad request", b"", b""], 0),
        };
        if reply.is_err() {
            return;
        }
    }
}
