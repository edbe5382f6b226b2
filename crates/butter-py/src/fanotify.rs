//! Raw calls for `butter.fanotify` (`butter._fanotify`): `fanotify_init` and
//! `fanotify_mark` with the C-like contract (the result, or `-1` with the errno stored),
//! the reader [`fanotify_read`], which decodes each event's metadata and its info records
//! (file handles, names, pidfds, errors) with butter's bounds-checked parser, and
//! [`fanotify_respond`], the answer to a permission event.

use std::os::fd::RawFd;

use butter::fanotify::{Event, Info, METADATA_LEN, MIN_READ_BUFFER, Pidfd};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rustix::io::Errno;

use crate::args::borrow;
use crate::errno::{os_error, ret, ret_libc};

/// `fanotify_init(flags, event_f_flags)`: a new fanotify group's descriptor, or `-1` with
/// the errno stored. Both are passed as given.
#[pyfunction]
pub fn fanotify_init(flags: u32, event_f_flags: u32) -> i64 {
    // SAFETY: plain integer arguments; the result is a new descriptor or -1.
    ret_libc(unsafe { libc::fanotify_init(flags, event_f_flags) } as i64)
}

/// `fanotify_mark(fd, flags, mask, dirfd, path)` (C's argument order): `0`, or `-1` with
/// the errno stored. `path` is bytes (the Python layer applies `os.fsencode`), or `None`
/// for the object `dirfd` refers to.
#[pyfunction]
#[pyo3(signature = (fd, flags, mask, dirfd, path))]
pub fn fanotify_mark(
    fd: i32,
    flags: u32,
    mask: u64,
    dirfd: i32,
    path: Option<&Bound<'_, PyBytes>>,
) -> PyResult<i64> {
    let path = path.map(crate::args::path).transpose()?;
    let p = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    // SAFETY: `p` is NULL or a NUL-terminated path that outlives the call.
    Ok(ret_libc(
        unsafe { libc::fanotify_mark(fd, flags, mask, dirfd, p) } as i64,
    ))
}

/// Writes the answer to the permission event whose descriptor is `event_fd` to the group
/// `fd` (`struct fanotify_response`: `FAN_ALLOW` or `FAN_DENY`, optionally `| FAN_AUDIT`):
/// `0`, or `-1` with the errno stored (`ENOENT`: no such pending event).
#[pyfunction]
pub fn fanotify_respond(fd: i32, event_fd: i32, response: u32) -> i64 {
    let mut bytes = [0u8; std::mem::size_of::<libc::fanotify_response>()];
    bytes[..4].copy_from_slice(&event_fd.to_ne_bytes());
    bytes[4..].copy_from_slice(&response.to_ne_bytes());
    ret(borrow(&fd).and_then(|fd| {
        loop {
            match rustix::io::write(fd, &bytes) {
                Ok(n) if n == bytes.len() => return Ok(0),
                Ok(_) => return Err(Errno::IO),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }))
}

/// One info record as a tuple: `(type, (fsid0, fsid1), handle_type, handle, name or None)`
/// for the file-handle records, `(type, pidfd)` for a pidfd (`FAN_NOPIDFD`, `FAN_EPIDFD`
/// when there is none), `(type, error, count)` for an error, `(type, data)` otherwise.
fn info_tuple<'py>(py: Python<'py>, info: &Info<RawFd>) -> PyResult<Bound<'py, PyTuple>> {
    use std::os::unix::ffi::OsStrExt;
    let fid = |t: u8, id: &butter::fanotify::FileId, name: Option<&std::ffi::OsStr>| {
        let name = name.map(|n| PyBytes::new(py, n.as_bytes()));
        (
            t,
            (id.fsid[0], id.fsid[1]),
            id.handle_type,
            PyBytes::new(py, &id.handle),
            name,
        )
            .into_pyobject(py)
    };
    match info {
        Info::Fid(id) => fid(libc::FAN_EVENT_INFO_TYPE_FID, id, None),
        Info::Dfid(id) => fid(libc::FAN_EVENT_INFO_TYPE_DFID, id, None),
        Info::DfidName(id, n) => fid(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, id, Some(n)),
        Info::OldDfidName(id, n) => fid(libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, id, Some(n)),
        Info::NewDfidName(id, n) => fid(libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, id, Some(n)),
        Info::Pidfd(p) => {
            let fd = match p {
                Pidfd::Open(fd) => *fd,
                Pidfd::Exited => libc::FAN_NOPIDFD,
                Pidfd::Failed => libc::FAN_EPIDFD,
            };
            (libc::FAN_EVENT_INFO_TYPE_PIDFD, fd).into_pyobject(py)
        }
        Info::Error { error, count } => {
            (libc::FAN_EVENT_INFO_TYPE_ERROR, *error, *count).into_pyobject(py)
        }
        Info::Other { info_type, data } => (*info_type, PyBytes::new(py, data)).into_pyobject(py),
    }
}

/// The descriptors an event holds (its own and a pidfd), for closing on failure.
fn event_fds(ev: &Event<RawFd>) -> Vec<RawFd> {
    let Some(m) = ev.as_mark() else {
        return Vec::new();
    };
    let mut fds: Vec<RawFd> = m.fd.into_iter().collect();
    fds.extend(m.info.iter().filter_map(|i| match i {
        Info::Pidfd(Pidfd::Open(fd)) => Some(*fd),
        _ => None,
    }));
    fds
}

/// Decodes `buf` into a list of `(version, mask, fd, pid, infos)` tuples (`infos` a tuple
/// of [`info_tuple`]s). A malformed record is a `ValueError`; when `owned`, the
/// descriptors of the events decoded before it are closed first (they were opened for
/// this process by the read, and nobody will get them).
fn decode<'py>(py: Python<'py>, buf: &[u8], owned: bool) -> PyResult<Bound<'py, PyList>> {
    let mut parser = butter::fanotify::parse(buf);
    let mut events = Vec::new();
    let mut fds = Vec::new();
    let mut failure = None;
    loop {
        let start = buf.len() - parser.remaining().len();
        match parser.next() {
            None => break,
            Some(Err(e)) => {
                failure = Some(PyValueError::new_err(e.to_string()));
                break;
            }
            Some(Ok(ev)) => {
                let raw = &buf[start..start + METADATA_LEN];
                let vers = raw[4];
                let mask = u64::from_ne_bytes(raw[8..16].try_into().expect("8 bytes"));
                let fd = i32::from_ne_bytes(raw[16..20].try_into().expect("4 bytes"));
                let pid = i32::from_ne_bytes(raw[20..24].try_into().expect("4 bytes"));
                if owned {
                    fds.extend(event_fds(&ev));
                }
                let infos = match ev.as_mark() {
                    Some(m) => m
                        .info
                        .iter()
                        .map(|i| info_tuple(py, i))
                        .collect::<PyResult<Vec<_>>>()?,
                    None => Vec::new(),
                };
                events.push((vers, mask, fd, pid, PyTuple::new(py, infos)?));
            }
        }
    }
    if let Some(e) = failure {
        for fd in fds {
            // SAFETY: these descriptors were opened for us by the read and were handed to
            // nobody: closing them cannot close someone else's.
            unsafe { libc::close(fd) };
        }
        return Err(e);
    }
    PyList::new(py, events)
}

/// Reads the events queued on the fanotify group `fd`, in one read of up to `bufsize`
/// bytes (at least 4096, which always holds the next event), and returns them as a list
/// of `(version, mask, fd, pid, infos)` tuples; see [`info_tuple`] for `infos`. Each
/// event's descriptor (and pidfd) is the caller's to close.
///
/// On a blocking group with nothing queued the call waits (without the GIL) for an
/// event; on a non-blocking one it raises `BlockingIOError`. Failures raise `OSError`
/// with the errno; an interrupted wait runs the signal handlers and goes on (PEP 475).
#[pyfunction]
#[pyo3(signature = (fd, bufsize=MIN_READ_BUFFER))]
pub fn fanotify_read(py: Python<'_>, fd: i32, bufsize: usize) -> PyResult<Bound<'_, PyList>> {
    let fd = borrow(&fd).map_err(os_error)?;
    let mut buf = Vec::<u8>::with_capacity(bufsize.max(MIN_READ_BUFFER));
    loop {
        let r = py.detach(|| rustix::io::read(fd, rustix::buffer::spare_capacity(&mut buf)));
        match r {
            Ok(n) => return decode(py, &buf[..n], true),
            Err(Errno::INTR) => py.check_signals()?,
            Err(e) => return Err(os_error(e)),
        }
    }
}

/// Decodes a buffer of fanotify records (as `read(2)` returns them) into the tuples
/// [`fanotify_read`] returns, taking over no descriptor. A malformed record raises
/// `ValueError`.
#[pyfunction]
pub fn fanotify_decode<'py>(data: &Bound<'py, PyBytes>) -> PyResult<Bound<'py, PyList>> {
    decode(data.py(), data.as_bytes(), false)
}

/// The `FAN_*` values of the C library's headers this crate was built with, by name.
#[pyfunction]
pub fn fanotify_constants(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    macro_rules! put {
        ($($name:ident),* $(,)?) => { $( d.set_item(stringify!($name), libc::$name)?; )* };
    }
    put!(
        FAN_CLOEXEC,
        FAN_NONBLOCK,
        FAN_CLASS_NOTIF,
        FAN_CLASS_CONTENT,
        FAN_CLASS_PRE_CONTENT,
        FAN_UNLIMITED_QUEUE,
        FAN_UNLIMITED_MARKS,
        FAN_ENABLE_AUDIT,
        FAN_REPORT_PIDFD,
        FAN_REPORT_TID,
        FAN_REPORT_FID,
        FAN_REPORT_DIR_FID,
        FAN_REPORT_NAME,
        FAN_REPORT_TARGET_FID,
        FAN_REPORT_DFID_NAME,
        FAN_REPORT_DFID_NAME_TARGET,
        FAN_MARK_ADD,
        FAN_MARK_REMOVE,
        FAN_MARK_DONT_FOLLOW,
        FAN_MARK_ONLYDIR,
        FAN_MARK_MOUNT,
        FAN_MARK_IGNORED_MASK,
        FAN_MARK_IGNORED_SURV_MODIFY,
        FAN_MARK_FLUSH,
        FAN_MARK_EVICTABLE,
        FAN_MARK_IGNORE,
        FAN_MARK_INODE,
        FAN_MARK_FILESYSTEM,
        FAN_MARK_IGNORE_SURV,
        FAN_ACCESS,
        FAN_MODIFY,
        FAN_ATTRIB,
        FAN_CLOSE_WRITE,
        FAN_CLOSE_NOWRITE,
        FAN_CLOSE,
        FAN_OPEN,
        FAN_MOVED_FROM,
        FAN_MOVED_TO,
        FAN_MOVE,
        FAN_CREATE,
        FAN_DELETE,
        FAN_DELETE_SELF,
        FAN_MOVE_SELF,
        FAN_OPEN_EXEC,
        FAN_Q_OVERFLOW,
        FAN_FS_ERROR,
        FAN_OPEN_PERM,
        FAN_ACCESS_PERM,
        FAN_OPEN_EXEC_PERM,
        FAN_EVENT_ON_CHILD,
        FAN_RENAME,
        FAN_ONDIR,
        FAN_ALLOW,
        FAN_DENY,
        FAN_AUDIT,
        FAN_NOFD,
        FAN_NOPIDFD,
        FAN_EPIDFD,
        FAN_EVENT_INFO_TYPE_FID,
        FAN_EVENT_INFO_TYPE_DFID_NAME,
        FAN_EVENT_INFO_TYPE_DFID,
        FAN_EVENT_INFO_TYPE_PIDFD,
        FAN_EVENT_INFO_TYPE_ERROR,
        FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
        FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
        FANOTIFY_METADATA_VERSION,
    );
    Ok(d)
}

/// Adds the calls.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fanotify_init, m)?)?;
    m.add_function(wrap_pyfunction!(fanotify_mark, m)?)?;
    m.add_function(wrap_pyfunction!(fanotify_respond, m)?)?;
    m.add_function(wrap_pyfunction!(fanotify_read, m)?)?;
    m.add_function(wrap_pyfunction!(fanotify_decode, m)?)?;
    m.add_function(wrap_pyfunction!(fanotify_constants, m)?)?;
    Ok(())
}
