//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use butter::{Errno, Error, ErrorKind};

/// Whether the tests run as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Where skipped tests are listed, for `scripts/test-all` to print after the run (the test
/// runner hides the output of tests that pass).
pub const SKIP_LOG: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");

/// Says why a test is skipped (never silently): on stderr, and in [`SKIP_LOG`].
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    let line = format!("SKIPPED {test}: {why}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SKIP_LOG)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Runs `f` in a forked child and returns its verdict: `Err` with the child's message if it
/// failed or panicked. Used for what must not touch the test process: lowered rlimits,
/// dropped capabilities, new namespaces, process-directed signals.
pub fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (rd, wr) = rustix::pipe::pipe().unwrap();
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
            let mut msg = String::new();
            File::from(rd).read_to_string(&mut msg).unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!("child {other:?}: {msg}")),
            }
        }
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
