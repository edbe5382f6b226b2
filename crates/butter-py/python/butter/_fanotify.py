"""fanotify's low-level layer: the raw calls, their errno tables, the ``FAN_*``
constants and :class:`FanotifyEvent`.

The raw calls live in the namespace ``C`` (also ``lib``, its 0.12+ name) and are looked
up there at every call; a negative result means failure, and the error number is read
from ``ffi.errno``. Tests (and programs) may replace ``C.fanotify_init``,
``C.fanotify_mark`` and ``C.fanotify_respond``.

fanotify needs ``CAP_SYS_ADMIN`` (without it ``fanotify_init`` raises
``PermissionError``).
"""

import collections as _collections
import errno as _errno
import os as _os
import types as _types

from . import _native
from .fanotify_constants import *  # noqa: F401,F403
from .fanotify_constants import (
    FAN_ACCESS, FAN_ACCESS_PERM, FAN_ALL_PERM_EVENTS, FAN_ATTRIB, FAN_CLOEXEC, FAN_CLOSE,
    FAN_CLOSE_NOWRITE, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_DELETE_SELF,
    FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_DFID_NAME,
    FAN_EVENT_INFO_TYPE_ERROR, FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
    FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, FAN_EVENT_INFO_TYPE_PIDFD, FAN_EVENT_ON_CHILD,
    FAN_FS_ERROR, FAN_MODIFY, FAN_MOVE_SELF, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR,
    FAN_OPEN, FAN_OPEN_EXEC, FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM, FAN_Q_OVERFLOW, FAN_RENAME,
)
from .fanotify_constants import __all__ as _constant_names
from .utils import CLOEXEC_DEFAULT, PermissionError, _fileno, _raise

O_RDONLY = _os.O_RDONLY
O_WRONLY = _os.O_WRONLY
O_RDWR = _os.O_RDWR
#: ``dfd`` meaning "the current directory" (``AT_FDCWD``): relative paths resolve as
#: everywhere else. (butter's default was 0, i.e. relative to whatever fd 0 is.)
AT_FDCWD = -100

#: Kept from butter (unused there too).
READ_EVENTS_MAX = 10

__all__ = [
    "C", "lib", "ffi", "FanotifyEvent", "FanotifyFid", "FanotifyInfo", "fanotify_init",
    "fanotify_mark", "fanotify_respond", "str_to_events", "READ_EVENTS_MAX", "O_RDONLY",
    "O_WRONLY", "O_RDWR", "AT_FDCWD",
] + list(_constant_names)

#: The raw calls, looked up at call time (patchable).
C = _types.SimpleNamespace(
    fanotify_init=_native.fanotify_init,
    fanotify_mark=_native.fanotify_mark,
    fanotify_respond=_native.fanotify_respond,
)
#: butter 0.12+'s name for :data:`C` (the same object).
lib = C
#: The errno of the last raw call (settable, as cffi's ``ffi.errno``).
ffi = _native.Errno()

# ------------------------------------------------------------------ errno tables
_INIT_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
}
_MARK_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
    _errno.ENOENT: ValueError,
    _errno.ENOTDIR: ValueError,  # FAN_MARK_ONLYDIR on a non-directory
    _errno.ENAMETOOLONG: ValueError,
    _errno.ELOOP: ValueError,
    _errno.ENOSPC: OSError,
    _errno.ENODEV: OSError,
    _errno.EOPNOTSUPP: OSError,
    _errno.EXDEV: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
}
_RESPOND_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
    _errno.ENOENT: ValueError,
}
_HINTS = {
    ("fanotify_init", _errno.EPERM): " (fanotify needs CAP_SYS_ADMIN)",
    ("fanotify_init", _errno.EINVAL): " (flags this kernel rejects: CLASS_CONTENT and "
    "CLASS_PRE_CONTENT cannot report FIDs, REPORT_NAME needs REPORT_DIR_FID)",
    ("fanotify_init", _errno.EMFILE): " (the group limit fs.fanotify.max_user_groups, or "
    "the open-file limit, was reached)",
    ("fanotify_mark", _errno.ENOSPC): " (the mark limit fs.fanotify.max_user_marks was "
    "reached, not the disk)",
    ("fanotify_mark", _errno.EINVAL): " (an empty mask, not exactly one of FAN_MARK_ADD, "
    "FAN_MARK_REMOVE and FAN_MARK_FLUSH, a permission event in a CLASS_NOTIF group, or a "
    "directory-entry event without FID reporting)",
    ("fanotify_mark", _errno.ENOENT): " (no such path, or nothing to remove)",
    ("fanotify_respond", _errno.ENOENT): " (no permission event of this group is waiting "
    "for an answer on that descriptor)",
}


def _fail(call, table):
    err = ffi.errno
    _raise(err, table, call + _HINTS.get((call, err), ""))


# ------------------------------------------------------------------ calls

def fanotify_init(flags=0, event_flags=O_RDONLY, closefd=CLOEXEC_DEFAULT):
    """A new fanotify group's descriptor. ``flags``: ``FAN_CLASS_*``, ``FAN_NONBLOCK``,
    ``FAN_UNLIMITED_*``, ``FAN_REPORT_*``, ...; ``event_flags``: how each event's
    descriptor is opened (``O_RDONLY``, ``O_WRONLY``, ``O_RDWR``, ``O_NONBLOCK``, ...).
    ``closefd`` (true by default) makes the group's descriptor and the events'
    descriptors close-on-exec.

    Raises ``ValueError`` (bad flags), ``OSError`` (limits), ``MemoryError``,
    ``PermissionError`` (no ``CAP_SYS_ADMIN``).
    """
    if closefd:
        flags |= FAN_CLOEXEC
        event_flags |= _os.O_CLOEXEC
    fd = C.fanotify_init(flags, event_flags)
    if fd < 0:
        _fail("fanotify_init", _INIT_ERRORS)
    return fd


def fanotify_mark(fd, path, mask, flags, dfd=AT_FDCWD):
    """Adds, removes or flushes marks of the group ``fd`` (``flags``: one of
    ``FAN_MARK_ADD``, ``FAN_MARK_REMOVE``, ``FAN_MARK_FLUSH``, with ``FAN_MARK_MOUNT``,
    ``FAN_MARK_FILESYSTEM``, ...) for the events in ``mask``, on ``path`` (str, bytes or
    path-like, relative to ``dfd``; ``None``: the object ``dfd`` refers to).

    Raises ``ValueError`` (no such path, bad mask or flags, bad fd), ``OSError`` (the
    mark limit: ``ENOSPC``; filesystems FID groups cannot mark), ``MemoryError``,
    ``PermissionError``.
    """
    fd = _fileno(fd)
    dfd = _fileno(dfd)
    if path is not None:
        path = _os.fsencode(path)
    r = C.fanotify_mark(fd, flags, mask, dfd, path)
    if r < 0:
        _fail("fanotify_mark", _MARK_ERRORS)


def fanotify_respond(fd, event_fd, response):
    """Answers the permission event whose descriptor is ``event_fd`` on the group ``fd``:
    ``response`` is ``FAN_ALLOW`` or ``FAN_DENY`` (the access fails with ``EPERM``),
    optionally ``| FAN_AUDIT``. Answer before closing the event's descriptor.

    Raises ``ValueError`` when no such event waits for an answer, or for a bad fd.
    """
    fd = _fileno(fd)
    r = C.fanotify_respond(fd, event_fd, response)
    if r < 0:
        _fail("fanotify_respond", _RESPOND_ERRORS)


# ------------------------------------------------------------------ events

#: A file-handle info record (``FAN_EVENT_INFO_TYPE_FID``, ``_DFID``, ``_DFID_NAME``,
#: ``_OLD_DFID_NAME``, ``_NEW_DFID_NAME``): the filesystem id ``(int, int)``, the
#: handle's type and bytes (for ``open_by_handle_at``), and the entry's name
#: (``bytes``; ``None`` in records without one).
FanotifyFid = _collections.namedtuple("FanotifyFid", "type fsid handle_type handle name")

#: Any other info record: ``data`` is the pidfd (``FAN_EVENT_INFO_TYPE_PIDFD``), the
#: pair ``(errno, count)`` (``FAN_EVENT_INFO_TYPE_ERROR``), or the raw bytes.
FanotifyInfo = _collections.namedtuple("FanotifyInfo", "type data")

_FID_TYPES = frozenset([
    FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_DFID_NAME,
    FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
])


def _info(record):
    kind = record[0]
    if kind in _FID_TYPES:
        return FanotifyFid(*record)
    if kind == FAN_EVENT_INFO_TYPE_ERROR:
        return FanotifyInfo(kind, (record[1], record[2]))
    return FanotifyInfo(kind, record[1])


class FanotifyEvent(object):
    """One fanotify event: ``version``, ``mask`` (``FAN_*`` bits), ``fd`` (a descriptor
    of the object, opened for this process; ``FAN_NOFD`` (-1) in FID groups and for the
    overflow), ``pid`` (who did it) and ``info`` (the info records, as
    :data:`FanotifyFid` / :data:`FanotifyInfo`).

    The event's descriptor (and pidfd) are the caller's: :meth:`close` them, or use the
    event as a context manager. Answer a permission event (``FAN_OPEN_PERM``, ...) with
    :meth:`butter.fanotify.Fanotify.respond` before closing it.
    """

    __slots__ = ["_filename", "version", "mask", "fd", "pid", "info", "pidfd"]

    def __init__(self, version, mask, fd, pid, info=()):
        self.version = version
        self.mask = mask
        self.fd = fd
        self.pid = pid
        self.info = tuple(info)
        self.pidfd = None
        for record in self.info:
            if record.type == FAN_EVENT_INFO_TYPE_PIDFD:
                self.pidfd = record.data

    @property
    def filename(self):
        """The object's path (``readlink`` of its descriptor's ``/proc`` entry, read once),
        or ``"<Unknown>"`` when it cannot be read (no descriptor, closed, ...)."""
        try:
            return self._filename
        except AttributeError:
            pass
        name = "<Unknown>"
        fd = self.fd
        if fd is not None and fd >= 0:
            try:
                name = _os.readlink("/proc/{}/fd/{}".format(_os.getpid(), fd))
            except OSError:
                pass
        self._filename = name
        return name

    def close(self):
        """Closes the event's descriptor (and its pidfd); ``fd`` becomes ``None``. A second
        call does nothing."""
        fd, self.fd = self.fd, None
        pidfd, self.pidfd = self.pidfd, None
        if fd is not None and fd >= 0:
            _os.close(fd)
        if pidfd is not None and pidfd >= 0:
            _os.close(pidfd)

    def fileno(self):
        """The event's descriptor; ``ValueError`` if there is none (closed, FID group)."""
        if self.fd is None or self.fd < 0:
            raise ValueError("the event has no descriptor")
        return self.fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "<{} filename={}, version={}, mask=0x{:X}, fd={}, pid={}>".format(
            self.__class__.__name__, self.filename, self.version, self.mask, self.fd,
            self.pid)

    def _has(self, bits):
        return bool(self.mask & bits)

    access_event = property(lambda self: self._has(FAN_ACCESS),
                            doc="The file was read (``FAN_ACCESS``).")
    access_perm_event = property(lambda self: self._has(FAN_ACCESS_PERM),
                                 doc="A read waits for permission (``FAN_ACCESS_PERM``).")
    modify_event = property(lambda self: self._has(FAN_MODIFY),
                            doc="The file was written (``FAN_MODIFY``).")
    close_event = property(lambda self: self._has(FAN_CLOSE),
                           doc="Either close (``FAN_CLOSE``).")
    close_write_event = property(lambda self: self._has(FAN_CLOSE_WRITE),
                                 doc="A file opened for writing was closed.")
    close_nowrite_event = property(lambda self: self._has(FAN_CLOSE_NOWRITE),
                                   doc="A file not opened for writing was closed.")
    open_event = property(lambda self: self._has(FAN_OPEN),
                          doc="The file was opened (``FAN_OPEN``).")
    open_perm_event = property(lambda self: self._has(FAN_OPEN_PERM),
                               doc="An open waits for permission (``FAN_OPEN_PERM``).")
    queue_overflow_event = property(lambda self: self._has(FAN_Q_OVERFLOW),
                                    doc="The queue overflowed; events were lost.")
    on_dir_event = property(lambda self: self._has(FAN_ONDIR),
                            doc="The object is a directory (``FAN_ONDIR``).")
    on_child_event = property(lambda self: self._has(FAN_EVENT_ON_CHILD),
                              doc="``FAN_EVENT_ON_CHILD`` is set.")
    # Newer kernels' events.
    open_exec_event = property(lambda self: self._has(FAN_OPEN_EXEC),
                               doc="The file was opened to be executed.")
    open_exec_perm_event = property(lambda self: self._has(FAN_OPEN_EXEC_PERM),
                                    doc="An exec open waits for permission.")
    permission_event = property(lambda self: self._has(FAN_ALL_PERM_EVENTS),
                                doc="Any permission event: it must be answered.")
    attrib_event = property(lambda self: self._has(FAN_ATTRIB),
                            doc="Metadata changed (``FAN_ATTRIB``, FID groups).")
    create_event = property(lambda self: self._has(FAN_CREATE),
                            doc="An entry was created (``FAN_CREATE``, FID groups).")
    delete_event = property(lambda self: self._has(FAN_DELETE),
                            doc="An entry was deleted (``FAN_DELETE``, FID groups).")
    moved_from_event = property(lambda self: self._has(FAN_MOVED_FROM),
                                doc="An entry was renamed away (FID groups).")
    moved_to_event = property(lambda self: self._has(FAN_MOVED_TO),
                              doc="An entry was renamed in (FID groups).")
    delete_self_event = property(lambda self: self._has(FAN_DELETE_SELF),
                                 doc="The marked object was deleted (FID groups).")
    move_self_event = property(lambda self: self._has(FAN_MOVE_SELF),
                               doc="The marked object was moved (FID groups).")
    rename_event = property(lambda self: self._has(FAN_RENAME),
                            doc="An entry was renamed (``FAN_RENAME``, FID groups).")
    fs_error_event = property(lambda self: self._has(FAN_FS_ERROR),
                              doc="A filesystem error (``FAN_FS_ERROR``).")

    def _record(self, *types):
        for record in self.info:
            if record.type in types:
                return record
        return None

    @property
    def fid(self):
        """The object's file-handle record (``FAN_REPORT_FID``), or ``None``."""
        return self._record(FAN_EVENT_INFO_TYPE_FID)

    @property
    def dfid(self):
        """The directory's file-handle record (``FAN_REPORT_DIR_FID``; with
        ``FAN_REPORT_NAME`` it carries the entry's ``name``), or ``None``."""
        return self._record(FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_DFID_NAME)

    @property
    def name(self):
        """The entry's name in its directory (``bytes``, ``b'.'`` for the directory
        itself) in ``FAN_REPORT_DFID_NAME`` groups, else ``None``."""
        record = self._record(FAN_EVENT_INFO_TYPE_DFID_NAME)
        return None if record is None else record.name

    @property
    def error(self):
        """``(errno, count)`` of a ``FAN_FS_ERROR`` event, else ``None``."""
        record = self._record(FAN_EVENT_INFO_TYPE_ERROR)
        return None if record is None else record.data


def _events(raw):
    return [FanotifyEvent(v, m, fd, pid, [_info(i) for i in infos] if infos else ())
            for v, m, fd, pid, infos in raw]


def str_to_events(raw):
    """Decodes a buffer of fanotify records (as ``read(2)`` returns them: metadata and
    info records, each length checked) into a list of :class:`FanotifyEvent`. A
    malformed record raises ``ValueError``."""
    return _events(_native.fanotify_decode(bytes(raw)))


def _read(fd, bufsize=4096):
    """The events one read of up to ``bufsize`` bytes gets from the group ``fd`` (waits
    for one on a blocking group; ``BlockingIOError`` on a non-blocking one)."""
    return _events(_native.fanotify_read(fd, bufsize))
