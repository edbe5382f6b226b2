//! Deadlines: a test that waits on a child process, or on anything else that may never
//! come, fails saying what it waited for instead of hanging until the test runner kills
//! it.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::sync::mpsc::RecvTimeoutError;

/// Runs `command` to the end with `input` on its stdin and its output captured, as
/// `Command::output` does; kills it and fails, naming `what`, if it has not finished
/// within `timeout`.
pub fn output_within(command: &mut Command, input: &[u8], timeout: Duration, what: &str) -> Output {
    try_output_within(command, input, timeout, what)
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
}

/// [`output_within`], with `Err` if the command cannot be started (not installed, say).
pub fn try_output_within(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    what: &str,
) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A child that does not read its input must not block us either.
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = stdout
                    .recv_timeout(Duration::from_secs(1))
                    .unwrap_or_default();
                let err = stderr
                    .recv_timeout(Duration::from_secs(1))
                    .unwrap_or_default();
                panic!(
                    "{what} did not finish within {timeout:?}; killed. Its output:\n{}{}",
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                );
            }
            Err(e) => panic!("{what}: waitpid: {e}"),
        }
    };
    // The pipes close when it exits, unless something it started holds them open.
    let drain = |rx: mpsc::Receiver<Vec<u8>>, pipe: &str| {
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} exited, but its {pipe} stayed open 10 s longer"))
    };
    Ok(Output {
        status,
        stdout: drain(stdout, "stdout"),
        stderr: drain(stderr, "stderr"),
    })
}

/// A child process a test talks to. Every wait on it has a deadline, and a failure says
/// what was waited for; dropping it (a test that failed half-way) kills and reaps it.
pub struct Peer {
    child: std::process::Child,
    what: String,
    lines: Option<mpsc::Receiver<std::io::Result<String>>>,
}

impl Peer {
    /// Starts `command`, called `what` in failures. Its stdout, if piped, is read line
    /// by line in a thread, for [`line`](Self::line).
    pub fn spawn(command: &mut Command, what: &str) -> Peer {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let lines = child.stdout.take().map(|stdout| {
            let (tx, rx) = mpsc::channel();
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

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints, waiting at most `timeout` for it.
    pub fn line(&mut self, timeout: Duration, waiting_for: &str) -> String {
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

/// Runs `f` in a thread and returns what it returns; fails, saying `what` was not done,
/// if that takes longer than `timeout` (the thread is left blocked), and passes its panic
/// on if it panics.
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The message a panic carried.
    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let panic = std::panic::catch_unwind(f).expect_err("a panic");
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn output_within_gives_the_output_and_feeds_the_input() {
        let out = output_within(
            &mut Command::new("cat"),
            b"fed",
            Duration::from_secs(30),
            "cat",
        );
        assert!(out.status.success());
        assert_eq!(out.stdout, b"fed");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_and_named() {
        let started = Instant::now();
        let msg = panic_message(|| {
            output_within(
                Command::new("sleep").arg("600"),
                b"",
                Duration::from_millis(200),
                "a sleeper",
            );
        });
        assert!(msg.contains("a sleeper did not finish within"), "{msg}");
        // Killed, not waited for: far less than its 600 s.
        assert!(started.elapsed() < Duration::from_secs(300));
    }

    #[test]
    fn a_command_that_cannot_start_is_an_error() {
        let e = try_output_within(
            &mut Command::new("/nonexistent/program"),
            b"",
            Duration::from_secs(5),
            "nothing",
        )
        .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_peer_that_says_nothing_fails_its_wait_for_a_line() {
        let mut peer = Peer::spawn(
            Command::new("sleep")
                .arg("600")
                .stdout(std::process::Stdio::piped()),
            "a silent peer",
        );
        let msg = panic_message(std::panic::AssertUnwindSafe(|| {
            peer.line(Duration::from_millis(100), "a greeting");
        }));
        assert!(msg.contains("a silent peer: no a greeting"), "{msg}");
        let msg = panic_message(std::panic::AssertUnwindSafe(|| {
            peer.wait(Duration::from_millis(100));
        }));
        assert!(msg.contains("did not exit within"), "{msg}");
        assert!(
            peer.try_wait().is_some(),
            "killed and reaped at the deadline"
        );
    }

    #[test]
    fn within_passes_values_and_panics_on_and_fails_at_its_deadline() {
        assert_eq!(within(Duration::from_secs(30), "a sum", || 2 + 2), 4);
        let msg = panic_message(|| {
            within(Duration::from_secs(30), "a panic", || panic!("inner"));
        });
        assert_eq!(msg, "inner");
        let msg = panic_message(|| {
            within(Duration::from_millis(100), "a long sleep", || {
                std::thread::sleep(Duration::from_secs(5))
            });
        });
        assert!(msg.contains("a long sleep: not done within"), "{msg}");
    }
}
