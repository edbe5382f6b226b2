//! A PyPI-sized upstream made from a seed on the fly: no fixture on disk. It serves, on
//! 127.0.0.1, what CloudGazer reads of an upstream:
//!
//! - `GET /simple/`: the project list, PEP 691 JSON (`meta._last-serial`, each project's
//!   `_last-serial`) when asked for it, else PEP 503 HTML;
//! - `GET /simple/<name>/`: a project's page (PEP 691 JSON or HTML), with an `ETag` and
//!   `If-None-Match` answered `304`;
//! - `GET /pypi/<name>/json`: the JSON API (`info.summary`, `info.project_url`);
//! - `POST /pypi`: XML-RPC `changelog_since_serial(serial)`, answering at most
//!   [`CHANGELOG_LIMIT`] rows `[name, version, timestamp, action, serial]` with a serial
//!   above the one asked for, in serial order, as PyPI does (piwheels.md §9.1), and
//!   `changelog_last_serial()`; [`PypiSim::fail_xmlrpc`] makes it fail instead (an HTTP
//!   error, a fault, a body of the test's choosing).
//!
//! Project `i` of `n` has a name made from two words and `i`, spelled in one of five ways
//! (`-`, `_`, `.`, capitals, none) so canonicalisation matters; 1 to 6 versions of 1 to 5
//! files each (about 10 files a project): an sdist and wheels, or wheels only for one
//! version in eight (binary only), every fortieth version yanked. Its history is a run of
//! changelog events (`create`, then per version `new release`, an `add <tag> file <name>`
//! per file and `yank release` if yanked); the events of every project follow one another
//! from [`FIRST_SERIAL`], and each event's time is its serial's (an upload's time is its
//! event's). Mutations ([`PypiSim::change`], [`PypiSim::remove`]) append events with new
//! serials. Files are named but not served.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use piwheels_db::canonicalize_name;

mod server;

#[allow(unused_imports)] // The bench has no use for it.
pub use server::summary_of;

/// The serial of the first event (PyPI's serials are far above 628,000, the original's
/// epoch, piwheels.md §9.2).
pub const FIRST_SERIAL: i64 = 1_000_000;
/// The time of [`FIRST_SERIAL`]: 2015-01-01T00:00:00Z.
pub const FIRST_TIME: i64 = 1_420_070_400;
/// Seconds between two serials.
pub const SECONDS_PER_SERIAL: i64 = 50;
/// The most rows one `changelog_since_serial` answers (PyPI's limit).
pub const CHANGELOG_LIMIT: usize = 50_000;
/// The media type of PEP 691 JSON.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

const WORDS: [&str; 32] = [
    "alpha", "beta", "cloud", "delta", "echo", "flask", "graph", "hydra", "iron", "jet", "kilo",
    "lambda", "mesh", "nova", "orbit", "pixel", "quartz", "rust", "sigma", "tensor", "ultra",
    "vector", "wave", "xeno", "yield", "zeta", "async", "byte", "core", "data", "edge", "flux",
];

/// Wheel tags: (the changelog's python tag, the file name's tags).
const WHEELS: [(&str, &str); 4] = [
    ("py3", "py3-none-any"),
    ("cp311", "cp311-cp311-manylinux_2_17_x86_64"),
    ("cp312", "cp312-cp312-manylinux_2_17_aarch64"),
    ("cp311", "cp311-cp311-win_amd64"),
];

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(seed: u64, i: usize, salt: u64) -> u64 {
    mix(seed ^ mix((i as u64) ^ mix(salt)))
}

/// The time of a serial, in seconds since the epoch.
pub fn time_of(serial: i64) -> i64 {
    FIRST_TIME + (serial - FIRST_SERIAL) * SECONDS_PER_SERIAL
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .expect("a time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The shape of one version of the initial history: (files, binary only, yanked).
#[derive(Clone, Copy)]
struct Shape {
    files: usize,
    binary_only: bool,
    yanked: bool,
}

impl Shape {
    fn events(self) -> i64 {
        1 + self.files as i64 + i64::from(self.yanked)
    }
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFile {
    /// Its name.
    pub filename: String,
    /// `source` for an sdist, else the wheel's python tag (as the changelog says).
    pub tag: &'static str,
    /// The serial of its upload.
    pub serial: i64,
}

/// One version of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimVersion {
    /// The version.
    pub version: String,
    /// Its files.
    pub files: Vec<SimFile>,
    /// Whether it is yanked.
    pub yanked: bool,
    /// The serial of its `new release` event.
    pub serial: i64,
}

impl SimVersion {
    /// Whether it has an sdist.
    pub fn has_sdist(&self) -> bool {
        self.files.iter().any(|f| f.tag == "source")
    }
}

/// A project as the upstream has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimProject {
    /// Its number.
    pub index: usize,
    /// Its name as the upstream spells it.
    pub name: String,
    /// Its canonical name.
    pub canonical: String,
    /// Its versions, oldest first.
    pub versions: Vec<SimVersion>,
    /// Its `_last-serial`.
    pub last_serial: i64,
    /// How many times it was changed since the start.
    pub changes: usize,
}

/// One changelog row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The project's name.
    pub name: String,
    /// The version, if the event has one.
    pub version: Option<String>,
    /// Its time, in seconds since the epoch.
    pub timestamp: i64,
    /// What happened (`create`, `new release`, `add source file x.tar.gz`, ...).
    pub action: String,
    /// Its serial.
    pub serial: i64,
}

/// How the XML-RPC endpoint fails while a test wants it to ([`PypiSim::fail_xmlrpc`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlRpcFailure {
    /// This HTTP status (500, 503, 429, …), with a short text body.
    Status(u16),
    /// A well-formed fault with this code (−32500 is PyPI's rate limit).
    Fault(i32),
    /// A `200` answer with this `Content-Type` and body: garbage, an HTML page, bytes that
    /// are not UTF-8, a hostile document.
    Body {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The body.
        body: Vec<u8>,
    },
}

/// Requests answered, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// Project lists (`/simple/`).
    pub list: usize,
    /// Project pages (`/simple/<name>/`), `304`s included.
    pub page: usize,
    /// Project pages answered `304 Not Modified`.
    pub not_modified: usize,
    /// JSON API pages.
    pub json: usize,
    /// XML-RPC calls.
    pub xmlrpc: usize,
}

impl std::ops::Sub for Requests {
    type Output = Requests;
    fn sub(self, o: Requests) -> Requests {
        Requests {
            list: self.list - o.list,
            page: self.page - o.page,
            not_modified: self.not_modified - o.not_modified,
            json: self.json - o.json,
            xmlrpc: self.xmlrpc - o.xmlrpc,
        }
    }
}

#[derive(Default)]
struct Counters {
    list: AtomicUsize,
    page: AtomicUsize,
    not_modified: AtomicUsize,
    json: AtomicUsize,
    xmlrpc: AtomicUsize,
}

/// What mutations changed of a project.
#[derive(Debug, Clone, Default)]
struct Changed {
    /// The serial of each added version's `new release`.
    extra: Vec<i64>,
    removed: bool,
    last_serial: i64,
}

#[derive(Default)]
struct Mutable {
    changed: HashMap<usize, Changed>,
    log: Vec<Event>,
    last_serial: i64,
    rounds: usize,
}

/// The generator's state, shared by the server and the test.
struct Sim {
    seed: u64,
    n: usize,
    /// `pre[i]`: the events of the projects before `i` (`n + 1` entries).
    pre: Vec<i64>,
    mutable: RwLock<Mutable>,
    counters: Counters,
    /// How the XML-RPC endpoint fails, if it does.
    xmlrpc_failure: Mutex<Option<XmlRpcFailure>>,
}

impl Sim {
    fn new(n: usize, seed: u64) -> Sim {
        let mut pre = Vec::with_capacity(n + 1);
        let mut total = 0i64;
        for i in 0..n {
            pre.push(total);
            total += 1 + shapes(seed, i).iter().map(|s| s.events()).sum::<i64>();
        }
        pre.push(total);
        Sim {
            seed,
            n,
            pre,
            mutable: RwLock::new(Mutable {
                last_serial: FIRST_SERIAL + total - 1,
                ..Mutable::default()
            }),
            counters: Counters::default(),
            xmlrpc_failure: Mutex::new(None),
        }
    }

    fn name(&self, i: usize) -> String {
        let h = hash(self.seed, i, 1);
        let (a, b) = (WORDS[(h % 32) as usize], WORDS[((h >> 8) % 32) as usize]);
        let cap = |w: &str| format!("{}{}", w[..1].to_ascii_uppercase(), &w[1..]);
        match (h >> 16) % 5 {
            0 => format!("{a}-{b}-{i}"),
            1 => format!("{}_{b}_{i}", cap(a)),
            2 => format!("{a}.{b}.{i}"),
            3 => format!("{}{}{i}", cap(a), cap(b)),
            _ => format!("{a}_{}-{i}", cap(b)),
        }
    }

    /// The project of a canonical name (the number is its last digits).
    fn index_of(&self, canonical: &str) -> Option<usize> {
        let digits = canonical.len()
            - canonical
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .len();
        let i: usize = canonical[canonical.len() - digits..].parse().ok()?;
        (i < self.n && canonicalize_name(&self.name(i)) == canonical).then_some(i)
    }

    fn initial_last_serial(&self, i: usize) -> i64 {
        FIRST_SERIAL + self.pre[i + 1] - 1
    }

    fn last_serial_of(&self, m: &Mutable, i: usize) -> i64 {
        m.changed
            .get(&i)
            .map_or_else(|| self.initial_last_serial(i), |c| c.last_serial)
    }

    fn version_string(&self, i: usize, j: usize) -> String {
        format!("{}.{j}.0", hash(self.seed, i, 2) % 3)
    }

    fn files(&self, i: usize, version: &str, shape: Shape, first_serial: i64) -> Vec<SimFile> {
        let stem = canonicalize_name(&self.name(i)).replace('-', "_");
        (0..shape.files)
            .map(|k| {
                let serial = first_serial + k as i64;
                if k == 0 && !shape.binary_only {
                    SimFile {
                        filename: format!("{stem}-{version}.tar.gz"),
                        tag: "source",
                        serial,
                    }
                } else {
                    let wheel = k - usize::from(!shape.binary_only);
                    let (tag, tags) = WHEELS[wheel % WHEELS.len()];
                    SimFile {
                        filename: format!("{stem}-{version}-{tags}.whl"),
                        tag,
                        serial,
                    }
                }
            })
            .collect()
    }

    /// Project `i` as it is now, `None` if removed.
    fn project(&self, m: &Mutable, i: usize) -> Option<SimProject> {
        let changed = m.changed.get(&i);
        if changed.is_some_and(|c| c.removed) {
            return None;
        }
        let name = self.name(i);
        let mut serial = FIRST_SERIAL + self.pre[i] + 1;
        let mut versions = Vec::new();
        let initial = shapes(self.seed, i);
        for (j, shape) in initial.iter().enumerate() {
            let version = self.version_string(i, j);
            versions.push(SimVersion {
                files: self.files(i, &version, *shape, serial + 1),
                version,
                yanked: shape.yanked,
                serial,
            });
            serial += shape.events();
        }
        for (k, s) in changed
            .map(|c| c.extra.as_slice())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let version = self.version_string(i, initial.len() + k);
            let shape = Shape {
                files: 2,
                binary_only: false,
                yanked: false,
            };
            versions.push(SimVersion {
                files: self.files(i, &version, shape, s + 1),
                version,
                yanked: false,
                serial: *s,
            });
        }
        Some(SimProject {
            index: i,
            canonical: canonicalize_name(&name),
            name,
            versions,
            last_serial: self.last_serial_of(m, i),
            changes: changed.map_or(0, |c| c.extra.len()),
        })
    }

    /// The initial history of project `i`.
    fn initial_events(&self, i: usize) -> Vec<Event> {
        let name = self.name(i);
        let first = FIRST_SERIAL + self.pre[i];
        let event = |version: Option<&str>, action: String, serial: i64| Event {
            name: name.clone(),
            version: version.map(str::to_owned),
            timestamp: time_of(serial),
            action,
            serial,
        };
        let mut out = vec![event(None, "create".into(), first)];
        let mut serial = first + 1;
        for (j, shape) in shapes(self.seed, i).into_iter().enumerate() {
            let version = self.version_string(i, j);
            out.push(event(Some(&version), "new release".into(), serial));
            for f in self.files(i, &version, shape, serial + 1) {
                let action = format!("add {} file {}", f.tag, f.filename);
                out.push(event(Some(&version), action, f.serial));
            }
            serial += 1 + shape.files as i64;
            if shape.yanked {
                out.push(event(Some(&version), "yank release".into(), serial));
                serial += 1;
            }
        }
        out
    }

    /// The events after `since`, at most [`CHANGELOG_LIMIT`].
    fn changelog(&self, since: i64) -> Vec<Event> {
        let mut out = Vec::new();
        let wanted = since + 1 - FIRST_SERIAL;
        // The first project whose events end after `since`.
        let mut i = self.pre.partition_point(|p| *p <= wanted).saturating_sub(1);
        while i < self.n && out.len() < CHANGELOG_LIMIT {
            out.extend(
                self.initial_events(i)
                    .into_iter()
                    .filter(|e| e.serial > since)
                    .take(CHANGELOG_LIMIT - out.len()),
            );
            i += 1;
        }
        let m = self.mutable.read().unwrap();
        let start = m.log.partition_point(|e| e.serial <= since);
        let room = CHANGELOG_LIMIT - out.len();
        out.extend(m.log[start..].iter().take(room).cloned());
        out
    }
}

/// The shapes of project `i`'s initial versions.
fn shapes(seed: u64, i: usize) -> Vec<Shape> {
    let versions = 1 + (hash(seed, i, 3) % 6) as usize;
    (0..versions)
        .map(|j| {
            let h = hash(seed, i, 100 + j as u64);
            Shape {
                files: 1 + (h % 5) as usize,
                binary_only: (h >> 8).is_multiple_of(8),
                yanked: (h >> 16).is_multiple_of(40),
            }
        })
        .collect()
}

/// The generator, serving on 127.0.0.1 from its own thread until dropped.
pub struct PypiSim {
    sim: Arc<Sim>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PypiSim {
    /// Serves `projects` projects made from `seed`.
    pub fn start(projects: usize, seed: u64) -> PypiSim {
        let sim = Arc::new(Sim::new(projects, seed));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(sim.clone());
        let thread = std::thread::Builder::new()
            .name("pypi-sim".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the generator's runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    tokio::select! {
                        r = axum::serve(listener, app) => r.expect("the generator serves"),
                        _ = stopped => {}
                    }
                });
                rt.shutdown_timeout(std::time::Duration::from_secs(1));
            })
            .expect("the generator's thread");
        PypiSim {
            sim,
            base,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The simple index's address (`…/simple/`).
    pub fn simple_url(&self) -> String {
        format!("{}/simple/", self.base)
    }

    /// The JSON API's address (`…/pypi`, pages at `…/pypi/<name>/json`).
    pub fn json_url(&self) -> String {
        format!("{}/pypi", self.base)
    }

    /// The XML-RPC address.
    pub fn xmlrpc_url(&self) -> String {
        format!("{}/pypi", self.base)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> Requests {
        let c = &self.sim.counters;
        Requests {
            list: c.list.load(Ordering::SeqCst),
            page: c.page.load(Ordering::SeqCst),
            not_modified: c.not_modified.load(Ordering::SeqCst),
            json: c.json.load(Ordering::SeqCst),
            xmlrpc: c.xmlrpc.load(Ordering::SeqCst),
        }
    }

    /// The newest serial.
    pub fn last_serial(&self) -> i64 {
        self.sim.mutable.read().unwrap().last_serial
    }

    /// Project `i` as it is now (`None` if removed or out of range).
    pub fn project(&self, i: usize) -> Option<SimProject> {
        (i < self.sim.n)
            .then(|| self.sim.project(&self.sim.mutable.read().unwrap(), i))
            .flatten()
    }

    /// The project of a canonical name, as it is now.
    pub fn project_named(&self, canonical: &str) -> Option<SimProject> {
        self.project(self.sim.index_of(canonical)?)
    }

    /// Every project there is now.
    pub fn projects(&self) -> Vec<SimProject> {
        let m = self.sim.mutable.read().unwrap();
        (0..self.sim.n)
            .filter_map(|i| self.sim.project(&m, i))
            .collect()
    }

    /// Every (canonical name, version) there is now.
    pub fn versions(&self) -> BTreeSet<(String, String)> {
        self.projects()
            .into_iter()
            .flat_map(|p| {
                p.versions
                    .into_iter()
                    .map(move |v| (p.canonical.clone(), v.version))
            })
            .collect()
    }

    /// Makes every XML-RPC call fail this way from now on; `None` serves them again.
    pub fn fail_xmlrpc(&self, failure: Option<XmlRpcFailure>) {
        *self.sim.xmlrpc_failure.lock().unwrap() = failure;
    }

    /// The changelog after `serial`, as `changelog_since_serial` answers it.
    pub fn changelog(&self, serial: i64) -> Vec<Event> {
        self.sim.changelog(serial)
    }

    fn push(&self, m: &mut Mutable, name: &str, version: Option<&str>, action: String) -> i64 {
        m.last_serial += 1;
        let serial = m.last_serial;
        m.log.push(Event {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            timestamp: time_of(serial),
            action,
            serial,
        });
        serial
    }

    /// Gives `k` projects (spread over the index, different ones each round) a new version
    /// with an sdist and a wheel; returns their canonical names.
    pub fn change(&self, k: usize) -> Vec<String> {
        let sim = &self.sim;
        let mut m = sim.mutable.write().unwrap();
        let live: Vec<usize> = (0..sim.n)
            .filter(|i| !m.changed.get(i).is_some_and(|c| c.removed))
            .collect();
        let k = k.min(live.len());
        m.rounds += 1;
        let start = m.rounds * 7919;
        let mut names = Vec::with_capacity(k);
        for j in 0..k {
            let i = live[(start + j * live.len() / k) % live.len()];
            let Some(p) = sim.project(&m, i) else {
                continue;
            };
            let version = sim.version_string(i, p.versions.len());
            let first = self.push(&mut m, &p.name, Some(&version), "new release".into());
            let shape = Shape {
                files: 2,
                binary_only: false,
                yanked: false,
            };
            for f in sim.files(i, &version, shape, first + 1) {
                let action = format!("add {} file {}", f.tag, f.filename);
                self.push(&mut m, &p.name, Some(&version), action);
            }
            let last = m.last_serial;
            let c = m.changed.entry(i).or_default();
            c.extra.push(first);
            c.last_serial = last;
            names.push(p.canonical);
        }
        names
    }

    /// Removes project `i` (a `remove project` event); false if it was not there.
    pub fn remove(&self, i: usize) -> bool {
        let sim = &self.sim;
        let mut m = sim.mutable.write().unwrap();
        if i >= sim.n || m.changed.get(&i).is_some_and(|c| c.removed) {
            return false;
        }
        let name = sim.name(i);
        let serial = self.push(&mut m, &name, None, "remove project".into());
        let c = m.changed.entry(i).or_default();
        c.removed = true;
        c.last_serial = serial;
        true
    }
}

impl Drop for PypiSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
