//! What every crate's integration tests share, in one place: a skip that says why (never a
//! silent one), the root check, deadlines on child processes and blocking waits
//! ([`process`]), and the test environment's peers and servers ([`setup`]: the Python with
//! pyzmq and cbor2, the PostgreSQL server, the build back-ends' wheels).
//!
//! Each crate's tests are one binary (`tests/it/main.rs`); under `cargo test` all of its
//! tests run as threads of one process, under `cargo nextest run` each in a process of its
//! own. So nothing here keeps process-wide state beyond caches that are the same for
//! every test, and [`process_lock`] serialises the few tests that must change such state.
//!
//! Crate-specific fixtures stay in their crate's `tests/it/` modules. This crate depends on
//! none of the workspace's crates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub mod process;
pub mod setup;

/// The workspace's root directory.
pub fn workspace_root() -> &'static Path {
    // This crate lives in `crates/test-support`.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Where skipped tests are listed, for `scripts/test-all` to print after the run (the
/// test runner hides the output of tests that pass): `target/tmp/skipped-tests.txt`.
pub fn skip_log() -> PathBuf {
    workspace_root().join("target/tmp/skipped-tests.txt")
}

/// Says why `test` is skipped (never silently): `SKIPPED <test>: <why>` on stderr, and the
/// same line appended to [`skip_log`].
pub fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("{line}");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Whether the tests run as root (effective user id 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the tests run as root; if not, says that `test` is skipped because it needs
/// root ([`skip`]).
pub fn root_or_skip(test: &str) -> bool {
    let root = is_root();
    if !root {
        skip(test, "needs root");
    }
    root
}

/// Serialises the tests that change process-wide state (signal dispositions,
/// process-directed signals, the working directory, environment variables, rlimits):
/// hold the guard for as long as the change lasts. A test that panicked while holding it
/// does not poison it for the others.
pub fn process_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
