//! Building one wheel: `pip wheel` in a fresh directory, as the build user, under a real
//! wall-clock limit, then the analysis of what it made (piwheels.md §7.2).
//!
//! A [`Build`] runs in a thread of its own, so the protocol loop keeps talking to the
//! master; it owns its temporary directory, removed when the `Build` is dropped whatever
//! happened. pip runs in the build sandbox ([`crate::sandbox`]) when the slave is root:
//! ending the sandbox ends every process of the build. Otherwise pip runs in a session of
//! its own with the slave as child subreaper, and the build's processes are followed
//! ([`crate::tree`]). Either way every process of the build is ended when it times out,
//! is stopped, or even when pip exits while something it started lives on.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use piwheels_protocol::states::FileState;

use crate::sandbox::BuildSandbox;
use crate::tree::{MARKER_VAR, ProcessTree};
use crate::user::BuildUser;
use crate::wheel::{WheelAnalyser, analyse_dir};
use crate::{format_duration, random_u64};

/// The most of each log (pip's `--log` file, pip's own output) put in the report: the
/// last 8 MiB.
pub const MAX_LOG: u64 = 8 << 20;

/// How long processes get between `SIGTERM` and `SIGKILL` unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// Package name (as the master gave it; checked before it reaches pip).
    pub package: String,
    /// Version.
    pub version: String,
    /// pip's `--index-url` (the master's, from `ACK`).
    pub index_url: String,
    /// pip's `--extra-index-url`s (only those configured).
    pub extra_index_urls: Vec<String>,
    /// The interpreter (`<python> -m pip wheel …`).
    pub python: String,
    /// The wall-clock limit.
    pub timeout: Duration,
    /// Between `SIGTERM` and `SIGKILL`.
    pub grace: Duration,
    /// Where the build's temporary directory is made.
    pub dir: PathBuf,
    /// Who the build runs as.
    pub user: BuildUser,
    /// The sandbox the build runs in (`None`: a slave that is not root, or
    /// `--no-sandbox`; the build's processes are then followed by [`crate::tree`]).
    pub sandbox: Option<BuildSandbox>,
}

/// A wheel the build made.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltWheel {
    /// Where it is (inside the build's directory, so only while the [`Build`] lives).
    pub path: PathBuf,
    /// What the master is told about it.
    pub state: FileState,
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildResult {
    /// Whether pip succeeded and every wheel could be analysed.
    pub status: bool,
    /// Wall time of the pip run.
    pub duration: Duration,
    /// The build log: pip's `--log` file, then pip's own output, then what the slave has
    /// to say (a timeout, a bad wheel).
    pub output: String,
    /// The wheels (empty unless `status`).
    pub files: Vec<BuiltWheel>,
    /// Whether the build was ended for taking longer than the timeout.
    pub timed_out: bool,
    /// Whether the build was stopped (cancelled) before it finished.
    pub stopped: bool,
}

/// A build running in the background (see the module docs).
#[derive(Debug)]
pub struct Build {
    package: String,
    version: String,
    dir: Option<tempfile::TempDir>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    rx: mpsc::Receiver<BuildResult>,
    result: Option<BuildResult>,
}

impl Build {
    /// Makes the build's directory and starts the build thread.
    ///
    /// # Errors
    ///
    /// The directory cannot be made or given to the build user, or the thread cannot be
    /// started.
    pub fn start(spec: BuildSpec) -> io::Result<Build> {
        // Orphaned grandchildren of builds come to us, so they can be found and reaped
        // (a sandboxed build's stay in its sandbox).
        if spec.sandbox.is_none()
            && let Err(e) = butter::process::set_child_subreaper(true)
        {
            tracing::warn!(
                "cannot become a child subreaper ({e}); detached build processes may escape"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("piw-build-")
            .tempdir_in(&spec.dir)?;
        for sub in ["wheels", "home", "tmp"] {
            std::fs::create_dir(dir.path().join(sub))?;
            spec.user.give(&dir.path().join(sub))?;
        }
        spec.user.give(dir.path())?;
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let path = dir.path().to_path_buf();
        let flag = Arc::clone(&cancel);
        let (package, version) = (spec.package.clone(), spec.version.clone());
        let thread = std::thread::Builder::new()
            .name(format!("build {} {}", spec.package, spec.version))
            .spawn(move || {
                let result = run(&spec, &path, &flag);
                let _ = tx.send(result);
            })?;
        Ok(Build {
            package,
            version,
            dir: Some(dir),
            cancel,
            thread: Some(thread),
            rx,
            result: None,
        })
    }

    /// The package being built.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The version being built.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The build's temporary directory.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Waits up to `timeout` for the build to end; its result if it has.
    pub fn wait(&mut self, timeout: Duration) -> Option<&BuildResult> {
        if self.result.is_none() {
            match self.rx.recv_timeout(timeout) {
                Ok(r) => self.result = Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The thread died without a result (a panic): a failed build.
                    self.result = Some(BuildResult {
                        status: false,
                        duration: Duration::ZERO,
                        output: "The build thread of the slave failed unexpectedly.\n".into(),
                        files: Vec::new(),
                        timed_out: false,
                        stopped: false,
                    });
                }
            }
        }
        self.result.as_ref()
    }

    /// Waits for the build to end.
    pub fn wait_forever(&mut self) -> &BuildResult {
        loop {
            if self.wait(Duration::from_secs(3600)).is_some() {
                break;
            }
        }
        self.result.as_ref().expect("result present")
    }

    /// The result, once the build has ended.
    pub fn result(&self) -> Option<&BuildResult> {
        self.result.as_ref()
    }

    /// Stops the build if it runs (every process of it ended), and removes its directory.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = remove_tree(&path) {
                tracing::error!("cannot remove the build directory {}: {e}", path.display());
            }
            // TempDir's own removal is then a no-op.
            drop(dir);
        }
    }
}

impl Drop for Build {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Removes a directory tree, making directories writable first if a build left them
/// read-only.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            fn open_up(p: &Path) {
                let Ok(meta) = std::fs::symlink_metadata(p) else {
                    return;
                };
                if meta.is_dir() {
                    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
                    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                        open_up(&e.path());
                    }
                }
            }
            open_up(path);
            std::fs::remove_dir_all(path)
        }
    }
}

/// Whether `name` is a PEP 508 project name (so it cannot pass for a pip option).
pub fn valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Whether `version` is made of the characters versions use (PEP 440 and legacy ones),
/// starting with a letter or digit.
pub fn valid_version(version: &str) -> bool {
    let b = version.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'!'))
}

/// The `pip wheel` command line (arguments after the interpreter).
pub fn pip_args(spec: &BuildSpec, dir: &Path) -> Vec<String> {
    let mut args = vec![
        "-m".to_owned(),
        "pip".to_owned(),
        "wheel".to_owned(),
        format!("{}=={}", spec.package, spec.version),
        format!("--wheel-dir={}", dir.join("wheels").display()),
        format!("--log={}", dir.join("build.log").display()),
        "--no-deps".to_owned(),
        "--no-cache-dir".to_owned(),
        format!("--no-binary={}", spec.package),
        "--prefer-binary".to_owned(),
        "--exists-action=w".to_owned(),
        "--disable-pip-version-check".to_owned(),
        format!("--index-url={}", spec.index_url),
    ];
    args.extend(
        spec.extra_index_urls
            .iter()
            .map(|u| format!("--extra-index-url={u}")),
    );
    args
}

/// The build's environment: `PATH` (with `~/.cargo/bin`), `HOME` and `TMPDIR` in the
/// build directory, and what tells build scripts where they run.
fn build_env(spec: &BuildSpec, dir: &Path) -> Vec<(&'static str, OsString)> {
    let mut path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    if let Some(home) = std::env::var_os("HOME") {
        let cargo = Path::new(&home).join(".cargo/bin");
        let present = std::env::split_paths(&path).any(|p| p == cargo);
        if !present {
            let joined =
                std::env::join_paths(std::iter::once(cargo).chain(std::env::split_paths(&path)));
            if let Ok(joined) = joined {
                path = joined;
            }
        }
    }
    let mut env = vec![
        ("PATH", path),
        ("GIT_ALLOW_PROTOCOL", "file".into()),
        ("PIWHEELS_BUILD", "1".into()),
        ("OPENSSL_STATIC", "1".into()),
        ("HOME", dir.join("home").into()),
        ("TMPDIR", dir.join("tmp").into()),
    ];
    if spec.user.switch {
        env.push(("USER", spec.user.name.clone().into()));
        env.push(("LOGNAME", spec.user.name.clone().into()));
    }
    env
}

fn command(spec: &BuildSpec, dir: &Path, marker: &str) -> io::Result<Command> {
    let mut cmd = Command::new(&spec.python);
    cmd.args(pip_args(spec, dir)).current_dir(dir);
    let out = File::create(dir.join("pip-output.log"))?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    cmd.envs(build_env(spec, dir)).env(MARKER_VAR, marker);
    spec.user.prepare(&mut cmd);
    Ok(cmd)
}

enum End {
    /// pip exited: whether it succeeded, and how it ended, in words.
    Exited(bool, String),
    TimedOut,
    Stopped,
    Lost(String),
}

/// The build thread: run pip, end its tree, collect the log, analyse the wheels.
fn run(spec: &BuildSpec, dir: &Path, cancel: &AtomicBool) -> BuildResult {
    let failed = |output: String| BuildResult {
        status: false,
        duration: Duration::ZERO,
        output,
        files: Vec::new(),
        timed_out: false,
        stopped: false,
    };
    if !valid_package_name(&spec.package) || !valid_version(&spec.version) {
        return failed(format!(
            "The slave refused to build {:?} version {:?}: not a valid package name and version.\n",
            spec.package, spec.version
        ));
    }
    let start = Instant::now();
    let mut proxy_notes = Vec::new();
    let (end, killed, duration) = match &spec.sandbox {
        Some(sandbox) => execute_sandboxed(spec, sandbox, dir, cancel, start, &mut proxy_notes),
        None => execute_followed(spec, dir, cancel, start),
    };
    let mut output = read_tail(&dir.join("build.log"));
    let pip_output = read_tail(&dir.join("pip-output.log"));
    if !pip_output.trim().is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str("---- output of pip ----\n");
        output.push_str(&pip_output);
    }
    let mut note = |line: String| {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&line);
        output.push('\n');
    };
    for line in proxy_notes {
        note(line);
    }
    let mut result = BuildResult {
        status: false,
        duration,
        output: String::new(),
        files: Vec::new(),
        timed_out: false,
        stopped: false,
    };
    match end {
        End::Exited(true, _) => {
            if killed > 0 {
                note(format!(
                    "The slave ended {killed} process(es) the build left running after pip exited."
                ));
            }
            match analyse_dir(&WheelAnalyser::system(), &dir.join("wheels")) {
                Ok(files) => {
                    result.status = true;
                    result.files = files
                        .into_iter()
                        .map(|(path, state)| BuiltWheel { path, state })
                        .collect();
                }
                Err(e) => note(e.to_string()),
            }
        }
        End::Exited(false, status) => note(format!("pip failed: {status}")),
        End::TimedOut => {
            result.timed_out = true;
            note(format!(
                "Build timed out: the slave stopped it after {} (its --timeout), ending every \
                 process of the build.",
                format_duration(spec.timeout)
            ));
        }
        End::Stopped => {
            result.stopped = true;
            note("Build stopped by the slave before it finished.".to_owned());
        }
        End::Lost(e) => note(e),
    }
    result.output = output;
    result
}

/// Runs pip in the build sandbox until it ends, times out or is stopped; the sandbox's
/// end is the end of every process of the build. In `index` mode the build proxy runs
/// meanwhile, and its refusals go into `notes`.
fn execute_sandboxed(
    spec: &BuildSpec,
    sandbox: &BuildSandbox,
    dir: &Path,
    cancel: &AtomicBool,
    start: Instant,
    notes: &mut Vec<String>,
) -> (End, usize, Duration) {
    let lost = |e: &dyn std::fmt::Display| {
        End::Lost(format!(
            "The slave could not run {} -m pip in the build sandbox: {e}",
            spec.python
        ))
    };
    let urls = std::iter::once(spec.index_url.as_str())
        .chain(spec.extra_index_urls.iter().map(String::as_str));
    let proxy = match sandbox.proxy(urls) {
        Ok(p) => p,
        Err(e) => return (lost(&e), 0, start.elapsed()),
    };
    let (end, duration) = run_sandbox(spec, sandbox, dir, cancel, start, proxy.as_ref());
    if let Some(p) = proxy {
        notes.extend(p.stop());
    }
    (end, 0, duration)
}

/// [`execute_sandboxed`]'s run of the sandbox, with the build proxy (if any) serving.
fn run_sandbox(
    spec: &BuildSpec,
    sandbox: &BuildSandbox,
    dir: &Path,
    cancel: &AtomicBool,
    start: Instant,
    proxy: Option<&crate::netproxy::BuildProxy>,
) -> (End, Duration) {
    let lost = |e: butter::Error| {
        End::Lost(format!(
            "The slave could not run {} -m pip in the build sandbox: {e}",
            spec.python
        ))
    };
    let sb = match sandbox.command(
        Path::new(&spec.python),
        &pip_args(spec, dir),
        dir,
        &spec.user,
        &build_env(spec, dir),
        proxy,
    ) {
        Ok(sb) => sb.output_file(dir.join("pip-output.log")),
        Err(e) => return (lost(e), start.elapsed()),
    };
    let mut running = match sb.spawn() {
        Ok(r) => r,
        Err(e) => return (lost(e), start.elapsed()),
    };
    let deadline = start + spec.timeout;
    let end = loop {
        match running.wait_timeout(Duration::from_millis(100)) {
            Ok(Some(outcome)) => {
                let how = outcome.exit.to_string();
                return (End::Exited(outcome.success(), how), start.elapsed());
            }
            Ok(None) => {}
            Err(e) => return (lost(e), start.elapsed()),
        }
        if cancel.load(Ordering::SeqCst) {
            break End::Stopped;
        }
        if Instant::now() >= deadline {
            break End::TimedOut;
        }
    };
    let duration = start.elapsed();
    if let Err(e) = running.terminate(spec.grace) {
        tracing::warn!("ending the build sandbox: {e}");
    }
    (end, duration)
}

/// Runs pip as a process of the slave's, following every process it starts ([`crate::tree`]),
/// until it ends, times out or is stopped; whatever it left running is ended too.
fn execute_followed(
    spec: &BuildSpec,
    dir: &Path,
    cancel: &AtomicBool,
    start: Instant,
) -> (End, usize, Duration) {
    let marker = format!("{:016x}{:016x}", random_u64(), random_u64());
    let spawned = command(spec, dir, &marker).and_then(|mut c| c.spawn());
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = format!("The slave could not start {} -m pip: {e}", spec.python);
            return (End::Lost(why), 0, Duration::ZERO);
        }
    };
    tracing::debug!(
        "pip started as pid {} for {} {}",
        child.id(),
        spec.package,
        spec.version
    );
    let mut tree = ProcessTree::new(child.id(), &marker);
    let deadline = start + spec.timeout;
    let mut last_scan = Instant::now();
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => break End::Exited(status.success(), status.to_string()),
            Ok(None) => {}
            Err(e) => break End::Lost(format!("The slave lost track of pip: {e}")),
        }
        if cancel.load(Ordering::SeqCst) {
            break End::Stopped;
        }
        if Instant::now() >= deadline {
            break End::TimedOut;
        }
        if last_scan.elapsed() >= Duration::from_secs(1) {
            tree.scan();
            last_scan = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut duration = start.elapsed();
    // End whatever is left of the build, even after pip exited normally.
    let killed = tree.terminate(spec.grace, || match child.try_wait() {
        Ok(Some(_)) | Err(_) => true,
        Ok(None) => false,
    });
    if !matches!(end, End::Exited(..)) {
        duration = start.elapsed();
    }
    (end, killed, duration)
}

/// The last [`MAX_LOG`] bytes of a file, as text (empty if it cannot be read).
fn read_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut prefix = String::new();
    if len > MAX_LOG {
        let _ = f.seek(SeekFrom::Start(len - MAX_LOG));
        prefix = format!(
            "[... the first {} bytes of this log were cut ...]\n",
            len - MAX_LOG
        );
    }
    let mut data = Vec::new();
    let _ = f.take(MAX_LOG).read_to_end(&mut data);
    prefix + &String::from_utf8_lossy(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_that_could_be_options_are_refused() {
        assert!(valid_package_name("foo"));
        assert!(valid_package_name("Foo.Bar_baz-2"));
        assert!(!valid_package_name("--index-url=x"));
        assert!(!valid_package_name("foo "));
        assert!(!valid_package_name(""));
        assert!(valid_version("1.0.post1+local.2"));
        assert!(valid_version("1!2.0"));
        assert!(!valid_version("-1"));
        assert!(!valid_version("1.0; rm"));
    }
}
