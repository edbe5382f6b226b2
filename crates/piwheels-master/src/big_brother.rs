//! BigBrother: the farm's statistics (piwheels.md §1.3, §3.3).
//!
//! Every 10 s it samples the database's statistics, the build queue's sizes (from
//! TheArchitect), the output filesystem (from FileJuggler, and its own `statvfs`), memory,
//! swap, load and temperature into a [`MasterStats`], publishes it to monitors as `STATS`
//! and keeps the last [`HISTORY`] for monitors that say `HELLO`. With its first sample, and
//! then every minute, it asks for the homepage to be rewritten with the latest sample, and
//! every hour (or when asked) for
//! the search index with fresh download counts (TheScribe writes it at start, and again
//! whenever the package list changes).
//!
//! Per-target counts are keyed `abi/platform` (`cp311/linux_armv7l`): a farm can build one
//! ABI for several platforms.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use indexmap::IndexMap;
use piwheels_db::{Statistics, Target};
use piwheels_protocol::monitor::{MasterStats, StatusMessage};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::hub::{Hub, StatsMessage, Task, WebRequest};

/// How many samples are kept for replay to monitors.
pub const HISTORY: usize = 100;

/// BigBrother's intervals; [`Timing::default`] is production's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Statistics to monitors: 10 s.
    pub stats: Duration,
    /// The homepage: 60 s.
    pub home: Duration,
    /// The search index: 1 hour.
    pub search: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            stats: Duration::from_secs(10),
            home: Duration::from_secs(60),
            search: Duration::from_secs(3600),
        }
    }
}

/// The statistics task (see the module docs).
#[derive(Debug)]
pub struct BigBrother {
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<StatsMessage>,
    timing: Timing,
    history: VecDeque<MasterStats>,
    statfs: Option<(u64, u64)>,
    queue_sizes: BTreeMap<Target, i64>,
    db_stats: Option<Statistics>,
    downloads_all: Option<i64>,
    /// Downloads Lumberjack reported before the first total was read: shown until then,
    /// and dropped once it is read (their rows are in it: Lumberjack reports what it has
    /// written).
    downloads_extra: i64,
}

impl BigBrother {
    /// The task, reading `inbox` (the other tasks' [`StatsMessage`]s).
    pub fn new(hub: Hub, inbox: mpsc::UnboundedReceiver<StatsMessage>) -> BigBrother {
        BigBrother {
            hub,
            inbox,
            timing: Timing::default(),
            history: VecDeque::with_capacity(HISTORY),
            statfs: None,
            queue_sizes: BTreeMap::new(),
            db_stats: None,
            downloads_all: None,
            downloads_extra: 0,
        }
    }

    /// Uses other intervals (tests make them short).
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// The samples kept for replay, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &MasterStats> {
        self.history.iter()
    }

    fn handle(&mut self, msg: StatsMessage) {
        match msg {
            StatsMessage::StatFs { size, free } => self.statfs = Some((size, free)),
            StatsMessage::BuildQueue(sizes) => self.queue_sizes = sizes,
            StatsMessage::Downloads(n) => match &mut self.downloads_all {
                Some(all) => *all += n,
                None => self.downloads_extra += n,
            },
            StatsMessage::Home => {
                if let Some(latest) = self.history.back() {
                    self.hub.web(WebRequest::Home(Box::new(latest.clone())));
                }
                self.hub.web(WebRequest::Search);
            }
            StatsMessage::Search => self.hub.web(WebRequest::Search),
            StatsMessage::Replay => {
                for stats in &self.history {
                    let _ = self.hub.status.send(StatusMessage::Stats(stats.clone()));
                }
            }
        }
    }

    async fn sample(&mut self) -> MasterStats {
        if self.downloads_all.is_none() {
            match self.hub.db.downloads_all().await {
                // Every download reported so far was written before it was reported, so
                // the count has it: adding it again would count it twice.
                Ok(n) => {
                    self.downloads_all = Some(n);
                    self.downloads_extra = 0;
                }
                Err(e) => tracing::warn!(error = %e, "cannot count downloads"),
            }
        }
        match self.hub.db.statistics().await {
            Ok(s) => self.db_stats = Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the statistics; reporting the last ones")
            }
        }
        // Quietly: FileJuggler's STATFS and the disk guard report a missing output.
        if let Ok(st) = rustix::fs::statvfs(&self.hub.config.output_path) {
            self.statfs = Some((
                st.f_blocks.saturating_mul(st.f_frsize),
                st.f_bavail.saturating_mul(st.f_frsize),
            ));
        }
        let system = SystemStats::read();
        let db = self.db_stats.clone().unwrap_or_else(|| Statistics {
            builds_time: TimeDelta::zero(),
            builds_size: 0,
            packages_built: 0,
            files_count: 0,
            new_last_hour: 0,
            downloads_last_month: 0,
            downloads_last_hour: 0,
            builds_last_hour: BTreeMap::new(),
        });
        let (disk_size, disk_free) = self.statfs.unwrap_or((0, 0));
        MasterStats {
            timestamp: Utc::now(),
            packages_built: db.packages_built,
            builds_last_hour: by_target(&db.builds_last_hour),
            builds_time: db.builds_time,
            builds_size: db.builds_size,
            builds_pending: by_target(&self.queue_sizes),
            new_last_hour: db.new_last_hour,
            files_count: db.files_count,
            downloads_last_hour: db.downloads_last_hour,
            downloads_last_month: db.downloads_last_month,
            downloads_all: self.downloads_all.unwrap_or(self.downloads_extra),
            disk_size: clamp(disk_size),
            disk_free: clamp(disk_free),
            mem_size: clamp(system.mem_size),
            mem_free: clamp(system.mem_free),
            swap_size: clamp(system.swap_size),
            swap_free: clamp(system.swap_free),
            load_average: system.load_average,
            cpu_temp: system.cpu_temp,
        }
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn by_target(counts: &BTreeMap<Target, i64>) -> IndexMap<String, i64> {
    counts.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// The machine's memory, swap, load and temperature.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemStats {
    /// Total memory, bytes.
    pub mem_size: u64,
    /// Available memory (`MemAvailable`), bytes.
    pub mem_free: u64,
    /// Total swap, bytes.
    pub swap_size: u64,
    /// Free swap, bytes.
    pub swap_free: u64,
    /// 1-minute load average.
    pub load_average: f64,
    /// The first thermal zone's temperature, °C (0.0 if there is none).
    pub cpu_temp: f64,
}

impl SystemStats {
    /// Reads `/proc/meminfo`, `/proc/loadavg` and the first thermal zone; what cannot be
    /// read is 0.
    pub fn read() -> SystemStats {
        let mut s = SystemStats::default();
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
            for line in text.lines() {
                let Some((key, rest)) = line.split_once(':') else {
                    continue;
                };
                let kib: u64 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let bytes = kib.saturating_mul(1024);
                match key {
                    "MemTotal" => s.mem_size = bytes,
                    "MemAvailable" => s.mem_free = bytes,
                    "SwapTotal" => s.swap_size = bytes,
                    "SwapFree" => s.swap_free = bytes,
                    _ => {}
                }
            }
        }
        s.load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        s.cpu_temp = read_temp(Path::new("/sys/class/thermal/thermal_zone0/temp")).unwrap_or(0.0);
        s
    }
}

fn read_temp(path: &Path) -> Option<f64> {
    let millis: f64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    Some(millis / 1000.0)
}

impl Task for BigBrother {
    const NAME: &'static str = "big_brother";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        let mut stats = tokio::time::interval(self.timing.stats);
        let start = tokio::time::Instant::now();
        let mut home = tokio::time::interval_at(start + self.timing.home, self.timing.home);
        // TheScribe writes the search index at start: the first is due an hour on.
        let mut search = tokio::time::interval_at(start + self.timing.search, self.timing.search);
        for t in [&mut stats, &mut home, &mut search] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                () = quit.cancelled() => return Ok(()),
                Some(msg) = self.inbox.recv() => self.handle(msg),
                _ = stats.tick() => {
                    let sample = self.sample().await;
                    let _ = self.hub.status.send(StatusMessage::Stats(sample.clone()));
                    if self.history.len() >= HISTORY {
                        self.history.pop_front();
                    }
                    let first = self.history.is_empty();
                    self.history.push_back(sample.clone());
                    if first {
                        // A homepage from the start, not a minute later.
                        self.hub.web(WebRequest::Home(Box::new(sample)));
                    }
                }
                _ = home.tick() => {
                    if let Some(latest) = self.history.back() {
                        self.hub.web(WebRequest::Home(Box::new(latest.clone())));
                    }
                }
                _ = search.tick() => self.hub.web(WebRequest::Search),
            }
        }
    }
}
