"""timerfd's low-level calls and the timer setting type (butter's ``butter._timerfd``).

``C`` is the patchable namespace of raw calls (``timerfd_create``, ``timerfd_gettime``,
``timerfd_settime``, and ``timerslack_get``/``timerslack_set`` for the thread's timer
slack) and ``ffi`` the errno object the wrappers read after a failed call (butter.md §2.1).

A ``struct itimerspec`` is a :class:`TimerVal` here; the raw calls take and fill four
integers in C order, ``[interval_sec, interval_nsec, value_sec, value_nsec]``.

Clocks
------
``CLOCK_MONOTONIC`` (never jumps; the default of :class:`~butter.timerfd.Timer`),
``CLOCK_REALTIME`` (wall clock; jumps when it is set), ``CLOCK_BOOTTIME`` (monotonic, and
counts time spent suspended) work for everyone.

*"Wake" timers* are the alarm clocks ``CLOCK_REALTIME_ALARM`` and ``CLOCK_BOOTTIME_ALARM``:
like ``CLOCK_REALTIME``/``CLOCK_BOOTTIME``, but an expiry wakes the system from suspend.
They need the ``CAP_WAKE_ALARM`` capability; without it the kernel refuses with ``EPERM``,
raised as :class:`WakeAlarmPermissionError` (an ``UnknownError``, as butter's table has it,
and a ``PermissionError``).

*"Slack" timers*: the ``*_COARSE``, ``CLOCK_MONOTONIC_RAW`` and CPU-time clocks are
exported as in butter 0.12, but timerfd rejects them (``EINVAL`` → ``ValueError``). Real
timer slack is a per-thread setting, :func:`set_timer_slack` / :func:`get_timer_slack`
(``prctl(PR_SET_TIMERSLACK)``): the kernel may delay the thread's sleeps and
``poll``/``select``/``epoll`` timeouts by up to the slack (50 µs by default) so that
wake-ups coalesce. timerfd expirations themselves are not delayed by it — slack lengthens
``Timer.wait(timeout)``'s timeout, not a timer's period.
"""

import collections as _collections
import errno as _errno
import operator as _operator
import types as _types

from . import _native
from .utils import CLOEXEC_DEFAULT, InternalError, UnknownError, _fileno, _raise

__all__ = [
    "TimePair", "TimerVal", "WakeAlarmPermissionError",
    "timerfd", "timerfd_gettime", "timerfd_settime", "get_timer_slack", "set_timer_slack",
    "TFD_CLOEXEC", "TFD_NONBLOCK", "TFD_TIMER_ABSTIME", "TFD_TIMER_CANCEL_ON_SET",
    "CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID",
    "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME",
    "CLOCK_REALTIME_ALARM", "CLOCK_BOOTTIME_ALARM",
]

#: Set close-on-exec on the new descriptor.
TFD_CLOEXEC = _native.TFD_CLOEXEC
#: Make the descriptor non-blocking (reads before an expiry raise BlockingIOError).
TFD_NONBLOCK = _native.TFD_NONBLOCK
#: ``timerfd_settime``: the value is an absolute time on the timer's clock.
TFD_TIMER_ABSTIME = _native.TFD_TIMER_ABSTIME
#: ``timerfd_settime`` with ``TFD_TIMER_ABSTIME`` on a realtime clock: reads fail with
#: ``ECANCELED`` when the clock is set (not in butter 0.13).
TFD_TIMER_CANCEL_ON_SET = _native.TFD_TIMER_CANCEL_ON_SET

#: Wall-clock time; jumps when the clock is set.
CLOCK_REALTIME = _native.CLOCK_REALTIME
#: Steady time since an unspecified start, stopped during suspend.
CLOCK_MONOTONIC = _native.CLOCK_MONOTONIC
#: Process CPU time (rejected by timerfd).
CLOCK_PROCESS_CPUTIME_ID = _native.CLOCK_PROCESS_CPUTIME_ID
#: Thread CPU time (rejected by timerfd).
CLOCK_THREAD_CPUTIME_ID = _native.CLOCK_THREAD_CPUTIME_ID
#: Monotonic time without NTP adjustment (rejected by timerfd).
CLOCK_MONOTONIC_RAW = _native.CLOCK_MONOTONIC_RAW
#: Coarse, cheap wall-clock time (rejected by timerfd).
CLOCK_REALTIME_COARSE = _native.CLOCK_REALTIME_COARSE
#: Coarse, cheap monotonic time (rejected by timerfd).
CLOCK_MONOTONIC_COARSE = _native.CLOCK_MONOTONIC_COARSE
#: Monotonic time that counts time spent suspended.
CLOCK_BOOTTIME = _native.CLOCK_BOOTTIME
#: A "wake" timer: wall-clock time, wakes the system from suspend (needs CAP_WAKE_ALARM).
CLOCK_REALTIME_ALARM = _native.CLOCK_REALTIME_ALARM
#: A "wake" timer: boot time, wakes the system from suspend (needs CAP_WAKE_ALARM).
CLOCK_BOOTTIME_ALARM = _native.CLOCK_BOOTTIME_ALARM

#: The raw calls, looked up at call time (the patchable seam).
C = _types.SimpleNamespace(
    timerfd_create=_native.timerfd_create,
    timerfd_gettime=_native.timerfd_gettime,
    timerfd_settime=_native.timerfd_settime,
    timerslack_get=_native.timerslack_get,
    timerslack_set=_native.timerslack_set,
)
#: The errno object of the raw calls.
ffi = _native.Errno()

_NSEC_MAX = 999999999

TimePair = _collections.namedtuple("TimePair", ("seconds", "nano_seconds"))
TimePair.__doc__ = "A time as whole seconds and nanoseconds."


class WakeAlarmPermissionError(UnknownError, PermissionError):
    """The alarm clocks ("wake" timers, CLOCK_*_ALARM) need CAP_WAKE_ALARM"""

    def __init__(self, errno=_errno.EPERM):
        UnknownError.__init__(self, errno)
        self.errno = errno


def _int(v):
    return _operator.index(v)


class TimerVal(object):
    """A timer setting (``struct itimerspec``): when the timer first expires (the *offset*,
    ``it_value``) and how often after that (the period, ``it_interval``), built fluently::

        TimerVal().occuring.every(seconds=1).after(nano_seconds=500)

    Fields left as ``None`` are unchanged; 0 is a real value. A zero offset disarms the
    timer; a zero period makes it one-shot. Values are stored as given (even out of the
    kernel's range, which ``timerfd_settime`` then reports).
    """

    __slots__ = ["_timerspec"]

    def __init__(self, timerspec=None):
        if timerspec is None:
            spec = [0, 0, 0, 0]
        else:
            if hasattr(timerspec, "__timerspec__"):
                timerspec = timerspec.__timerspec__()
            spec = [_int(v) for v in timerspec]
            if len(spec) != 4:
                raise ValueError("a timer setting is 4 integers: interval seconds and "
                                 "nanoseconds, value seconds and nanoseconds")
        self._timerspec = spec

    def _spec(self):
        try:
            return self._timerspec
        except AttributeError:  # made with __new__ alone
            self._timerspec = spec = [0, 0, 0, 0]
            return spec

    @property
    def occuring(self):
        """``self`` (grammar sugar: ``t.occuring.every(...)``)."""
        return self

    @property
    def and_repeats(self):
        """``self`` (grammar sugar: ``t.after(...).and_repeats.every(...)``)."""
        return self

    def every(self, seconds=None, nano_seconds=None):
        """Sets the period's given fields; each given field also sets the matching offset
        field if that is 0 (so the timer is armed). Returns ``self``."""
        spec = self._spec()
        if seconds is not None:
            spec[0] = _int(seconds)
            if spec[2] == 0:
                spec[2] = spec[0]
        if nano_seconds is not None:
            spec[1] = _int(nano_seconds)
            if spec[3] == 0:
                spec[3] = spec[1]
        return self

    repeat = every
    repeats = every

    def after(self, seconds=None, nano_seconds=None):
        """Sets the offset's given fields (the first expiry; an absolute time with
        ``update(absolute=True)``). Returns ``self``."""
        spec = self._spec()
        if seconds is not None:
            spec[2] = _int(seconds)
        if nano_seconds is not None:
            spec[3] = _int(nano_seconds)
        return self

    offset = after

    def disable(self):
        """Zeroes the offset (a zero offset disarms; the period is kept). Returns ``self``."""
        return self.offset(0, 0)

    @property
    def next_event(self):
        """The offset (``it_value``) as a :class:`TimePair`."""
        spec = self._spec()
        return TimePair(spec[2], spec[3])

    @property
    def period(self):
        """The period (``it_interval``) as a :class:`TimePair`."""
        spec = self._spec()
        return TimePair(spec[0], spec[1])

    def __timerspec__(self):
        """The raw setting: ``[interval_sec, interval_nsec, value_sec, value_nsec]``."""
        return self._spec()

    def __bool__(self):
        """Whether the setting arms the timer (a non-zero offset)."""
        spec = self._spec()
        return bool(spec[2] or spec[3])

    __nonzero__ = __bool__

    @property
    def enabled(self):
        """Whether the setting arms the timer (a non-zero offset)."""
        return self.__bool__()

    def _fields_repr(self):
        spec = self._spec()
        return "offset=({}s, {}ns) reoccuring=({}s, {}ns)".format(
            spec[2], spec[3], spec[0], spec[1])

    def __repr__(self):
        return "<{} {}>".format(self.__class__.__name__, self._fields_repr())


def _spec_of(timer_spec):
    if hasattr(timer_spec, "__timerspec__"):
        return timer_spec.__timerspec__()
    return timer_spec


_TIMERFD_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENOMEM: MemoryError,
}

_GETTIME_ERRORS = {
    _errno.EBADF: ValueError,
    _errno.EINVAL: ValueError,
    _errno.EFAULT: InternalError,
}

_SETTIME_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EFAULT: InternalError,
}

_SLACK_ERRORS = {_errno.EINVAL: ValueError}


def timerfd(clock_type=CLOCK_MONOTONIC, flags=0, closefd=CLOEXEC_DEFAULT):
    """Creates a timer descriptor on ``clock_type`` (``timerfd_create``); returns it.

    ``flags``: ``TFD_NONBLOCK``; ``closefd`` (true by default) sets close-on-exec.
    ``ValueError`` for a clock timerfd does not take (the coarse, raw and CPU-time ones) or
    bad flags; :class:`WakeAlarmPermissionError` for an alarm ("wake") clock without
    ``CAP_WAKE_ALARM``; ``OSError`` at the descriptor limits; ``MemoryError``.
    """
    if closefd:
        flags |= TFD_CLOEXEC
    fd = C.timerfd_create(clock_type, flags)
    if fd < 0:
        err = ffi.errno
        if err == _errno.EINVAL:
            raise ValueError(
                "timerfd_create: invalid clock {!r} or flags {!r} (timerfd takes "
                "CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME and the two ALARM clocks, "
                "and the flags TFD_NONBLOCK and TFD_CLOEXEC)".format(clock_type, flags))
        if err == _errno.EPERM:
            raise WakeAlarmPermissionError(err)
        _raise(err, _TIMERFD_ERRORS, "timerfd_create")
    return fd


def timerfd_gettime(fd):
    """The timer's current setting as a :class:`TimerVal`: the time *left* until the next
    expiry (relative, even for an absolute timer) and the period. ``ValueError`` if ``fd``
    is not a timer descriptor."""
    curr = [0, 0, 0, 0]
    if C.timerfd_gettime(_fileno(fd), curr) < 0:
        _raise(ffi.errno, _GETTIME_ERRORS, "timerfd_gettime")
    return TimerVal(curr)


def _settime_einval(spec):
    names = ("interval seconds (the period)", "interval nanoseconds (the period)",
             "value seconds (the offset)", "value nanoseconds (the offset)")
    try:
        values = list(spec)
    except TypeError:
        values = []
    for name, v in zip(names, values):
        if isinstance(v, int) and (v > _NSEC_MAX or v < 0):
            return "timerfd_settime: {} out of range: {} (0 to 999,999,999)".format(name, v)
    return ("timerfd_settime: invalid flags, or the descriptor is not a timer "
            "(nanoseconds must be within 0 to 999,999,999)")


def timerfd_settime(fd, timer_spec, flags=0):
    """Arms (or, with a zero offset, disarms) the timer with ``timer_spec`` (a
    :class:`TimerVal`, anything with ``__timerspec__()``, or four ints); returns the previous
    setting as a :class:`TimerVal`.

    ``flags``: ``TFD_TIMER_ABSTIME`` (the offset is a time on the timer's clock), with
    ``TFD_TIMER_CANCEL_ON_SET``. ``ValueError`` naming the field out of range (nanoseconds
    must be 0 to 999,999,999), or for bad flags; ``InternalError`` for ``EFAULT``;
    ``UnknownError`` for a bad descriptor (``EBADF``, as in butter's table).
    """
    spec = _spec_of(timer_spec)
    old = [0, 0, 0, 0]
    if C.timerfd_settime(_fileno(fd), flags, spec, old) < 0:
        err = ffi.errno
        if err == _errno.EINVAL:
            raise ValueError(_settime_einval(spec))
        _raise(err, _SETTIME_ERRORS, "timerfd_settime")
    return TimerVal(old)


def get_timer_slack():
    """The calling thread's timer slack in nanoseconds (``prctl(PR_GET_TIMERSLACK)``)."""
    ns = C.timerslack_get()
    if ns < 0:
        _raise(ffi.errno, _SLACK_ERRORS, "prctl(PR_GET_TIMERSLACK)")
    return ns


def set_timer_slack(ns):
    """Sets the calling thread's timer slack to ``ns`` nanoseconds
    (``prctl(PR_SET_TIMERSLACK)``); 0 or ``None`` restores the thread's default (the value
    it inherited when it was created).

    The kernel may delay this thread's sleeps and ``poll``/``select``/``epoll`` timeouts
    (so ``wait(timeout)``) by up to the slack, grouping wake-ups to save power; timerfd
    expirations are not delayed by it. Affects only the calling thread; threads it starts
    later inherit it. ``ValueError`` for a negative value.
    """
    if ns is None:
        ns = 0
    if C.timerslack_set(ns) < 0:
        _raise(ffi.errno, _SLACK_ERRORS, "prctl(PR_SET_TIMERSLACK)")
