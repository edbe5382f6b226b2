//! Raw calls for `butter.clone`: unshare and setns, and the `CLONE_*` flags.

use nix::sched::CloneFlags;
use pyo3::prelude::*;

use crate::args::borrow;
use crate::errno;

/// `unshare(flags)`: `0`, or `-1` with the errno. Moves the calling thread into new
/// namespaces (PID and time ones: for its next children). Runs with the GIL released (a
/// new network namespace can take milliseconds).
#[pyfunction]
pub fn unshare(py: Python<'_>, flags: i32) -> i64 {
    let flags = CloneFlags::from_bits_retain(flags);
    errno::ret_nix(py.detach(|| nix::sched::unshare(flags)).map(|()| 0i64))
}

/// `setns(fd, nstype)`: `0`, or `-1` with the errno. `nstype` 0 accepts a namespace of
/// any kind (and a pidfd, Linux 5.8+, with several `CLONE_NEW*` bits).
#[pyfunction]
pub fn setns(py: Python<'_>, fd: i32, nstype: i32) -> i64 {
    let nstype = CloneFlags::from_bits_retain(nstype);
    let ns = match borrow(&fd) {
        Ok(ns) => ns,
        Err(e) => return errno::ret::<i64>(Err(e)),
    };
    errno::ret_nix(py.detach(|| nix::sched::setns(ns, nstype)).map(|()| 0i64))
}

/// Adds unshare, setns and the `CLONE_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(unshare, m)?)?;
    m.add_function(wrap_pyfunction!(setns, m)?)?;
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { $( m.add(stringify!($name), libc::$name)?; )* };
    }
    consts!(
        CLONE_VM,
        CLONE_FS,
        CLONE_FILES,
        CLONE_SIGHAND,
        CLONE_PIDFD,
        CLONE_PTRACE,
        CLONE_VFORK,
        CLONE_PARENT,
        CLONE_THREAD,
        CLONE_NEWNS,
        CLONE_SYSVSEM,
        CLONE_SETTLS,
        CLONE_PARENT_SETTID,
        CLONE_CHILD_CLEARTID,
        CLONE_DETACHED,
        CLONE_UNTRACED,
        CLONE_CHILD_SETTID,
        CLONE_NEWCGROUP,
        CLONE_NEWUTS,
        CLONE_NEWIPC,
        CLONE_NEWUSER,
        CLONE_NEWPID,
        CLONE_NEWNET,
        CLONE_IO,
        CLONE_NEWTIME,
    );
    Ok(())
}
