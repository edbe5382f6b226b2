//! What every crate's integration tests share, in one place: a skip that says why (never a
//! silent one), the root check, deadlines on child processes and blocking waits
//! ([`process`]), and the test environment's peers and servers ([`setup`]: the Python with
//! pyzmq and cbor2, the PostgreSQL server, the build back-ends' wheels).
//!
//! Each crate's tests are one binary (`tests/it/main.rs`); under `cargo test` all of its
//! tests run as threads of one process, under `cargo nextest run` each in a process of its
//! own. So nothing here keeps process-wide state beyond caches that are the same for
//! every test; a test that must change process-wide state (rlimits, namespaces, signal
//! masks, process-directed signals) does it in a forked child (butter's `in_child`), on a
//! thread of its own (signal masks), or, for SIGTERM, keeps the signal handled for the
//! whole process first (the master's `core_master` tests).
//!
//! Crate-specific fixtures stay in their crate's `tests/it/` modules. This crate depends on
//! none of the workspace's crates.

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Whether the tests run as root; if not, says that `test` is skipped, and `why` it needs
/// root ([`skip`]).
pub fn root_or_skip(test: &str, why: &str) -> bool {
    let root = is_root();
    if !root {
        skip(test, why);
    }
    root
}
