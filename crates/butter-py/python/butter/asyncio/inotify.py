"""inotify under asyncio: :class:`Inotify_async`, a read-only :class:`asyncio.Queue` of
:class:`~butter._inotify.InotifyEvent`.

The event loop's reader callback moves events from the (non-blocking) inotify
descriptor into the queue while it has room (``maxsize``; 0 is unbounded); when it is
full, the descriptor is left alone (the kernel keeps queueing, and says
``IN_Q_OVERFLOW`` if its own queue fills) until a ``get`` frees room. A getter that is
cancelled never takes an event with it; :meth:`~Inotify_async.close` wakes every pending
getter with :class:`QueueClosed`.

>>> import asyncio, os, tempfile
>>> from butter.asyncio.inotify import Inotify_async
>>> from butter.inotify import IN_CREATE
>>> async def main(d):
...     with Inotify_async() as ino:
...         ino.watch(d, IN_CREATE)
...         open(os.path.join(d, "f"), "w").close()
...         return await ino.get_event()
>>> asyncio.run(main(tempfile.mkdtemp())).filename
b'f'
"""

import asyncio as _asyncio
import collections as _collections

from .._inotify import _read
from ..inotify import IN_NONBLOCK, Inotify
from ..utils import CLOEXEC_DEFAULT

__all__ = ["Inotify_async", "QueueClosed"]

_BOUNDED_READ = 4096

_ShutDown = getattr(_asyncio, "QueueShutDown", None)  # Python 3.13+
if _ShutDown is None:
    class _ShutDown(Exception):
        """Stands in for ``asyncio.QueueShutDown`` before Python 3.13."""


class QueueClosed(_ShutDown, ValueError):
    """The queue (and its descriptor) was closed: raised by ``get_event()`` /
    ``get_event_nowait()`` afterwards and in every getter pending at the time. A
    ``ValueError`` (as I/O on a closed file is) and, on Python 3.13+, an
    ``asyncio.QueueShutDown``."""


class _EventQueue(object):
    """A read-only asyncio queue fed by an event-like object's descriptor.

    Subclasses name the attribute that holds the event-like object (``_inner_name``) and
    may close discarded events (``_discard``). Everything else is made lazily, so an
    instance made with ``__new__`` and given only that attribute works.
    """

    _inner_name = None
    #: How many events to read ahead when ``maxsize`` is 0 (``None``: no limit).
    _unbounded_limit = None
    _loop = None
    _maxsize = 0
    _closed = False
    _error = None
    _reader_loop = None
    _reader_fd = None

    def __init__(self, *, loop=None, maxsize=0):
        self._loop = loop
        self._maxsize = maxsize
        self._queue = _collections.deque()
        self._getters = _collections.deque()

    # -------------------------------------------------------------- internals
    def _state(self):
        try:
            return self._queue
        except AttributeError:
            self._queue = _collections.deque()
            self._getters = _collections.deque()
            return self._queue

    def _inner(self):
        return getattr(self, self._inner_name)

    def _limit(self):
        if self._maxsize > 0:
            return self._maxsize
        return self._unbounded_limit

    def _room(self):
        limit = self._limit()
        if limit is None:
            return None
        return limit - len(self._state())

    def _discard(self, events):
        """Events that will never be handed out (on close)."""

    def _read_some(self, inner):
        """One non-blocking read of the wrapped object's descriptor."""
        return inner._read_events()

    def _wakeup_next(self):
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                break

    def _wakeup_all(self):
        getters, self._getters = self._getters, _collections.deque()
        for getter in getters:
            if not getter.done():
                getter.set_result(None)

    def _fill(self, read=True):
        """Moves events into the queue while it has room: first those the wrapped
        object has cached, then (if ``read``) those one non-blocking read gets; the ones
        that do not fit stay in the wrapped object's cache."""
        queue = self._state()
        inner = self._inner()
        for attempt in (0, 1):
            cache = inner._cache()
            if cache:
                room = self._room()
                if room is None or room >= len(cache):
                    take, inner._events = cache, []
                else:
                    if room <= 0:
                        return
                    take = cache[:room]
                    del cache[:room]
                queue.extend(take)
                for _ in take:
                    self._wakeup_next()
            if attempt or not read or inner._cache():
                return
            try:
                inner._events = self._read_some(inner)
            except (BlockingIOError, InterruptedError):
                return

    def _current_loop(self):
        if self._loop is not None:
            return self._loop
        try:
            return _asyncio.get_running_loop()
        except RuntimeError:
            return self._reader_loop

    def _remove_reader(self):
        loop, fd = self._reader_loop, self._reader_fd
        self._reader_loop = self._reader_fd = None
        if loop is not None:
            try:
                loop.remove_reader(fd)
            except (RuntimeError, ValueError, OSError):  # a closed loop or fd
                pass

    def _update_reader(self, loop=None):
        """Reads the descriptor from ``loop``'s reader callback while the queue has room
        and is open; not while it is full."""
        room = self._room()
        if self._closed or self._error is not None or (room is not None and room <= 0):
            self._remove_reader()
            return
        loop = loop or self._current_loop()
        if loop is None or loop is self._reader_loop:
            return
        self._remove_reader()
        fd = self._inner().fileno()
        loop.add_reader(fd, self._on_readable)
        self._reader_loop, self._reader_fd = loop, fd

    def _on_readable(self):
        try:
            self._fill()
        except (OSError, ValueError) as e:
            # The descriptor failed (or was closed under us): every getter hears it.
            self._error = e
            self._remove_reader()
            self._wakeup_all()
            return
        self._update_reader()

    def _check_open(self):
        if self._closed:
            raise QueueClosed("the queue was closed")
        if self._error is not None:
            raise self._error

    def _take(self):
        event = self._state().popleft()
        # Room again: take what the wrapped object has cached, read the fd again.
        self._fill(read=False)
        self._update_reader()
        return event

    # -------------------------------------------------------------- the queue
    @property
    def maxsize(self):
        """The most events the queue holds (0: no limit)."""
        return self._maxsize

    def qsize(self):
        """How many events are queued."""
        return len(self._state())

    def empty(self):
        """Whether no event is queued."""
        return not self._state()

    def full(self):
        """Whether the queue holds ``maxsize`` events (never, with ``maxsize`` 0)."""
        return 0 < self._maxsize <= len(self._state())

    async def get_event(self):
        """The next event, waiting for one (``asyncio.Queue.get``). Raises
        :class:`QueueClosed` once the queue is closed, or the ``OSError`` the descriptor
        failed with."""
        queue = self._state()
        loop = self._loop or _asyncio.get_running_loop()
        while not queue:
            self._check_open()
            self._fill()
            if queue:
                break
            self._update_reader(loop)
            getter = loop.create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                try:
                    self._getters.remove(getter)
                except ValueError:
                    pass
                # Woken for an event, then cancelled: pass the wakeup on.
                if queue and not getter.cancelled():
                    self._wakeup_next()
                raise
        return self._take()

    get = get_event

    def get_event_nowait(self):
        """The next event if one is queued, or can be read without waiting; else raises
        :class:`asyncio.QueueEmpty` (``asyncio.Queue.get_nowait``)."""
        queue = self._state()
        if not queue:
            self._check_open()
            self._fill()
            if not queue:
                raise _asyncio.QueueEmpty()
        return self._take()

    get_nowait = get_event_nowait

    def __aiter__(self):
        return self

    async def __anext__(self):
        """``async for event in queue``: ends when the queue is closed."""
        try:
            return await self.get_event()
        except QueueClosed:
            raise StopAsyncIteration

    def fileno(self):
        """The wrapped descriptor."""
        return self._inner().fileno()

    def close(self):
        """Closes the descriptor, drops the queued events and wakes every pending getter
        with :class:`QueueClosed`. A second close raises ``ValueError``."""
        queue = self._state()
        self._remove_reader()
        self._closed = True
        events = list(queue)
        queue.clear()
        self._wakeup_all()
        try:
            self._discard(events)
        finally:
            self._inner().close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self._closed:
            self.close()
        return False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def __repr__(self):
        inner = getattr(self, self._inner_name, None)
        fd = getattr(inner, "_fd", None)
        return "<{} fd={}>".format(self.__class__.__name__, "closed" if fd is None else fd)


class Inotify_async(_EventQueue):
    """An inotify instance as a read-only :class:`asyncio.Queue` of events.

    ``flags`` are :class:`~butter.inotify.Inotify`'s (``IN_NONBLOCK`` is always added:
    the loop never blocks in a read); ``maxsize`` bounds the queue (0: unbounded);
    ``loop`` is optional (the running loop is used).
    """

    _inner_name = "_inotify"

    def __init__(self, flags=0, *, loop=None, maxsize=0, closefd=CLOEXEC_DEFAULT):
        super(Inotify_async, self).__init__(loop=loop, maxsize=maxsize)
        self._inotify = Inotify(flags | IN_NONBLOCK, closefd)

    def _read_some(self, inner):
        # A bounded queue reads 4 KiB at a time (about 128 events), not all that is
        # queued: what does not fit waits in the wrapped object's cache.
        if self._limit() is None:
            return inner._read_events()
        return _read(inner.fileno(), _BOUNDED_READ)

    def watch(self, path, mask):
        """Watches ``path`` for ``mask``; returns the watch descriptor."""
        wd = self._inotify.watch(path, mask)
        self._update_reader()
        return wd

    def ignore(self, wd):
        """Removes the watch ``wd`` (an ``IN_IGNORED`` event follows)."""
        self._inotify.ignore(wd)

    def del_watch(self, wd):
        """Alias of :meth:`ignore`."""
        self.ignore(wd)
