//! Raw calls for `butter.system`: mount, umount2, pivot_root, sethostname, gethostname,
//! and the raw getpid/getppid system calls (no C library cache).
//!
//! Paths come as `bytes` (the Python layer applies `os.fsencode`); `None` for a mount's
//! source, file-system type or data is a NULL pointer.

use std::ffi::CString;

use nix::mount::{MntFlags, MsFlags};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::errno;

fn opt_path(b: Option<&Bound<'_, PyBytes>>) -> PyResult<Option<CString>> {
    b.map(args::path).transpose()
}

/// `mount(source, target, fstype, flags, data)`: `0`, or `-1` with the errno. Every `MS_*`
/// flag is passed through, including the propagation ones.
#[pyfunction]
#[pyo3(signature = (source, target, fstype, flags, data))]
pub fn mount(
    py: Python<'_>,
    source: Option<&Bound<'_, PyBytes>>,
    target: &Bound<'_, PyBytes>,
    fstype: Option<&Bound<'_, PyBytes>>,
    flags: u64,
    data: Option<&Bound<'_, PyBytes>>,
) -> PyResult<i64> {
    let (source, target) = (opt_path(source)?, args::path(target)?);
    let (fstype, data) = (opt_path(fstype)?, opt_path(data)?);
    let flags = MsFlags::from_bits_retain(flags as libc::c_ulong);
    let r = py.detach(|| {
        nix::mount::mount(
            source.as_deref(),
            target.as_c_str(),
            fstype.as_deref(),
            flags,
            data.as_deref(),
        )
    });
    Ok(errno::ret_nix(r.map(|()| 0i64)))
}

/// `umount2(target, flags)`: `0`, or `-1` with the errno (`EAGAIN` after the first
/// `MNT_EXPIRE`).
#[pyfunction]
pub fn umount2(py: Python<'_>, target: &Bound<'_, PyBytes>, flags: i32) -> PyResult<i64> {
    let target = args::path(target)?;
    let flags = MntFlags::from_bits_retain(flags);
    let r = py.detach(|| nix::mount::umount2(target.as_c_str(), flags));
    Ok(errno::ret_nix(r.map(|()| 0i64)))
}

/// `pivot_root(new_root, put_old)` (the raw system call; glibc has no wrapper): `0`, or
/// `-1` with the errno.
#[pyfunction]
pub fn pivot_root(
    py: Python<'_>,
    new_root: &Bound<'_, PyBytes>,
    put_old: &Bound<'_, PyBytes>,
) -> PyResult<i64> {
    let (new_root, put_old) = (args::path(new_root)?, args::path(put_old)?);
    let r = py.detach(|| rustix::process::pivot_root(new_root.as_c_str(), put_old.as_c_str()));
    Ok(errno::ret(r.map(|()| 0i64)))
}

/// `sethostname(name)` for the caller's UTS namespace: `0`, or `-1` with the errno
/// (`EINVAL` beyond 64 bytes, `EPERM` without `CAP_SYS_ADMIN` over the namespace).
#[pyfunction]
pub fn sethostname(name: &Bound<'_, PyBytes>) -> i64 {
    errno::ret(rustix::system::sethostname(name.as_bytes()).map(|()| 0i64))
}

/// The hostname of the caller's UTS namespace, as `bytes` (from `uname`, which cannot
/// fail; the C contract's `-1` is only ever a patched seam's).
#[pyfunction]
pub fn gethostname(py: Python<'_>) -> Bound<'_, PyBytes> {
    let uts = rustix::system::uname();
    PyBytes::new(py, uts.nodename().to_bytes())
}

/// The caller's process id, by the raw system call (as its PID namespace sees it).
#[pyfunction]
pub fn getpid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The parent's process id, by the raw system call; `0` when the parent is outside the
/// caller's PID namespace.
#[pyfunction]
pub fn getppid() -> i32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
}

/// Adds mount, umount2, pivot_root, the hostname and raw pid calls, and the `MS_*`/`MNT_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mount, m)?)?;
    m.add_function(wrap_pyfunction!(umount2, m)?)?;
    m.add_function(wrap_pyfunction!(pivot_root, m)?)?;
    m.add_function(wrap_pyfunction!(sethostname, m)?)?;
    m.add_function(wrap_pyfunction!(gethostname, m)?)?;
    m.add_function(wrap_pyfunction!(getpid, m)?)?;
    m.add_function(wrap_pyfunction!(getppid, m)?)?;
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { $( m.add(stringify!($name), libc::$name)?; )* };
    }
    consts!(
        MS_RDONLY,
        MS_NOSUID,
        MS_NODEV,
        MS_NOEXEC,
        MS_SYNCHRONOUS,
        MS_REMOUNT,
        MS_MANDLOCK,
        MS_DIRSYNC,
        MS_NOSYMFOLLOW,
        MS_NOATIME,
        MS_NODIRATIME,
        MS_BIND,
        MS_MOVE,
        MS_REC,
        MS_SILENT,
        MS_POSIXACL,
        MS_UNBINDABLE,
        MS_PRIVATE,
        MS_SLAVE,
        MS_SHARED,
        MS_RELATIME,
        MS_KERNMOUNT,
        MS_I_VERSION,
        MS_STRICTATIME,
        MS_LAZYTIME,
        MS_ACTIVE,
        MS_NOUSER,
        MS_MGC_VAL,
        MS_MGC_MSK,
        MNT_FORCE,
        MNT_DETACH,
        MNT_EXPIRE,
        UMOUNT_NOFOLLOW,
        HOST_NAME_MAX,
        PATH_MAX,
    );
    Ok(())
}
