//! The calling process and thread: raw process ids, the hostname, and `prctl` — the
//! thread's name, the parent-death signal, child subreaper, no_new_privs, dumpable, the
//! capability bounding set and timer slack.
//!
//! [`getpid`] and [`getppid`] are the raw system calls: no C library cache can give a stale
//! value after a raw `clone`.
//!
//! ```
//! use butter::process::{set_timer_slack, timer_slack};
//! use std::time::Duration;
//!
//! std::thread::spawn(|| {
//!     set_timer_slack(Some(Duration::from_millis(1)))?;
//!     assert_eq!(timer_slack()?, Duration::from_millis(1));
//!     Ok::<(), butter::Error>(())
//! }).join().unwrap()?;
//! # Ok::<(), butter::Error>(())
//! ```

use std::ffi::{CString, OsString};
use std::num::NonZeroU64;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

pub use rustix::process::{Pid, Signal};
pub use rustix::thread::CapabilitySet;

use crate::error::{Call, Errno, Error, Result};

/// The calling process's id, as its PID namespace sees it:
/// [`getpid(2)`](https://man7.org/linux/man-pages/man2/getpid.2.html), as a raw system call.
pub fn getpid() -> Pid {
    rustix::process::getpid()
}

/// The parent's process id: [`getppid(2)`](https://man7.org/linux/man-pages/man2/getppid.2.html),
/// as a raw system call. `None` when the parent is outside the caller's PID namespace (the
/// kernel says 0: the caller is the namespace's init, or its parent lives in an outer one).
pub fn getppid() -> Option<Pid> {
    rustix::process::getppid()
}

/// The hostname of the caller's UTS namespace (the `nodename` of
/// [`uname(2)`](https://man7.org/linux/man-pages/man2/uname.2.html)), as bytes.
pub fn gethostname() -> OsString {
    OsString::from_vec(rustix::system::uname().nodename().to_bytes().to_vec())
}

/// Sets the hostname of the caller's UTS namespace:
/// [`sethostname(2)`](https://man7.org/linux/man-pages/man2/sethostname.2.html). Up to 64
/// bytes (`HOST_NAME_MAX`; butter's old assertion refused exactly 64); needs
/// `CAP_SYS_ADMIN` over the UTS namespace (so: `unshare(CLONE_NEWUTS)` first, to leave the
/// host's name alone).
pub fn sethostname(name: impl AsRef<[u8]>) -> Result<()> {
    rustix::system::sethostname(name.as_ref())
        .call("sethostname")
        .map_err(|e| {
            e.hint_if(Errno::EINVAL, "a hostname is at most 64 bytes")
                .hint_if(
                    Errno::EPERM,
                    "needs CAP_SYS_ADMIN over the UTS namespace (unshare(CLONE_NEWUTS) first)",
                )
        })
}

/// The calling thread's name:
/// [`prctl(PR_GET_NAME)`](https://man7.org/linux/man-pages/man2/PR_GET_NAME.2const.html).
pub fn name() -> Result<OsString> {
    let name = rustix::thread::name().call("prctl(PR_GET_NAME)")?;
    Ok(OsString::from_vec(name.into_bytes()))
}

/// Sets the calling thread's name (what `ps` and `/proc/self/comm` show):
/// [`prctl(PR_SET_NAME)`](https://man7.org/linux/man-pages/man2/PR_SET_NAME.2const.html). The
/// kernel keeps the first 15 bytes. A name with a NUL byte is `EINVAL`.
pub fn set_name(name: impl AsRef<[u8]>) -> Result<()> {
    let name = CString::new(name.as_ref()).map_err(|_| {
        Error::new("prctl(PR_SET_NAME)", Errno::EINVAL).with_hint("the name contains a NUL byte")
    })?;
    rustix::thread::set_name(&name).call("prctl(PR_SET_NAME)")
}

/// The signal the calling thread gets when its parent dies, if one is set:
/// [`prctl(PR_GET_PDEATHSIG)`](https://man7.org/linux/man-pages/man2/PR_GET_PDEATHSIG.2const.html).
pub fn parent_death_signal() -> Result<Option<Signal>> {
    rustix::process::parent_process_death_signal().call("prctl(PR_GET_PDEATHSIG)")
}

/// Asks for `signal` when the parent *thread* dies (`None`: nothing):
/// [`prctl(PR_SET_PDEATHSIG)`](https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html).
/// It is cleared by `execve` of a set-user-ID program and in a child of `fork`; note that it
/// fires when the thread that forked exits, not the whole parent process.
pub fn set_parent_death_signal(signal: Option<Signal>) -> Result<()> {
    rustix::process::set_parent_process_death_signal(signal).call("prctl(PR_SET_PDEATHSIG)")
}

/// Whether the process is a child subreaper:
/// [`prctl(PR_GET_CHILD_SUBREAPER)`](https://man7.org/linux/man-pages/man2/PR_GET_CHILD_SUBREAPER.2const.html).
pub fn is_child_subreaper() -> Result<bool> {
    Ok(rustix::process::child_subreaper()
        .call("prctl(PR_GET_CHILD_SUBREAPER)")?
        .is_some())
}

/// Makes the process a child subreaper (or not): orphaned descendants are then reparented
/// to it instead of to init, so it can wait for a whole process tree:
/// [`prctl(PR_SET_CHILD_SUBREAPER)`](https://man7.org/linux/man-pages/man2/PR_SET_CHILD_SUBREAPER.2const.html).
pub fn set_child_subreaper(on: bool) -> Result<()> {
    let pid = on.then(getpid);
    rustix::process::set_child_subreaper(pid).call("prctl(PR_SET_CHILD_SUBREAPER)")
}

/// Whether no_new_privs is set for the calling thread:
/// [`prctl(PR_GET_NO_NEW_PRIVS)`](https://man7.org/linux/man-pages/man2/PR_GET_NO_NEW_PRIVS.2const.html).
pub fn no_new_privs() -> Result<bool> {
    rustix::thread::no_new_privs().call("prctl(PR_GET_NO_NEW_PRIVS)")
}

/// Sets no_new_privs for the calling thread and everything it starts — for good: `execve`
/// can then never grant privileges (set-user-ID bits, file capabilities), and seccomp
/// filters may be installed without `CAP_SYS_ADMIN`:
/// [`prctl(PR_SET_NO_NEW_PRIVS)`](https://man7.org/linux/man-pages/man2/PR_SET_NO_NEW_PRIVS.2const.html).
pub fn set_no_new_privs() -> Result<()> {
    rustix::thread::set_no_new_privs(true).call("prctl(PR_SET_NO_NEW_PRIVS)")
}

/// Whether the process is dumpable (core dumps, ptrace attach by its user,
/// `/proc/<pid>` owned by it):
/// [`prctl(PR_GET_DUMPABLE)`](https://man7.org/linux/man-pages/man2/PR_GET_DUMPABLE.2const.html).
pub fn is_dumpable() -> Result<bool> {
    use rustix::process::DumpableBehavior;
    Ok(
        rustix::process::dumpable_behavior().call("prctl(PR_GET_DUMPABLE)")?
            != DumpableBehavior::NotDumpable,
    )
}

/// Sets whether the process is dumpable:
/// [`prctl(PR_SET_DUMPABLE)`](https://man7.org/linux/man-pages/man2/PR_SET_DUMPABLE.2const.html).
pub fn set_dumpable(on: bool) -> Result<()> {
    use rustix::process::DumpableBehavior;
    let b = if on {
        DumpableBehavior::Dumpable
    } else {
        DumpableBehavior::NotDumpable
    };
    rustix::process::set_dumpable_behavior(b).call("prctl(PR_SET_DUMPABLE)")
}

/// Whether every capability of `caps` is in the calling thread's capability bounding set:
/// [`prctl(PR_CAPBSET_READ)`](https://man7.org/linux/man-pages/man2/PR_CAPBSET_READ.2const.html).
pub fn in_bounding_set(caps: CapabilitySet) -> Result<bool> {
    for cap in caps.iter() {
        if !rustix::thread::capability_is_in_bounding_set(cap).call("prctl(PR_CAPBSET_READ)")? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Drops the capabilities of `caps` from the calling thread's capability bounding set, for
/// it and everything it starts — for good: no `execve` can grant them again. Needs
/// `CAP_SETPCAP`:
/// [`prctl(PR_CAPBSET_DROP)`](https://man7.org/linux/man-pages/man2/PR_CAPBSET_DROP.2const.html).
pub fn drop_from_bounding_set(caps: CapabilitySet) -> Result<()> {
    for cap in caps.iter() {
        rustix::thread::remove_capability_from_bounding_set(cap)
            .call("prctl(PR_CAPBSET_DROP)")
            .map_err(|e| e.hint_if(Errno::EPERM, "needs CAP_SETPCAP"))?;
    }
    Ok(())
}

/// The calling thread's timer slack:
/// [`prctl(PR_GET_TIMERSLACK)`](https://man7.org/linux/man-pages/man2/PR_GET_TIMERSLACK.2const.html).
///
/// The kernel may delay the thread's sleeps and poll/select/epoll timeouts by up to this
/// much, to group wake-ups (50 µs by default; 0 for realtime threads). timerfd expirations
/// are not delayed by it; see [`crate::timerfd`].
pub fn timer_slack() -> Result<Duration> {
    let ns = rustix::thread::current_timer_slack().call("prctl(PR_GET_TIMERSLACK)")?;
    Ok(Duration::from_nanos(ns))
}

/// Sets the calling thread's timer slack:
/// [`prctl(PR_SET_TIMERSLACK)`](https://man7.org/linux/man-pages/man2/PR_SET_TIMERSLACK.2const.html).
///
/// `None` restores the thread's default slack (the value it inherited when it was
/// created). `Some(d)` sets `d`, rounded down to whole nanoseconds and at least 1 ns (the
/// kernel reads 0 as "restore the default"). Larger slack saves power and costs timeout
/// precision. Affects only the calling thread; threads it creates later inherit it.
pub fn set_timer_slack(slack: Option<Duration>) -> Result<()> {
    let ns = slack.map(|d| {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        NonZeroU64::new(ns).unwrap_or(NonZeroU64::MIN)
    });
    rustix::thread::set_current_timer_slack(ns).call("prctl(PR_SET_TIMERSLACK)")
}
