"""inotify's low-level layer: the raw calls, their errno tables, the ``IN_*`` constants
and :class:`InotifyEvent`.

The raw calls live in the namespace ``C`` (also ``lib``, its 0.12+ name) and are looked
up there at every call; a negative result means failure, and the error number is read
from ``ffi.errno``. Tests (and programs) may replace ``C.inotify_init1``,
``C.inotify_add_watch`` and ``C.inotify_rm_watch``.

Paths may be ``str``, ``bytes`` or any ``os.PathLike``; names in events are ``bytes``.
"""

import collections as _collections
import errno as _errno
import os as _os
import types as _types

from . import _native
from .utils import CLOEXEC_DEFAULT, PermissionError, _fileno, _raise

#: The raw calls, looked up at call time (patchable).
C = _types.SimpleNamespace(
    inotify_init1=_native.inotify_init1,
    inotify_add_watch=_native.inotify_add_watch,
    inotify_rm_watch=_native.inotify_rm_watch,
)
#: butter 0.12+'s name for :data:`C` (the same object).
lib = C
#: The errno of the last raw call (settable, as cffi's ``ffi.errno``).
ffi = _native.Errno()

# ------------------------------------------------------------------ constants
# Events (also reported in masks).
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_CLOSE = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_MOVE = IN_MOVED_FROM | IN_MOVED_TO
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ALL_EVENTS = 0x00000fff
# Reported only.
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
# How to watch.
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_CREATE = 0x10000000  # Linux 4.18: EEXIST if the path is watched already
IN_MASK_ADD = 0x20000000
IN_ONESHOT = 0x80000000
# inotify_init1 flags: the open-file flags of this architecture.
IN_CLOEXEC = _os.O_CLOEXEC
IN_NONBLOCK = _os.O_NONBLOCK


def _event_names():
    names = {}
    for key in sorted(globals()):
        if key.startswith("IN_"):
            value = globals()[key]
            names[key] = value
            names[value] = key
    return names


#: Every ``IN_*`` name -> value, and value -> name (later names in sorted order win
#: where values are shared: ``event_name[0x800] == 'IN_NONBLOCK'`` on x86).
event_name = _event_names()

__all__ = [
    "C", "lib", "ffi", "InotifyEvent", "inotify_init", "inotify_add_watch",
    "inotify_rm_watch", "str_to_events", "event_name",
] + sorted(k for k in event_name if isinstance(k, str))

# ------------------------------------------------------------------ errno tables
_INIT_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENOMEM: MemoryError,
}
_ADD_WATCH_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
    _errno.EFAULT: ValueError,
    _errno.ENOENT: ValueError,
    _errno.ENOTDIR: ValueError,  # IN_ONLYDIR on a non-directory
    _errno.EEXIST: ValueError,  # IN_MASK_CREATE on a watched path
    _errno.ENAMETOOLONG: ValueError,
    _errno.ELOOP: ValueError,
    _errno.ENOSPC: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EACCES: PermissionError,
}
_RM_WATCH_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
}
_HINTS = {
    ("inotify_init1", _errno.EMFILE): " (the per-user limit fs.inotify.max_user_instances, "
    "or the open-file limit, was reached)",
    ("inotify_add_watch", _errno.ENOSPC): " (the inotify watch limit "
    "fs.inotify.max_user_watches was reached, not the disk)",
    ("inotify_add_watch", _errno.EINVAL): " (the mask has no event, or the descriptor is "
    "not an inotify instance)",
    ("inotify_rm_watch", _errno.EINVAL): " (no such watch: removed already, or its object "
    "was deleted)",
}


def _fail(call, table):
    err = ffi.errno
    _raise(err, table, call + _HINTS.get((call, err), ""))


# ------------------------------------------------------------------ calls

def inotify_init(flags=0, closefd=CLOEXEC_DEFAULT):
    """A new inotify instance's descriptor (``inotify_init1``). ``flags``: ``IN_NONBLOCK``,
    ``IN_CLOEXEC``; ``closefd`` (true by default) adds ``IN_CLOEXEC``.

    Raises ``ValueError`` (bad flags), ``OSError`` (descriptor or instance limits),
    ``MemoryError``.
    """
    if closefd:
        flags |= IN_CLOEXEC
    fd = C.inotify_init1(flags)
    if fd < 0:
        _fail("inotify_init1", _INIT_ERRORS)
    return fd


def inotify_add_watch(fd, path, mask):
    """Watches ``path`` (str, bytes or path-like) for the events in ``mask`` on the
    inotify descriptor ``fd`` (an int or an object with ``fileno()``); returns the watch
    descriptor. Watching a watched path again returns its wd and replaces its mask
    (unless ``IN_MASK_ADD``).

    Raises ``ValueError`` (no such path, empty mask, bad fd, ...), ``OSError`` (the watch
    limit: ``ENOSPC``), ``MemoryError``, ``PermissionError`` (unreadable path).
    """
    fd = _fileno(fd)
    path = _os.fsencode(path)
    wd = C.inotify_add_watch(fd, path, mask)
    if wd < 0:
        _fail("inotify_add_watch", _ADD_WATCH_ERRORS)
    return wd


def inotify_rm_watch(fd, wd):
    """Removes the watch ``wd``; an ``IN_IGNORED`` event for it follows. Raises
    ``ValueError`` for an unknown wd or a bad fd."""
    fd = _fileno(fd)
    r = C.inotify_rm_watch(fd, wd)
    if r < 0:
        _fail("inotify_rm_watch", _RM_WATCH_ERRORS)


# ------------------------------------------------------------------ events

_InotifyEventBase = _collections.namedtuple("InotifyEvent", "wd mask cookie filename")


class InotifyEvent(_InotifyEventBase):
    """One inotify event: ``(wd, mask, cookie, filename)``. ``filename`` is ``bytes``
    (``b''`` when the event is about the watched object itself); ``cookie`` links the
    two halves of a rename. The queue overflow is ``wd == -1`` with ``IN_Q_OVERFLOW``
    (see :attr:`queue_overflow_event`): events were lost, rescan.
    """

    __slots__ = []

    @property
    def access_event(self):
        """The file was read (``IN_ACCESS``)."""
        return bool(self.mask & IN_ACCESS)

    @property
    def modify_event(self):
        """The file was written (``IN_MODIFY``)."""
        return bool(self.mask & IN_MODIFY)

    @property
    def attrib_event(self):
        """Metadata changed (``IN_ATTRIB``)."""
        return bool(self.mask & IN_ATTRIB)

    @property
    def close_write_event(self):
        """A file opened for writing was closed (``IN_CLOSE_WRITE``)."""
        return bool(self.mask & IN_CLOSE_WRITE)

    @property
    def close_nowrite_event(self):
        """A file not opened for writing was closed (``IN_CLOSE_NOWRITE``)."""
        return bool(self.mask & IN_CLOSE_NOWRITE)

    @property
    def close_event(self):
        """Either close (``IN_CLOSE``)."""
        return bool(self.mask & IN_CLOSE)

    @property
    def open_event(self):
        """The file or directory was opened (``IN_OPEN``)."""
        return bool(self.mask & IN_OPEN)

    @property
    def moved_from_event(self):
        """An entry was renamed away (``IN_MOVED_FROM``)."""
        return bool(self.mask & IN_MOVED_FROM)

    @property
    def moved_to_event(self):
        """An entry was renamed in (``IN_MOVED_TO``)."""
        return bool(self.mask & IN_MOVED_TO)

    @property
    def create_event(self):
        """An entry was created (``IN_CREATE``)."""
        return bool(self.mask & IN_CREATE)

    @property
    def delete_event(self):
        """An entry was deleted (``IN_DELETE``)."""
        return bool(self.mask & IN_DELETE)

    @property
    def delete_self_event(self):
        """The watched object was deleted (``IN_DELETE_SELF``)."""
        return bool(self.mask & IN_DELETE_SELF)

    @property
    def move_self_event(self):
        """The watched object was moved (``IN_MOVE_SELF``)."""
        return bool(self.mask & IN_MOVE_SELF)

    @property
    def is_dir_event(self):
        """The subject is a directory (``IN_ISDIR``)."""
        return bool(self.mask & IN_ISDIR)

    @property
    def queue_overflow_event(self):
        """The kernel's queue overflowed and later events were lost (``IN_Q_OVERFLOW``,
        ``wd == -1``): rescan what you mirror."""
        return bool(self.mask & IN_Q_OVERFLOW)

    @property
    def ignored_event(self):
        """The watch was removed (``IN_IGNORED``); its wd is no longer valid."""
        return bool(self.mask & IN_IGNORED)

    @property
    def unmount_event(self):
        """The watched object's filesystem was unmounted (``IN_UNMOUNT``)."""
        return bool(self.mask & IN_UNMOUNT)


def str_to_events(raw_bytes):
    """Decodes a buffer of inotify records (as ``read(2)`` returns them) into a list of
    :class:`InotifyEvent`; names are cut at their first NUL. A record cut short raises
    ``ValueError``."""
    return _native.inotify_decode(bytes(raw_bytes), InotifyEvent)


def _read(fd, limit=None):
    """Every event queued on ``fd`` (up to ``limit`` bytes of them), as InotifyEvents;
    waits for one on a blocking fd, ``BlockingIOError`` on a non-blocking one."""
    if limit is None:
        return _native.inotify_read(fd, InotifyEvent)
    return _native.inotify_read(fd, InotifyEvent, limit)
