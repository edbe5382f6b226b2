"""timerfd: timers that expire through a file descriptor.

A :class:`Timer` *is* its desired setting (a :class:`TimerVal`) plus the descriptor:
change it fluently, push it to the kernel with :meth:`Timer.update`, and read (or
``wait()`` for) the number of expirations since the last read.

>>> from butter.timerfd import Timer
>>> with Timer() as t:                       # CLOCK_MONOTONIC
...     _ = t.every(nano_seconds=1000000).update()
...     t.wait() >= 1                        # expirations since the last read
True

"Wake" timers are the alarm clocks ``CLOCK_REALTIME_ALARM``/``CLOCK_BOOTTIME_ALARM``
(they wake the system from suspend and need ``CAP_WAKE_ALARM``); "slack" is the thread's
timer slack, :func:`set_timer_slack`. See :mod:`butter._timerfd` for the details.

Differences from butter 0.13 (butter.md §1.16): ``bool(timerval)`` and ``timerval.enabled``
work (true when the setting arms the timer), descriptors are close-on-exec by default,
``TFD_TIMER_CANCEL_ON_SET`` and the timer slack calls exist.
"""

from . import _native
from ._timerfd import (  # noqa: F401 (re-exported)
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_ALARM,
    CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID, TFD_CLOEXEC, TFD_NONBLOCK,
    TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, TimePair, TimerVal, WakeAlarmPermissionError,
    get_timer_slack, set_timer_slack, timerfd, timerfd_gettime, timerfd_settime,
)
from .utils import CLOEXEC_DEFAULT, Eventlike

__all__ = [
    "Timer", "TimerVal", "TimePair", "WakeAlarmPermissionError",
    "timerfd", "timerfd_gettime", "timerfd_settime", "get_timer_slack", "set_timer_slack",
    "TFD_CLOEXEC", "TFD_NONBLOCK", "TFD_TIMER_ABSTIME", "TFD_TIMER_CANCEL_ON_SET",
    "CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID",
    "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME",
    "CLOCK_REALTIME_ALARM", "CLOCK_BOOTTIME_ALARM",
]

_read = _native.timerfd_read


class Timer(Eventlike, TimerVal):
    """A timer descriptor and its desired setting (event-like: ``fileno()``, ``wait()``,
    iteration, ``async for``, context manager).

    ``Timer(clock_type=CLOCK_MONOTONIC, flags=0, closefd=CLOEXEC_DEFAULT)``: ``flags`` may
    be ``TFD_NONBLOCK``; ``closefd`` sets close-on-exec. The fluent setters
    (``every``/``repeat``/``repeats``, ``after``/``offset``, ``disable``) change only this
    object; :meth:`update` sends them to the kernel. Each event is the number of
    expirations since the last read (1 per period, more if the reader fell behind).
    """

    def __init__(self, clock_type=CLOCK_MONOTONIC, flags=0, closefd=CLOEXEC_DEFAULT):
        super(Timer, self).__init__()
        self._fd = timerfd(clock_type, flags, closefd)

    def get_current(self):
        """The kernel's setting now, as a new :class:`TimerVal` (time left until the next
        expiry, and the period); this object's fields are left alone."""
        return timerfd_gettime(self.fileno())

    def update(self, absolute=False):
        """Arms the timer with this object's setting (``absolute``: the offset is a time on
        the timer's clock, ``TFD_TIMER_ABSTIME``); returns the previous setting."""
        flags = TFD_TIMER_ABSTIME if absolute else 0
        return timerfd_settime(self.fileno(), self, flags)

    def _read_events(self):
        return [_read(self._fd)]

    def __repr__(self):
        fd = "closed" if self._fd is None else self._fd
        return "<{} fd={} {}>".format(self.__class__.__name__, fd, self._fields_repr())
