//! The master's figures for Prometheus: what the tasks count as they work, served in the
//! Prometheus text format by [`MetricsServer`] when `metrics-listen` is set.
//!
//! Every figure lives in a [`prometheus_client`] metric (atomics; a family's label map is
//! behind a read-write lock taken only to find or add a label set), kept up to date by the
//! task that does the work: a scrape reads what is there and never waits for a task, nor
//! asks the database anything. The tasks record into the [`Metrics`] of the
//! [`Hub`](crate::hub::Hub) whether a server runs or not, which costs an atomic add apiece.
//!
//! | metric | type | from |
//! |---|---|---|
//! | `piwheels_slaves{state}` | gauge | SlaveDriver, after each message: `idle`, `building`, `sending`, `sleeping`, `stopping` |
//! | `piwheels_builds_total{abi,platform}` | counter | builds logged in the database (SlaveDriver, MrChase's imports) |
//! | `piwheels_build_failures_total{abi,platform}` | counter | those that failed |
//! | `piwheels_build_queue_jobs{abi,platform}` | gauge | TheArchitect's count of the queue |
//! | `piwheels_file_transfer_bytes_total` | counter | FileJuggler: bytes of chunks taken |
//! | `piwheels_downloads_total` | counter | Lumberjack: downloads written to the database |
//! | `piwheels_page_rewrite_duration_seconds` | histogram | TheScribe: each batch of page rewrites |
//! | `piwheels_pages_rewritten_total` | counter | TheScribe: packages whose pages were rewritten |
//! | `piwheels_upstream_poll_duration_seconds` | histogram | CloudGazer: each poll |
//! | `piwheels_upstream_poll_errors_total` | counter | CloudGazer: failed upstream requests |
//! | `piwheels_upstream_failed_polls_total` | counter | CloudGazer: polls the upstream failed |
//! | `piwheels_db_query_duration_seconds{op}` | histogram | every database operation |
//! | `piwheels_db_query_errors_total{op}` | counter | those that failed |
//!
//! The database is timed through its [`QueryObserver`] hook, so `piwheels-db` needs no
//! metrics library.

pub mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use piwheels_db::{QueryObserver, QueryTiming, Target};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use server::MetricsServer;

/// What a slave is doing, as `piwheels_slaves` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlaveActivity {
    /// Connected, with no job (just said `HELLO`, or told there is nothing to do).
    Idle,
    /// Building a job.
    Building,
    /// Sending its wheels.
    Sending,
    /// Put to sleep (by a monitor, or because the master is paused).
    Sleeping,
    /// Told to stop (`DIE`).
    Stopping,
    /// Refused jobs for a while: it broke the protocol too often
    /// (see [`CoolOffPolicy`](crate::slave_driver::CoolOffPolicy)).
    CoolingOff,
}

impl SlaveActivity {
    /// Every activity, in the order they are exported.
    pub const ALL: [SlaveActivity; 6] = [
        SlaveActivity::Idle,
        SlaveActivity::Building,
        SlaveActivity::Sending,
        SlaveActivity::Sleeping,
        SlaveActivity::Stopping,
        SlaveActivity::CoolingOff,
    ];

    /// Its `state` label.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaveActivity::Idle => "idle",
            SlaveActivity::Building => "building",
            SlaveActivity::Sending => "sending",
            SlaveActivity::Sleeping => "sleeping",
            SlaveActivity::Stopping => "stopping",
            SlaveActivity::CoolingOff => "cooling_off",
        }
    }
}

/// The `state` label of `piwheels_slaves`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The labels of a build target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    abi: String,
    platform: String,
}

impl From<&Target> for TargetLabels {
    fn from(t: &Target) -> Self {
        TargetLabels {
            abi: t.abi.clone(),
            platform: t.platform.clone(),
        }
    }
}

/// The `op` label of the database's figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

/// The buckets of `piwheels_db_query_duration_seconds` (seconds): 200 µs to 5 s.
pub const DB_BUCKETS: [f64; 13] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];

/// The buckets of `piwheels_page_rewrite_duration_seconds` (seconds): 1 ms to 30 s.
pub const PAGE_REWRITE_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The buckets of `piwheels_upstream_poll_duration_seconds` (seconds): 100 ms to 1 h (a
/// first poll of a whole index is long).
pub const POLL_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

fn db_histogram() -> Histogram {
    Histogram::new(DB_BUCKETS)
}

/// The master's metrics (see the module docs). One per master, shared through the hub.
pub struct Metrics {
    registry: Registry,
    slaves: Family<StateLabel, Gauge>,
    builds: Family<TargetLabels, Counter>,
    build_failures: Family<TargetLabels, Counter>,
    queue: Family<TargetLabels, Gauge>,
    /// The targets `queue` has a figure for, so one gone from the queue drops to 0.
    queued_targets: Mutex<BTreeSet<Target>>,
    transfer_bytes: Counter,
    downloads: Counter,
    page_rewrite: Histogram,
    pages_rewritten: Counter,
    poll_duration: Histogram,
    poll_errors: Counter,
    failed_polls: Counter,
    db_query: Family<OpLabel, Histogram, fn() -> Histogram>,
    db_errors: Family<OpLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("piwheels");
        let slaves = Family::<StateLabel, Gauge>::default();
        registry.register(
            "slaves",
            "Connected build slaves by what they are doing",
            slaves.clone(),
        );
        for activity in SlaveActivity::ALL {
            slaves
                .get_or_create(&StateLabel {
                    state: activity.as_str(),
                })
                .set(0);
        }
        let builds = Family::<TargetLabels, Counter>::default();
        registry.register(
            "builds",
            "Builds logged in the database (by slaves and piw-import), by build target",
            builds.clone(),
        );
        let build_failures = Family::<TargetLabels, Counter>::default();
        registry.register(
            "build_failures",
            "Builds logged as failed, by build target",
            build_failures.clone(),
        );
        let queue = Family::<TargetLabels, Gauge>::default();
        registry.register(
            "build_queue_jobs",
            "Versions waiting to be built, by build target",
            queue.clone(),
        );
        let transfer_bytes = Counter::default();
        registry.register_with_unit(
            "file_transfer",
            "Bytes of wheels received on the file-transfer socket (each chunk taken)",
            Unit::Bytes,
            transfer_bytes.clone(),
        );
        let downloads = Counter::default();
        registry.register(
            "downloads",
            "Wheel downloads written to the access log (piw-logger's and the web server's)",
            downloads.clone(),
        );
        let page_rewrite = Histogram::new(PAGE_REWRITE_BUCKETS);
        registry.register_with_unit(
            "page_rewrite_duration",
            "Time TheScribe took to rewrite one batch of project pages",
            Unit::Seconds,
            page_rewrite.clone(),
        );
        let pages_rewritten = Counter::default();
        registry.register(
            "pages_rewritten",
            "Packages whose pages TheScribe rewrote",
            pages_rewritten.clone(),
        );
        let poll_duration = Histogram::new(POLL_BUCKETS);
        registry.register_with_unit(
            "upstream_poll_duration",
            "Time CloudGazer took to poll the upstream index once",
            Unit::Seconds,
            poll_duration.clone(),
        );
        let poll_errors = Counter::default();
        registry.register(
            "upstream_poll_errors",
            "Requests to the upstream index that failed during polls",
            poll_errors.clone(),
        );
        let failed_polls = Counter::default();
        registry.register(
            "upstream_failed_polls",
            "Polls cut short because the upstream failed",
            failed_polls.clone(),
        );
        let db_query = Family::<OpLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            db_histogram as fn() -> Histogram,
        );
        registry.register_with_unit(
            "db_query_duration",
            "Time database operations took (a pooled connection awaited included), by operation",
            Unit::Seconds,
            db_query.clone(),
        );
        let db_errors = Family::<OpLabel, Counter>::default();
        registry.register(
            "db_query_errors",
            "Database operations that failed, by operation",
            db_errors.clone(),
        );
        Metrics {
            registry,
            slaves,
            builds,
            build_failures,
            queue,
            queued_targets: Mutex::new(BTreeSet::new()),
            transfer_bytes,
            downloads,
            page_rewrite,
            pages_rewritten,
            poll_duration,
            poll_errors,
            failed_polls,
            db_query,
            db_errors,
        }
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// How many slaves do what now (every activity not in `counts` is 0).
    pub fn set_slaves(&self, counts: &BTreeMap<SlaveActivity, usize>) {
        for activity in SlaveActivity::ALL {
            let n = counts.get(&activity).copied().unwrap_or(0);
            self.slaves
                .get_or_create(&StateLabel {
                    state: activity.as_str(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A build for `target` was logged in the database, successful or not.
    pub fn build_logged(&self, target: &Target, ok: bool) {
        let labels = TargetLabels::from(target);
        self.builds.get_or_create(&labels).inc();
        if !ok {
            self.build_failures.get_or_create(&labels).inc();
        }
    }

    /// The queue's size per target now; a target that had a figure and is not in `sizes`
    /// drops to 0. The build counters of each target are made (at 0) here, so a target
    /// shows before its first build.
    pub fn set_queue(&self, sizes: &BTreeMap<Target, i64>) {
        let mut known = self
            .queued_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for target in known.iter().filter(|t| !sizes.contains_key(*t)) {
            self.queue.get_or_create(&target.into()).set(0);
        }
        for (target, n) in sizes {
            let labels = TargetLabels::from(target);
            self.queue.get_or_create(&labels).set(*n);
            if known.insert(target.clone()) {
                drop(self.builds.get_or_create(&labels));
                drop(self.build_failures.get_or_create(&labels));
            }
        }
    }

    /// `bytes` of a file transfer were taken.
    pub fn file_received(&self, bytes: u64) {
        self.transfer_bytes.inc_by(bytes);
    }

    /// `n` downloads were written to the access log.
    pub fn downloads(&self, n: u64) {
        self.downloads.inc_by(n);
    }

    /// TheScribe rewrote the pages of `packages` packages in `elapsed`.
    pub fn page_rewrite(&self, elapsed: Duration, packages: usize) {
        self.page_rewrite.observe(elapsed.as_secs_f64());
        self.pages_rewritten.inc_by(packages as u64);
    }

    /// CloudGazer polled the upstream in `elapsed`, `errors` of its requests failing;
    /// `failed`: the upstream failed the poll as a whole.
    pub fn upstream_poll(&self, elapsed: Duration, errors: usize, failed: bool) {
        self.poll_duration.observe(elapsed.as_secs_f64());
        self.poll_errors.inc_by(errors as u64);
        if failed {
            self.failed_polls.inc();
        }
    }
}

impl QueryObserver for Metrics {
    fn observe(&self, timing: QueryTiming) {
        let label = OpLabel { op: timing.op };
        self.db_query
            .get_or_create(&label)
            .observe(timing.elapsed.as_secs_f64());
        if !timing.ok {
            self.db_errors.get_or_create(&label).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_database_operations_are_counted_by_name() {
        let metrics = Metrics::new();
        assert!(!metrics.encode().contains("piwheels_db_query_errors_total"));
        for ok in [true, false, false] {
            metrics.observe(QueryTiming {
                op: "log_build",
                write: true,
                elapsed: Duration::from_millis(3),
                ok,
            });
        }
        let text = metrics.encode();
        assert!(
            text.contains("piwheels_db_query_errors_total{op=\"log_build\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("piwheels_db_query_duration_seconds_count{op=\"log_build\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "piwheels_db_query_duration_seconds_bucket{op=\"log_build\",le=\"0.005\"} 3\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_target_gone_from_the_queue_drops_to_zero() {
        let metrics = Metrics::new();
        let a = Target::new("cp311", "linux_armv7l");
        let b = Target::new("cp313", "linux_aarch64");
        metrics.set_queue(&BTreeMap::from([(a.clone(), 5), (b.clone(), 7)]));
        metrics.set_queue(&BTreeMap::from([(b, 6)]));
        let text = metrics.encode();
        for line in [
            "piwheels_build_queue_jobs{abi=\"cp311\",platform=\"linux_armv7l\"} 0\n",
            "piwheels_build_queue_jobs{abi=\"cp313\",platform=\"linux_aarch64\"} 6\n",
            "piwheels_builds_total{abi=\"cp311\",platform=\"linux_armv7l\"} 0\n",
            "piwheels_build_failures_total{abi=\"cp313\",platform=\"linux_aarch64\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
