//! The test environment's peers and servers, found once per process: the Python with
//! pyzmq and cbor2 that plays the original's peers, the PostgreSQL server the database
//! tests use, the build back-ends' wheels for a local package index. Each comes from an
//! environment variable that `scripts/test-all` sets, else from the script that makes it
//! (with a deadline: a script that hangs fails the test that waits for it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{output_within, try_output_within};
use crate::workspace_root;

/// A Python with cbor2, pyzmq and voluptuous (the original's peers):
/// `PIWHEELS_TEST_PYTHON`, else the venv `scripts/py-env` makes. `None` if neither works
/// (the reason is printed).
pub fn peer_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("PIWHEELS_TEST_PYTHON") {
                return Some(PathBuf::from(p));
            }
            // It may make the venv first (pip installs): minutes, not for ever.
            let out = output_within(
                &mut Command::new(workspace_root().join("scripts/py-env")),
                b"",
                Duration::from_secs(600),
                "scripts/py-env",
            );
            if !out.status.success() {
                eprintln!(
                    "scripts/py-env failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
        })
        .clone()
}

/// The superuser connection string of the test PostgreSQL server: `PIWHEELS_TEST_PG`, else
/// what `scripts/pg-env` prints (it may start a server first). `Err` says why there is
/// none.
pub fn pg_superuser() -> Result<String, String> {
    static DSN: OnceLock<Result<String, String>> = OnceLock::new();
    DSN.get_or_init(|| {
        if let Ok(dsn) = std::env::var("PIWHEELS_TEST_PG")
            && !dsn.is_empty()
        {
            return Ok(dsn);
        }
        let out = try_output_within(
            &mut Command::new(workspace_root().join("scripts/pg-env")),
            b"",
            Duration::from_secs(300),
            "scripts/pg-env",
        )
        .map_err(|e| format!("scripts/pg-env: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/pg-env failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    })
    .clone()
}

/// Whether the PostgreSQL tests must run (`PIWHEELS_REQUIRE_PG` is set, as
/// `scripts/test-all` sets it once it has a server): then a test without a server fails
/// instead of being skipped.
pub fn pg_required() -> bool {
    std::env::var_os("PIWHEELS_REQUIRE_PG").is_some()
}

/// The directory holding the wheels of the build back-ends pip needs for build isolation
/// (setuptools, wheel): `PIWHEELS_TEST_BUILD_DEPS`, else what `scripts/py-build-deps`
/// prints, run with `python` if given, else with the script's default (it may download
/// them first). `Err` says why there are none.
pub fn build_deps(python: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PIWHEELS_TEST_BUILD_DEPS") {
        return Ok(PathBuf::from(dir));
    }
    let root = workspace_root();
    let script = root.join("scripts/py-build-deps");
    // It may download them first: minutes, not for ever.
    let mut command = Command::new("sh");
    command.arg(&script).current_dir(root);
    if let Some(python) = python {
        command.env("PYTHON", python);
    }
    let out = try_output_within(
        &mut command,
        b"",
        Duration::from_secs(600),
        "scripts/py-build-deps",
    )
    .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/py-build-deps could not fetch setuptools and wheel (no network?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}
