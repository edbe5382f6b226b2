//! What the protocol benchmarks share: options, medians and the Python peers.

use std::path::PathBuf;
use std::process::Command;

/// A command-line option `name VALUE`, else the environment variable `env`.
pub fn option(name: &str, env: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
}

/// The median of `v` (the upper one of an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The Python to run the peers with: `PIWHEELS_TEST_PYTHON`, else the one
/// `scripts/py-env` makes (cbor2, pyzmq, voluptuous).
pub fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PIWHEELS_TEST_PYTHON") {
        return Ok(p.into());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/py-env");
    let out = Command::new(script)
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().into())
}
