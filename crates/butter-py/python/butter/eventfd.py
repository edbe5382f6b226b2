"""eventfd: a kernel counter to wake threads and processes, as a file descriptor.

Writing adds to the counter; reading returns it and resets it to 0 (or, with
``EFD_SEMAPHORE``, returns 1 and decrements it). The descriptor is readable while the
counter is above 0, so it works with ``select``/``poll``/asyncio.

>>> from butter.eventfd import Eventfd
>>> with Eventfd() as ev:
...     ev.increment(2)
...     ev.increment(3)
...     int(ev)           # reading consumes the counter
5

Differences from butter 0.13 (butter.md §1.16): the descriptor is close-on-exec by default;
read errors are ``OSError`` with their errno; reads and writes go straight to the kernel
with the GIL released, faster than ``os.eventfd_read``/``os.eventfd_write``.
"""

from . import _native
from ._eventfd import (  # noqa: F401 (re-exported)
    EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, event_to_str, eventfd, str_to_events,
)
from .utils import CLOEXEC_DEFAULT, Eventlike

__all__ = [
    "Eventfd", "eventfd", "str_to_events", "event_to_str",
    "EFD_CLOEXEC", "EFD_NONBLOCK", "EFD_SEMAPHORE",
]

_read = _native.eventfd_read


class Eventfd(Eventlike):
    """An eventfd counter (event-like: ``fileno()``, ``wait()``, iteration, ``async for``,
    context manager).

    ``Eventfd(inital_value=0, flags=0, closefd=CLOEXEC_DEFAULT)`` — ``flags``:
    ``EFD_NONBLOCK``, ``EFD_SEMAPHORE``; ``closefd`` sets close-on-exec. Each event is the
    value one read returns: the whole counter, or 1 in semaphore mode.
    """

    # Slots, so that the C methods below read them without the generic attribute lookup;
    # instances still have a __dict__ (from Eventlike).
    __slots__ = ("_fd", "_events")

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self._fd = None
        self._events = []
        return self

    def __init__(self, inital_value=0, flags=0, closefd=CLOEXEC_DEFAULT):
        super(Eventfd, self).__init__()
        self._fd = eventfd(inital_value, flags, closefd)

    # increment(value=1) and read_event() are C method descriptors installed below
    # (_native.install_eventfd_methods): no Python frame between the call and the
    # system call. Their semantics are the Python ones in the comment:
    #
    #   def increment(self, value=1):
    #       _native.eventfd_write(self._fd, value)
    #
    #   def read_event(self):
    #       if getattr(self, "_events", None):
    #           return self._events.pop(0)
    #       return _native.eventfd_read(self._fd)

    def _read_events(self):
        return [_read(self._fd)]

    def __int__(self):
        """Reads (and so consumes) the counter: ``int(ev)`` is ``ev.read_event()``."""
        return self.read_event()


_native.install_eventfd_methods(Eventfd)
