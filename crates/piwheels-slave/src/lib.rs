//! The piwheels build slave (piwheels.md §7): asks a master for jobs, builds each with
//! `pip wheel` under a real time limit, analyses the wheels and uploads them.
//!
//! ```no_run
//! use piwheels_slave::{Slave, SlaveConfig};
//!
//! let mut config = SlaveConfig::new("master.example");
//! config.label = "builder1".into();
//! let mut slave = Slave::new(config)?;      // asks the interpreter for its tags
//! piwheels_slave::stop_on_signals(&slave.stop_flag())?; // SIGTERM/SIGINT end it cleanly
//! slave.run()?;                              // until the master says DIE, or a signal
//! # Ok::<(), piwheels_slave::SlaveError>(())
//! ```
//!
//! Where it differs from the original on purpose:
//!
//! - the build timeout is enforced: the whole process tree of a build is ended when it
//!   runs out (the original never stopped a build, piwheels#295);
//! - as root, every build runs in a sandbox ([`sandbox`]): it can write only its build
//!   directory, sees no host process, and cannot outlive its build;
//! - as root it runs builds as an unprivileged user (`run_as`) instead of refusing to
//!   start, and it never runs a build as root;
//! - no extra index is hard-coded; the interpreter is configurable, and the tags it
//!   reports come from that interpreter;
//! - shared-library dependencies come from parsing the ELF files in memory and looking
//!   the libraries up as the loader does, mapped to packages through dpkg's database
//!   (no `ldd` on untrusted files, no python-apt);
//! - any unexpected reply from the master leads to a clean reconnect instead of an exit,
//!   and `RLIMIT_DATA` is not set on the slave itself.
//!
//! Modules: [`protocol`] (the loop), [`builder`], [`wheel`] (analysis), [`elf`],
//! [`dpkg`], [`stats`], [`transfer`] (upload client), [`python`] (interpreter facts),
//! [`sandbox`] (how builds are isolated),
//! [`tree`] (ending a build's processes), [`user`] (who builds run as), [`notify`]
//! (systemd readiness and watchdog).

pub mod builder;
pub mod dpkg;
pub mod elf;
pub mod netproxy;
pub mod notify;
pub mod protocol;
pub mod python;
pub mod sandbox;
pub mod stats;
pub mod transfer;
pub mod tree;
pub mod user;
pub mod wheel;

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use piwheels_protocol::transport::zmq;

pub use builder::{Build, BuildResult, BuildSpec, BuiltWheel};
pub use python::{MachineFacts, PythonFacts};
pub use user::BuildUser;
pub use wheel::WheelAnalyser;

/// The slave's configuration: what `piw-slave`'s options set.
#[derive(Debug, Clone)]
pub struct SlaveConfig {
    /// The master's host name or address (`-m/--master`).
    pub master: String,
    /// The master's slave port (5555).
    pub slave_port: u16,
    /// The master's file-transfer port (5556).
    pub file_port: u16,
    /// The wall-clock limit of one build (`-t/--timeout`, default 3 h); also reported to
    /// the master, which keeps the job from other slaves that long.
    pub build_timeout: Duration,
    /// Where build directories are made (`-d/--dir`, default the system temp dir).
    pub dir: PathBuf,
    /// The label shown on monitors (`-L/--label`, default the host name).
    pub label: String,
    /// The interpreter that builds (`--python`, default `python3`).
    pub python: String,
    /// Who builds run as when the slave is root (`--run-as`, default `nobody`).
    pub run_as: Option<String>,
    /// pip's `--extra-index-url`s (none unless configured).
    pub extra_index_urls: Vec<String>,
    /// How long the slave waits for any reply before reconnecting (5 minutes; told to the
    /// master as the busy timeout).
    pub master_timeout: Duration,
    /// How long to wait after `SLEEP` before asking again: a random time in this range
    /// (5–10 s).
    pub sleep_range: (Duration, Duration),
    /// How often to send `BUSY` while building: a random time in this range (5–10 s).
    pub busy_range: (Duration, Duration),
    /// Between `SIGTERM` and `SIGKILL` when a build is ended (10 s).
    pub kill_grace: Duration,
    /// How builds are sandboxed when the slave is root (`None`: `--no-sandbox`, builds
    /// run as plain processes of the build user).
    pub sandbox: Option<sandbox::SandboxConfig>,
    /// The master's public key and this slave's key pair (`--master-key`, `--key`): with
    /// them the slave and file queues speak CURVE; without, NULL (as the original).
    pub curve: Option<CurveKeys>,
}

/// The keys of a slave that speaks CURVE to its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurveKeys {
    /// The master's public key (its `NAME.key` file).
    pub master: piwheels_protocol::auth::PublicKey,
    /// This slave's key pair (its `NAME.key_secret` file), whose public key must be in the
    /// master's allow-list.
    pub own: piwheels_protocol::auth::KeyPair,
}

impl CurveKeys {
    /// Reads the master's public key file and this slave's secret key file.
    ///
    /// # Errors
    ///
    /// [`SlaveError::Config`] naming the file that cannot be read or holds no key.
    pub fn read(master: &std::path::Path, own: &std::path::Path) -> Result<Self, SlaveError> {
        let master = piwheels_protocol::auth::PublicKey::read(master)
            .map_err(|e| SlaveError::Config(format!("--master-key {}: {e}", master.display())))?;
        let own = piwheels_protocol::auth::KeyPair::read(own)
            .map_err(|e| SlaveError::Config(format!("--key {}: {e}", own.display())))?;
        Ok(CurveKeys { master, own })
    }
}

impl SlaveConfig {
    /// The defaults, for a master on `master`.
    pub fn new(master: impl Into<String>) -> Self {
        SlaveConfig {
            master: master.into(),
            slave_port: piwheels_protocol::slave::SLAVE_PORT,
            file_port: 5556,
            build_timeout: Duration::from_secs(3 * 3600),
            dir: std::env::temp_dir(),
            label: butter::process::gethostname()
                .to_string_lossy()
                .into_owned(),
            python: "python3".into(),
            run_as: None,
            extra_index_urls: Vec::new(),
            master_timeout: Duration::from_secs(300),
            sleep_range: (Duration::from_secs(5), Duration::from_secs(10)),
            busy_range: (Duration::from_secs(5), Duration::from_secs(10)),
            kill_grace: builder::DEFAULT_GRACE,
            sandbox: Some(sandbox::SandboxConfig::default()),
            curve: None,
        }
    }

    /// How the slave's sockets are secured: CURVE with [`SlaveConfig::curve`], else NULL.
    pub fn security(&self) -> piwheels_protocol::transport::Security {
        match &self.curve {
            Some(keys) => piwheels_protocol::transport::Security::CurveClient {
                server: keys.master,
                own: keys.own,
            },
            None => piwheels_protocol::transport::Security::Null,
        }
    }

    /// `tcp://master:port` (IPv6 literals bracketed).
    pub fn endpoint(&self, port: u16) -> String {
        if self.master.contains(':') && !self.master.starts_with('[') {
            format!("tcp://[{}]:{port}", self.master)
        } else {
            format!("tcp://{}:{port}", self.master)
        }
    }
}

/// Why the slave could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SlaveError {
    /// The build interpreter is unusable.
    #[error("build interpreter: {0}")]
    Python(String),
    /// The build user is unusable.
    #[error("build user: {0}")]
    User(String),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The build sandbox cannot be made here.
    #[error("build sandbox: {0}")]
    Sandbox(String),
    /// The clock is wrong.
    #[error("the system clock says {0}, before 2020-06-01: set the clock first")]
    Clock(String),
    /// ZeroMQ failed in a way a reconnect cannot mend.
    #[error("ZeroMQ: {0}")]
    Zmq(#[from] zmq::Error),
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Asks a slave (or an upload, or a wait) to stop, from another thread or a signal
/// handler installed by [`stop_on_signals`].
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

static SIGNALLED: AtomicBool = AtomicBool::new(false);

impl StopFlag {
    /// A flag not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for (here, or by a signal once [`stop_on_signals`] ran).
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) || SIGNALLED.load(Ordering::SeqCst)
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT set every [`StopFlag`] (process-wide): the slave then stops
/// any build, says `BYE` and returns from [`Slave::run`]. For programs, not libraries.
///
/// # Errors
///
/// `sigaction` failing.
pub fn stop_on_signals(_flag: &StopFlag) -> Result<(), SlaveError> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }
            .map_err(|e| SlaveError::Config(format!("sigaction({sig}): {e}")))?;
    }
    Ok(())
}

/// A build slave, ready to run (see the crate docs).
pub struct Slave {
    config: SlaveConfig,
    python: PythonFacts,
    machine: MachineFacts,
    user: BuildUser,
    sandbox: Option<sandbox::BuildSandbox>,
    stop: StopFlag,
    ctx: zmq::Context,
    /// The hosts builds may reach that the log last named ([`Slave::log_reachable`]).
    reach_logged: std::sync::Mutex<Option<Vec<netproxy::Target>>>,
}

impl Slave {
    /// Checks the clock and the build directory, works out the build user and asks the
    /// interpreter for its tags (as that user).
    ///
    /// # Errors
    ///
    /// A clock before 2020-06-01, an unusable build user, directory or interpreter.
    pub fn new(config: SlaveConfig) -> Result<Self, SlaveError> {
        let now = chrono::Utc::now();
        let floor = chrono::NaiveDate::from_ymd_opt(2020, 6, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        if floor.is_some_and(|f| now < f) {
            return Err(SlaveError::Clock(now.to_rfc3339()));
        }
        if !config.dir.is_dir() {
            return Err(SlaveError::Config(format!(
                "the build directory {} does not exist",
                config.dir.display()
            )));
        }
        if config.build_timeout.is_zero() {
            return Err(SlaveError::Config(
                "the build timeout must be positive".into(),
            ));
        }
        let user = BuildUser::resolve(config.run_as.as_deref())?;
        let python = PythonFacts::probe(&config.python, &user)?;
        if user.switch {
            // The build user must be able to reach the build directory (the check runs
            // as that user: std's `current_dir` would change directory as root).
            let mut cmd = std::process::Command::new(&config.python);
            cmd.args(["-c", "import os, sys; os.chdir(sys.argv[1])"])
                .arg(&config.dir)
                .current_dir("/")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            user.prepare(&mut cmd);
            let ok = cmd.status().is_ok_and(|st| st.success());
            if !ok {
                return Err(SlaveError::Config(format!(
                    "builds run as {}, who cannot enter the build directory {}; make it (and \
                     the directories above it) searchable by that user, or choose another --dir",
                    user.name,
                    config.dir.display()
                )));
            }
        }
        let sandbox = match &config.sandbox {
            Some(sc) if user.switch => {
                let sb = sandbox::BuildSandbox::new(sc.clone(), &python.paths);
                check_sandbox(&sb, &config, &user)?;
                Some(sb)
            }
            Some(_) => {
                tracing::warn!(
                    "builds are not sandboxed: only a slave started as root can make the sandbox; the build's processes are followed instead"
                );
                None
            }
            None => None,
        };
        Ok(Slave {
            config,
            python,
            machine: MachineFacts::read(),
            user,
            sandbox,
            stop: StopFlag::new(),
            ctx: zmq::Context::new(),
            reach_logged: std::sync::Mutex::new(None),
        })
    }

    /// In `--build-network index`, logs which hosts builds may reach through the build
    /// proxy with the master's index `index_url`: at the first connection, and again only
    /// if they change. An index that serves its files from another host (a CDN) needs
    /// that host in `--build-proxy-allow`, or every download is refused (403, in the
    /// build log).
    pub(crate) fn log_reachable(&self, index_url: &str) {
        let Some(sandbox) = &self.sandbox else {
            return;
        };
        let urls = std::iter::once(index_url)
            .chain(self.config.extra_index_urls.iter().map(String::as_str));
        let reachable = match sandbox.reachable(urls) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(
                    "builds cannot use the index {index_url} through the build proxy: {e}"
                );
                return;
            }
        };
        let mut logged = self
            .reach_logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged.as_ref() == Some(&reachable) {
            return;
        }
        let hosts: Vec<String> = reachable.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "--build-network index: builds reach only {} through the build proxy; if an index \
             serves its files from another host, add it with --build-proxy-allow HOST:PORT \
             (else pip's downloads from it are refused with 403, noted in the build log)",
            if hosts.is_empty() {
                "no host".to_owned()
            } else {
                hosts.join(", ")
            }
        );
        *logged = Some(reachable);
    }

    /// The flag that stops [`run`](Self::run) (clone it to another thread).
    pub fn stop_flag(&self) -> StopFlag {
        self.stop.clone()
    }

    /// What the interpreter said about itself.
    pub fn python(&self) -> &PythonFacts {
        &self.python
    }

    /// Who builds run as.
    pub fn user(&self) -> &BuildUser {
        &self.user
    }

    /// The sandbox builds run in (`None`: not root, or `--no-sandbox`).
    pub fn sandbox(&self) -> Option<&sandbox::BuildSandbox> {
        self.sandbox.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &SlaveConfig {
        &self.config
    }

    /// Talks to the master until it says `DIE` or the stop flag is set (a signal, with
    /// [`stop_on_signals`]); reconnects as often as needed (master restarts, silences,
    /// unexpected replies). Any running build is stopped and cleaned up before it returns.
    ///
    /// # Errors
    ///
    /// Only what a reconnect cannot mend (the ZeroMQ context failing).
    pub fn run(&mut self) -> Result<(), SlaveError> {
        protocol::run(self)
    }
}

/// Runs the interpreter once in the build sandbox, in a directory like a build's, so that
/// a machine that cannot make the sandbox (no namespaces in a container, say) is found at
/// start, not at the first build.
fn check_sandbox(
    sb: &sandbox::BuildSandbox,
    config: &SlaveConfig,
    user: &BuildUser,
) -> Result<(), SlaveError> {
    let dir = tempfile::Builder::new()
        .prefix("piw-check-")
        .tempdir_in(&config.dir)?;
    user.give(dir.path())?;
    let probe = [
        "-c".to_owned(),
        "import os, pip, sys; open(sys.argv[1], 'w').write('ok')".to_owned(),
        dir.path().join("ok").display().to_string(),
    ];
    let cannot = |e: &dyn std::fmt::Display| {
        SlaveError::Sandbox(format!(
            "cannot make it on this machine ({e}); run the slave where it can use namespaces, or with --no-sandbox"
        ))
    };
    // In `index` mode the build proxy's namespace is made too (forwarding nowhere).
    let proxy = sb.proxy(std::iter::empty()).map_err(|e| cannot(&e))?;
    let out = sb
        .command(
            std::path::Path::new(&config.python),
            &probe,
            dir.path(),
            user,
            &[],
            proxy.as_ref(),
        )
        .map_err(|e| cannot(&e))?
        .timeout(Duration::from_secs(60))
        .run()
        .map_err(|e| cannot(&e))?;
    drop(proxy);
    let wrote = std::fs::read_to_string(dir.path().join("ok")).unwrap_or_default();
    if !out.success() || wrote != "ok" {
        return Err(SlaveError::Sandbox(format!(
            "{} does not run in it ({}): {}{}; bind what it needs with --sandbox-bind, or run \
             with --no-sandbox",
            config.python,
            out.exit,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl std::fmt::Debug for Slave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slave")
            .field("config", &self.config)
            .field("python", &self.python)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A random 64-bit number (from the standard library's randomly keyed hasher): for timing
/// jitter and build markers, not for cryptography.
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A random duration in `[lo, hi]`.
pub fn random_between(lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_millis().max(1) as u64;
    lo + Duration::from_millis(random_u64() % (span + 1))
}

/// Parses a duration: `3h`, `90m`, `4h30m`, `10s`, `1d2h`, `1.5h`, a number of seconds
/// (`600`), or a time of day as the original read it (`3:00`, `03:00:00`). Hours may be
/// any number (≥ 24 allowed).
///
/// # Errors
///
/// [`DurationError`] saying what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let bad = || DurationError::Malformed(text.to_owned());
    let secs = |secs: f64| {
        Duration::try_from_secs_f64(secs).map_err(|_| DurationError::TooLong(text.to_owned()))
    };
    if t.is_empty() {
        return Err(bad());
    }
    if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let mut total = 0f64;
        for (i, p) in parts.iter().enumerate() {
            let v: f64 = p.parse().map_err(|_| bad())?;
            if v < 0.0 || !v.is_finite() || (i > 0 && v >= 60.0) {
                return Err(bad());
            }
            total += v * [3600.0, 60.0, 1.0][i];
        }
        return secs(total);
    }
    if let Ok(n) = t.parse::<f64>() {
        if n.is_finite() && n >= 0.0 {
            return secs(n);
        }
        return Err(bad());
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut any = false;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let mut unit = c.to_ascii_lowercase().to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n.to_ascii_lowercase());
                chars.next();
            } else {
                break;
            }
        }
        let scale = match unit.as_str() {
            "d" | "day" | "days" => 86400.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            _ => return Err(bad()),
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += v * scale;
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    secs(total)
}

/// Why a text is not a duration (see [`parse_duration`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not written as a duration.
    #[error("{0:?} is not a duration (such as 3h, 90m, 4h30m, 10s or 3:00:00)")]
    Malformed(String),
    /// Written as one, but longer than a duration can be.
    #[error("{0:?} is too long a duration")]
    TooLong(String),
}

/// A duration as `4h30m`, `90s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_duration("3h"), Ok(h(3)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("4h30m"), Ok(Duration::from_secs(16200)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("36h"), Ok(h(36)));
        assert_eq!(parse_duration("1d 2h"), Ok(h(26)));
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("3:00"), Ok(h(3)));
        assert_eq!(parse_duration("03:00:00"), Ok(h(3)));
        assert_eq!(parse_duration("30:00:00"), Ok(h(30)));
        for bad in ["", "h", "3x", "3h4", "1:99", "-3h", "1:2:3:4", "abc"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
        // Too long for a duration: an error, not a panic.
        for huge in ["1e300", "99999999999999999999999h", "1e300:00"] {
            assert_eq!(
                parse_duration(huge),
                Err(DurationError::TooLong(huge.into())),
                "{huge}"
            );
        }
        assert_eq!(format_duration(Duration::from_secs(16200)), "4h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(3661)), "1h1m1s");
    }

    #[test]
    fn endpoints() {
        let mut c = SlaveConfig::new("127.0.0.1");
        assert_eq!(c.endpoint(5555), "tcp://127.0.0.1:5555");
        c.master = "::1".into();
        assert_eq!(c.endpoint(5556), "tcp://[::1]:5556");
    }

    #[test]
    fn jitter_in_range() {
        for _ in 0..100 {
            let d = random_between(Duration::from_secs(5), Duration::from_secs(10));
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10));
        }
    }
}
