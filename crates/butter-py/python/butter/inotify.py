"""inotify: watch files and directories for changes.

:class:`Inotify` is an event-like object (``fileno()``, ``wait()``, ``read_event()``,
``read_events()``, iteration with ``for`` and ``async for``, ``with``): add watches with
:meth:`Inotify.watch`, then read :class:`~butter._inotify.InotifyEvent` tuples
``(wd, mask, cookie, filename)`` with ``bytes`` names. :func:`watch` waits for one event
on one path.

When the kernel's queue (``fs.inotify.max_queued_events``) overflows, the event
``InotifyEvent(wd=-1, mask=IN_Q_OVERFLOW, ...)`` arrives in its place
(``event.queue_overflow_event``): later events were lost, rescan. Nothing read is ever
dropped.

>>> import tempfile, os
>>> from butter.inotify import Inotify, IN_CREATE
>>> d = tempfile.mkdtemp()
>>> with Inotify() as ino:
...     wd = ino.watch(d, IN_CREATE)
...     open(os.path.join(d, "f"), "w").close()
...     ev = ino.wait(5)
>>> ev.create_event, ev.filename
(True, b'f')
"""

from . import _native
from ._inotify import *  # noqa: F401,F403 - the IN_* constants and the calls
from ._inotify import (
    IN_ALL_EVENTS, IN_NONBLOCK, InotifyEvent, inotify_add_watch, inotify_init, inotify_rm_watch,
)
from ._inotify import __all__ as _names
from .utils import CLOEXEC_DEFAULT, Eventlike

__all__ = ["Inotify", "watch"] + [n for n in _names if n not in ("C", "lib", "ffi", "InotifyEvent")]

# read_event() refills its cache with one read of this size (about 128 events with short
# names) instead of everything queued, so that taking events one at a time from the
# front of the cache stays cheap however many are queued.
_ONE_READ = 4096


class Inotify(Eventlike):
    """An inotify instance. ``flags``: ``IN_NONBLOCK`` (reads raise ``BlockingIOError``
    instead of waiting), ``IN_CLOEXEC``; ``closefd`` (true by default) makes the
    descriptor close-on-exec.

    ``read_events()`` returns every event queued at the time of the call (waiting for the
    first on a blocking instance); ``read_event()`` and ``wait()`` return one.
    """

    def __init__(self, flags=0, closefd=CLOEXEC_DEFAULT):
        super(Inotify, self).__init__()
        self._fd = inotify_init(flags, closefd)
        self._blocking = not (flags & IN_NONBLOCK)

    def watch(self, path, events):
        """Watches ``path`` (str, bytes or path-like) for ``events`` (``IN_*`` bits);
        returns the watch descriptor, which events carry as ``wd``."""
        return inotify_add_watch(self.fileno(), path, events)

    def ignore(self, wd):
        """Removes the watch ``wd``; an ``IN_IGNORED`` event for it follows."""
        inotify_rm_watch(self.fileno(), wd)

    def del_watch(self, wd):
        """Alias of :meth:`ignore`."""
        self.ignore(wd)

    def _read_events(self):
        """Every event queued now, as a list (waits for one if the fd blocks)."""
        return _native.inotify_read(self.fileno(), InotifyEvent)

    def read_event(self):
        """The next event: the oldest cached one, else from the descriptor (waiting for
        one if it blocks; ``BlockingIOError`` if it does not and none is queued)."""
        try:
            events = self._events
        except AttributeError:  # made with __new__ alone
            events = self._events = []
        if events:
            return events.pop(0)
        events = _native.inotify_read(self.fileno(), InotifyEvent, _ONE_READ)
        self._events = events
        return events.pop(0)


def watch(path, events=IN_ALL_EVENTS):
    """Waits for the first event on ``path`` (not recursive) and returns it as an
    :class:`~butter._inotify.InotifyEvent`. Events that happen before the watch is in
    place are not seen."""
    with Inotify() as ino:
        ino.watch(path, events)
        return ino.wait()
