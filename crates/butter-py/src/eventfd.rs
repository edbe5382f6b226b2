//! Raw calls for `butter.eventfd` (and the 8-byte counter reads `butter.timerfd` shares).
//!
//! `eventfd` keeps the C contract (the descriptor, or `-1` with the errno stored) so that
//! `butter._eventfd.C.eventfd` stays a patchable seam. `eventfd_read` and `eventfd_write`
//! read and write a counter directly: they raise `OSError` (with its errno, as `os.read`
//! does: `BlockingIOError` on an empty non-blocking counter) and release the GIL around the
//! system call. `Eventfd.increment()` and `Eventfd.read_event()` are the same calls made C
//! methods of the Python class (`install_eventfd_methods`, below), for speed.

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use rustix::event::EventfdFlags;
use rustix::io::Errno;

use crate::args::borrow;
use crate::errno;

/// The error a fast path raises for a closed object (`_fd` is `None`), as `fileno()` does.
fn closed() -> PyErr {
    PyValueError::new_err("I/O operation on closed file")
}

/// Reads one native-endian `u64` (an eventfd counter, a timerfd expiration count) with the
/// GIL released, retrying `EINTR` after running Python's signal handlers (PEP 475).
pub(crate) fn read_u64(py: Python<'_>, fd: Option<i32>) -> PyResult<u64> {
    let raw = fd.ok_or_else(closed)?;
    let fd = borrow(&raw).map_err(errno::os_error)?;
    loop {
        let mut buf = [0u8; 8];
        match py.detach(|| rustix::io::read(fd, &mut buf)) {
            Ok(8) => return Ok(u64::from_ne_bytes(buf)),
            Ok(_) => return Err(errno::os_error(Errno::INVAL)),
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(errno::os_error(e)),
        }
    }
}

/// `eventfd(initval, flags)`: a new eventfd descriptor, or `-1` with the errno stored.
/// `flags` is passed as it is (`EFD_CLOEXEC` is the Python layer's business); an initial
/// value outside `0..2**32` gives `EINVAL`, as the kernel's `unsigned int` cannot hold it.
#[pyfunction]
pub fn eventfd(initval: i64, flags: i64) -> i64 {
    let (Ok(initval), Ok(flags)) = (u32::try_from(initval), u32::try_from(flags)) else {
        errno::set(libc::EINVAL);
        return -1;
    };
    let r = rustix::event::eventfd(initval, EventfdFlags::from_bits_retain(flags));
    errno::ret(r.map(|fd| i64::from(std::os::fd::IntoRawFd::into_raw_fd(fd))))
}

/// Reads the counter of eventfd `fd` (its value, resetting it, or 1 in semaphore mode)
/// with the GIL released; raises `OSError` as `os.read` would (`BlockingIOError` when a
/// non-blocking counter is 0), `ValueError` when `fd` is `None` (a closed object).
#[pyfunction]
pub fn eventfd_read(py: Python<'_>, fd: Option<i32>) -> PyResult<u64> {
    read_u64(py, fd)
}

/// Adds `value` to the counter of eventfd `fd` with the GIL released; returns 0. Raises
/// `ValueError` for a negative value or a closed object (`fd` `None`), `OverflowError`
/// from 2**64 on, and `OSError` as `os.write` would (`EINVAL` for 2**64 - 1,
/// `BlockingIOError` when a non-blocking counter would overflow).
#[pyfunction]
pub fn eventfd_write(py: Python<'_>, fd: Option<i32>, value: &Bound<'_, PyAny>) -> PyResult<i32> {
    let raw = fd.ok_or_else(closed)?;
    let fd = borrow(&raw).map_err(errno::os_error)?;
    let value: u64 = match value.extract() {
        Ok(v) => v,
        Err(e) => {
            if e.is_instance_of::<PyOverflowError>(value.py()) && value.lt(0)? {
                return Err(PyValueError::new_err("an eventfd value cannot be negative"));
            }
            return Err(e);
        }
    };
    let buf = value.to_ne_bytes();
    loop {
        match py.detach(|| rustix::io::write(fd, &buf)) {
            Ok(_) => return Ok(0),
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(errno::os_error(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// `Eventfd.increment` and `Eventfd.read_event` as C method descriptors.
//
// The shared benchmark (and any hot loop) calls these two bound methods; a Python method
// that calls a pyo3 function costs a Python frame plus pyo3's argument tuple (abi3 for
// 3.9 has no fastcall in pyo3). These are installed on the Python class `Eventfd` as
// method descriptors (`PyDescr_NewMethod`, what C types use for their methods): a call
// goes from the interpreter straight here, with no frame and no argument tuple, reads
// `self._fd` (the truth about the descriptor) and makes the system call with the GIL
// released. The slow paths (errors, cached events) go through pyo3.
// ---------------------------------------------------------------------------------------

use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use pyo3::ffi;

/// An attribute of `self` the fast methods read.
///
/// `Eventfd` keeps `_fd` and `_events` in `__slots__`, which live at fixed offsets inside
/// the object; for an instance of exactly that class the fast methods read the slot
/// directly (a borrowed pointer, NULL when unset), skipping the generic lookup (the type's
/// MRO cache, then the instance). Any other object — a subclass, which may redefine the
/// attribute — and every unusual value go through `PyObject_GetAttr`.
struct Attr {
    name: AtomicPtr<ffi::PyObject>,
    /// The slot's offset in an instance of [`CLASS`]; 0 when unknown.
    offset: AtomicUsize,
}

impl Attr {
    const fn new() -> Attr {
        Attr {
            name: AtomicPtr::new(ptr::null_mut()),
            offset: AtomicUsize::new(0),
        }
    }

    /// The slot's value when `slf` is exactly [`CLASS`] and the slot is known: a borrowed
    /// reference (NULL when unset); else NULL.
    ///
    /// # Safety
    /// Attached; `slf` a valid object. The result is valid until Python code runs.
    #[inline]
    unsafe fn peek(&self, slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
        let off = self.offset.load(Ordering::Relaxed);
        // SAFETY: `off` was found inside an instance of CLASS (`slot_offset`), and `slf` is
        // one; a slot holds an object pointer or NULL.
        unsafe {
            if off == 0 || ffi::Py_TYPE(slf).cast() != CLASS.load(Ordering::Relaxed) {
                return ptr::null_mut();
            }
            *slf.cast::<u8>().add(off).cast::<*mut ffi::PyObject>()
        }
    }

    /// `getattr(slf, name)`: a new reference, or NULL with the exception set.
    ///
    /// # Safety
    /// Attached; `slf` a valid object; the names set at registration.
    unsafe fn get(&self, slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: the caller's guarantees.
        unsafe { ffi::PyObject_GetAttr(slf, self.name.load(Ordering::Relaxed)) }
    }
}

/// The class the fast methods were installed on (a strong reference, kept for good).
static CLASS: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
static FD: Attr = Attr::new();
static EVENTS: Attr = Attr::new();

/// Where the slot `name` of the class `cls` lives inside an instance: the member
/// descriptor writes a marker object into a fresh instance and the instance's words are
/// searched for it. `None` unless exactly one word holds it.
fn slot_offset(cls: &Bound<'_, pyo3::types::PyType>, name: &str) -> PyResult<Option<usize>> {
    let py = cls.py();
    let descr = match cls.getattr("__dict__")?.get_item(name) {
        Ok(d) if d.get_type().name()? == "member_descriptor" => d,
        _ => return Ok(None),
    };
    let size: usize = cls.getattr("__basicsize__")?.extract()?;
    let obj = py
        .get_type::<pyo3::types::PyAny>()
        .call_method1("__new__", (cls,))?;
    let marker = py.get_type::<pyo3::types::PyAny>().call0()?;
    descr.call_method1("__set__", (&obj, &marker))?;
    let word = std::mem::size_of::<*mut ffi::PyObject>();
    let head = std::mem::size_of::<ffi::PyObject>();
    let found: Vec<usize> = (head..size.saturating_sub(word - 1))
        .step_by(word)
        .filter(|&off| {
            // SAFETY: `off + word <= size`, the instance's basic size, and the object is
            // alive; reading its words does not change it.
            unsafe {
                *obj.as_ptr()
                    .cast::<u8>()
                    .add(off)
                    .cast::<*mut ffi::PyObject>()
                    == marker.as_ptr()
            }
        })
        .collect();
    descr.call_method1("__delete__", (&obj,))?;
    Ok(if let [off] = found[..] {
        Some(off)
    } else {
        None
    })
}

/// `METH_FASTCALL`: in every CPython this crate supports (3.7+), part of the stable ABI
/// from 3.10; pyo3-ffi leaves it out of the 3.9 limited API.
const METH_FASTCALL: c_int = 0x0080;

/// Sets `err` as the current Python exception.
fn set_error(err: PyErr) {
    Python::attach(|py| err.restore(py));
}

/// Sets `err` as the current Python exception; returns NULL for the caller to return.
fn raise(err: PyErr) -> *mut ffi::PyObject {
    set_error(err);
    ptr::null_mut()
}

/// `self._fd` as a descriptor number (not negative), or NULL-worthy `Err` with the
/// exception set.
///
/// # Safety
/// The thread must be attached and `slf` a valid object.
#[inline]
unsafe fn fd_of(slf: *mut ffi::PyObject) -> Result<i32, ()> {
    // SAFETY: the caller's guarantees; an exact int converts without running Python code,
    // so the borrowed reference stays valid.
    unsafe {
        let obj = FD.peek(slf);
        if !obj.is_null() && ffi::PyLong_CheckExact(obj) != 0 {
            return fd_number(ffi::PyLong_AsLong(obj));
        }
        fd_of_slow(slf)
    }
}

/// [`fd_of`] for everything but an exact int in the slot: the generic lookup.
///
/// # Safety
/// As for [`fd_of`].
#[cold]
#[inline(never)]
unsafe fn fd_of_slow(slf: *mut ffi::PyObject) -> Result<i32, ()> {
    // SAFETY: the caller's guarantees; FD's name was set at registration.
    let obj = unsafe { FD.get(slf) };
    if obj.is_null() {
        return Err(());
    }
    // SAFETY: `obj` is a new reference we own.
    unsafe {
        if obj == ffi::Py_None() {
            ffi::Py_DECREF(obj);
            set_error(closed());
            return Err(());
        }
        let n = ffi::PyLong_AsLong(obj);
        ffi::Py_DECREF(obj);
        fd_number(n)
    }
}

/// The result of `PyLong_AsLong` on `_fd` as a descriptor number (not negative), or `Err`
/// with the exception set.
fn fd_number(n: std::ffi::c_long) -> Result<i32, ()> {
    // SAFETY: attached (called from the fast methods).
    if n == -1 && unsafe { !ffi::PyErr_Occurred().is_null() } {
        return Err(());
    }
    match i32::try_from(n) {
        Ok(fd) if fd >= 0 => Ok(fd),
        Ok(_) => {
            set_error(errno::os_error(Errno::BADF));
            Err(())
        }
        Err(_) => {
            set_error(errno::os_error(Errno::BADF));
            Err(())
        }
    }
}

/// Runs Python's signal handlers after an `EINTR`; `false` if one raised.
fn signals_ok() -> bool {
    // SAFETY: called attached (the GIL is held again after the system call).
    unsafe { ffi::PyErr_CheckSignals() == 0 }
}

/// `Eventfd.read_event(self)`: a cached event first, else one read of the counter.
///
/// A `METH_FASTCALL | METH_KEYWORDS` function taking no arguments rather than
/// `METH_NOARGS`: CPython 3.11+ specialises calls of bound builtins of that kind only.
///
/// # Safety
/// Only CPython calls it, as a `METH_FASTCALL | METH_KEYWORDS` method: attached, `slf` an
/// instance of the class, `kwnames` a tuple or NULL.
unsafe extern "C" fn read_event_fast(
    slf: *mut ffi::PyObject,
    _args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this attached, with `slf` an instance of the class and
    // `kwnames` a tuple or NULL.
    unsafe {
        if nargs != 0 || (!kwnames.is_null() && ffi::PyTuple_Size(kwnames) != 0) {
            return raise(pyo3::exceptions::PyTypeError::new_err(
                "read_event() takes no arguments",
            ));
        }
        let events = EVENTS.peek(slf);
        let empty =
            !events.is_null() && ffi::PyList_CheckExact(events) != 0 && ffi::Py_SIZE(events) == 0;
        if !empty && let Some(out) = cached_event(slf) {
            return out;
        }
        let Ok(raw) = fd_of(slf) else {
            return ptr::null_mut();
        };
        let Ok(fd) = borrow(&raw) else {
            unreachable!("fd_of returns descriptor numbers that are not negative")
        };
        loop {
            let mut buf = [0u8; 8];
            let ts = ffi::PyEval_SaveThread();
            let r = rustix::io::read(fd, &mut buf);
            ffi::PyEval_RestoreThread(ts);
            match r {
                Ok(8) => return ffi::PyLong_FromUnsignedLongLong(u64::from_ne_bytes(buf)),
                Ok(_) => return raise(errno::os_error(Errno::INVAL)),
                Err(Errno::INTR) if signals_ok() => continue,
                Err(Errno::INTR) => return ptr::null_mut(),
                Err(e) => return raise(errno::os_error(e)),
            }
        }
    }
}

/// The first cached event of `slf._events`, popped (or NULL with the exception set);
/// `None` when there is none (an empty or missing cache).
///
/// # Safety
/// Attached; `slf` a valid object.
#[cold]
#[inline(never)]
unsafe fn cached_event(slf: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    // SAFETY: the caller's guarantees; `events` is a new reference we own.
    unsafe {
        let events = EVENTS.get(slf);
        if events.is_null() {
            if ffi::PyErr_ExceptionMatches(ffi::PyExc_AttributeError) == 0 {
                return Some(ptr::null_mut());
            }
            ffi::PyErr_Clear(); // made with __new__ alone: no cache
            return None;
        }
        let cached = ffi::PyObject_IsTrue(events);
        let out = match cached {
            0 => None,
            c if c < 0 => Some(ptr::null_mut()),
            _ => Some(Python::attach(|py| {
                let list = Bound::from_borrowed_ptr(py, events);
                match list.call_method1("pop", (0,)) {
                    Ok(v) => v.into_ptr(),
                    Err(e) => {
                        e.restore(py);
                        ptr::null_mut()
                    }
                }
            })),
        };
        ffi::Py_DECREF(events);
        out
    }
}

/// The `value` argument of `increment` as a u64, or `Err` with the exception set.
///
/// # Safety
/// Attached; `value` a valid object.
unsafe fn value_of(value: *mut ffi::PyObject) -> Result<u64, ()> {
    // SAFETY: the caller's guarantees.
    unsafe {
        let v = ffi::PyLong_AsUnsignedLongLong(value);
        if v != u64::MAX || ffi::PyErr_Occurred().is_null() {
            return Ok(v);
        }
        ffi::PyErr_Clear();
        value_of_slow(value)
    }
}

/// [`value_of`] for anything but an int in range: the pyo3 conversion says why (and
/// converts what `__index__` allows).
///
/// # Safety
/// As for [`value_of`].
#[cold]
#[inline(never)]
unsafe fn value_of_slow(value: *mut ffi::PyObject) -> Result<u64, ()> {
    Python::attach(|py| {
        // SAFETY: `value` is a valid borrowed reference for the call.
        let value = unsafe { Bound::from_borrowed_ptr(py, value) };
        match value.extract::<u64>() {
            Ok(v) => Ok(v),
            Err(e) => {
                let negative =
                    e.is_instance_of::<PyOverflowError>(py) && value.lt(0).unwrap_or(false);
                let e = if negative {
                    PyValueError::new_err("an eventfd value cannot be negative")
                } else {
                    e
                };
                e.restore(py);
                Err(())
            }
        }
    })
}

/// `Eventfd.increment(self, value=1)`: adds `value` to the counter.
///
/// # Safety
/// Only CPython calls it, as a `METH_FASTCALL | METH_KEYWORDS` method: attached, `slf` an
/// instance of the class, `args` holding `nargs` positional arguments followed by one value
/// per name of `kwnames` (a tuple, or NULL).
unsafe extern "C" fn increment_fast(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this attached, with `args` holding `nargs` positional
    // arguments followed by one value per name of `kwnames` (a tuple, or NULL).
    unsafe {
        let nkw = if kwnames.is_null() {
            0
        } else {
            ffi::PyTuple_Size(kwnames)
        };
        let bad = |msg: &str| raise(pyo3::exceptions::PyTypeError::new_err(msg.to_owned()));
        let value = match (nargs, nkw) {
            (0, 0) => 1,
            (1, 0) | (0, 1) => {
                if nkw == 1
                    && ffi::PyUnicode_CompareWithASCIIString(
                        ffi::PyTuple_GetItem(kwnames, 0),
                        c"value".as_ptr(),
                    ) != 0
                {
                    return bad("increment() got an unexpected keyword argument");
                }
                match value_of(*args) {
                    Ok(v) => v,
                    Err(()) => return ptr::null_mut(),
                }
            }
            _ => return bad("increment() takes at most 1 argument (value)"),
        };
        let Ok(raw) = fd_of(slf) else {
            return ptr::null_mut();
        };
        let Ok(fd) = borrow(&raw) else {
            unreachable!("fd_of returns descriptor numbers that are not negative")
        };
        let buf = value.to_ne_bytes();
        loop {
            let ts = ffi::PyEval_SaveThread();
            let r = rustix::io::write(fd, &buf);
            ffi::PyEval_RestoreThread(ts);
            match r {
                Ok(_) => {
                    let none = ffi::Py_None();
                    ffi::Py_INCREF(none);
                    return none;
                }
                Err(Errno::INTR) if signals_ok() => continue,
                Err(Errno::INTR) => return ptr::null_mut(),
                Err(e) => return raise(errno::os_error(e)),
            }
        }
    }
}

/// Installs `increment` and `read_event` on the class `cls` (the Python `Eventfd`) as C
/// method descriptors; see the section's comment.
#[pyfunction]
pub fn install_eventfd_methods(cls: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    type Fast = unsafe extern "C" fn(
        *mut ffi::PyObject,
        *const *mut ffi::PyObject,
        ffi::Py_ssize_t,
        *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    // SAFETY: CPython calls a METH_FASTCALL | METH_KEYWORDS function through this pointer
    // with exactly the `Fast` signature; the field's declared type is only its storage.
    let (increment, read_event): (ffi::PyCFunction, ffi::PyCFunction) = unsafe {
        (
            std::mem::transmute::<Fast, ffi::PyCFunction>(increment_fast as Fast),
            std::mem::transmute::<Fast, ffi::PyCFunction>(read_event_fast as Fast),
        )
    };
    let defs: [(
        &'static std::ffi::CStr,
        ffi::PyCFunction,
        c_int,
        &'static std::ffi::CStr,
    ); 2] = [
        (
            c"increment",
            increment,
            METH_FASTCALL | ffi::METH_KEYWORDS,
            c"increment($self, value=1)\n--\n\nAdds ``value`` (0 to 2**64 - 2) to the counter. \
              ``ValueError`` for a negative value; ``BlockingIOError`` if a non-blocking \
              counter would overflow (a blocking one waits for a reader).",
        ),
        (
            c"read_event",
            read_event,
            METH_FASTCALL | ffi::METH_KEYWORDS,
            c"read_event($self, /)\n--\n\nReads the counter (a cached event first): its \
              value, resetting it to 0, or 1 in semaphore mode. Waits while it is 0; \
              ``BlockingIOError`` if non-blocking.",
        ),
    ];
    // Where `_fd` and `_events` live in an instance, when the class has them as slots.
    CLASS.store(ptr::null_mut(), Ordering::Relaxed);
    for (attr, name) in [(&FD, "_fd"), (&EVENTS, "_events")] {
        attr.offset
            .store(slot_offset(cls, name)?.unwrap_or(0), Ordering::Relaxed);
    }
    CLASS.store(cls.clone().into_any().into_ptr(), Ordering::Relaxed);
    for (name, meth, flags, doc) in defs {
        // The definition must outlive the descriptor, which lives as long as the class.
        let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: meth },
            ml_flags: flags,
            ml_doc: doc.as_ptr() as *const c_char,
        }));
        // SAFETY: `cls` is a type object; `def` is a valid, 'static method definition.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(
                cls.py(),
                ffi::PyDescr_NewMethod(cls.as_ptr().cast(), def),
            )?
        };
        cls.setattr(name.to_str().unwrap_or_default(), descr)?;
    }
    Ok(())
}

/// Adds the eventfd raw calls and constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(eventfd, m)?)?;
    m.add_function(wrap_pyfunction!(eventfd_read, m)?)?;
    m.add_function(wrap_pyfunction!(eventfd_write, m)?)?;
    m.add_function(wrap_pyfunction!(install_eventfd_methods, m)?)?;
    // SAFETY: attached (module initialisation); the interned strings are kept for good.
    unsafe {
        FD.name.store(
            ffi::PyUnicode_InternFromString(c"_fd".as_ptr()),
            Ordering::Relaxed,
        );
        EVENTS.name.store(
            ffi::PyUnicode_InternFromString(c"_events".as_ptr()),
            Ordering::Relaxed,
        );
    }
    m.add("EFD_CLOEXEC", libc::EFD_CLOEXEC)?;
    m.add("EFD_NONBLOCK", libc::EFD_NONBLOCK)?;
    m.add("EFD_SEMAPHORE", libc::EFD_SEMAPHORE)?;
    Ok(())
}
