//! Raw calls for `butter.inotify` (`butter._inotify`): `inotify_init1`, `inotify_add_watch`
//! and `inotify_rm_watch` with the C-like contract (the result, or `-1` with the errno
//! stored), and the fast reader [`inotify_read`], which reads every queued event and builds
//! the Python `InotifyEvent` tuples in one pass.
//!
//! The events are made the way CPython makes tuples: the instance is allocated with the
//! type's own `tp_alloc` and its four items are set in place, without calling the
//! namedtuple's Python `__new__`. Instances of a type without a `__dict__` hold only ints
//! and bytes, so they can never be part of a reference cycle: they are taken off the
//! garbage collector's lists (as CPython does for such tuples), which keeps a batch of
//! 100,000 events from making every collection walk them.

use std::os::fd::{BorrowedFd, IntoRawFd};

use butter::inotify::{HEADER_SIZE, MIN_READ_BUFFER};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};
use rustix::io::Errno;

use crate::args::borrow;
use crate::errno::{os_error, ret};

/// The size of each read: 2048 events with short names, as the C reference loop reads.
const CHUNK: usize = 64 * 1024;

/// At most this many bytes of events are read by one [`inotify_read`] call (about 500,000
/// events with short names), so that a writer as fast as the reader cannot keep a call
/// going forever. The kernel's default queue (16,384 events) is far below it.
const MAX_BATCH: usize = 16 << 20;

/// `inotify_init1(flags)`: a new inotify descriptor, or `-1` with the errno stored.
/// `flags` is passed as given (`IN_CLOEXEC`, `IN_NONBLOCK`; unknown bits give `EINVAL`).
#[pyfunction]
pub fn inotify_init1(flags: u32) -> i64 {
    let flags = rustix::fs::inotify::CreateFlags::from_bits_retain(flags);
    ret(rustix::fs::inotify::init(flags).map(|fd| fd.into_raw_fd()))
}

/// `inotify_add_watch(fd, path, mask)`: the watch descriptor, or `-1` with the errno
/// stored. `path` is bytes (the Python layer applies `os.fsencode`).
#[pyfunction]
pub fn inotify_add_watch(fd: i32, path: &Bound<'_, PyBytes>, mask: u32) -> PyResult<i64> {
    let path = crate::args::path(path)?;
    let flags = rustix::fs::inotify::WatchFlags::from_bits_retain(mask);
    Ok(ret(borrow(&fd).and_then(|fd| {
        rustix::fs::inotify::add_watch(fd, path.as_c_str(), flags)
    })))
}

/// `inotify_rm_watch(fd, wd)`: `0`, or `-1` with the errno stored. An `IN_IGNORED` event
/// for the watch follows.
#[pyfunction]
pub fn inotify_rm_watch(fd: i32, wd: i32) -> i64 {
    ret(borrow(&fd)
        .and_then(|fd| rustix::fs::inotify::remove_watch(fd, wd))
        .map(|()| 0))
}

/// Makes event objects of one Python type: a `tuple` subclass whose instances hold
/// `(wd, mask, cookie, filename)`.
struct EventMaker<'py> {
    ty: Bound<'py, PyType>,
    /// The type's `tp_alloc`; `None` where the limited API cannot give it (a static type
    /// before Python 3.10), in which case the type is called.
    alloc: Option<ffi::allocfunc>,
    /// Whether instances may be taken off the garbage collector's lists (no `__dict__`).
    untrack: bool,
}

impl<'py> EventMaker<'py> {
    fn new(ty: &Bound<'py, PyType>) -> PyResult<Self> {
        if !ty.is_subclass_of::<PyTuple>()? {
            return Err(PyTypeError::new_err(
                "the event type must be a tuple subclass (InotifyEvent)",
            ));
        }
        let heap = ty
            .getattr("__flags__")?
            .extract::<u64>()
            .is_ok_and(|f| f & ffi::Py_TPFLAGS_HEAPTYPE != 0);
        let alloc = if heap {
            // SAFETY: `ty` is a live type object; PyType_GetSlot works for heap types on
            // every version the limited API covers, and Py_tp_alloc's slot holds an
            // `allocfunc` (or NULL).
            let slot = unsafe { ffi::PyType_GetSlot(ty.as_type_ptr(), ffi::Py_tp_alloc) };
            if slot.is_null() {
                None
            } else {
                // SAFETY: the Py_tp_alloc slot is an allocfunc.
                Some(unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) })
            }
        } else {
            None
        };
        let untrack = ty.getattr("__dictoffset__")?.extract::<isize>()? == 0;
        Ok(EventMaker {
            ty: ty.clone(),
            alloc,
            untrack,
        })
    }

    /// One event object.
    #[inline]
    fn make(&self, wd: i32, mask: u32, cookie: u32, name: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let py = self.ty.py();
        let Some(alloc) = self.alloc else {
            return self.ty.call1((wd, mask, cookie, PyBytes::new(py, name)));
        };
        // SAFETY: `alloc` is the type's tp_alloc, called as CPython calls it for a tuple
        // subclass (4 items). Every item is a new reference that PyTuple_SetItem steals;
        // the fresh instance has a reference count of 1, as PyTuple_SetItem requires. A
        // NULL anywhere means a Python exception is set, which PyErr::fetch takes.
        unsafe {
            let obj = alloc(self.ty.as_type_ptr(), 4);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            // Owned from here on: an early return drops (and frees) it.
            let obj = Bound::from_owned_ptr(py, obj);
            let items = [
                ffi::PyLong_FromLong(wd as std::ffi::c_long),
                ffi::PyLong_FromUnsignedLong(mask as std::ffi::c_ulong),
                ffi::PyLong_FromUnsignedLong(cookie as std::ffi::c_ulong),
                ffi::PyBytes_FromStringAndSize(name.as_ptr().cast(), name.len() as ffi::Py_ssize_t),
            ];
            let mut failed = false;
            for (i, item) in items.into_iter().enumerate() {
                // A NULL item leaves its place NULL (the dealloc skips it).
                failed |= item.is_null()
                    || ffi::PyTuple_SetItem(obj.as_ptr(), i as ffi::Py_ssize_t, item) != 0;
            }
            if failed {
                return Err(PyErr::fetch(py));
            }
            if self.untrack {
                // Only ints and bytes inside, no __dict__: no cycle can pass through it.
                ffi::PyObject_GC_UnTrack(obj.as_ptr().cast());
            }
            Ok(obj)
        }
    }
}

/// Decodes every record of `buf` into `out`. A record cut short is a `ValueError` (the
/// kernel never makes one; a caller's buffer might).
fn decode_into<'py>(
    maker: &EventMaker<'py>,
    buf: &[u8],
    out: &mut Vec<Bound<'py, PyAny>>,
) -> PyResult<()> {
    let u32_at = |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let mut pos = 0;
    while pos < buf.len() {
        if buf.len() - pos < HEADER_SIZE {
            return Err(PyValueError::new_err(format!(
                "truncated inotify record at byte {pos}: {} bytes left, a header needs {HEADER_SIZE}",
                buf.len() - pos
            )));
        }
        let wd = u32_at(pos) as i32;
        let mask = u32_at(pos + 4);
        let cookie = u32_at(pos + 8);
        let len = u32_at(pos + 12) as usize;
        let start = pos + HEADER_SIZE;
        let Some(padded) = buf.get(start..).and_then(|r| r.get(..len)) else {
            return Err(PyValueError::new_err(format!(
                "truncated inotify record at byte {pos}: its name needs {len} bytes, {} left",
                buf.len() - start
            )));
        };
        let name = match padded.iter().position(|&b| b == 0) {
            Some(end) => &padded[..end],
            None => padded,
        };
        out.push(maker.make(wd, mask, cookie, name)?);
        pos = start + len;
    }
    Ok(())
}

/// Buffers at least this large are decoded with the garbage collector paused.
const GC_PAUSE_MIN: usize = 4096;

/// `gc.isenabled`, `gc.disable` and `gc.enable` (the C calls are Python 3.10+ only).
static GC: PyOnceLock<(Py<PyAny>, Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// Pauses the cyclic garbage collector while a big buffer is decoded, with the GIL held
/// throughout (so no other thread sees it paused), and restores it on drop.
///
/// The events hold only ints and bytes and are untracked as soon as they are made, so a
/// collection could never free one; but each allocation still counts towards the next
/// collection, and 100,000 of them set off about 150 collections of the *rest* of the
/// heap (the first full one in a young process): a third of the decoding time. Paused,
/// the count goes on, and the next allocation after the pause collects as usual.
struct GcPause<'py> {
    py: Python<'py>,
    resume: bool,
}

impl<'py> GcPause<'py> {
    fn new(py: Python<'py>, len: usize) -> PyResult<Self> {
        if len < GC_PAUSE_MIN {
            return Ok(GcPause { py, resume: false });
        }
        let (isenabled, disable, _) = GC.get_or_try_init(py, || -> PyResult<_> {
            let gc = py.import("gc")?;
            Ok((
                gc.getattr("isenabled")?.unbind(),
                gc.getattr("disable")?.unbind(),
                gc.getattr("enable")?.unbind(),
            ))
        })?;
        let resume = isenabled.bind(py).call0()?.is_truthy()?;
        if resume {
            disable.call0(py)?;
        }
        Ok(GcPause { py, resume })
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if self.resume
            && let Some((_, _, enable)) = GC.get(self.py)
            && let Err(e) = enable.call0(self.py)
        {
            e.write_unraisable(self.py, None);
        }
    }
}

/// Reads every event queued on the inotify descriptor `fd` (up to `limit` bytes of them)
/// and returns them as a list of `event_type` (the `InotifyEvent` namedtuple), in the
/// kernel's order; the queue overflow is the event `(wd=-1, mask=IN_Q_OVERFLOW, cookie=0,
/// filename=b'')`, in its place.
///
/// On a blocking descriptor with nothing queued the call waits (without the GIL) for the
/// first event; on a non-blocking one it raises `BlockingIOError`, as `os.read` does.
/// Failures raise `OSError` with the errno; an interrupted wait runs the signal handlers
/// and goes on (PEP 475).
///
/// Events are read 64 KiB at a time (`limit` if smaller, but at least the 272 bytes that
/// always hold the next event) until a read comes back short of a full buffer (the queue
/// was empty then) or `limit` bytes were read (default 16 MiB, about 500,000 events).
/// From the third read of a backlog on, a scoped helper thread does the reading while
/// this one makes the objects (on machines with more than one CPU); it is joined before
/// the call returns.
#[pyfunction]
#[pyo3(signature = (fd, event_type, limit=MAX_BATCH))]
pub fn inotify_read<'py>(
    py: Python<'py>,
    fd: i32,
    event_type: &Bound<'py, PyType>,
    limit: usize,
) -> PyResult<Bound<'py, PyList>> {
    let maker = EventMaker::new(event_type)?;
    let fd = borrow(&fd).map_err(os_error)?;
    let mut buf = Vec::<u8>::with_capacity(limit.clamp(MIN_READ_BUFFER, CHUNK));
    let chunk = buf.capacity();
    let mut events = Vec::new();
    // The first read may wait for an event.
    let n = loop {
        buf.clear();
        match py.detach(|| rustix::io::read(fd, rustix::buffer::spare_capacity(&mut buf))) {
            Ok(n) => break n,
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(os_error(e)),
        }
    };
    decode_chunk(&maker, &buf[..n], &mut events)?;
    if more_may_follow(chunk, n, n, limit) {
        read_rest(py, &maker, fd, &mut buf, limit - n, &mut events)?;
    }
    PyList::new(py, events)
}

/// Whether more events may be queued after a read of `n` bytes into a buffer of `chunk`
/// (a read stops short only when the next event would not fit, and a buffer with room
/// for [`MIN_READ_BUFFER`] more bytes fits any event), with `total` bytes read of `limit`.
fn more_may_follow(chunk: usize, n: usize, total: usize, limit: usize) -> bool {
    n > 0 && chunk.saturating_sub(n) < MIN_READ_BUFFER && total + MIN_READ_BUFFER <= limit
}

/// Decodes one read's records, pausing the garbage collector for big ones.
fn decode_chunk<'py>(
    maker: &EventMaker<'py>,
    buf: &[u8],
    events: &mut Vec<Bound<'py, PyAny>>,
) -> PyResult<()> {
    let _pause = GcPause::new(maker.ty.py(), buf.len())?;
    decode_into(maker, buf, events)
}

/// One read that never waits: `Ok(0)` if nothing is queued.
fn read_queued(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno> {
    buf.clear();
    let mut pfd = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if rustix::event::poll(&mut pfd, Some(&zero))? == 0 {
        return Ok(0);
    }
    rustix::io::read(fd, rustix::buffer::spare_capacity(buf))
}

/// Reads and decodes what follows a full first read, up to `limit` more bytes, one read
/// after the other; from the third read on, with a helper thread where there are CPUs
/// for it ([`read_rest_pipelined`]). A read that fails or is interrupted ends the batch:
/// what was read stands, and signal handlers run when the call returns.
fn read_rest<'py>(
    py: Python<'py>,
    maker: &EventMaker<'py>,
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    limit: usize,
    events: &mut Vec<Bound<'py, PyAny>>,
) -> PyResult<()> {
    let chunk = buf.capacity();
    let mut total = 0;
    loop {
        let Ok(n) = py.detach(|| read_queued(fd, buf)) else {
            return Ok(());
        };
        decode_chunk(maker, &buf[..n], events)?;
        total += n;
        if !more_may_follow(chunk, n, total, limit) {
            return Ok(());
        }
        if chunk >= CHUNK && parallel() {
            // Two full reads: a backlog of 4,000 events or more.
            return read_rest_pipelined(py, maker, fd, chunk, limit - total, events);
        }
    }
}

/// Whether this process may run on more than one CPU (a helper thread then overlaps the
/// kernel's copying with the decoding).
fn parallel() -> bool {
    static PARALLEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PARALLEL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// [`read_rest`] for a big backlog: a scoped helper thread (with every signal blocked, and
/// never touching Python) reads the chunks and hands them over in order, while this
/// thread decodes them with the GIL; it is joined before the call returns. Each read
/// takes 190 ns an event in the kernel, about as long as making the objects, so the
/// two halves of the work run side by side.
fn read_rest_pipelined<'py>(
    py: Python<'py>,
    maker: &EventMaker<'py>,
    fd: BorrowedFd<'_>,
    chunk: usize,
    limit: usize,
    events: &mut Vec<Bound<'py, PyAny>>,
) -> PyResult<()> {
    use std::sync::mpsc::{TryRecvError, channel, sync_channel};
    let (full_tx, mut full_rx) = sync_channel::<Vec<u8>>(4);
    let (empty_tx, empty_rx) = channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
            // Signals are for the threads Python knows.
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
            let mut total = 0;
            loop {
                let mut buf = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(chunk));
                let Ok(n) = read_queued(fd, &mut buf) else {
                    return;
                };
                total += n;
                let more = more_may_follow(buf.capacity(), n, total, limit);
                if n == 0 || full_tx.send(buf).is_err() || !more {
                    return;
                }
            }
        });
        let mut result = Ok(());
        loop {
            let buf = match full_rx.try_recv() {
                Ok(buf) => buf,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    // Wait for the next chunk without the GIL.
                    let (rx, got) = py.detach(move || {
                        let got = full_rx.recv();
                        (full_rx, got)
                    });
                    full_rx = rx;
                    match got {
                        Ok(buf) => buf,
                        Err(_) => break,
                    }
                }
            };
            result = decode_chunk(maker, &buf, events);
            if result.is_err() {
                break;
            }
            let _ = empty_tx.send(buf);
        }
        // Stops the reader at its next chunk if decoding failed.
        drop(full_rx);
        if let Err(panic) = reader.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// Decodes a buffer of inotify records (as `read(2)` returns them) into a list of
/// `event_type`; names are cut at their first NUL. A record cut short raises
/// `ValueError`.
#[pyfunction]
pub fn inotify_decode<'py>(
    data: &Bound<'py, PyBytes>,
    event_type: &Bound<'py, PyType>,
) -> PyResult<Bound<'py, PyList>> {
    let maker = EventMaker::new(event_type)?;
    let mut events = Vec::new();
    let _pause = GcPause::new(data.py(), data.as_bytes().len())?;
    decode_into(&maker, data.as_bytes(), &mut events)?;
    PyList::new(data.py(), events)
}

/// The `IN_*` values of the C library's headers this crate was built with, by name.
#[pyfunction]
pub fn inotify_constants(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    macro_rules! put {
        ($($name:ident),* $(,)?) => { $( d.set_item(stringify!($name), libc::$name)?; )* };
    }
    put!(
        IN_ACCESS,
        IN_MODIFY,
        IN_ATTRIB,
        IN_CLOSE_WRITE,
        IN_CLOSE_NOWRITE,
        IN_CLOSE,
        IN_OPEN,
        IN_MOVED_FROM,
        IN_MOVED_TO,
        IN_MOVE,
        IN_CREATE,
        IN_DELETE,
        IN_DELETE_SELF,
        IN_MOVE_SELF,
        IN_UNMOUNT,
        IN_Q_OVERFLOW,
        IN_IGNORED,
        IN_ONLYDIR,
        IN_DONT_FOLLOW,
        IN_EXCL_UNLINK,
        IN_MASK_CREATE,
        IN_MASK_ADD,
        IN_ISDIR,
        IN_ONESHOT,
        IN_ALL_EVENTS,
        IN_CLOEXEC,
        IN_NONBLOCK,
    );
    Ok(d)
}

/// Adds the calls.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(inotify_init1, m)?)?;
    m.add_function(wrap_pyfunction!(inotify_add_watch, m)?)?;
    m.add_function(wrap_pyfunction!(inotify_rm_watch, m)?)?;
    m.add_function(wrap_pyfunction!(inotify_read, m)?)?;
    m.add_function(wrap_pyfunction!(inotify_decode, m)?)?;
    m.add_function(wrap_pyfunction!(inotify_constants, m)?)?;
    Ok(())
}
