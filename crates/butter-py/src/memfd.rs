//! Raw calls for `butter.memfd`: memfd_create and its seals (`F_ADD_SEALS`,
//! `F_GET_SEALS`), with the C contract, and the `MFD_*`/`F_SEAL_*` constants.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustix::fs::{MemfdFlags, SealFlags};

use crate::args::borrow;
use crate::errno;

/// `memfd_create(name, flags)`: a new descriptor, or `-1` with the errno. The flags are
/// passed as given (`MFD_CLOEXEC` only if the caller asks for it).
#[pyfunction]
pub fn memfd_create(name: &Bound<'_, PyBytes>, flags: u32) -> i64 {
    let Ok(name) = std::ffi::CString::new(name.as_bytes()) else {
        errno::set(libc::EINVAL);
        return -1;
    };
    let r = rustix::fs::memfd_create(name.as_c_str(), MemfdFlags::from_bits_retain(flags));
    errno::ret(r.map(|fd| i64::from(std::os::fd::IntoRawFd::into_raw_fd(fd))))
}

/// `fcntl(fd, F_ADD_SEALS, seals)`: `0`, or `-1` with the errno (`EPERM` once sealed
/// with `F_SEAL_SEAL`, `EBUSY` for `F_SEAL_WRITE` with writable mappings, `EINVAL` for a
/// descriptor that takes no seals).
#[pyfunction]
pub fn fcntl_add_seals(fd: i32, seals: u32) -> i64 {
    errno::ret(
        borrow(&fd)
            .and_then(|fd| rustix::fs::fcntl_add_seals(fd, SealFlags::from_bits_retain(seals)))
            .map(|()| 0i64),
    )
}

/// `fcntl(fd, F_GET_SEALS)`: the seals, or `-1` with the errno.
#[pyfunction]
pub fn fcntl_get_seals(fd: i32) -> i64 {
    errno::ret(
        borrow(&fd)
            .and_then(rustix::fs::fcntl_get_seals)
            .map(|s| i64::from(s.bits())),
    )
}

/// Adds memfd_create, the seal calls and the `MFD_*`/`F_SEAL_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(memfd_create, m)?)?;
    m.add_function(wrap_pyfunction!(fcntl_add_seals, m)?)?;
    m.add_function(wrap_pyfunction!(fcntl_get_seals, m)?)?;
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { $( m.add(stringify!($name), libc::$name)?; )* };
    }
    consts!(
        MFD_CLOEXEC,
        MFD_ALLOW_SEALING,
        MFD_HUGETLB,
        MFD_NOEXEC_SEAL,
        MFD_EXEC,
        MFD_HUGE_SHIFT,
        MFD_HUGE_MASK,
        MFD_HUGE_64KB,
        MFD_HUGE_512KB,
        MFD_HUGE_1MB,
        MFD_HUGE_2MB,
        MFD_HUGE_8MB,
        MFD_HUGE_16MB,
        MFD_HUGE_32MB,
        MFD_HUGE_256MB,
        MFD_HUGE_512MB,
        MFD_HUGE_1GB,
        MFD_HUGE_2GB,
        MFD_HUGE_16GB,
        F_ADD_SEALS,
        F_GET_SEALS,
        F_SEAL_SEAL,
        F_SEAL_SHRINK,
        F_SEAL_GROW,
        F_SEAL_WRITE,
        F_SEAL_FUTURE_WRITE,
        F_SEAL_EXEC,
    );
    Ok(())
}
