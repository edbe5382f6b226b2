//! The C-like error contract of the raw calls: a failed call returns `-1` and stores its
//! error number in a per-thread slot, which [`Errno`] objects read and write. Each Python
//! module's `ffi` (or `_ffi`) is one of them, so a test that patches a raw call with a mock
//! returning `-1` and sets `module.ffi.errno` sees the wrapper raise what that errno maps to.

use std::cell::Cell;

use pyo3::prelude::*;

thread_local! {
    static ERRNO: Cell<i32> = const { Cell::new(0) };
}

/// Stores `e` as the calling thread's last error number.
pub fn set(e: i32) {
    ERRNO.with(|c| c.set(e));
}

/// The calling thread's last error number.
pub fn get() -> i32 {
    ERRNO.with(Cell::get)
}

/// The C contract for a result: the value, or `-1` with the errno stored.
pub fn ret<T: Into<i64>>(r: Result<T, rustix::io::Errno>) -> i64 {
    match r {
        Ok(v) => v.into(),
        Err(e) => {
            set(e.raw_os_error());
            -1
        }
    }
}

/// [`ret`] for a call made through `nix`.
pub fn ret_nix<T: Into<i64>>(r: Result<T, nix::errno::Errno>) -> i64 {
    match r {
        Ok(v) => v.into(),
        Err(e) => {
            set(e as i32);
            -1
        }
    }
}

/// [`ret`] for a raw `libc` return value (`-1` and `errno` on failure).
pub fn ret_libc(r: i64) -> i64 {
    if r < 0 {
        set(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
        -1
    } else {
        r
    }
}

/// An `OSError` carrying `e` (for the reads, which raise as `os.read` does): built as
/// `OSError(errno, strerror)`, so Python picks the subclass (`BlockingIOError`, …) and
/// `.errno` is set (pyo3's `From<io::Error>` passes only a message, leaving it `None`).
pub fn os_error(e: rustix::io::Errno) -> PyErr {
    let n = e.raw_os_error();
    // std's message is the C library's strerror text plus " (os error N)".
    let text = std::io::Error::from_raw_os_error(n).to_string();
    let text = text
        .rsplit_once(" (os error")
        .map_or(&*text, |(t, _)| t)
        .to_owned();
    pyo3::exceptions::PyOSError::new_err((n, text))
}

/// The errno object of a module's seam: `errno` is the calling thread's last error number
/// of a raw call (settable, as cffi's `ffi.errno` is).
#[pyclass(module = "butter._native", name = "Errno")]
pub struct Errno;

#[pymethods]
impl Errno {
    #[new]
    fn new() -> Self {
        Errno
    }

    /// The calling thread's last error number.
    #[getter]
    fn errno(&self) -> i32 {
        get()
    }

    #[setter(errno)]
    fn set_errno(&self, value: i32) {
        set(value);
    }

    fn __repr__(&self) -> String {
        format!("<butter._native.Errno errno={}>", get())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Errno>()?;
    Ok(())
}
