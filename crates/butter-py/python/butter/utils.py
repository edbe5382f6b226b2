"""Shared parts of butter: the exceptions, the errno-to-exception helper every wrapper
uses, and :class:`Eventlike`, the base of every file-descriptor object.

Where this differs from butter 0.13 on purpose (butter.md §1.16): descriptors are made
close-on-exec by default (``CLOEXEC_DEFAULT`` is ``True``); OSErrors carry their
``errno``; fd 0 is an open descriptor, not "closed"; ``with Obj() as o`` binds the
object; ``wait()`` uses ``poll`` (any fd number, EINTR retried, float timeouts); every
event-like object supports ``async for`` under asyncio.
"""

import asyncio as _asyncio
import errno as _errno
import os as _os
import select as _select

from . import _native

__all__ = [
    "CLOEXEC_DEFAULT", "Eventlike", "InternalError", "PermissionError", "TimeoutError",
    "UnknownError", "get_buffered_length",
]

#: Whether descriptor-creating calls set close-on-exec unless told otherwise (PEP 446).
CLOEXEC_DEFAULT = True

PermissionError = PermissionError  # the builtin (tests use pytest.raises with it)
TimeoutError = TimeoutError  # the builtin, raised by Eventlike.wait()


class InternalError(Exception):
    """Internal bug or OS misconfiguration"""


class UnknownError(Exception):
    """An error number this call does not expect"""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno

    def __str__(self):
        name = _errno.errorcode.get(self.errno, "UNKNOWN")
        return "{}: Error: {} ({})".format(self.__doc__, self.errno, name)


def _raise(errno, table, call):
    """Raises what ``table`` (errno -> exception class) maps ``errno`` to, else
    :class:`UnknownError`. OSError subclasses get the errno (so ``e.errno`` works)."""
    cls = table.get(errno)
    if cls is None:
        raise UnknownError(errno)
    message = "{}: {}".format(call, _os.strerror(errno))
    if issubclass(cls, OSError):
        raise cls(errno, message)
    if issubclass(cls, UnknownError):
        raise cls(errno)
    raise cls(message)


def _fileno(fd):
    """An fd argument: an int, or an object with ``fileno()``."""
    if hasattr(fd, "fileno"):
        return fd.fileno()
    return fd


def get_buffered_length(fd):
    """How many bytes the kernel has queued on ``fd`` (``ioctl(FIONREAD)``)."""
    n = _native.fionread(_fileno(fd))
    if n < 0:
        err = _native.Errno().errno
        raise OSError(err, _os.strerror(err))
    return n


class Eventlike(object):
    """The base of every file-descriptor object: ``fileno()``, ``close()``, cached
    events, ``wait()``, iteration (``for`` and ``async for``) and a file-like face.

    ``_fd`` is the one truth about the descriptor; no finalizer ever closes it.
    """

    _fd = None

    def __init__(self, *args, **kwargs):
        self._events = []
        super(Eventlike, self).__init__()

    def _cache(self):
        try:
            return self._events
        except AttributeError:  # made with __new__ alone
            self._events = []
            return self._events

    def fileno(self):
        """The descriptor; ``ValueError`` once closed."""
        if self._fd is None:
            raise ValueError("I/O operation on closed file")
        return self._fd

    def close(self):
        """Closes the descriptor; a second close raises ``ValueError``."""
        fd = self.fileno()
        self._fd = None
        _os.close(fd)

    def closed(self):
        """Whether the descriptor was closed."""
        return self._fd is None

    def _read_events(self):
        raise NotImplementedError

    def _ready(self, timeout):
        """Whether the descriptor is readable within ``timeout`` seconds (None: forever)."""
        p = _select.poll()
        p.register(self.fileno(), _select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(p.poll(ms))

    def wait(self, timeout=None):
        """The next event, waiting up to ``timeout`` seconds (None: forever);
        ``TimeoutError`` if none came."""
        if self._cache():
            return self.read_event()
        if not self._ready(timeout):
            raise TimeoutError("No event occured")
        return self.read_event()

    def read_event(self):
        """The next event (cached ones first), reading the descriptor if need be."""
        events = self._cache()
        if events:
            return events.pop(0)
        new = self._read_events()
        first = new[0]
        events.extend(new[1:])
        return first

    def read_events(self):
        """Every event cached, or else every event the descriptor has now."""
        events = self._cache()
        if events:
            self._events = []
            return events
        return self._read_events()

    def __iter__(self):
        while True:
            yield self.wait()

    def __aiter__(self):
        return self

    async def __anext__(self):
        """The next event under asyncio, without blocking the loop (readiness from
        ``add_reader``; cancellation leaves no reader behind)."""
        while True:
            if self._cache():
                return self.read_event()
            if self._ready(0):
                try:
                    return self.read_event()
                except BlockingIOError:
                    pass
            loop = _asyncio.get_running_loop()
            fut = loop.create_future()
            fd = self.fileno()
            loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
            try:
                await fut
            finally:
                loop.remove_reader(fd)

    def truncate(self):
        """Drops the cached events."""
        self._events = []

    def read(self, *args):
        raise NotImplementedError

    def readlines(self, *args):
        raise NotImplementedError

    def seek(self, *args):
        raise NotImplementedError

    def write(self, *args):
        raise NotImplementedError

    def writelines(self, *args):
        raise NotImplementedError

    def isatty(self):
        return False

    def seekable(self):
        return False

    def tell(self):
        return 0

    def mode(self):
        return getattr(self, "_mode", "r")

    def readable(self):
        m = self.mode()
        return "r" in m or "+" in m

    def writable(self):
        return "w" in self.mode()

    def name(self):
        return repr(self)

    def __repr__(self):
        fd = "closed" if self._fd is None else self._fd
        return "<{} fd={}>".format(self.__class__.__name__, fd)

    def __eq__(self, other):
        return isinstance(other, self.__class__) and other._fd == self._fd

    def __ne__(self, other):
        return isinstance(other, self.__class__) and other._fd != self._fd

    def __hash__(self):
        return hash(self.__class__) ^ hash(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            self.close()
        return False
