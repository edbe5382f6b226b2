//! The Python face of butter, built by maturin into one abi3 wheel: the private extension
//! module `butter._native` (this crate), the pure-Python package `butter` laid out as the
//! original butter 0.12/0.13's modules (in `python/butter`), and pysendfile 2.0.1's
//! `sendfile` module (`python/sendfile.py`).
//!
//! This crate holds only *raw* calls with C-like contracts, so that the Python layer can
//! keep butter's patchable seams (butter.md §2.1): a raw call returns the syscall's result, or
//! `-1` with the error number stored where `Errno` objects (each Python module's
//! `ffi`) read it. Every call that can block releases the GIL. Reads that decode records
//! (inotify, fanotify, signalfd) build the Python objects here, in one pass.
//!
//! ```text
//! >>> from butter import _native
//! >>> fd = _native.eventfd(0, _native.EFD_CLOEXEC)
//! >>> _native.eventfd_write(fd, 3), _native.eventfd_read(fd)
//! (0, 3)
//! ```

use pyo3::prelude::*;

mod args;
mod clone;
mod errno;
mod eventfd;
mod fanotify;
mod fdio;
mod inotify;
mod memfd;
mod prctl;
mod seccomp;
mod sendfile;
mod signalfd;
mod splice;
mod system;
mod timerfd;

/// `butter._native`: the raw calls (see the crate docs).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errno::register(m)?;
    fdio::register(m)?;
    eventfd::register(m)?;
    inotify::register(m)?;
    fanotify::register(m)?;
    timerfd::register(m)?;
    signalfd::register(m)?;
    splice::register(m)?;
    system::register(m)?;
    clone::register(m)?;
    prctl::register(m)?;
    memfd::register(m)?;
    seccomp::register(m)?;
    sendfile::register(m)?;
    Ok(())
}
