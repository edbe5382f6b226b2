//! Raw calls for `butter.signalfd`, with C contracts so that `butter._signalfd.C` stays a
//! patchable seam, plus the record reader and decoder.
//!
//! A signal set crosses as an integer in the kernel's 64-bit form: bit `n - 1` for signal
//! `n`, as `/proc/*/status` prints masks (the Python layer converts sets of ints).
//! `pthread_sigmask` keeps its own C contract — 0, or a **positive** errno (also stored) —
//! and writes the previous mask into a list, as C writes through `oldset`.
//!
//! `signalfd_read` reads whole 128-byte `struct signalfd_siginfo` records with the GIL
//! released and decodes every field of each into a tuple (the order of [`FIELDS`]);
//! `siginfo_decode` does the same for one record given as bytes.

use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;

use butter::signalfd::{MaskHow, SIGINFO_SIZE, SigInfo, SigSet, pthread_sigmask as sigmask};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rustix::io::Errno;

use crate::errno;

/// The fields of a decoded record, in the order of the tuples: `struct signalfd_siginfo`'s
/// fields without their `ssi_` prefix and without the padding.
pub const FIELDS: [&str; 20] = [
    "signo",
    "errno",
    "code",
    "pid",
    "uid",
    "fd",
    "tid",
    "band",
    "overrun",
    "trapno",
    "status",
    "int",
    "ptr",
    "utime",
    "stime",
    "addr",
    "addr_lsb",
    "syscall",
    "call_addr",
    "arch",
];

/// How many records one read takes at most.
const READ_BATCH: usize = 32;

/// The record `info` as a tuple in the order of [`FIELDS`].
fn to_tuple<'py>(py: Python<'py>, info: &SigInfo) -> PyResult<Bound<'py, PyTuple>> {
    let fields: [Bound<'py, PyAny>; 20] = [
        info.signal.as_raw().into_pyobject(py)?.into_any(),
        info.errno.into_pyobject(py)?.into_any(),
        info.code.into_pyobject(py)?.into_any(),
        info.pid.into_pyobject(py)?.into_any(),
        info.uid.into_pyobject(py)?.into_any(),
        info.fd.into_pyobject(py)?.into_any(),
        info.tid.into_pyobject(py)?.into_any(),
        info.band.into_pyobject(py)?.into_any(),
        info.overrun.into_pyobject(py)?.into_any(),
        info.trapno.into_pyobject(py)?.into_any(),
        info.status.into_pyobject(py)?.into_any(),
        info.int.into_pyobject(py)?.into_any(),
        info.ptr.into_pyobject(py)?.into_any(),
        info.utime.into_pyobject(py)?.into_any(),
        info.stime.into_pyobject(py)?.into_any(),
        info.addr.into_pyobject(py)?.into_any(),
        info.addr_lsb.into_pyobject(py)?.into_any(),
        info.syscall.into_pyobject(py)?.into_any(),
        info.call_addr.into_pyobject(py)?.into_any(),
        info.arch.into_pyobject(py)?.into_any(),
    ];
    PyTuple::new(py, fields)
}

/// The signal set of the 64-bit form `bits`.
fn set_of(bits: u64) -> SigSet {
    SigSet::from_bits(bits)
}

/// `signalfd(fd, mask, flags)`: creates a signalfd for the signals of `mask` (`fd` -1) or
/// replaces the mask of the signalfd `fd`; returns the descriptor, or `-1` with the errno
/// stored. `flags` reaches the kernel as it is (`EINVAL` for unknown bits).
#[pyfunction]
pub fn signalfd(fd: i64, mask: u64, flags: i64) -> i64 {
    let (Ok(fd), Ok(flags)) = (i32::try_from(fd), i32::try_from(flags)) else {
        errno::set(libc::EINVAL);
        return -1;
    };
    let set = set_of(mask);
    // nix offers an fd-taking signalfd only as a deprecated function; the glibc wrapper is
    // the bare system call (and passes the kernel's sigset size).
    // SAFETY: `set` is an initialised sigset_t that outlives the call; `fd` is -1 or a
    // number the kernel checks (EBADF, EINVAL when it is not a signalfd).
    errno::ret_libc(i64::from(unsafe {
        libc::signalfd(fd, set.as_raw(), flags)
    }))
}

/// `pthread_sigmask(how, set, old)`: changes the calling thread's signal mask (`set` is a
/// 64-bit mask, or `None` to only read it) and writes the previous mask into the list
/// `old` unless it is `None`. Returns 0, or — the C contract of this call — a positive
/// errno, which is also stored (`EINVAL` for an unknown `how`).
#[pyfunction]
#[pyo3(signature = (how, set, old=None))]
pub fn pthread_sigmask(
    how: i64,
    set: Option<u64>,
    old: Option<&Bound<'_, PyList>>,
) -> PyResult<i64> {
    let how = match i32::try_from(how) {
        Ok(libc::SIG_BLOCK) => MaskHow::Block,
        Ok(libc::SIG_UNBLOCK) => MaskHow::Unblock,
        Ok(libc::SIG_SETMASK) => MaskHow::SetMask,
        // What glibc answers for any other value.
        _ => {
            errno::set(libc::EINVAL);
            return Ok(i64::from(libc::EINVAL));
        }
    };
    let set = set.map(set_of);
    match sigmask(how, set.as_ref()) {
        Ok(prev) => {
            if let Some(old) = old {
                old.del_slice(0, usize::MAX)?;
                old.append(prev.to_bits())?;
            }
            Ok(0)
        }
        Err(e) => {
            let n = e.raw_os_error();
            errno::set(n);
            Ok(i64::from(n))
        }
    }
}

/// Reads the pending records of signalfd `fd` (at least one; up to 32) with the GIL
/// released, as a list of tuples of every field (see the module docs). Raises `OSError` as
/// `os.read` would (`BlockingIOError` on a non-blocking signalfd with nothing pending),
/// `ValueError` when `fd` is `None` (a closed object).
#[pyfunction]
pub fn signalfd_read<'py>(py: Python<'py>, fd: Option<i32>) -> PyResult<Bound<'py, PyList>> {
    let fd = fd.ok_or_else(|| PyValueError::new_err("I/O operation on closed file"))?;
    if fd < 0 {
        return Err(errno::os_error(Errno::BADF));
    }
    // SAFETY: the descriptor is only used for the read that follows; a number that is not
    // open makes it fail with EBADF, nothing worse.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut buf = vec![0u8; SIGINFO_SIZE * READ_BATCH];
    let n = loop {
        match py.detach(|| rustix::io::read(fd.as_fd(), &mut buf[..])) {
            Ok(n) => break n,
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(errno::os_error(e)),
        }
    };
    let out = PyList::empty(py);
    for record in buf[..n].chunks_exact(SIGINFO_SIZE) {
        out.append(to_tuple(py, &SigInfo::from_bytes(record))?)?;
    }
    Ok(out)
}

/// Decodes one 128-byte `struct signalfd_siginfo` into a tuple of every field (the order
/// of the module's `SIGINFO_FIELDS`); `ValueError` for fewer than 128 bytes.
#[pyfunction]
pub fn siginfo_decode<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = record.as_bytes();
    if bytes.len() < SIGINFO_SIZE {
        return Err(PyValueError::new_err(format!(
            "a signalfd_siginfo record is {SIGINFO_SIZE} bytes, not {}",
            bytes.len()
        )));
    }
    to_tuple(py, &SigInfo::from_bytes(bytes))
}

/// Adds the signalfd raw calls and constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(signalfd, m)?)?;
    m.add_function(wrap_pyfunction!(pthread_sigmask, m)?)?;
    m.add_function(wrap_pyfunction!(signalfd_read, m)?)?;
    m.add_function(wrap_pyfunction!(siginfo_decode, m)?)?;
    m.add("SIGINFO_LENGTH", SIGINFO_SIZE)?;
    m.add("SIGINFO_FIELDS", PyTuple::new(m.py(), FIELDS)?)?;
    m.add("SIGSET_FULL", SigSet::full().to_bits())?;
    m.add("SFD_CLOEXEC", libc::SFD_CLOEXEC)?;
    m.add("SFD_NONBLOCK", libc::SFD_NONBLOCK)?;
    m.add("SIG_BLOCK", libc::SIG_BLOCK)?;
    m.add("SIG_UNBLOCK", libc::SIG_UNBLOCK)?;
    m.add("SIG_SETMASK", libc::SIG_SETMASK)?;
    m.add("SIGRTMAX", libc::SIGRTMAX())?;
    Ok(())
}
