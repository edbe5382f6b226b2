//! A sandbox that runs a command isolated: new namespaces, a root made of read-only binds
//! of chosen host paths, a writable work directory, a fresh `/tmp`, minimal `/proc` and
//! `/dev`, its own hostname, no_new_privs, a seccomp deny-list, resource limits, a
//! wall-clock timeout that kills the whole process tree, and its output captured.
//!
//! How a run goes: the caller forks a *supervisor*, which unshares the namespaces (mount,
//! PID, UTS and IPC always; network and user if asked) and forks the sandbox's *init*,
//! PID 1 of the new PID namespace. Init builds the root on a tmpfs (binds, `/tmp`,
//! `/proc`, `/dev`), `pivot_root`s into it, sets the hostname, and forks the *command*,
//! which sets its limits, user, no_new_privs and seccomp filter and `exec`s. Init reaps
//! everything and passes the command's status up. Setup failures come back as errors
//! naming the step. On timeout the caller kills init, and with it every process of the
//! namespace; the mounts live only in the sandbox's mount namespace, so nothing is left
//! behind either way.
//!
//! ```no_run
//! use butter::sandbox::Sandbox;
//! use std::time::Duration;
//!
//! let work = tempfile::tempdir()?;
//! let out = Sandbox::new("/bin/sh")
//!     .args(["-c", "echo hello > /work/greeting; hostname"])
//!     .system_root()                    // /usr, /bin, /lib, /etc ... read-only
//!     .work_dir(work.path(), "/work")   // writable
//!     .hostname("sandbox")
//!     .timeout(Duration::from_secs(10))
//!     .run()?;
//! assert!(out.success());
//! assert_eq!(out.stdout, b"sandbox\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Needs root, or `user_namespace(true)` where unprivileged user namespaces are allowed.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Errno, Error, Result};
use crate::namespace::Namespaces;
use crate::pipe::{PipeFlags, pipe_with};
use crate::seccomp::{Action, Filter, Program};

mod inside;

/// A resource limit for the command (`setrlimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Address space, bytes (`RLIMIT_AS`): the memory limit.
    Memory(u64),
    /// Processes of the command's user (`RLIMIT_NPROC`; not enforced for root).
    Processes(u64),
    /// Largest file it may write, bytes (`RLIMIT_FSIZE`).
    FileSize(u64),
    /// Open descriptors (`RLIMIT_NOFILE`).
    OpenFiles(u64),
    /// CPU seconds (`RLIMIT_CPU`).
    CpuSeconds(u64),
}

/// A host path made visible inside.
#[derive(Debug, Clone)]
struct Bind {
    host: PathBuf,
    inside: PathBuf,
    writable: bool,
}

/// What to run and how to isolate it (see the module docs).
#[derive(Debug)]
pub struct Sandbox {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    binds: Vec<Bind>,
    tmp_size: Option<String>,
    hostname: String,
    network: bool,
    join_network: Option<OwnedFd>,
    user_namespace: bool,
    seccomp: Option<Filter>,
    limits: Vec<Limit>,
    timeout: Option<Duration>,
    cwd: PathBuf,
    user: Option<(u32, u32)>,
    stdin: Option<PathBuf>,
    output_file: Option<PathBuf>,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// The timeout ran out, and the sandbox was killed.
    TimedOut,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by signal {s} ({sig})"),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            Exit::TimedOut => f.write_str("timed out, and killed"),
        }
    }
}

/// What a run gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the command ended.
    pub exit: Exit,
    /// What it wrote to standard output.
    pub stdout: Vec<u8>,
    /// What it wrote to standard error.
    pub stderr: Vec<u8>,
    /// Wall time from the start of the run to the end of the sandbox.
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// The host paths [`Sandbox::system_root`] binds read-only, where they exist.
pub const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

impl Sandbox {
    /// A sandbox for `program` (a path inside the sandbox, or a name looked up in `PATH`),
    /// with no binds yet, an empty environment but `PATH`, the default seccomp deny-list,
    /// a fresh `/tmp`, hostname `sandbox`, no network namespace.
    pub fn new(program: impl AsRef<OsStr>) -> Sandbox {
        Sandbox {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: vec![(
                "PATH".into(),
                "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
            )],
            binds: Vec::new(),
            tmp_size: Some("size=50%,mode=1777".into()),
            hostname: "sandbox".into(),
            network: true,
            join_network: None,
            user_namespace: false,
            seccomp: Some(Filter::sandbox_default()),
            limits: Vec::new(),
            timeout: None,
            cwd: PathBuf::from("/"),
            user: None,
            stdin: None,
            output_file: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Sandbox {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Sandbox {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (the environment starts with only `PATH`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Sandbox {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// Binds the host's `host` at `inside`, read-only, with everything mounted under it.
    pub fn bind(mut self, host: impl AsRef<Path>, inside: impl AsRef<Path>) -> Sandbox {
        self.binds.push(Bind {
            host: host.as_ref().into(),
            inside: inside.as_ref().into(),
            writable: false,
        });
        self
    }

    /// Binds the host's `host` at `inside`, writable.
    pub fn bind_writable(mut self, host: impl AsRef<Path>, inside: impl AsRef<Path>) -> Sandbox {
        self.binds.push(Bind {
            host: host.as_ref().into(),
            inside: inside.as_ref().into(),
            writable: true,
        });
        self
    }

    /// Binds the system's programs and libraries read-only: [`SYSTEM_PATHS`] that exist
    /// (symlinks such as a merged `/usr`'s `/bin -> usr/bin` are made as symlinks).
    pub fn system_root(mut self) -> Sandbox {
        for p in SYSTEM_PATHS {
            if Path::new(p).exists() {
                self.binds.push(Bind {
                    host: p.into(),
                    inside: p.into(),
                    writable: false,
                });
            }
        }
        self
    }

    /// The writable work directory: the host's `host` at `inside`, which is also the
    /// command's working directory.
    pub fn work_dir(self, host: impl AsRef<Path>, inside: impl AsRef<Path>) -> Sandbox {
        let inside = inside.as_ref().to_owned();
        let mut s = self.bind_writable(host, &inside);
        s.cwd = inside;
        s
    }

    /// The command's working directory inside (default `/`, or the work directory).
    pub fn current_dir(mut self, inside: impl AsRef<Path>) -> Sandbox {
        self.cwd = inside.as_ref().into();
        self
    }

    /// The fresh `/tmp`'s tmpfs options (default `size=50%,mode=1777`); `None`: no `/tmp`.
    pub fn tmp(mut self, options: Option<&str>) -> Sandbox {
        self.tmp_size = options.map(str::to_owned);
        self
    }

    /// The sandbox's hostname (default `sandbox`).
    pub fn hostname(mut self, name: impl Into<String>) -> Sandbox {
        self.hostname = name.into();
        self
    }

    /// With `false`, a new network namespace with only a loopback interface (up): no
    /// network. Default `true`: the host's network.
    pub fn network(mut self, on: bool) -> Sandbox {
        self.network = on;
        self
    }

    /// Joins this existing network namespace (a [`NetNamespace`](crate::netns::NetNamespace)
    /// or any network namespace descriptor) instead of the host's network or a new one:
    /// the sandbox sees its interfaces as they are, and sockets the caller made in it.
    ///
    /// # Errors
    ///
    /// The descriptor cannot be duplicated.
    pub fn join_network(mut self, netns: impl AsFd) -> Result<Sandbox> {
        let fd = netns
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::from_io("dup", &e))?;
        self.join_network = Some(fd);
        Ok(self)
    }

    /// With `true`, a new user namespace in which the caller is root: lets an
    /// unprivileged caller build the sandbox where user namespaces are allowed.
    pub fn user_namespace(mut self, on: bool) -> Sandbox {
        self.user_namespace = on;
        self
    }

    /// The seccomp filter (default [`Filter::sandbox_default`]); `None`: no filter.
    pub fn seccomp(mut self, filter: Option<Filter>) -> Sandbox {
        self.seccomp = filter;
        self
    }

    /// Adds a resource limit.
    pub fn limit(mut self, limit: Limit) -> Sandbox {
        self.limits.push(limit);
        self
    }

    /// Kills the whole sandbox after `timeout` of wall time.
    pub fn timeout(mut self, timeout: Duration) -> Sandbox {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the command as this user and group (inside), with no supplementary groups.
    pub fn user(mut self, uid: u32, gid: u32) -> Sandbox {
        self.user = Some((uid, gid));
        self
    }

    /// Standard input from this host file (default `/dev/null`).
    pub fn stdin(mut self, host: impl AsRef<Path>) -> Sandbox {
        self.stdin = Some(host.as_ref().into());
        self
    }

    /// Appends the command's standard output and error to this host file (made if it
    /// does not exist) instead of capturing them: [`Outcome::stdout`] and
    /// [`Outcome::stderr`] stay empty. For long runs with a lot of output.
    pub fn output_file(mut self, host: impl AsRef<Path>) -> Sandbox {
        self.output_file = Some(host.as_ref().into());
        self
    }

    /// Runs the command and waits for it (or for the timeout).
    pub fn run(&self) -> Result<Outcome> {
        self.spawn()?.wait()
    }

    /// Starts the command and returns at once, with a handle to wait for it, stop it or
    /// kill it. The timeout, if set, runs from now and is enforced while the handle is
    /// waited on. Dropping the handle kills whatever is left of the sandbox.
    ///
    /// # Errors
    ///
    /// The namespaces cannot be made (not root, say): the error names the step. Later
    /// setup failures (a bind, `pivot_root`, `exec`) come from the handle's `wait`.
    pub fn spawn(&self) -> Result<Running> {
        let started = Instant::now();
        let plan = Plan::new(self)?;
        let staging = plan.staging.clone();
        let cleanup = |e: Error| {
            let _ = std::fs::remove_dir(&staging);
            e
        };
        // Close-on-exec, so the command gets only 0, 1 and 2 (dup2 clears the flag).
        let (rep_r, rep_w) = pipe_with(PipeFlags::CLOEXEC).map_err(cleanup)?;
        let (out_r, out_w, err_r, err_w) = match &self.output_file {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(p)
                    .map_err(|e| cleanup(Error::from_io("open", &e).with_path(p)))?;
                let f = OwnedFd::from(f);
                let g = f
                    .try_clone()
                    .map_err(|e| cleanup(Error::from_io("dup", &e)))?;
                (None, f, None, g)
            }
            None => {
                let (or, ow) = pipe_with(PipeFlags::CLOEXEC).map_err(cleanup)?;
                let (er, ew) = pipe_with(PipeFlags::CLOEXEC).map_err(cleanup)?;
                (Some(or), ow, Some(er), ew)
            }
        };
        let stdin = match &self.stdin {
            Some(p) => std::fs::File::open(p)
                .map_err(|e| cleanup(Error::from_io("open", &e).with_path(p)))?,
            None => {
                std::fs::File::open("/dev/null").map_err(|e| cleanup(Error::from_io("open", &e)))?
            }
        };
        // SAFETY: the supervisor runs `supervise` (system calls, and allocation, which
        // glibc's fork handlers keep usable) and leaves with `_exit`.
        let fork = unsafe { nix::unistd::fork() }.map_err(|e| cleanup(Error::new("fork", e)))?;
        let supervisor = match fork {
            nix::unistd::ForkResult::Child => {
                drop((out_r, err_r, rep_r));
                let code =
                    inside::supervise(&plan, stdin.as_fd(), out_w.as_fd(), err_w.as_fd(), rep_w);
                // SAFETY: leaves the supervisor at once.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        drop((out_w, err_w, rep_w, stdin));
        let mut running = Running {
            supervisor: Some(supervisor),
            init: None,
            fds: [Some(rep_r), out_r, err_r],
            stdout: Vec::new(),
            stderr: Vec::new(),
            report_buf: Vec::new(),
            reports: Reports::default(),
            started,
            deadline: self.timeout.map(|t| started + t),
            staging: plan.staging.clone(),
            timed_out: false,
            done: false,
        };
        // Init's pid comes first (or the supervisor's failure): a handle to it, so that
        // signals cannot reach a process that took over a recycled pid.
        while running.reports.init_pid.is_none()
            && running.reports.failure.is_none()
            && running.fds[0].is_some()
        {
            running.pump(None)?;
        }
        match running.reports.init_pid {
            Some(pid) => {
                // SAFETY: a positive pid from the supervisor's fork.
                let pid = unsafe { rustix::process::Pid::from_raw_unchecked(pid) };
                running.init = Some(
                    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
                        .map_or(Init::Pid(pid), Init::Fd),
                );
                Ok(running)
            }
            None => Err(running
                .finish()
                .err()
                .unwrap_or_else(|| Error::new("sandbox", Errno::ECHILD))),
        }
    }
}

/// The sandbox's init, to signal: a pidfd, or the pid where pidfds are not supported.
#[derive(Debug)]
enum Init {
    Fd(OwnedFd),
    Pid(rustix::process::Pid),
}

/// A running sandbox (from [`Sandbox::spawn`]).
///
/// Wait for it with [`wait`](Running::wait) or [`wait_timeout`](Running::wait_timeout),
/// end it with [`terminate`](Running::terminate) (`SIGTERM` to every process, then
/// `SIGKILL`) or [`kill`](Running::kill). Killing the sandbox's init (PID 1 of its PID
/// namespace) ends every process in it, however deeply they forked, detached or
/// ignored signals. Dropping a handle that was not waited to the end kills the sandbox
/// and reaps it.
#[derive(Debug)]
pub struct Running {
    supervisor: Option<nix::unistd::Pid>,
    init: Option<Init>,
    /// The report pipe, captured stdout, captured stderr; `None` once at end of file.
    fds: [Option<OwnedFd>; 3],
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    report_buf: Vec<u8>,
    reports: Reports,
    started: Instant,
    deadline: Option<Instant>,
    staging: PathBuf,
    timed_out: bool,
    done: bool,
}

impl Running {
    /// Waits for the sandbox to end (or for its timeout).
    ///
    /// # Errors
    ///
    /// Setting the sandbox up failed (the error names the step), or it was already
    /// waited to the end.
    pub fn wait(mut self) -> Result<Outcome> {
        loop {
            if let Some(outcome) = self.wait_timeout(Duration::from_secs(3600))? {
                return Ok(outcome);
            }
        }
    }

    /// Waits up to `timeout` for the sandbox to end; `Ok(None)` if it still runs. The
    /// sandbox's own timeout is enforced meanwhile.
    ///
    /// # Errors
    ///
    /// As [`wait`](Running::wait); once it has returned an outcome (or an error), every
    /// later call fails with `ECHILD`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<Outcome>> {
        if self.done {
            return Err(Error::new("sandbox", Errno::ECHILD)
                .with_hint("this sandbox was already waited for"));
        }
        let until = Instant::now() + timeout;
        while self.fds.iter().any(Option::is_some) {
            let now = Instant::now();
            if let Some(d) = self.deadline
                && now >= d
                && !self.timed_out
            {
                self.timed_out = true;
                self.signal(rustix::process::Signal::KILL);
                continue;
            }
            if now >= until {
                return Ok(None);
            }
            let mut next = until;
            if let Some(d) = self.deadline
                && !self.timed_out
            {
                next = next.min(d);
            }
            self.pump(Some(next))?;
        }
        self.finish().map(Some)
    }

    /// Ends the sandbox gently: `SIGTERM` to every process in it, then, for whatever is
    /// left after `grace`, `SIGKILL`. Returns how it ended.
    ///
    /// # Errors
    ///
    /// As [`wait`](Running::wait).
    pub fn terminate(mut self, grace: Duration) -> Result<Outcome> {
        // Init forwards SIGTERM to every other process of its namespace.
        self.signal(rustix::process::Signal::TERM);
        if let Some(outcome) = self.wait_timeout(grace)? {
            return Ok(outcome);
        }
        self.kill();
        self.wait()
    }

    /// Kills every process in the sandbox at once (`SIGKILL` to its init). Wait for the
    /// handle afterwards to reap it.
    pub fn kill(&mut self) {
        self.signal(rustix::process::Signal::KILL);
    }

    /// Time since the sandbox was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The host directory the sandbox's root is mounted on while it runs:
    /// `butter-sandbox-<pid>-<n>` in [`std::env::temp_dir`], `<n>` counting the sandboxes
    /// this process has made, so no two share it. It is removed when the sandbox ends
    /// (waited for, terminated or dropped); its mounts were never visible outside.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn signal(&self, sig: rustix::process::Signal) {
        match &self.init {
            Some(Init::Fd(fd)) => {
                let _ = rustix::process::pidfd_send_signal(fd, sig);
            }
            Some(Init::Pid(pid)) => {
                let _ = rustix::process::kill_process(*pid, sig);
            }
            None => {}
        }
    }

    /// Reads what is ready on the open pipes, waiting until `until` at most.
    fn pump(&mut self, until: Option<Instant>) -> Result<()> {
        use rustix::event::{PollFd, PollFlags};
        let ts = until.map(|u| {
            let left = u.saturating_duration_since(Instant::now());
            rustix::time::Timespec::try_from(left).unwrap_or(rustix::time::Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let mut which = Vec::with_capacity(3);
        let ready: Vec<usize> = {
            let mut polls: Vec<PollFd<'_>> = Vec::with_capacity(3);
            for (i, fd) in self.fds.iter().enumerate() {
                if let Some(fd) = fd {
                    polls.push(PollFd::new(fd, PollFlags::IN));
                    which.push(i);
                }
            }
            match rustix::event::poll(&mut polls, ts.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return Ok(()),
                Err(e) => return Err(Error::from_rustix("poll", e)),
            }
            polls
                .iter()
                .zip(&which)
                .filter(|(p, _)| !p.revents().is_empty())
                .map(|(_, &i)| i)
                .collect()
        };
        let mut buf = [0u8; 64 << 10];
        for i in ready {
            let Some(fd) = &self.fds[i] else { continue };
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => self.fds[i] = None,
                Ok(n) => match i {
                    0 => self.report_buf.extend_from_slice(&buf[..n]),
                    1 => self.stdout.extend_from_slice(&buf[..n]),
                    _ => self.stderr.extend_from_slice(&buf[..n]),
                },
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(_) => self.fds[i] = None,
            }
        }
        parse_report(&mut self.report_buf, &mut self.reports);
        Ok(())
    }

    /// Reaps the supervisor and says how the command ended.
    fn finish(&mut self) -> Result<Outcome> {
        self.done = true;
        self.fds = [None, None, None];
        self.reap();
        let _ = std::fs::remove_dir(&self.staging);
        parse_report(&mut self.report_buf, &mut self.reports);
        if let Some((errno, what)) = self.reports.failure.take() {
            return Err(Error::new("sandbox", Errno::from_raw(errno))
                .with_hint(leak(format!("setting up the sandbox failed at: {what}"))));
        }
        let exit = if self.timed_out {
            Exit::TimedOut
        } else {
            match self.reports.status {
                Some(raw) if libc::WIFEXITED(raw) => Exit::Code(libc::WEXITSTATUS(raw)),
                Some(raw) if libc::WIFSIGNALED(raw) => Exit::Signal(libc::WTERMSIG(raw)),
                // Init died before the command ended (killed from outside).
                _ => Exit::Signal(libc::SIGKILL),
            }
        };
        Ok(Outcome {
            exit,
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
            elapsed: self.started.elapsed(),
        })
    }

    fn reap(&mut self) {
        let Some(pid) = self.supervisor.take() else {
            return;
        };
        loop {
            match nix::sys::wait::waitpid(pid, None) {
                Ok(
                    nix::sys::wait::WaitStatus::Exited(..)
                    | nix::sys::wait::WaitStatus::Signaled(..),
                ) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.kill();
            if let Some(pid) = self.supervisor {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            self.reap();
            let _ = std::fs::remove_dir(&self.staging);
        }
    }
}

/// Everything the children need, made before forking (so they allocate little).
pub(super) struct Plan {
    pub(super) staging: PathBuf,
    pub(super) namespaces: Namespaces,
    pub(super) user_namespace: bool,
    pub(super) outer_ids: (u32, u32),
    pub(super) binds: Vec<(PathBuf, PathBuf, bool, bool)>,
    pub(super) tmp: Option<String>,
    pub(super) hostname: String,
    pub(super) network: bool,
    /// A network namespace the supervisor joins before unsharing the others.
    pub(super) join_network: Option<OwnedFd>,
    pub(super) argv: Vec<CString>,
    pub(super) envp: Vec<CString>,
    pub(super) program: CString,
    pub(super) cwd: PathBuf,
    pub(super) limits: Vec<Limit>,
    pub(super) user: Option<(u32, u32)>,
    /// Compiled before forking, so that installing them allocates nothing.
    pub(super) seccomp: Vec<Program>,
}

impl Plan {
    fn new(s: &Sandbox) -> Result<Plan> {
        let cstr = |b: &[u8], what: &str| {
            CString::new(b).map_err(|_| {
                Error::new("sandbox", Errno::EINVAL)
                    .with_hint(leak(format!("{what} contains a NUL byte")))
            })
        };
        let mut namespaces =
            Namespaces::MOUNT | Namespaces::PID | Namespaces::UTS | Namespaces::IPC;
        if !s.network && s.join_network.is_none() {
            namespaces |= Namespaces::NET;
        }
        if s.user_namespace {
            namespaces |= Namespaces::USER;
        }
        let staging = std::env::temp_dir().join(format!(
            "butter-sandbox-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir(&staging)
            .map_err(|e| Error::from_io("mkdir", &e).with_path(&staging))?;
        let binds = s
            .binds
            .iter()
            .map(|b| {
                let is_dir = b.host.is_dir();
                (b.host.clone(), b.inside.clone(), b.writable, is_dir)
            })
            .collect();
        let mut argv = vec![cstr(s.program.as_bytes(), "the program")?];
        for a in &s.args {
            argv.push(cstr(a.as_bytes(), "an argument")?);
        }
        let mut envp = Vec::new();
        for (k, v) in &s.env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(cstr(&kv, "an environment variable")?);
        }
        Ok(Plan {
            staging,
            namespaces,
            user_namespace: s.user_namespace,
            outer_ids: (
                rustix::process::getuid().as_raw(),
                rustix::process::getgid().as_raw(),
            ),
            binds,
            tmp: s.tmp_size.clone(),
            hostname: s.hostname.clone(),
            // A joined namespace is set up by whoever made it.
            network: s.network || s.join_network.is_some(),
            join_network: match &s.join_network {
                Some(fd) => Some(fd.try_clone().map_err(|e| Error::from_io("dup", &e))?),
                None => None,
            },
            program: cstr(s.program.as_bytes(), "the program")?,
            argv,
            envp,
            cwd: s.cwd.clone(),
            limits: s.limits.clone(),
            user: s.user,
            seccomp: match &s.seccomp {
                None => Vec::new(),
                // clone3's flags are out of a filter's reach (they are in memory): it gets
                // ENOSYS, and the C library falls back to clone, whose flags the deny-list
                // checks.
                Some(f) => vec![
                    f.compile()?,
                    Filter::deny(["clone3"], Action::Errno(libc::ENOSYS))?.compile()?,
                ],
            },
        })
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What the sandbox's processes report.
#[derive(Debug, Default)]
struct Reports {
    init_pid: Option<i32>,
    failure: Option<(i32, String)>,
    status: Option<i32>,
}

/// Takes whole messages off the report stream: `P` + init's pid, `E` + errno + length +
/// step, `S` + the command's wait status.
fn parse_report(buf: &mut Vec<u8>, r: &mut Reports) {
    while buf.len() >= 5 {
        let value = i32::from_ne_bytes(buf[1..5].try_into().unwrap());
        match buf[0] {
            b'P' => {
                r.init_pid = Some(value);
                buf.drain(..5);
            }
            b'S' => {
                r.status = Some(value);
                buf.drain(..5);
            }
            b'E' => {
                let Some(&len) = buf.get(5) else { return };
                let end = 6 + len as usize;
                if buf.len() < end {
                    return;
                }
                let step = String::from_utf8_lossy(&buf[6..end]).into_owned();
                r.failure.get_or_insert((value, step));
                buf.drain(..end);
            }
            _ => buf.clear(),
        }
    }
}
