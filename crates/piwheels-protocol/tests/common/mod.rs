//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Says why a test is skipped, on stdout and in `target/tmp/skipped-tests.txt`
/// (which `scripts/test-all` lists after the run).
pub fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED {test}: {why}");
    println!("{line}");
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/tmp"));
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("skipped-tests.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A Python with cbor2, pyzmq and voluptuous: `PIWHEELS_TEST_PYTHON`, else the venv
/// `scripts/py-env` makes. `None` if neither works.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("PIWHEELS_TEST_PYTHON") {
                return Some(PathBuf::from(p));
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/py-env");
            let out = Command::new(script).output().ok()?;
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

/// Bytes from hex digits (spaces allowed between them, for readable frames).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
