//! Child processes run with a deadline: a test that waits on a process which never ends
//! fails, saying what it waited for, instead of hanging.
//!
//! The master's and the slave's test helpers include this same file (`#[path]`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
