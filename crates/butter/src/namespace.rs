//! Namespaces: unshare, setns (by descriptor, path or process), clone3, and [`run_in`],
//! which runs a closure in a child process inside new namespaces.
//!
//! A namespace gives a process its own view of one kind of system resource: mounts,
//! hostname, IPC, network, process ids, user ids, cgroups, clocks. [`unshare`] moves the
//! caller into new ones (for PID and time namespaces, only its *next children*);
//! [`setns`] joins existing ones; [`clone3`] creates a child in new ones at once.
//!
//! [`run_in`] does what most callers want without any of the pitfalls: it forks, unshares
//! in the child (forking once more for PID and time namespaces, so that the closure runs
//! as PID 1 of the new PID namespace), maps the caller to root in a new user namespace
//! if asked, runs the closure, and exits with its code. The [`Child`] it returns is waited
//! for, or killed with its whole namespace; dropping it kills and reaps it, so nothing is
//! left behind.
//!
//! ```no_run
//! use butter::namespace::{Namespaces, run_in};
//!
//! let child = run_in(Namespaces::UTS | Namespaces::PID, || {
//!     butter::process::sethostname("inside").unwrap();
//!     assert_eq!(butter::process::getpid().as_raw_nonzero().get(), 1);
//!     0
//! })?;
//! assert!(child.wait()?.success());
//! # Ok::<(), butter::Error>(())
//! ```

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use bitflags::bitflags;
use rustix::process::Pid;

use crate::error::{Errno, Error, Result};

bitflags! {
    /// Kinds of namespace (the `CLONE_NEW*` flags).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Namespaces: u64 {
        /// Mounts (`CLONE_NEWNS`).
        const MOUNT = libc::CLONE_NEWNS as u64;
        /// Hostname and domain name (`CLONE_NEWUTS`).
        const UTS = libc::CLONE_NEWUTS as u64;
        /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
        const IPC = libc::CLONE_NEWIPC as u64;
        /// Network devices, addresses, ports, routes (`CLONE_NEWNET`).
        const NET = libc::CLONE_NEWNET as u64;
        /// Process ids (`CLONE_NEWPID`): for the caller's children, not the caller.
        const PID = libc::CLONE_NEWPID as u64;
        /// User and group ids and capabilities (`CLONE_NEWUSER`).
        const USER = libc::CLONE_NEWUSER as u64;
        /// The cgroup root (`CLONE_NEWCGROUP`).
        const CGROUP = libc::CLONE_NEWCGROUP as u64;
        /// The monotonic and boot-time clocks' offsets (`CLONE_NEWTIME`, Linux 5.6): for
        /// the caller's children, not the caller.
        const TIME = 0x80;
    }
}

const EINVAL_HINT: &str = "a new user namespace cannot be made by a multi-threaded process, \
     and some kinds need a newer kernel (time: 5.6)";
const EPERM_HINT: &str = "needs CAP_SYS_ADMIN (a new user namespace needs none, but may be \
     turned off by /proc/sys/user/max_user_namespaces or kernel.unprivileged_userns_clone)";

fn ns_error(call: &'static str) -> Error {
    Error::last(call)
        .hint_if(Errno::EINVAL, EINVAL_HINT)
        .hint_if(Errno::EPERM, EPERM_HINT)
        .hint_if(Errno::ENOSPC, "the limit of nested or per-user namespaces (/proc/sys/user/max_*_namespaces) was reached")
        .hint_if(Errno::EUSERS, "the limit of nested user namespaces (32) was reached")
}

/// Moves the calling thread into new namespaces:
/// [`unshare(2)`](https://man7.org/linux/man-pages/man2/unshare.2.html). New PID and time
/// namespaces apply to the caller's children, not to the caller. A new user namespace
/// needs a single-threaded process.
pub fn unshare(namespaces: Namespaces) -> Result<()> {
    // SAFETY: unshare takes an integer and touches no memory of ours.
    if unsafe { libc::unshare(namespaces.bits() as libc::c_int) } < 0 {
        return Err(ns_error("unshare"));
    }
    Ok(())
}

/// Joins the namespace (or, for a pidfd on Linux 5.8+, the namespaces) `fd` refers to:
/// [`setns(2)`](https://man7.org/linux/man-pages/man2/setns.2.html). `nstype` empty accepts
/// any kind; otherwise `fd` must be of that kind (`EINVAL`).
pub fn setns(fd: impl AsFd, nstype: Namespaces) -> Result<()> {
    // SAFETY: setns takes a descriptor and an integer.
    if unsafe { libc::setns(fd.as_fd().as_raw_fd(), nstype.bits() as libc::c_int) } < 0 {
        return Err(ns_error("setns").hint_if(
            Errno::EINVAL,
            "the descriptor is not a namespace of that kind (or joining needs a single-threaded process: user and mount namespaces)",
        ));
    }
    Ok(())
}

/// Joins the namespace at `path` (such as `/proc/1234/ns/net`, or a bind mount of one).
pub fn setns_path(path: impl AsRef<Path>, nstype: Namespaces) -> Result<()> {
    let path = path.as_ref();
    let f = File::open(path).map_err(|e| Error::from_io("open", &e).with_path(path))?;
    setns(&f, nstype).map_err(|e| e.with_path(path))
}

/// Joins the namespaces `namespaces` of process `pid`, through a pidfd (Linux 5.8+:
/// several kinds at once, atomically).
pub fn setns_pid(pid: Pid, namespaces: Namespaces) -> Result<()> {
    let fd = pidfd_open(pid)?;
    setns(&fd, namespaces)
}

/// A descriptor for process `pid`: [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html).
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::from_rustix("pidfd_open", e))
}

/// The arguments of [`clone3`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneArgs {
    /// Namespaces for the child.
    pub namespaces: Namespaces,
    /// Other `CLONE_*` flags (such as `CLONE_PIDFD`; not `CLONE_VM`, `CLONE_THREAD` or
    /// anything that needs a stack of its own: the child runs on a copy of the caller's).
    pub flags: u64,
    /// The signal the parent gets when the child exits (normally `SIGCHLD`).
    pub exit_signal: i32,
}

#[repr(C)]
#[derive(Default)]
struct RawCloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Creates a child process, as `fork` does, but in new namespaces at once:
/// [`clone3(2)`](https://man7.org/linux/man-pages/man2/clone3.2.html) (Linux 5.3; time
/// namespaces 5.6). Returns `None` in the child and its pid in the parent. Unlike
/// `unshare`, a new PID namespace includes the child itself: it is PID 1.
///
/// # Safety
///
/// The child is a copy of the calling process with only the calling thread, created
/// without the C library's fork handlers: until it calls `execve` or `_exit`, it may only
/// make async-signal-safe calls (no allocation, no locks another thread may have held).
/// For a closure that may do anything, use [`run_in`].
pub unsafe fn clone3(args: CloneArgs) -> Result<Option<Pid>> {
    let raw = RawCloneArgs {
        flags: args.namespaces.bits() | args.flags,
        exit_signal: args.exit_signal as u64,
        ..Default::default()
    };
    // SAFETY: the kernel reads `size_of::<RawCloneArgs>()` bytes of `raw` (struct
    // clone_args, version 2) during the call; the caller upholds the rules for the child.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw as *const RawCloneArgs,
            std::mem::size_of::<RawCloneArgs>(),
        )
    };
    match r {
        r if r < 0 => Err(ns_error("clone3")),
        0 => Ok(None),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// How [`run_in`] sets up the child.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// With a new user namespace, map the caller's user and group to root inside it (so
    /// that the child has capabilities over its other new namespaces without being root
    /// outside).
    pub map_root: bool,
}

/// A child process made by [`run_in`]. Dropping it kills it (with everything in its PID
/// namespace, if it has one) and reaps it.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    done: Option<ExitStatus>,
}

impl Child {
    /// The child's pid (in the caller's PID namespace).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the child to exit.
    pub fn wait(mut self) -> Result<ExitStatus> {
        let status = self.wait_mut()?;
        Ok(status)
    }

    fn wait_mut(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.done {
            return Ok(s);
        }
        loop {
            let mut status = 0;
            // SAFETY: waits for our own child, writing its status into `status`.
            let r = unsafe { libc::waitpid(self.pid.as_raw_nonzero().get(), &mut status, 0) };
            if r < 0 {
                let e = Error::last("waitpid");
                if e.errno() == Errno::EINTR {
                    continue;
                }
                return Err(e);
            }
            let s = ExitStatus::from_raw(status);
            self.done = Some(s);
            return Ok(s);
        }
    }

    /// Sends `signal` to the child (the init of its PID namespace, if it has one: a fatal
    /// signal then ends every process in it).
    pub fn kill(&self, signal: rustix::process::Signal) -> Result<()> {
        if self.done.is_some() {
            return Ok(());
        }
        rustix::process::kill_process(self.pid, signal).map_err(|e| Error::from_rustix("kill", e))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.done.is_none() {
            let _ = self.kill(rustix::process::Signal::KILL);
            let _ = self.wait_mut();
        }
    }
}

/// Runs `f` in a child process inside new `namespaces`, and returns the child; its exit
/// code is what `f` returns (101 if it panics). See the module docs.
pub fn run_in(namespaces: Namespaces, f: impl FnOnce() -> i32) -> Result<Child> {
    run_in_with(namespaces, RunOptions::default(), f)
}

/// [`run_in`] with options.
///
/// The child is a copy of this process made by `fork(2)`, holding only the calling thread:
/// as after any fork, a lock that another thread held at that moment stays held in the
/// child (glibc's fork handlers release the allocator's and stdio's, so allocating and
/// printing work). The child gets `SIGKILL` if the thread that called `run_in` exits.
pub fn run_in_with(
    namespaces: Namespaces,
    options: RunOptions,
    f: impl FnOnce() -> i32,
) -> Result<Child> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // The child reports a setup failure (an errno) through this pipe before running `f`.
    let (report_r, report_w) = crate::pipe::pipe_with(crate::pipe::PipeFlags::empty())?;
    // SAFETY: the child runs only the code below and leaves with `_exit`; see the function
    // docs for what fork means for other threads' locks.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::new("fork", e))? {
        nix::unistd::ForkResult::Child => {
            drop(report_r);
            let code = child_main(namespaces, options, uid, gid, report_w, f);
            // SAFETY: leaves the child at once, without the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(report_w);
            let pid = Pid::from_raw(child.as_raw()).expect("fork gives a positive pid");
            let mut child = Child { pid, done: None };
            let mut buf = [0u8; 4 + 32];
            let n = rustix::io::read(&report_r, &mut buf).unwrap_or(0);
            if n >= 4 {
                let errno = i32::from_ne_bytes(buf[..4].try_into().unwrap());
                let call = match &buf[4..n] {
                    b"unshare" => "unshare",
                    b"uid_map" => "write /proc/self/uid_map",
                    b"setgroups" => "write /proc/self/setgroups",
                    b"gid_map" => "write /proc/self/gid_map",
                    _ => "fork",
                };
                let _ = child.wait_mut();
                let err = Error::new(call, Errno::from_raw(errno));
                return Err(if call == "unshare" {
                    err.hint_if(Errno::EINVAL, EINVAL_HINT)
                        .hint_if(Errno::EPERM, EPERM_HINT)
                } else {
                    err
                });
            }
            Ok(child)
        }
    }
}

/// The child's side of [`run_in_with`]: returns the exit code.
fn child_main(
    namespaces: Namespaces,
    options: RunOptions,
    uid: u32,
    gid: u32,
    report: OwnedFd,
    f: impl FnOnce() -> i32,
) -> i32 {
    let fail = |call: &str, errno: i32| {
        let mut msg = errno.to_ne_bytes().to_vec();
        msg.extend_from_slice(call.as_bytes());
        let _ = rustix::io::write(&report, &msg);
        127
    };
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Err(e) = unshare(namespaces) {
        return fail("unshare", e.raw_os_error());
    }
    if namespaces.contains(Namespaces::USER) && options.map_root {
        for (file, text, call) in [
            ("/proc/self/setgroups", "deny".to_owned(), "setgroups"),
            ("/proc/self/uid_map", format!("0 {uid} 1"), "uid_map"),
            ("/proc/self/gid_map", format!("0 {gid} 1"), "gid_map"),
        ] {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                return fail(call, e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
    }
    // Set up: the parent stops listening once the pipe closes.
    drop(report);
    let run = move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
    if !namespaces.intersects(Namespaces::PID | Namespaces::TIME) {
        return run();
    }
    // PID and time namespaces take effect for children: run `f` in one, and pass its exit
    // on (a signal becomes 128 + its number, as shells do).
    // SAFETY: as in `run_in_with`: the grandchild runs `f` and leaves with `_exit`.
    match unsafe { nix::unistd::fork() } {
        Err(e) => e as i32 + 128,
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            let code = run();
            // SAFETY: leaves the grandchild at once.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => loop {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => return code,
                Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return 126,
            }
        },
    }
}

/// Opens `/proc/<pid>/ns/<kind>`, to keep a namespace (or join it later with [`setns`]).
pub fn namespace_fd(pid: Option<Pid>, kind: &str) -> Result<OwnedFd> {
    let path = match pid {
        Some(p) => format!("/proc/{}/ns/{kind}", p.as_raw_nonzero()),
        None => format!("/proc/self/ns/{kind}"),
    };
    let f = File::open(&path).map_err(|e| Error::from_io("open", &e).with_path(&path))?;
    Ok(OwnedFd::from(f))
}
