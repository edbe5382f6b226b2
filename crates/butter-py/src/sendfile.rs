//! pysendfile 2.0.1's `sendfile()` as it behaves on Linux, for the top-level `sendfile`
//! module (which re-exports it).
//!
//! Exactly four positional arguments, `out`, `in`, `offset`, `nbytes` (plain integers:
//! objects with `fileno()` are not accepted); keyword arguments (`header`, `trailer`,
//! `flags`, which only BSD honours) are accepted and ignored. `offset=None` reads from
//! the current position of `in` and advances it; an integer offset reads there and leaves
//! the position alone. Returns the bytes sent (0 at the end of the file); failures raise
//! `OSError` built from the errno (`BlockingIOError` for `EAGAIN`). The GIL is released
//! during the system call, and `EINTR` is retried after Python's signal handlers ran.

use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rustix::io::Errno;

use crate::splice::fd;

/// An `OSError` as `PyErr_SetFromErrno` makes it: `OSError(errno, strerror(errno))`,
/// which Python turns into the errno's subclass (`BlockingIOError` for `EAGAIN`).
pub fn os_error(e: Errno) -> PyErr {
    let code = e.raw_os_error();
    let mut buf = [0u8; 128];
    // SAFETY: strerror_r (the XSI form) writes a NUL-terminated message of at most
    // `buf.len()` bytes into `buf`.
    let r = unsafe { libc::strerror_r(code, buf.as_mut_ptr().cast(), buf.len()) };
    let message = match std::ffi::CStr::from_bytes_until_nul(&buf) {
        Ok(m) if r == 0 => m.to_string_lossy().into_owned(),
        _ => format!("Unknown error {code}"),
    };
    PyOSError::new_err((code, message))
}

/// sendfile(out, in, offset, nbytes) -> bytes_sent
///
/// Copy nbytes bytes from file descriptor "in" (a regular file) to file descriptor
/// "out" (a socket, or on Linux any writable descriptor) starting at offset (None: at the
/// current file position, which advances). Return the number of bytes just being sent;
/// 0 means end of file. Keyword arguments (header, trailer, flags) are ignored on Linux.
#[pyfunction]
#[pyo3(signature = (*args, **_kwargs))]
pub fn sendfile(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    _kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<isize> {
    if args.len() != 4 {
        return Err(PyTypeError::new_err(format!(
            "function takes exactly 4 arguments ({} given)",
            args.len()
        )));
    }
    let out_fd: i32 = args.get_borrowed_item(0)?.extract()?;
    let in_fd: i32 = args.get_borrowed_item(1)?.extract()?;
    let offset = args.get_borrowed_item(2)?;
    // Bit-for-bit, as C passes them: a negative offset or count reaches the kernel as
    // such (EINVAL).
    let mut offset: Option<u64> = if offset.is_none() {
        None
    } else {
        Some(offset.extract::<i64>()? as u64)
    };
    let count = args.get_borrowed_item(3)?.extract::<isize>()? as usize;
    let (out_fd, in_fd) = (fd(out_fd), fd(in_fd));
    loop {
        match py.detach(|| rustix::fs::sendfile(out_fd, in_fd, offset.as_mut(), count)) {
            Ok(n) => return Ok(n as isize),
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(os_error(e)),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sendfile, m)?)?;
    Ok(())
}
