//! Helpers for the core tasks' tests: a hub on a real SQLite database in a temporary
//! directory, real wheels, and a real file-transfer client.
#![allow(dead_code)]

pub mod farm;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use indexmap::IndexMap;
use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Inboxes};
use piwheels_master::slave_id::SlaveId;
use piwheels_protocol::states::FileState;
use piwheels_protocol::transfer::{ServerFrame, chunk_frames, hello_frames};
use piwheels_protocol::transport::asynchronous::RawDealer;
use piwheels_protocol::transport::{SocketOptions, zmq};
use sha2::{Digest, Sha256};

pub use test_support::process::output_within;
pub use test_support::setup::peer_python as python;
pub use test_support::skip;

/// A new SQLite database `dir/piwheels.db` with the build target cp311/linux_armv7l, and a
/// master configuration on it with its output in `dir/www`: the DSN, the database, the
/// configuration.
pub async fn sqlite_master(dir: &Path) -> (String, Database, MasterConfig) {
    let dsn = format!("sqlite:{}", dir.join("piwheels.db").display());
    let db = Database::create(&dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    let config = MasterConfig::new(&dsn, dir.join("www"));
    (dsn, db, config)
}

/// Awaits `future` for at most `timeout`; fails, saying it waited for `what`, after that.
pub async fn within<T>(timeout: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(timeout, future).await {
        Ok(value) => value,
        Err(_) => panic!("no {what} within {timeout:?}"),
    }
}

/// Waits until `test` holds (polling every 50 ms), failing with `what` after 20 s.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut test: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !test().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs to the test's output (once per process).
pub fn logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    });
}

/// A temporary farm: directory, database, configuration.
pub struct Env {
    /// The directory (database, output, ipc sockets).
    pub dir: tempfile::TempDir,
    /// The configuration.
    pub config: MasterConfig,
}

impl Env {
    /// A fresh database (target cp311/linux_x86_64 enabled, foo 1.0 and bar 1.0 known)
    /// and a configuration on loopback ports the system picks.
    pub async fn new() -> Env {
        logging();
        let dir = tempfile::tempdir().unwrap();
        let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
        let db = Database::create(&dsn).await.unwrap();
        db.add_build_target(&target()).await.unwrap();
        for pkg in ["foo", "bar"] {
            db.add_new_package(pkg, "", "a package").await.unwrap();
            db.add_new_package_version(pkg, "1.0", Some(Utc::now()), "")
                .await
                .unwrap();
        }
        let out = dir.path().join("www");
        let mut config = MasterConfig::new(dsn, &out);
        let ipc = |name: &str| format!("ipc://{}", dir.path().join(name).display());
        config.status_queue = ipc("status");
        config.control_queue = ipc("control");
        config.import_queue = ipc("import");
        config.log_queue = ipc("logger");
        config.slave_queue = "tcp://127.0.0.1:*".into();
        config.file_queue = "tcp://127.0.0.1:*".into();
        config.web_listen = Some("127.0.0.1:0".parse().unwrap());
        // Nothing listens here: CloudGazer only logs that it cannot reach it.
        config.upstream = Some("http://127.0.0.1:9/simple".into());
        config.build_index = Some("http://127.0.0.1:9/simple".into());
        config.follow = Some(Vec::new());
        config.min_free_space = 0;
        Env { dir, config }
    }

    /// A hub on this farm's database.
    pub async fn hub(&self) -> (Hub, Inboxes) {
        let db = Database::open(&self.config.dsn).await.unwrap();
        Hub::new(db, self.config.clone())
    }

    /// `OUT/simple`.
    pub fn simple(&self) -> PathBuf {
        self.config.output_path.join("simple")
    }
}

/// The build target the tests' slaves have.
pub fn target() -> Target {
    Target::new("cp311", "linux_x86_64")
}

/// Pseudo-random bytes (xorshift), so chunks differ.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The METADATA the test wheels carry.
pub fn metadata(package: &str, version: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {package}\nVersion: {version}\nSummary: a test wheel\n")
}

/// A real wheel (zip) for `package` `version`, with `extra` bytes of payload.
pub fn wheel(package: &str, version: &str, extra: usize) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("{package}/__init__.py"), deflated)
            .unwrap();
        zip.write_all(b"VALUE = 1\n").unwrap();
        zip.start_file(format!("{package}/data.bin"), stored)
            .unwrap();
        zip.write_all(&noise(extra, 7)).unwrap();
        let info = format!("{package}-{version}.dist-info");
        zip.start_file(format!("{info}/METADATA"), deflated)
            .unwrap();
        zip.write_all(metadata(package, version).as_bytes())
            .unwrap();
        zip.start_file(format!("{info}/WHEEL"), deflated).unwrap();
        zip.write_all(b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            .unwrap();
        zip.start_file(format!("{info}/RECORD"), deflated).unwrap();
        zip.write_all(b"").unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

/// The slave id a test names by a small number.
pub fn sid(id: u64) -> SlaveId {
    SlaveId::try_from(id).expect("a slave id")
}

/// SHA-256, lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The file state of `data` named `filename`, with the tags its name says (`platform`
/// where the name has none).
pub fn file_state(filename: &str, data: &[u8], platform: &str) -> FileState {
    let parts: Vec<&str> = filename.trim_end_matches(".whl").split('-').collect();
    let tag = |from_end: usize, default: &str| -> String {
        if parts.len() >= 5 {
            parts[parts.len() - from_end].into()
        } else {
            default.into()
        }
    };
    FileState {
        filename: filename.into(),
        filesize: data.len() as i64,
        filehash: sha256(data),
        package_tag: parts.first().copied().unwrap_or("").into(),
        package_version_tag: parts.get(1).copied().unwrap_or("").into(),
        py_version_tag: tag(3, "py3"),
        abi_tag: tag(2, "none"),
        platform_tag: tag(1, platform),
        requires_python: None,
        dependencies: IndexMap::new(),
        location: "/simple".into(),
    }
}

/// A DEALER connected to the file queue.
pub fn dealer(endpoint: &str) -> RawDealer {
    dealer_with_linger(endpoint, Duration::ZERO)
}

/// [`dealer`], keeping what it sent but ZeroMQ has not written yet for up to `linger`
/// after it is dropped.
pub fn dealer_with_linger(endpoint: &str, linger: Duration) -> RawDealer {
    let ctx = zmq::Context::new();
    RawDealer::connect(&ctx, endpoint, &SocketOptions::new().linger(Some(linger))).unwrap()
}

/// What [`send_file`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// FETCHes answered.
    pub chunks: usize,
    /// Whether DONE arrived.
    pub done: bool,
}

/// Sends `data` as slave `slave_id` does: HELLO, CHUNK for every FETCH, until DONE, or
/// until `max_chunks` chunks were sent (then the socket is dropped, as by a killed slave).
/// Re-sends HELLO after a silent second.
///
/// A chunk it sent reaches the master even when the socket is dropped at once after it, as
/// a killed slave's last write does (the kernel delivers it): the socket lingers up to 5 s
/// to write it. With no linger, ZeroMQ discards what its I/O thread has not written yet,
/// which on a loaded machine made the chunk vanish and a resumed transfer fetch it again.
pub async fn send_file(
    endpoint: &str,
    slave_id: u64,
    data: &[u8],
    max_chunks: Option<usize>,
) -> Sent {
    let linger = if max_chunks.is_some() {
        Duration::from_secs(5)
    } else {
        Duration::ZERO
    };
    let mut d = dealer_with_linger(endpoint, linger);
    d.send(hello_frames(slave_id)).await.unwrap();
    let mut sent = Sent::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if max_chunks.is_some_and(|m| sent.chunks >= m) {
            return sent;
        }
        let frames = match tokio::time::timeout(Duration::from_secs(1), d.recv()).await {
            Ok(frames) => frames.unwrap(),
            Err(_) => {
                assert!(tokio::time::Instant::now() < deadline, "transfer stalled");
                d.send(hello_frames(slave_id)).await.unwrap();
                continue;
            }
        };
        match ServerFrame::parse(&frames).unwrap() {
            ServerFrame::Done => {
                sent.done = true;
                return sent;
            }
            ServerFrame::Fetch { offset, length } => {
                let start = (offset as usize).min(data.len());
                let end = (offset + length).min(data.len() as u64) as usize;
                d.send(chunk_frames(offset, data[start..end].to_vec()))
                    .await
                    .unwrap();
                sent.chunks += 1;
            }
        }
    }
}

/// The names in the output's staging folder (uploads and verified wheels), sorted.
pub fn staging(env: &Env) -> Vec<String> {
    let dir = env.simple().join(piwheels_master::output::STAGING);
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every entry under `dir`, relative, sorted (symlinks not followed), but for the output's
/// staging folder (see [`staging`]).
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name() == piwheels_master::output::STAGING {
                continue;
            }
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `piw-add PACKAGE`, as the import queue carries it.
pub fn addpkg(package: &str) -> piwheels_protocol::import::AddPackage {
    piwheels_protocol::import::AddPackage {
        package: package.into(),
        description: String::new(),
        skip: String::new(),
        unskip: false,
        aliases: vec![],
    }
}

/// `piw-add PACKAGE VERSION`, released now.
pub fn addver(package: &str, version: &str) -> piwheels_protocol::import::AddVersion {
    piwheels_protocol::import::AddVersion {
        package: package.into(),
        version: version.into(),
        skip: String::new(),
        unskip: false,
        released: chrono::Utc::now(),
        yank: false,
        unyank: false,
        aliases: vec![],
    }
}
