//! Raw calls for `butter.splice`: splice, tee and vmsplice, with the C contract (the
//! result, or `-1` with the errno stored) and the GIL released while they block.
//!
//! `EINTR` is retried after running Python's signal handlers (PEP 475), so a blocking
//! call can still be interrupted by `KeyboardInterrupt`. vmsplice *copies* (a `writev`
//! into the pipe): the kernel's vmsplice would leave the pipe referencing the memory of
//! the Python objects, which Python may change or reuse before the reader drains the pipe.

use std::io::IoSlice;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

use crate::args::borrow;
use crate::errno;

/// Runs `call` with the GIL released, retrying on `EINTR` once the signal handlers have
/// run (an exception they raise is returned instead); the C contract on its result.
pub fn blocking<F>(py: Python<'_>, mut call: F) -> PyResult<i64>
where
    F: FnMut() -> Result<i64, Errno> + Send,
{
    loop {
        match py.detach(&mut call) {
            Err(Errno::INTR) => py.check_signals()?,
            r => return Ok(errno::ret(r)),
        }
    }
}

/// `splice(fd_in, off_in, fd_out, off_out, len, flags)`: an offset of `None` is a NULL
/// pointer (use and advance the file position); an int is a real `loff_t` the kernel reads
/// or writes at (the file position is left alone). Returns the bytes moved (the kernel
/// advanced the offset by as much), or `-1` with the errno.
#[pyfunction]
#[pyo3(signature = (fd_in, off_in, fd_out, off_out, len, flags))]
pub fn splice(
    py: Python<'_>,
    fd_in: i32,
    off_in: Option<i64>,
    fd_out: i32,
    off_out: Option<i64>,
    len: usize,
    flags: u32,
) -> PyResult<i64> {
    let flags = SpliceFlags::from_bits_retain(flags);
    // Bit-for-bit: a negative offset reaches the kernel as the negative loff_t it is
    // (EINVAL), as in C.
    let (mut a, mut b) = (off_in.map(|o| o as u64), off_out.map(|o| o as u64));
    blocking(py, || {
        rustix::pipe::splice(
            borrow(&fd_in)?,
            a.as_mut(),
            borrow(&fd_out)?,
            b.as_mut(),
            len,
            flags,
        )
        .map(|n| n as i64)
    })
}

/// `tee(fd_in, fd_out, len, flags)`: duplicates up to `len` bytes of one pipe into
/// another; the bytes copied, or `-1` with the errno.
#[pyfunction]
pub fn tee(py: Python<'_>, fd_in: i32, fd_out: i32, len: usize, flags: u32) -> PyResult<i64> {
    let flags = SpliceFlags::from_bits_retain(flags);
    blocking(py, || {
        rustix::pipe::tee(borrow(&fd_in)?, borrow(&fd_out)?, len, flags).map(|n| n as i64)
    })
}

/// `vmsplice(fd, bufs, flags)` with copy semantics: the `bytes` of `bufs` are written
/// into the pipe `fd` (`writev`), so they are in the pipe's own pages when the call
/// returns. Returns the bytes put in, or `-1` with the errno (`EBADF`/`EINVAL` when `fd`
/// is not a pipe's write end). `SPLICE_F_NONBLOCK` does not wait for room even on a
/// blocking pipe; `SPLICE_F_GIFT` and `SPLICE_F_MOVE` mean nothing for a copy.
#[pyfunction]
pub fn vmsplice(py: Python<'_>, fd: i32, bufs: &Bound<'_, PyList>, flags: u32) -> PyResult<i64> {
    // Own references, so that the list changing meanwhile cannot free a buffer in use.
    let owned: Vec<Bound<'_, PyBytes>> = bufs
        .iter()
        .map(|b| b.cast_into::<PyBytes>().map_err(PyErr::from))
        .collect::<PyResult<_>>()?;
    let slices: Vec<&[u8]> = owned.iter().map(|b| b.as_bytes()).collect();
    let flags = SpliceFlags::from_bits_retain(flags);
    let pipe = match borrow(&fd) {
        Ok(p) => p,
        Err(e) => return Ok(errno::ret::<i64>(Err(e))),
    };
    if flags.contains(SpliceFlags::NONBLOCK) {
        // butter's own form: never waits, so its EINTR retry cannot hang.
        let r = py.detach(|| butter::pipe::vmsplice(pipe, &slices, flags));
        return Ok(errno::ret_nix(r.map(|n| n as i64).map_err(|e| e.errno())));
    }
    if let Err(e) = rustix::pipe::fcntl_getpipe_size(pipe) {
        // vmsplice's own rule: pipes only.
        return Ok(errno::ret::<i64>(Err(e)));
    }
    blocking(py, || {
        let iov: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
        rustix::io::writev(pipe, &iov).map(|n| n as i64)
    })
}

/// Adds splice, tee, vmsplice and the `SPLICE_F_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(splice, m)?)?;
    m.add_function(wrap_pyfunction!(tee, m)?)?;
    m.add_function(wrap_pyfunction!(vmsplice, m)?)?;
    m.add("SPLICE_F_MOVE", libc::SPLICE_F_MOVE)?;
    m.add("SPLICE_F_NONBLOCK", libc::SPLICE_F_NONBLOCK)?;
    m.add("SPLICE_F_MORE", libc::SPLICE_F_MORE)?;
    m.add("SPLICE_F_GIFT", libc::SPLICE_F_GIFT)?;
    m.add("IOV_MAX", libc::UIO_MAXIOV)?;
    Ok(())
}
