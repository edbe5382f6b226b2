//! The sandbox every build runs in when the slave is root ([`butter::sandbox`]).
//!
//! A build sees the system's programs and libraries, the interpreter's own files and any
//! configured paths, all read-only; its build directory, at the same path as on the host,
//! is the only place it can write, with a fresh `/tmp` and `/dev/shm`. It runs as the
//! build user in new mount, PID, UTS and IPC namespaces, under no_new_privs and butter's default seccomp deny-list,
//! with limits on processes, file size and (if set) memory. Ending the sandbox's init
//! ends every process of the build, however it forked or detached.
//!
//! Its network is the slave's `--build-network` ([`BuildNetwork`]): by default (`index`)
//! a network namespace of its own with only loopback and the slave's build proxy
//! ([`crate::netproxy`]), which reaches only the index hosts; `full` is the host's
//! network; `none` is loopback only.
//!
//! A slave that is not root cannot build the sandbox: it falls back to following the
//! build's processes ([`crate::tree`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use butter::sandbox::{Limit, SYSTEM_PATHS, Sandbox};

use crate::netproxy::{BuildProxy, Target};
use crate::user::BuildUser;

/// What a sandboxed build's network reaches (the slave's `--build-network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildNetwork {
    /// Only loopback of its own and the slave's build proxy, which forwards only to the
    /// index hosts (the default).
    #[default]
    Index,
    /// The host's whole network.
    Full,
    /// Only loopback of its own: the index must be bound in (a `file://` index).
    None,
}

impl std::str::FromStr for BuildNetwork {
    type Err = BadBuildNetwork;

    fn from_str(s: &str) -> Result<BuildNetwork, BadBuildNetwork> {
        match s {
            "index" => Ok(BuildNetwork::Index),
            "full" => Ok(BuildNetwork::Full),
            "none" => Ok(BuildNetwork::None),
            _ => Err(BadBuildNetwork(s.to_owned())),
        }
    }
}

impl std::fmt::Display for BuildNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BuildNetwork::Index => "index",
            BuildNetwork::Full => "full",
            BuildNetwork::None => "none",
        })
    }
}

/// A `--build-network` that is not `index`, `full` or `none`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a build network: index, full or none")]
pub struct BadBuildNetwork(String);

/// How builds are isolated (the slave's `--build-network`, `--build-proxy-allow`,
/// `--sandbox-bind`, `--build-memory`, `--build-processes`, `--build-file-size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// What builds reach of the network (default [`BuildNetwork::Index`]).
    pub network: BuildNetwork,
    /// In `index` mode, hosts the build proxy forwards to beyond the index URLs' (an
    /// index whose files are served from another host needs that host here).
    pub proxy_allow: Vec<Target>,
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
            network: BuildNetwork::Index,
            proxy_allow: Vec::new(),
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

    /// In `index` mode, the hosts and ports a build whose pip uses `index_urls` may
    /// reach through the build proxy: theirs and the configured ones (`--build-proxy-allow`);
    /// `None` in the other modes.
    ///
    /// # Errors
    ///
    /// An index URL the proxy cannot forward to.
    pub fn reachable<'a>(
        &self,
        index_urls: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<Vec<Target>>, crate::netproxy::ProxyError> {
        if self.config.network != BuildNetwork::Index {
            return Ok(None);
        }
        let mut allowed = Vec::new();
        for url in index_urls {
            if let Some(t) = crate::netproxy::url_target(url)? {
                allowed.push(t);
            }
        }
        for t in &self.config.proxy_allow {
            allowed.push(t.clone());
        }
        let mut seen = std::collections::HashSet::new();
        allowed.retain(|t| seen.insert(t.clone()));
        Ok(Some(allowed))
    }

    /// In `index` mode, the build proxy for a build whose pip uses `index_urls`
    /// ([`crate::netproxy`]), forwarding to the [`reachable`](Self::reachable) hosts;
    /// `None` in the other modes.
    ///
    /// # Errors
    ///
    /// An index URL the proxy cannot forward to, or the proxy cannot be started.
    pub fn proxy<'a>(
        &self,
        index_urls: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<BuildProxy>, crate::netproxy::ProxyError> {
        match self.reachable(index_urls)? {
            Some(allowed) => BuildProxy::start(allowed).map(Some),
            None => Ok(None),
        }
    }

    /// The sandbox running `program args` as `user`, in `dir` (writable, at the same
    /// path inside), with `env` on top of the [`PASSED_ENV`] variables that are set. In
    /// `index` mode it joins `proxy`'s network namespace, with the environment pointing
    /// at it (without a proxy, it gets loopback only).
    ///
    /// # Errors
    ///
    /// The proxy's namespace descriptor cannot be duplicated.
    pub fn command(
        &self,
        program: &Path,
        args: &[String],
        dir: &Path,
        user: &BuildUser,
        env: &[(&str, OsString)],
        proxy: Option<&BuildProxy>,
    ) -> butter::Result<Sandbox> {
        let mut sb = Sandbox::new(program)
            .args(args)
            .system_root()
            .hostname("piwheels-build");
        sb = match (self.config.network, proxy) {
            (BuildNetwork::Full, _) => sb.network(true),
            (BuildNetwork::Index, Some(p)) => sb.join_network(p.netns())?,
            (BuildNetwork::Index | BuildNetwork::None, _) => sb.network(false),
        };
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
        if let (BuildNetwork::Index, Some(p)) = (self.config.network, proxy) {
            for (k, v) in p.env() {
                sb = sb.env(k, v);
            }
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
        Ok(sb)
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
