//! The build targets as the pages show them: the home page's table of what the farm
//! builds, and the status icons of a project page's releases table.

use piwheels_db::abi::AbiKey;
use piwheels_db::{BuildStatus, Target, TargetStatus};

use crate::output::log_url;

/// The Debian release each old piwheels ABI was built on (piwheels.md §6.5).
pub fn distro(abi: &str) -> Option<&'static str> {
    Some(match abi {
        "cp34m" => "Jessie",
        "cp35m" => "Stretch",
        "cp37m" => "Buster",
        "cp39" => "Bullseye",
        "cp311" => "Bookworm",
        "cp313" => "Trixie",
        _ => return None,
    })
}

/// `Python 3.11` for a CPython ABI, the tag itself for any other.
pub fn python(t: &Target) -> String {
    match t.abi_key() {
        AbiKey::CPython { major, minor, .. } => format!("Python {major}.{minor}"),
        AbiKey::Other(tag) => tag,
    }
}

/// `Bookworm / Python 3.11` (or just the Python when the ABI has no known release).
pub fn os_python(t: &Target) -> String {
    match distro(&t.abi) {
        Some(d) => format!("{d} / {}", python(t)),
        None => python(t),
    }
}

/// A row of the home page's targets table.
#[derive(Debug)]
pub struct TargetRow {
    /// `Bookworm / Python 3.11`.
    pub os_python: String,
    /// The ABI tag.
    pub abi: String,
    /// The platform tag.
    pub platform: String,
    /// Why the target is not built (`""` when it is).
    pub skip: String,
}

/// The home page's rows, from the database's build targets (in target order) with their
/// skip reasons.
pub fn target_rows(targets: &[(Target, String)]) -> Vec<TargetRow> {
    targets
        .iter()
        .map(|(t, skip)| TargetRow {
            os_python: os_python(t),
            abi: t.abi.clone(),
            platform: t.platform.clone(),
            skip: skip.clone(),
        })
        .collect()
}

/// A cell of a project page's releases table: one target's status for one release.
#[derive(Debug)]
pub struct Cell {
    /// `success`, `fail`, `skip`, `pending` or `error`: the icon is
    /// `/status-<status>.svg`.
    pub status: &'static str,
    /// What the icon says, for its `alt` and `title`.
    pub text: &'static str,
    /// The build log, when there is a build.
    pub log: Option<String>,
}

impl Cell {
    /// The cell of a target's status (`None`: not built yet).
    pub fn new(status: Option<&TargetStatus>) -> Cell {
        let (status, log) = match status {
            Some(s) => (s.status, s.build_id.and_then(log_url)),
            None => (BuildStatus::Pending, None),
        };
        let text = match status {
            BuildStatus::Success => "Built",
            BuildStatus::Fail => "Build failed",
            BuildStatus::Skip => "Skipped",
            BuildStatus::Pending => "Not built yet",
            BuildStatus::Error => "Built, but no wheel installs here",
        };
        Cell {
            status: status.as_str(),
            text,
            log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            os_python(&Target::new("cp311", "linux_armv7l")),
            "Bookworm / Python 3.11"
        );
        assert_eq!(
            os_python(&Target::new("cp312", "linux_aarch64")),
            "Python 3.12"
        );
        assert_eq!(os_python(&Target::new("pp73", "linux_aarch64")), "pp73");
        let c = Cell::new(Some(&TargetStatus {
            status: BuildStatus::Fail,
            build_id: Some(12),
        }));
        assert_eq!((c.status, c.log.is_some()), ("fail", true));
        assert_eq!(Cell::new(None).status, "pending");
    }
}
