//! Warnings about peers' bad input, rate-limited per peer.
//!
//! A peer sending garbage must not be able to write the master's log for it: 100,000
//! garbage frames once made a million warning lines. Each socket task keeps a
//! [`PeerWarnings`] and logs a warning about a peer's input only if
//! [`PeerWarnings::allow`] says so:
//!
//! - the first [`PER_PEER`] warnings about a peer in a [`WINDOW`] (a minute) go out, the
//!   rest are counted;
//! - at most [`GLOBAL`] warnings a minute go out for all peers together (so many peers, or
//!   one reconnecting under new identities, cannot multiply the volume);
//! - when a peer's minute is over, one line says how many were suppressed:
//!   "suppressed N more warnings from PEER in the last minute". A timer task does this,
//!   so the line comes out even if the peer has stopped sending; at most
//!   [`MAX_SUMMARIES`] such lines go out at a time, and one more sums up the rest;
//! - memory is bounded: at most [`MAX_PEERS`] peers are tracked, each for one minute after
//!   its first warning; warnings about peers beyond that are counted together.
//!
//! So a socket's warnings about bad input come to at most `GLOBAL + MAX_SUMMARIES + 1`
//! lines a minute, whatever the rate of garbage.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How many warnings about one peer go out per [`WINDOW`].
pub const PER_PEER: u32 = 5;
/// The period the limits count over: a minute.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How many warnings about all peers together go out per [`WINDOW`].
pub const GLOBAL: u32 = 50;
/// How many peers are tracked at once.
pub const MAX_PEERS: usize = 256;
/// How many per-peer summary lines go out at a time; the rest are summed up in one.
pub const MAX_SUMMARIES: usize = 10;
/// How often the timer looks for summaries due.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// A summary due: this many warnings about this peer were suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The peer, as shown in the log; `None` for several peers summed up.
    pub peer: Option<String>,
    /// How many peers (1 unless summed up).
    pub peers: usize,
    /// How many warnings were suppressed.
    pub count: u64,
}

#[derive(Debug)]
struct Entry {
    /// The start of this peer's window (its first warning in it).
    since: Instant,
    allowed: u32,
    suppressed: u64,
}

/// The counting, without a clock or a log: [`PeerWarnings`] drives it.
#[derive(Debug)]
pub struct Limiter<K> {
    window: Duration,
    peers: HashMap<K, Entry>,
    /// The start of the current global window, and the warnings let through in it.
    global_since: Option<Instant>,
    global_allowed: u32,
    /// Warnings suppressed in the global window about peers not tracked (the table was
    /// full, or the global limit was reached for a peer already summarised).
    untracked: u64,
    untracked_peers: usize,
}

impl<K: Hash + Eq + Clone + Display> Limiter<K> {
    /// A limiter counting over `window` (the production one is [`WINDOW`]).
    pub fn new(window: Duration) -> Self {
        Limiter {
            window,
            peers: HashMap::new(),
            global_since: None,
            global_allowed: 0,
            untracked: 0,
            untracked_peers: 0,
        }
    }

    /// Whether a warning about `peer` at `now` may go out. Summaries that fell due are
    /// added to `due`.
    pub fn allow(&mut self, peer: &K, now: Instant, due: &mut Vec<Suppressed>) -> bool {
        self.roll_global(now, due);
        if let Some(e) = self.peers.get(peer)
            && now.duration_since(e.since) >= self.window
        {
            let e = self.peers.remove(peer).expect("just seen");
            if e.suppressed > 0 {
                due.push(Suppressed {
                    peer: Some(peer.to_string()),
                    peers: 1,
                    count: e.suppressed,
                });
            }
        }
        if !self.peers.contains_key(peer) {
            if self.peers.len() >= MAX_PEERS {
                self.expire(now, due);
            }
            if self.peers.len() >= MAX_PEERS {
                self.untracked += 1;
                self.untracked_peers = self.untracked_peers.max(1);
                return false;
            }
            self.peers.insert(
                peer.clone(),
                Entry {
                    since: now,
                    allowed: 0,
                    suppressed: 0,
                },
            );
        }
        let entry = self.peers.get_mut(peer).expect("inserted above");
        if entry.allowed < PER_PEER && self.global_allowed < GLOBAL {
            entry.allowed += 1;
            self.global_allowed += 1;
            true
        } else {
            entry.suppressed += 1;
            false
        }
    }

    /// Starts a new global window if the last one is over; its untracked count is due.
    fn roll_global(&mut self, now: Instant, due: &mut Vec<Suppressed>) {
        match self.global_since {
            Some(since) if now.duration_since(since) < self.window => {}
            _ => {
                self.global_since = Some(now);
                self.global_allowed = 0;
                if self.untracked > 0 {
                    due.push(Suppressed {
                        peer: None,
                        peers: self.untracked_peers,
                        count: self.untracked,
                    });
                }
                self.untracked = 0;
                self.untracked_peers = 0;
            }
        }
    }

    /// Forgets the peers whose window is over, adding their summaries to `due`.
    fn expire(&mut self, now: Instant, due: &mut Vec<Suppressed>) {
        let window = self.window;
        self.peers.retain(|peer, e| {
            let over = now.duration_since(e.since) >= window;
            if over && e.suppressed > 0 {
                due.push(Suppressed {
                    peer: Some(peer.to_string()),
                    peers: 1,
                    count: e.suppressed,
                });
            }
            !over
        });
    }

    /// The summaries due at `now` (windows that are over), at most [`MAX_SUMMARIES`]
    /// for single peers and one for the rest. Peers whose window is over are forgotten.
    pub fn flush(&mut self, now: Instant) -> Vec<Suppressed> {
        let mut due = Vec::new();
        self.expire(now, &mut due);
        if self
            .global_since
            .is_some_and(|since| now.duration_since(since) >= self.window)
        {
            self.roll_global(now, &mut due);
            self.global_since = None;
        }
        cap_summaries(due)
    }

    /// Every count not yet summarised, due or not (when the task stops).
    pub fn flush_all(&mut self) -> Vec<Suppressed> {
        let mut due: Vec<Suppressed> = self
            .peers
            .drain()
            .filter(|(_, e)| e.suppressed > 0)
            .map(|(peer, e)| Suppressed {
                peer: Some(peer.to_string()),
                peers: 1,
                count: e.suppressed,
            })
            .collect();
        if self.untracked > 0 {
            due.push(Suppressed {
                peer: None,
                peers: self.untracked_peers,
                count: self.untracked,
            });
        }
        self.untracked = 0;
        self.untracked_peers = 0;
        cap_summaries(due)
    }

    /// How many peers are tracked.
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

/// At most [`MAX_SUMMARIES`] single-peer summaries, the largest first; the rest in one.
fn cap_summaries(mut due: Vec<Suppressed>) -> Vec<Suppressed> {
    if due.len() <= MAX_SUMMARIES {
        return due;
    }
    due.sort_by_key(|s| std::cmp::Reverse(s.count));
    let rest = due.split_off(MAX_SUMMARIES);
    due.push(Suppressed {
        peer: None,
        peers: rest.iter().map(|s| s.peers).sum(),
        count: rest.iter().map(|s| s.count).sum(),
    });
    due
}

/// Logs summaries as warnings of `task`.
fn log(task: &'static str, window: Duration, due: Vec<Suppressed>) {
    let period = if window == WINDOW {
        "the last minute".to_owned()
    } else {
        format!("the last {window:?}")
    };
    for s in due {
        match s.peer {
            Some(peer) => tracing::warn!(task, %peer, suppressed = s.count,
                "suppressed {} more warnings from {peer} in {period}", s.count),
            None => tracing::warn!(
                task,
                peers = s.peers,
                suppressed = s.count,
                "suppressed {} more warnings from {} other peers in {period}",
                s.count,
                s.peers
            ),
        }
    }
}

/// One socket task's rate limit on warnings about its peers' input (see the module docs).
///
/// Keys are what identifies a peer on that socket: a ROUTER identity, or a fixed name
/// for a socket whose peers cannot be told apart (PULL).
pub struct PeerWarnings<K: Hash + Eq + Clone + Display + Send + 'static> {
    task: &'static str,
    window: Duration,
    inner: Arc<Mutex<Limiter<K>>>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl<K: Hash + Eq + Clone + Display + Send + 'static> std::fmt::Debug for PeerWarnings<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerWarnings")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + Display + Send + 'static> PeerWarnings<K> {
    /// The limit for `task`'s warnings, with the production window ([`WINDOW`]).
    pub fn new(task: &'static str) -> Self {
        Self::with_window(task, WINDOW)
    }

    /// The limit with another window (tests make it short).
    pub fn with_window(task: &'static str, window: Duration) -> Self {
        PeerWarnings {
            task,
            window,
            inner: Arc::new(Mutex::new(Limiter::new(window))),
            timer: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limiter<K>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a warning about `peer`'s input may be logged now. The first call starts the
    /// timer that logs the summaries (on the tokio runtime it is called from).
    pub fn allow(&mut self, peer: &K) -> bool {
        if self.timer.is_none()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let every = FLUSH_EVERY
                .min(self.window / 2)
                .max(Duration::from_millis(10));
            self.timer = Some(rt.spawn(flush_timer(
                Arc::downgrade(&self.inner),
                self.task,
                self.window,
                every,
            )));
        }
        let mut due = Vec::new();
        let allowed = self.lock().allow(peer, Instant::now(), &mut due);
        log(self.task, self.window, cap_summaries(due));
        allowed
    }
}

async fn flush_timer<K: Hash + Eq + Clone + Display>(
    inner: Weak<Mutex<Limiter<K>>>,
    task: &'static str,
    window: Duration,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let due = inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush(Instant::now());
        log(task, window, due);
    }
}

impl<K: Hash + Eq + Clone + Display + Send + 'static> Drop for PeerWarnings<K> {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        // What is still counted goes out now; nothing is lost when the task stops.
        let due = self.lock().flush_all();
        log(self.task, self.window, due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn the_first_few_per_peer_go_out_then_one_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::<String>::new(WINDOW);
        let mut due = Vec::new();
        let a = "a".to_owned();
        let allowed = (0..1000).filter(|_| l.allow(&a, t0, &mut due)).count();
        assert_eq!(allowed, PER_PEER as usize);
        assert!(due.is_empty());
        // Another peer has its own allowance.
        assert!(l.allow(&"b".to_owned(), at(t0, 1), &mut due));
        // Nothing is due before the minute is over...
        assert_eq!(l.flush(at(t0, 59)), []);
        // ...then exactly one summary for a (b had nothing suppressed), and both are
        // forgotten.
        assert_eq!(
            l.flush(at(t0, 61)),
            [Suppressed {
                peer: Some("a".into()),
                peers: 1,
                count: 995
            }]
        );
        assert_eq!(l.tracked(), 0);
        // A new minute: a may speak again.
        assert!(l.allow(&a, at(t0, 62), &mut due));
        assert!(due.is_empty());
    }

    #[test]
    fn an_expired_window_is_summarised_by_the_next_warning_too() {
        let t0 = Instant::now();
        let mut l = Limiter::<String>::new(WINDOW);
        let mut due = Vec::new();
        let a = "a".to_owned();
        for _ in 0..7 {
            l.allow(&a, t0, &mut due);
        }
        assert!(l.allow(&a, at(t0, 60), &mut due));
        assert_eq!(
            due,
            [Suppressed {
                peer: Some("a".into()),
                peers: 1,
                count: 2
            }]
        );
    }

    #[test]
    fn the_global_limit_and_the_peer_table_are_bounded() {
        let t0 = Instant::now();
        let mut l = Limiter::<u32>::new(WINDOW);
        let mut due = Vec::new();
        // 10,000 peers, 3 warnings each: only GLOBAL go out in the minute.
        let allowed = (0..10_000u32)
            .flat_map(|p| [p, p, p])
            .filter(|p| l.allow(p, t0, &mut due))
            .count();
        assert_eq!(allowed, GLOBAL as usize);
        assert!(l.tracked() <= MAX_PEERS);
        // The summaries: MAX_SUMMARIES single ones, then one for the rest, all counted.
        let due = l.flush(at(t0, 60));
        assert_eq!(due.len(), MAX_SUMMARIES + 1);
        assert!(due[..MAX_SUMMARIES].iter().all(|s| s.peers == 1));
        let total: u64 = due.iter().map(|s| s.count).sum();
        assert_eq!(total, 30_000 - GLOBAL as u64);
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn flush_all_reports_what_is_left() {
        let t0 = Instant::now();
        let mut l = Limiter::<&str>::new(WINDOW);
        let mut due = Vec::new();
        for _ in 0..8 {
            l.allow(&"x", t0, &mut due);
        }
        assert_eq!(
            l.flush_all(),
            [Suppressed {
                peer: Some("x".into()),
                peers: 1,
                count: 3
            }]
        );
        assert_eq!(l.flush_all(), []);
    }

    /// Captures what the limiter logs on this thread.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_summary_comes_out_after_the_peer_stops() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut warnings = PeerWarnings::with_window("test", Duration::from_millis(200));
        let allowed = (0..12).filter(|_| warnings.allow(&"peer-1")).count();
        assert_eq!(allowed, PER_PEER as usize);
        // The peer says nothing more; the timer still reports it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
            if text.contains("suppressed 7 more warnings from peer-1 in the last 200ms") {
                break;
            }
            assert!(Instant::now() < deadline, "no summary within 30 s: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Dropping the limiter reports what is left.
        for _ in 0..9 {
            warnings.allow(&"peer-2");
        }
        drop(warnings);
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("suppressed 4 more warnings from peer-2"),
            "{text}"
        );
    }
}
