//! The sandbox every build runs in when the slave is root ([`butter::sandbox`]).
//!
//! A build sees the system's programs and libraries, the interpreter's own files and any
//! configured paths, all read-only; its build directory, at the same path as on the host,
//! is the only place it can write, with a fresh `/tmp` and `/dev/shm`. It runs as the
//! build user in new mount, PID, UTS and IPC namespaces (and a new network namespace when
//! the network is turned off), under no_new_privs and butter's default seccomp deny-list,
//! with limits on processes, file size and (if set) memory. Ending the sandbox's init
//! ends every process of the build, however it forked or detached.
//!
//! A slave that is not root cannot build the sandbox: it falls back to following the
//! build's processes ([`crate::tree`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use butter::sandbox::{Limit, SYSTEM_PATHS, Sandbox};

use crate::user::BuildUser;

/// How builds are isolated (the slave's `--no-build-network`, `--sandbox-bind`,
/// `--build-memory`, `--build-processes`, `--build-file-size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Whether builds reach the network (default `true`: pip downloads from the index
    /// and build dependencies from wherever they come). With `false` a build has only a
    /// loopback interface of its own.
    pub network: bool,
    /// Host paths a build sees read-only at the same place, beyond the system's
    /// ([`SYSTEM_PATHS`]) and the interpreter's.
    pub binds: Vec<PathBuf>,
    /// Address-space limit of each build process, bytes (default none: compilers and
    /// runtimes reserve far more than they use).
    pub memory: Option<u64>,
    /// How many processes the build user may have (default 4096).
    pub processes: Option<u64>,
    /// The largest file a build may write, bytes (default 16 GiB).
    pub file_size: Option<u64>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            network: true,
            binds: Vec::new(),
            memory: None,
            processes: Some(4096),
            file_size: Some(16 << 30),
        }
    }
}

/// Environment variables passed from the slave to builds when set (locale, proxies,
/// certificates); builds get nothing else of the slave's environment.
pub const PASSED_ENV: &[&str] = &[
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
];

/// What a build sees read-only besides [`SYSTEM_PATHS`]: `extra` (the interpreter's
/// paths, configured binds) and the target of `/etc/resolv.conf` when it is a link out
/// of `/etc` (systemd-resolved's lives under `/run`). Paths already visible (under a
/// system path or another bind) and paths that do not exist are left out.
pub fn read_only_paths<'a>(extra: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut wanted: Vec<PathBuf> = extra
        .into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    if std::fs::read_link("/etc/resolv.conf").is_ok()
        && let Ok(target) = std::fs::canonicalize("/etc/resolv.conf")
        && let Some(dir) = target.parent()
    {
        wanted.push(dir.to_owned());
    }
    wanted.sort();
    wanted.dedup();
    let covered = |p: &Path, others: &[PathBuf]| {
        SYSTEM_PATHS.iter().any(|s| p.starts_with(s))
            || others.iter().any(|o| o != p && p.starts_with(o))
    };
    let all = wanted.clone();
    wanted.retain(|p| p != Path::new("/") && !covered(p, &all));
    wanted
}

/// Everything one sandboxed build needs.
#[derive(Debug, Clone)]
pub struct BuildSandbox {
    /// The configuration.
    pub config: SandboxConfig,
    /// The resolved read-only paths ([`read_only_paths`]).
    pub paths: Vec<PathBuf>,
}

impl BuildSandbox {
    /// A sandbox for `config`, seeing the interpreter's `python_paths` too.
    pub fn new(config: SandboxConfig, python_paths: &[PathBuf]) -> BuildSandbox {
        let paths = read_only_paths(
            python_paths
                .iter()
                .chain(&config.binds)
                .map(PathBuf::as_path),
        );
        BuildSandbox { config, paths }
    }

    /// The sandbox running `program args` as `user`, in `dir` (writable, at the same
    /// path inside), with `env` on top of the [`PASSED_ENV`] variables that are set.
    pub fn command(
        &self,
        program: &Path,
        args: &[String],
        dir: &Path,
        user: &BuildUser,
        env: &[(&str, OsString)],
    ) -> Sandbox {
        let mut sb = Sandbox::new(program)
            .args(args)
            .system_root()
            .hostname("piwheels-build")
            .network(self.config.network);
        for p in &self.paths {
            sb = sb.bind(p, p);
        }
        sb = sb.work_dir(dir, dir);
        if user.switch {
            sb = sb.user(user.uid, user.gid);
        }
        for name in PASSED_ENV {
            if let Some(v) = std::env::var_os(name) {
                sb = sb.env(name, v);
            }
        }
        for (k, v) in env {
            sb = sb.env(k, v);
        }
        if let Some(m) = self.config.memory {
            sb = sb.limit(Limit::Memory(m));
        }
        if let Some(n) = self.config.processes {
            sb = sb.limit(Limit::Processes(n));
        }
        if let Some(f) = self.config.file_size {
            sb = sb.limit(Limit::FileSize(f));
        }
        sb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_already_visible_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let ab = a.join("b");
        std::fs::create_dir_all(&ab).unwrap();
        let got = read_only_paths([
            Path::new("/usr/lib"),
            ab.as_path(),
            a.as_path(),
            Path::new("/no/such/path"),
            a.as_path(),
        ]);
        let a = std::fs::canonicalize(&a).unwrap();
        assert!(got.contains(&a), "{got:?}");
        assert!(!got.iter().any(|p| p.starts_with("/usr")), "{got:?}");
        assert!(!got.iter().any(|p| p != &a && p.starts_with(&a)), "{got:?}");
        assert!(!got.iter().any(|p| p.starts_with("/no")), "{got:?}");
    }
}
