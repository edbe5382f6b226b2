//! Facts about the build interpreter and the machine, reported in `HELLO`.
//!
//! The interpreter that builds is asked once, at start, as the build user, so that what
//! the master is told (ABI, platform, Python version) is what the builds produce, and so
//! that an interpreter the build user cannot run is found at once, not at the first build.

use std::process::{Command, Stdio};

pub use piwheels_protocol::machine::MachineFacts;

use crate::SlaveError;
use crate::user::BuildUser;

/// What the build interpreter says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonFacts {
    /// The interpreter as given (`--python`).
    pub python: String,
    /// `packaging.tags.interpreter_version()`, e.g. `311`.
    pub py_version: String,
    /// The native ABI tag, e.g. `cp311`: the first tag the interpreter supports.
    pub abi: String,
    /// `sysconfig.get_platform()` with `-` and `.` as `_`, e.g. `linux_x86_64`.
    pub platform: String,
    /// pip's version.
    pub pip_version: String,
    /// `sys.executable`: the interpreter's absolute path.
    pub executable: std::path::PathBuf,
    /// Where the interpreter's files are: its prefixes, its executable's directories
    /// and every directory (or zip) on `sys.path`. A sandboxed build sees these.
    pub paths: Vec<std::path::PathBuf>,
}

/// Prints `key=value` lines. Uses pip's own copy of `packaging` (pip is needed anyway),
/// else an installed `packaging`, else works the tags out from `sys` and `sysconfig`.
const PROBE: &str = r#"
import sys, sysconfig
import pip
try:
    from pip._vendor.packaging import tags
except Exception:
    try:
        from packaging import tags
    except Exception:
        tags = None
if tags is not None:
    py_version = tags.interpreter_version()
    abi = next(iter(tags.sys_tags())).abi
else:
    py_version = "%d%d" % sys.version_info[:2]
    abi = "cp" + py_version
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        abi += "t"
    if hasattr(sys, "gettotalrefcount"):
        abi += "d"
platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
print("py_version=" + py_version)
print("abi=" + abi)
print("platform=" + platform)
print("pip=" + pip.__version__)
import os
print("executable=" + sys.executable)
paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
         os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))]
paths += [p for p in sys.path if p and os.path.exists(p)]
for p in paths:
    if "\n" not in p:
        print("path=" + os.path.realpath(p))
"#;

impl PythonFacts {
    /// Runs `python` once, as `user`, to learn its tags.
    ///
    /// # Errors
    ///
    /// [`SlaveError::Python`] if it cannot be started, fails (no pip, say), or prints
    /// something unexpected; the message carries what it printed.
    pub fn probe(python: &str, user: &BuildUser) -> Result<Self, SlaveError> {
        let mut cmd = Command::new(python);
        cmd.args(["-c", PROBE])
            .stdin(Stdio::null())
            .current_dir("/");
        user.prepare(&mut cmd);
        let who = if user.switch {
            format!(" as {}", user.name)
        } else {
            String::new()
        };
        let out = cmd
            .output()
            .map_err(|e| SlaveError::Python(format!("cannot run {python}{who}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(SlaveError::Python(format!(
                "{python}{who} failed ({}); it needs pip. It said: {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let get = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    SlaveError::Python(format!("{python} did not say its {key}: {stdout}"))
                })
        };
        Ok(PythonFacts {
            python: python.to_owned(),
            py_version: get("py_version")?,
            abi: get("abi")?,
            platform: get("platform")?,
            pip_version: get("pip")?,
            executable: get("executable")?.into(),
            paths: stdout
                .lines()
                .filter_map(|l| l.strip_prefix("path="))
                .map(std::path::PathBuf::from)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use piwheels_protocol::machine::{cpuinfo_field, os_release_field};

    #[test]
    fn os_release() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION='12 (bookworm)'\nID=debian\n";
        assert_eq!(
            os_release_field(t, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(
            os_release_field(t, "VERSION").as_deref(),
            Some("12 (bookworm)")
        );
        assert_eq!(os_release_field(t, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release_field(t, "HOME_URL"), None);
    }

    #[test]
    fn cpuinfo() {
        let t = "processor\t: 0\nRevision\t: c03111\nSerial\t\t: 10000000abcdef\n";
        assert_eq!(cpuinfo_field(t, "Revision").as_deref(), Some("c03111"));
        assert_eq!(
            cpuinfo_field(t, "Serial").as_deref(),
            Some("10000000abcdef")
        );
    }
}
