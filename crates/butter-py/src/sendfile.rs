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
//!
//! It is a plain `METH_VARARGS | METH_KEYWORDS` C function, as pysendfile's is, rather
//! than a `#[pyfunction]`: pyo3's trampoline cost about 40 ns a call here (312 ns against
//! 264 ns for a zero-byte send, where pysendfile takes 282 ns and `os.sendfile` 230 ns).

use pyo3::prelude::*;

use crate::args::borrow;

/// The docstring, pysendfile's.
const DOC: &std::ffi::CStr = c"sendfile(out, in, offset, nbytes) -> bytes_sent

Copy nbytes bytes from file descriptor \"in\" (a regular file) to file descriptor
\"out\" (a socket, or on Linux any writable descriptor) starting at offset (None: at the
current file position, which advances). Return the number of bytes just being sent;
0 means end of file. Keyword arguments (header, trailer, flags) are ignored on Linux.";

/// `sendfile` on the C API directly (`METH_VARARGS`, as pysendfile is): no trampoline.
mod raw {
    use std::ffi::{c_int, c_long};
    use std::os::raw::c_char;
    use std::ptr::null_mut;

    use pyo3::ffi;

    use super::borrow;

    // The conversions follow PyArg_ParseTuple's "i" and "n" formats, and pysendfile's
    // PyLong_AsLongLong for the offset: integers or objects with __index__ (so a float
    // is a TypeError), OverflowError out of range.

    /// `obj` as a C long, through `__index__` (floats are refused); `None` with a Python
    /// exception set on failure.
    ///
    /// # Safety
    /// The thread must hold the GIL, and `obj` must be a valid object for the call.
    unsafe fn index_long(obj: *mut ffi::PyObject) -> Option<c_long> {
        // SAFETY: `obj` is a live object borrowed from the argument tuple.
        unsafe {
            let v = if ffi::PyLong_Check(obj) != 0 {
                ffi::PyLong_AsLong(obj)
            } else {
                let i = ffi::PyNumber_Index(obj);
                if i.is_null() {
                    return None;
                }
                let v = ffi::PyLong_AsLong(i);
                ffi::Py_DECREF(i);
                v
            };
            if v == -1 && !ffi::PyErr_Occurred().is_null() {
                return None;
            }
            Some(v)
        }
    }

    /// `obj` as a C int, as [`index_long`] with `OverflowError` beyond the int range.
    ///
    /// # Safety
    /// As for [`index_long`].
    unsafe fn index_int(obj: *mut ffi::PyObject) -> Option<c_int> {
        // SAFETY: as for index_long.
        let v = unsafe { index_long(obj)? };
        match c_int::try_from(v) {
            Ok(v) => Some(v),
            Err(_) => {
                let msg: &[u8] = if v > 0 {
                    b"signed integer is greater than maximum\0"
                } else {
                    b"signed integer is less than minimum\0"
                };
                // SAFETY: a NUL-terminated message; PyExc_OverflowError is a live type.
                unsafe { ffi::PyErr_SetString(ffi::PyExc_OverflowError, msg.as_ptr().cast()) };
                None
            }
        }
    }

    /// `sendfile(out, in, offset, nbytes, **ignored)`, as a `METH_VARARGS |
    /// METH_KEYWORDS` C function: exactly four positional arguments, the GIL released
    /// around the system call, `EINTR` retried once the signal handlers ran (an exception
    /// they raise is returned), other failures `OSError` from the errno
    /// (`PyErr_SetFromErrno`, as pysendfile).
    ///
    /// # Safety
    /// Only CPython calls it, as a `METH_VARARGS | METH_KEYWORDS` function: with the GIL
    /// held and `args` a valid tuple for the duration of the call.
    pub unsafe extern "C" fn sendfile(
        _module: *mut ffi::PyObject,
        args: *mut ffi::PyObject,
        _kwargs: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject {
        // SAFETY: CPython calls this with the GIL held, `args` a tuple it owns for the
        // call; every object is borrowed from it; the GIL is released only around the
        // system call, which touches no Python object.
        unsafe {
            let n = ffi::PyTuple_Size(args);
            if n != 4 {
                let msg = format!("function takes exactly 4 arguments ({n} given)\0");
                ffi::PyErr_SetString(ffi::PyExc_TypeError, msg.as_ptr() as *const c_char);
                return null_mut();
            }
            let Some(out_fd) = index_int(ffi::PyTuple_GetItem(args, 0)) else {
                return null_mut();
            };
            let Some(in_fd) = index_int(ffi::PyTuple_GetItem(args, 1)) else {
                return null_mut();
            };
            let off = ffi::PyTuple_GetItem(args, 2);
            let mut offset = if off == ffi::Py_None() {
                None
            } else {
                let Some(v) = index_long(off) else {
                    return null_mut();
                };
                // Bit-for-bit, as C passes it: a negative offset is EINVAL.
                Some(v as u64)
            };
            let Some(count) = index_long(ffi::PyTuple_GetItem(args, 3)) else {
                return null_mut();
            };
            // Bit-for-bit too: a negative count is EINVAL.
            let count = count as usize;
            let (out_fd, in_fd) = match (borrow(&out_fd), borrow(&in_fd)) {
                (Ok(o), Ok(i)) => (o, i),
                (Err(e), _) | (_, Err(e)) => {
                    *libc::__errno_location() = e.raw_os_error();
                    return ffi::PyErr_SetFromErrno(ffi::PyExc_OSError);
                }
            };
            loop {
                let state = ffi::PyEval_SaveThread();
                let r = rustix::fs::sendfile(out_fd, in_fd, offset.as_mut(), count);
                ffi::PyEval_RestoreThread(state);
                match r {
                    Ok(sent) => return ffi::PyLong_FromSsize_t(sent as ffi::Py_ssize_t),
                    Err(rustix::io::Errno::INTR) => {
                        if ffi::PyErr_CheckSignals() != 0 {
                            return null_mut();
                        }
                    }
                    Err(e) => {
                        *libc::__errno_location() = e.raw_os_error();
                        return ffi::PyErr_SetFromErrno(ffi::PyExc_OSError);
                    }
                }
            }
        }
    }
}

/// Adds `sendfile` to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let def = Box::leak(Box::new(pyo3::ffi::PyMethodDef {
        ml_name: c"sendfile".as_ptr(),
        ml_meth: pyo3::ffi::PyMethodDefPointer {
            PyCFunctionWithKeywords: raw::sendfile,
        },
        ml_flags: pyo3::ffi::METH_VARARGS | pyo3::ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr(),
    }));
    // SAFETY: `def` lives for ever; the module name is a new reference that
    // PyCFunction_NewEx keeps.
    let f = unsafe {
        let name = pyo3::types::PyString::new(m.py(), "butter._native");
        Bound::from_owned_ptr_or_err(
            m.py(),
            pyo3::ffi::PyCFunction_NewEx(def, std::ptr::null_mut(), name.as_ptr()),
        )?
    };
    m.add("sendfile", f)?;
    Ok(())
}
