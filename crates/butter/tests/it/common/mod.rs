//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use butter::{Errno, Error, ErrorKind};

pub use test_support::{is_root, skip};

/// How long [`in_child`] lets a child run before it kills it and fails.
pub const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` in a forked child and returns its verdict: `Err` with the child's message if it
/// failed or panicked, or did not finish within [`CHILD_LIMIT`] (it is killed then). Used
/// for what must not touch the test process: lowered rlimits, dropped capabilities, new
/// namespaces, process-directed signals.
///
/// Under `cargo test` other tests' threads run (and fork) beside it: the verdict pipe is
/// close-on-exec, so a program another test starts cannot hold it open, and a child that
/// inherited a lock some other thread held, and so never finishes, is killed at the
/// deadline instead of hanging the run.
pub fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    // SAFETY: the child only runs `f` and exits; glibc's fork handlers make malloc usable
    // in the child of a multi-threaded parent.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let verdict =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
                    Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into()))
                });
            let mut out = File::from(wr);
            let code = match verdict {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = out.write_all(msg.as_bytes());
                    1
                }
            };
            drop(out);
            // SAFETY: leaves the child at once, without running the parent's atexit state.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let deadline = Instant::now() + CHILD_LIMIT;
            let (msg, finished) = read_until(rd, deadline);
            let msg = String::from_utf8_lossy(&msg);
            if !finished {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            let status = waitpid_until(child, deadline + Duration::from_secs(10));
            match status {
                _ if !finished => Err(format!(
                    "child did not finish within {CHILD_LIMIT:?}; killed ({status:?}): {msg}"
                )),
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!("child {other:?}: {msg}")),
            }
        }
    }
}

/// Waits for a child that `butter::namespace::run_in` started, for at most
/// [`CHILD_LIMIT`]; kills it (SIGKILL) and fails, naming `what`, after that.
pub fn wait_ns(child: butter::namespace::Child, what: &str) -> std::process::ExitStatus {
    let pid = child.pid();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(CHILD_LIMIT) {
        Ok(status) => status.unwrap_or_else(|e| panic!("{what}: waitpid: {e}")),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rx.recv_timeout(Duration::from_secs(10));
            panic!("{what} did not exit within {CHILD_LIMIT:?}; killed");
        }
    }
}

/// Reads `fd` to its end or until `deadline`: the bytes, and whether the end was reached.
fn read_until(fd: OwnedFd, deadline: Instant) -> (Vec<u8>, bool) {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        let timeout = rustix::time::Timespec::try_from(left).unwrap();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => panic!("poll on the child's verdict pipe: {e}"),
        }
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(e) => panic!("reading the child's verdict: {e}"),
        }
    }
}

/// Waits for the forked `child` to end, until `deadline`; after it, kills and reaps the
/// child and fails.
pub fn waitpid_until(child: nix::unistd::Pid, deadline: Instant) -> nix::sys::wait::WaitStatus {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
            Ok(status) => return status,
            Err(e) => panic!("waitpid({child}): {e}"),
        }
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child, None);
            panic!("child {child} did not end by its deadline; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks that `r` failed with `errno` and `kind` in `call`.
pub fn expect_err<T: std::fmt::Debug>(
    r: butter::Result<T>,
    call: &str,
    errno: Errno,
    kind: ErrorKind,
) -> Result<Error, String> {
    match r {
        Ok(v) => Err(format!("{call}: expected {errno:?}, got Ok({v:?})")),
        Err(e) if e.errno() == errno && e.kind() == kind && e.call() == call => Ok(e),
        Err(e) => Err(format!("{call}: expected {errno:?}/{kind:?}, got {e:?}")),
    }
}

/// Checks that `err`'s message carries a hint containing `needle`.
pub fn expect_hint(err: &Error, needle: &str) -> Result<(), String> {
    if err.to_string().contains(needle) {
        Ok(())
    } else {
        Err(format!("no hint mentioning {needle:?}: {err}"))
    }
}

/// In a child whose descriptors are all used up, checks that `create` fails in `call` with
/// `EMFILE` and a hint mentioning `needle`.
pub fn expect_emfile<T: std::fmt::Debug>(
    create: impl FnOnce() -> butter::Result<T>,
    call: &str,
    needle: &str,
) {
    check(in_child(|| {
        let _held = exhaust_descriptors()?;
        let e = expect_err(create(), call, Errno::EMFILE, ErrorKind::ResourceExhausted)?;
        expect_hint(&e, needle)
    }));
}

/// Lowers RLIMIT_NOFILE to a few descriptors and fills them all, so that the next
/// descriptor-creating call fails with EMFILE. For use in a child.
pub fn exhaust_descriptors() -> Result<Vec<OwnedFd>, String> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(16),
            maximum: Some(16),
        },
    )
    .map_err(|e| format!("setrlimit: {e}"))?;
    let mut held = Vec::new();
    loop {
        match rustix::io::dup(rustix::stdio::stdin()) {
            Ok(fd) => held.push(fd),
            Err(rustix::io::Errno::MFILE) => return Ok(held),
            Err(e) => return Err(format!("dup: {e}")),
        }
    }
}

/// An `O_PATH` descriptor: open, but good for no I/O (`EBADF` for reads and most calls).
pub fn path_fd() -> OwnedFd {
    rustix::fs::open(
        "/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap()
}

/// Whether `FD_CLOEXEC` is set on `fd`.
pub fn is_cloexec(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFD on a descriptor we hold.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0);
    flags & libc::FD_CLOEXEC != 0
}

/// Drops `cap` from the effective, permitted and inheritable sets of the calling thread.
/// For use in a child.
pub fn drop_capability(cap: rustix::thread::CapabilitySet) -> Result<(), String> {
    let mut sets = rustix::thread::capabilities(None).map_err(|e| e.to_string())?;
    sets.effective.remove(cap);
    sets.permitted.remove(cap);
    sets.inheritable.remove(cap);
    rustix::thread::set_capabilities(None, sets).map_err(|e| format!("capset: {e}"))
}

/// Fails the test with the child's message.
#[track_caller]
pub fn check(r: Result<(), String>) {
    if let Err(msg) = r {
        panic!("{msg}");
    }
}

/// For overflow tests: the queue limit (`fs.inotify.max_queued_events`) and a scratch
/// directory on tmpfs, or `None` (after saying why) if the limit is too high to fill quickly.
pub fn overflow_setup(test: &str) -> Option<(usize, tempfile::TempDir)> {
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if limit > 100_000 {
        skip(test, "fs.inotify.max_queued_events is above 100000");
        return None;
    }
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    Some((limit, tempfile::tempdir_in(base).unwrap()))
}
