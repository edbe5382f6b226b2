"""fanotify: filesystem-wide monitoring, and answering permission events.

:class:`Fanotify` is an event-like object (``fileno()``, ``wait()``, ``read_event()``,
``read_events()``, iteration with ``for`` and ``async for``, ``with``): mark files,
directories (``FAN_EVENT_ON_CHILD`` for their entries), mounts (``FAN_MARK_MOUNT``) or
filesystems (``FAN_MARK_FILESYSTEM``) with :meth:`Fanotify.watch`, then read
:class:`~butter._fanotify.FanotifyEvent` objects. Each event holds an open descriptor of
the object: close it (``event.close()`` or ``with event:``).

A group of class ``FAN_CLASS_CONTENT`` or ``FAN_CLASS_PRE_CONTENT`` may mark for
permission events (``FAN_OPEN_PERM``, ``FAN_ACCESS_PERM``, ``FAN_OPEN_EXEC_PERM``): the
accessing process waits until :meth:`Fanotify.respond` (or :meth:`~Fanotify.allow`,
:meth:`~Fanotify.deny`) answers. Groups made with ``FAN_REPORT_FID`` /
``FAN_REPORT_DFID_NAME`` get file handles and names (``event.fid``, ``event.name``)
instead of descriptors, and may mark for directory-entry events.

Needs ``CAP_SYS_ADMIN``.
"""

from ._fanotify import *  # noqa: F401,F403 - the FAN_* constants and the calls
from ._fanotify import (
    AT_FDCWD, FAN_ALLOW, FAN_AUDIT, FAN_DENY, FAN_MARK_ADD, FAN_MARK_FLUSH, FAN_MARK_REMOVE,
    FAN_NONBLOCK, FAN_REPORT_DIR_FID, FAN_REPORT_FID, O_RDONLY, O_RDWR, O_WRONLY, _read,
    fanotify_init, fanotify_mark, fanotify_respond,
)
from ._fanotify import __all__ as _names
from .utils import CLOEXEC_DEFAULT, Eventlike

__all__ = ["Fanotify"] + [n for n in _names if n not in ("C", "lib", "ffi")]

_O_ACCMODE = O_RDONLY | O_WRONLY | O_RDWR

# One read takes at most this many bytes of events: each event of a descriptor-carrying
# group opens a descriptor during the read, and one the kernel cannot open (the
# open-file limit) is dropped; 4 KiB is at most 170 of them. FID groups get no
# descriptors and read 64 KiB at a time.
_READ_FD_GROUP = 4096
_READ_FID_GROUP = 65536


class Fanotify(Eventlike):
    """A fanotify group. ``flags``: ``FAN_CLASS_NOTIF`` (0), ``FAN_CLASS_CONTENT`` or
    ``FAN_CLASS_PRE_CONTENT`` (permission events), ``FAN_NONBLOCK`` (reads raise
    ``BlockingIOError`` instead of waiting), ``FAN_UNLIMITED_QUEUE``, ``FAN_REPORT_*``;
    ``event_flags``: how the events' descriptors are opened; ``closefd`` (true by
    default) makes descriptors close-on-exec.

    ``read_events()`` returns the events of one read (waiting for the first on a
    blocking group); ``read_event()`` and ``wait()`` return one.
    """

    #: Whether reads wait for events (``False`` with ``FAN_NONBLOCK``).
    blocking = True

    def __init__(self, flags, event_flags=O_RDONLY, closefd=CLOEXEC_DEFAULT):
        super(Fanotify, self).__init__()
        self._fd = fanotify_init(flags, event_flags, closefd=closefd)
        self._flags = flags
        self.blocking = not (flags & FAN_NONBLOCK)
        self._blocking = self.blocking
        access = event_flags & _O_ACCMODE
        if access == O_RDWR:
            self._mode = "w+"
        elif access == O_WRONLY:
            self._mode = "w"
        else:
            self._mode = "r"

    def watch(self, path, mask, flags=0, dfd=AT_FDCWD):
        """Marks ``path`` (str, bytes or path-like; relative to ``dfd``) for the events in
        ``mask`` (``FAN_MARK_ADD`` is added to ``flags``: ``FAN_MARK_MOUNT``,
        ``FAN_MARK_FILESYSTEM``, ``FAN_MARK_ONLYDIR``, ...)."""
        fanotify_mark(self.fileno(), path, mask, flags | FAN_MARK_ADD, dfd)

    def ignore(self, path, mask, flags=0, dfd=AT_FDCWD):
        """Removes the events in ``mask`` from the mark on ``path`` (``FAN_MARK_REMOVE``)."""
        fanotify_mark(self.fileno(), path, mask, flags | FAN_MARK_REMOVE, dfd)

    def del_watch(self, path, mask, flags=0, dfd=AT_FDCWD):
        """Alias of :meth:`ignore`."""
        self.ignore(path, mask, flags, dfd)

    def flush(self, flags=0):
        """Removes every inode mark of the group (with ``FAN_MARK_MOUNT`` every mount
        mark, with ``FAN_MARK_FILESYSTEM`` every filesystem mark)."""
        fanotify_mark(self.fileno(), None, 0, flags | FAN_MARK_FLUSH, AT_FDCWD)

    def respond(self, event, allow=True, audit=False):
        """Answers the permission event ``event`` (a :class:`FanotifyEvent`, or its
        descriptor number): ``allow`` lets the access proceed, else it fails with
        ``EPERM``; ``audit`` asks for an audit record (groups made with
        ``FAN_ENABLE_AUDIT``). Answer before closing the event."""
        fd = event if isinstance(event, int) else event.fd
        if fd is None:
            raise ValueError("the event was closed before it was answered")
        response = FAN_ALLOW if allow else FAN_DENY
        if audit:
            response |= FAN_AUDIT
        fanotify_respond(self.fileno(), fd, response)

    def allow(self, event):
        """Lets the access of the permission event ``event`` proceed."""
        self.respond(event, True)

    def deny(self, event):
        """Makes the access of the permission event ``event`` fail with ``EPERM``."""
        self.respond(event, False)

    def close(self):
        """Closes the group (pending permission events are allowed by the kernel) and
        the descriptors of the events read but not handed out yet."""
        super(Fanotify, self).close()
        self.truncate()

    def truncate(self):
        """Drops the cached events, closing their descriptors."""
        events, self._events = self._cache(), []
        for event in events:
            event.close()

    def _read_events(self):
        """The events of one read, as a list (waits for one if the group blocks)."""
        flags = getattr(self, "_flags", 0)
        size = _READ_FID_GROUP if flags & (FAN_REPORT_FID | FAN_REPORT_DIR_FID) else _READ_FD_GROUP
        return _read(self.fileno(), size)
