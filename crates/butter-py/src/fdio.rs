//! Calls on any descriptor.

use std::os::fd::BorrowedFd;

use pyo3::prelude::*;

/// `ioctl(fd, FIONREAD)`: how many bytes are queued on `fd`; `-1` and the errno on failure.
#[pyfunction]
pub fn fionread(fd: i32) -> i64 {
    if fd < 0 {
        crate::errno::set(libc::EBADF);
        return -1;
    }
    // SAFETY: a non-negative descriptor, only borrowed for the call; a closed one gives
    // EBADF.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    crate::errno::ret(rustix::io::ioctl_fionread(fd).map(|n| n as i64))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fionread, m)?)?;
    Ok(())
}
