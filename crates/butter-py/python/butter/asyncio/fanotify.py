"""fanotify under asyncio: :class:`Fanotify_async`, a read-only :class:`asyncio.Queue` of
:class:`~butter._fanotify.FanotifyEvent`.

It behaves as :class:`~butter.asyncio.inotify.Inotify_async` does (the loop's reader
moves events from the non-blocking group into the queue while it has room, cancelled
getters take no event, :meth:`~Fanotify_async.close` wakes pending getters with
:class:`~butter.asyncio.inotify.QueueClosed`). Each queued event holds an open
descriptor, so with ``maxsize`` 0 at most 128 events are read ahead; events dropped by
``close()`` are closed. Answer permission events with :meth:`Fanotify_async.respond`.
"""

from ..fanotify import AT_FDCWD, FAN_CLASS_NOTIF, FAN_NONBLOCK, O_RDONLY, Fanotify
from ..utils import CLOEXEC_DEFAULT
from .inotify import QueueClosed, _EventQueue

__all__ = ["Fanotify_async", "QueueClosed"]


class Fanotify_async(_EventQueue):
    """A fanotify group as a read-only :class:`asyncio.Queue` of events.

    ``flags`` and ``event_flags`` are :class:`~butter.fanotify.Fanotify`'s
    (``FAN_NONBLOCK`` is always added: the loop never blocks in a read); ``maxsize``
    bounds the queue (0: unbounded, reading at most 128 events ahead); ``loop`` is
    optional (the running loop is used).
    """

    _inner_name = "_fanotify"
    _unbounded_limit = 128

    def __init__(self, flags=FAN_CLASS_NOTIF, event_flags=O_RDONLY, *, loop=None, maxsize=0,
                 closefd=CLOEXEC_DEFAULT):
        super(Fanotify_async, self).__init__(loop=loop, maxsize=maxsize)
        self._fanotify = Fanotify(flags | FAN_NONBLOCK, event_flags, closefd)

    def watch(self, path, event_mask, flags=0, dfd=AT_FDCWD):
        """Marks ``path`` for ``event_mask`` (see :meth:`butter.fanotify.Fanotify.watch`)."""
        self._fanotify.watch(path, event_mask, flags, dfd)
        self._update_reader()

    def ignore(self, path, event_mask, flags=0, dfd=AT_FDCWD):
        """Removes ``event_mask`` from the mark on ``path``."""
        self._fanotify.ignore(path, event_mask, flags, dfd)

    def del_watch(self, path, event_mask, flags=0, dfd=AT_FDCWD):
        """Alias of :meth:`ignore`."""
        self.ignore(path, event_mask, flags, dfd)

    def respond(self, event, allow=True, audit=False):
        """Answers the permission event ``event`` (see
        :meth:`butter.fanotify.Fanotify.respond`)."""
        self._fanotify.respond(event, allow, audit)

    def allow(self, event):
        """Lets the access of the permission event ``event`` proceed."""
        self._fanotify.allow(event)

    def deny(self, event):
        """Makes the access of the permission event ``event`` fail with ``EPERM``."""
        self._fanotify.deny(event)

    def _discard(self, events):
        for event in events:
            event.close()
