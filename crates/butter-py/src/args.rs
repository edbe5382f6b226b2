//! Argument conversions shared by the raw calls.

use std::ffi::CString;
use std::os::fd::BorrowedFd;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustix::io::Errno;

/// A path argument as the raw calls take it: `bytes` (the Python layer applies
/// `os.fsencode`), without NUL bytes.
pub fn path(b: &Bound<'_, PyBytes>) -> PyResult<CString> {
    CString::new(b.as_bytes()).map_err(|_| PyValueError::new_err("embedded null byte"))
}

/// A descriptor number as a borrowed descriptor for one raw call; negative numbers are
/// `EBADF` (a `BorrowedFd` may not hold -1).
///
/// The borrow lives no longer than the caller's `fd` variable (the raw call's argument),
/// so it cannot be kept beyond the call.
pub fn borrow(fd: &i32) -> Result<BorrowedFd<'_>, Errno> {
    if *fd < 0 {
        return Err(Errno::BADF);
    }
    // SAFETY: the descriptor is only used during the call that received the number (the
    // lifetime is tied to it); a number that is not open makes the call fail with EBADF,
    // nothing worse.
    Ok(unsafe { BorrowedFd::borrow_raw(*fd) })
}
