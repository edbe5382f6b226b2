//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
            // It may make the venv first (pip installs): minutes, not for ever.
            let out = output_within(
                &mut Command::new(script),
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

/// Bytes from hex digits (spaces allowed between them, for readable frames).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A child process a test talks to. Every wait on it has a deadline, and a failure says
/// what was waited for; dropping it (a test that failed half-way) kills and reaps it.
pub struct Peer {
    child: std::process::Child,
    what: String,
    lines: Option<std::sync::mpsc::Receiver<std::io::Result<String>>>,
}

impl Peer {
    /// Starts `command`, called `what` in failures. Its stdout, if piped, is read line
    /// by line in a thread, for [`line`](Self::line).
    pub fn spawn(command: &mut Command, what: &str) -> Peer {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let lines = child.stdout.take().map(|stdout| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stdout).lines() {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Peer {
            child,
            what: what.to_owned(),
            lines,
        }
    }

    /// The next line it prints, waiting at most `timeout` for it.
    pub fn line(&mut self, timeout: Duration, waiting_for: &str) -> String {
        use std::sync::mpsc::RecvTimeoutError;
        let what = &self.what;
        let lines = self
            .lines
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: its stdout is not piped"));
        match lines.recv_timeout(timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("{what}: reading {waiting_for} from its stdout: {e}"),
            Err(RecvTimeoutError::Timeout) => {
                panic!("{what}: no {waiting_for} on its stdout within {timeout:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{what}: closed its stdout before {waiting_for}")
            }
        }
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("{}: waitpid: {e}", self.what))
    }

    /// Waits at most `timeout` for it to exit; kills it and fails after that.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit within {timeout:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits at most `timeout` for it to exit, and fails unless it succeeded.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        assert!(status.success(), "{} failed: {status}", self.what);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` to the end with its output captured, as `Command::output` does, but
/// kills it and fails if it has not finished within `timeout`.
pub fn output_within(command: &mut Command, timeout: Duration, what: &str) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out = read_all(Box::new(child.stdout.take().unwrap()));
    let err = read_all(Box::new(child.stderr.take().unwrap()));
    let mut peer = Peer {
        child,
        what: what.to_owned(),
        lines: None,
    };
    let status = peer.wait(timeout);
    // The pipes close when it exits, unless something it started holds them open.
    let drain = |rx: std::sync::mpsc::Receiver<Vec<u8>>, pipe: &str| {
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} exited, but its {pipe} stayed open 10 s longer"))
    };
    std::process::Output {
        status,
        stdout: drain(out, "stdout"),
        stderr: drain(err, "stderr"),
    }
}

/// Runs `f` in a thread and returns what it returns; fails, saying `what` was not done,
/// if that takes longer than `timeout` (the thread is left blocked), and passes its panic
/// on if it panics.
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(value) => {
            let _ = thread.join();
            value
        }
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without a result or a panic"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what}: not done within {timeout:?}"),
    }
}
