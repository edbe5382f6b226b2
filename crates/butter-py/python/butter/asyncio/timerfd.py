"""asyncio form of :class:`butter.timerfd.Timer`.

>>> import asyncio
>>> from butter.asyncio.timerfd import Timerfd_async
>>> async def main():
...     with Timerfd_async() as t:
...         _ = t.after(nano_seconds=1000000).update()
...         return await t.wait() >= 1       # expirations since the last read
>>> asyncio.run(main())
True

The timer's fluent setters work here too and return the ``Timerfd_async`` (``update()``
then arms it). Every ``wait()`` pending at an expiry gets the same count; see
:mod:`butter.asyncio._broadcast`. Unlike butter 0.13's, this can be constructed, imports
on Python 3.11+, reads a non-blocking descriptor, handles cancellation and supports
``async for``. The default clock is ``CLOCK_REALTIME``, as in butter.
"""

from ..timerfd import CLOCK_REALTIME, TFD_NONBLOCK, Timer
from ._broadcast import _Broadcast

__all__ = ["Timerfd_async"]


class Timerfd_async(_Broadcast):
    """A timer for asyncio.

    ``Timerfd_async(clock_type=CLOCK_REALTIME, flags=0, *, loop=None)``: the wrapped
    :class:`~butter.timerfd.Timer` (``_timerfd``) is made non-blocking. Set it with the
    fluent setters, arm it with :meth:`update`, and ``await wait()`` for the number of
    expirations. ``loop`` defaults to the running loop of each ``wait()``.
    """

    _inner_attr = "_timerfd"

    def __init__(self, clock_type=CLOCK_REALTIME, flags=0, *, loop=None):
        super(Timerfd_async, self).__init__(loop)
        self._timerfd = Timer(clock_type, flags | TFD_NONBLOCK)

    @property
    def occuring(self):
        """``self`` (grammar sugar)."""
        return self

    @property
    def and_repeats(self):
        """``self`` (grammar sugar)."""
        return self

    def every(self, seconds=None, nano_seconds=None):
        """The timer's :meth:`~butter.timerfd.TimerVal.every`; returns ``self``."""
        self._timerfd.every(seconds, nano_seconds)
        return self

    repeat = every
    repeats = every

    def after(self, seconds=None, nano_seconds=None):
        """The timer's :meth:`~butter.timerfd.TimerVal.after`; returns ``self``."""
        self._timerfd.after(seconds, nano_seconds)
        return self

    offset = after

    def disable(self):
        """The timer's :meth:`~butter.timerfd.TimerVal.disable`; returns ``self``."""
        self._timerfd.disable()
        return self

    @property
    def next_event(self):
        """The desired offset, a ``TimePair``."""
        return self._timerfd.next_event

    @property
    def period(self):
        """The desired period, a ``TimePair``."""
        return self._timerfd.period

    @property
    def enabled(self):
        """Whether the desired setting arms the timer."""
        return self._timerfd.enabled

    def update(self, absolute=False):
        """Arms the timer with the desired setting; returns the previous one."""
        return self._timerfd.update(absolute)

    def get_current(self):
        """The kernel's setting now (time left, period), a ``TimerVal``."""
        return self._timerfd.get_current()
