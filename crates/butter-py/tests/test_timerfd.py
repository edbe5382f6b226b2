"""butter.timerfd / butter._timerfd against the real kernel (timers firing, absolute
timers, gettime/settime, clocks, alarm clocks, timer slack), TimerVal's fluent API, and
every errno mapping through the patchable seam (``butter._timerfd.C`` + ``ffi``).
No timing assertions beyond "it fired"."""

import errno
import fcntl
import os
import threading
import time

import pytest

from butter import _timerfd, timerfd
from butter._timerfd import TimePair, TimerVal, WakeAlarmPermissionError
from butter.timerfd import (
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_ALARM,
    CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID, TFD_CLOEXEC, TFD_NONBLOCK,
    TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, Timer,
)
from butter.utils import Eventlike, InternalError, PermissionError, UnknownError

MS = 1000000  # nanoseconds


def clockid(fd):
    with open("/proc/self/fdinfo/{}".format(fd)) as f:
        for line in f:
            if line.startswith("clockid:"):
                return int(line.split()[1])


def cloexec(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


# ----------------------------------------------------------------- names and constants

def test_constants_are_the_c_librarys():
    assert (CLOCK_REALTIME, CLOCK_MONOTONIC) == (time.CLOCK_REALTIME, time.CLOCK_MONOTONIC)
    assert CLOCK_PROCESS_CPUTIME_ID == time.CLOCK_PROCESS_CPUTIME_ID
    assert CLOCK_THREAD_CPUTIME_ID == time.CLOCK_THREAD_CPUTIME_ID
    assert CLOCK_MONOTONIC_RAW == time.CLOCK_MONOTONIC_RAW
    assert CLOCK_BOOTTIME == time.CLOCK_BOOTTIME
    assert (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE) == (5, 6)
    assert (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM) == (8, 9)
    assert (TFD_CLOEXEC, TFD_NONBLOCK) == (os.O_CLOEXEC, os.O_NONBLOCK)
    assert (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET) == (1, 2)
    for name in timerfd.__all__:
        assert hasattr(timerfd, name), name
    for name in ("TimePair", "TimerVal", "timerfd", "timerfd_gettime", "timerfd_settime",
                 "C", "ffi", "CLOCK_BOOTTIME_ALARM"):
        assert hasattr(_timerfd, name), name
    assert timerfd.TimerVal is TimerVal
    assert Timer.__mro__[:4] == (Timer, Eventlike, TimerVal, object)


# ----------------------------------------------------------------- TimerVal

def test_timerval_fluent_api_and_aliases():
    t = TimerVal()
    assert t.occuring is t and t.and_repeats is t
    assert (t.next_event, t.period) == ((0, 0), (0, 0))
    assert isinstance(t.next_event, TimePair) and t.next_event.nano_seconds == 0
    assert t.every(seconds=2) is t
    assert (t.next_event, t.period) == ((2, 0), (2, 0))  # every() arms a zero offset
    t = TimerVal().after(seconds=5).every(seconds=2)
    assert (t.next_event, t.period) == ((5, 0), (2, 0))
    t = TimerVal().every(seconds=2).after(seconds=0)
    assert t.next_event == (0, 0) and not t
    for alias in ("repeat", "repeats"):
        t = getattr(TimerVal(), alias)(nano_seconds=3)
        assert (t.next_event, t.period) == ((0, 3), (0, 3))
    t = TimerVal().offset(1, 2).occuring.every(3, 4)
    assert (t.next_event, t.period) == ((1, 2), (3, 4))
    assert t.disable() is t
    assert (t.next_event, t.period) == ((0, 0), (3, 4))
    assert t.__timerspec__() == [3, 4, 0, 0]


def test_timerval_none_leaves_fields_and_zero_is_a_value():
    t = TimerVal().after(seconds=1, nano_seconds=2).every(seconds=3, nano_seconds=4)
    t.every()
    t.after(None, None)
    assert (t.next_event, t.period) == ((1, 2), (3, 4))
    t.every(seconds=0)
    assert t.period == (0, 4)
    t.after(nano_seconds=0)
    assert t.next_event == (1, 0)
    t = TimerVal().after(nano_seconds=7).every(seconds=9)  # only the zero field is armed
    assert (t.next_event, t.period) == ((9, 7), (9, 0))


def test_timerval_bool_enabled_and_repr():
    t = TimerVal()
    assert not t and t.enabled is False
    t.after(nano_seconds=1)
    assert t and t.enabled is True
    assert bool(TimerVal().every(seconds=1))
    assert not TimerVal().every(seconds=1).disable()
    t = TimerVal().after(1, 2).every(3, 4)
    assert repr(t) == "<TimerVal offset=(1s, 2ns) reoccuring=(3s, 4ns)>"


def test_timerval_stores_out_of_range_values_and_copies():
    t = TimerVal().repeats(seconds=10**9).offset(nano_seconds=10**9)
    assert t.period == (10**9, 0) and t.next_event == (10**9, 10**9)
    t = TimerVal([1, 2, 3, 4])
    assert (t.period, t.next_event) == ((1, 2), (3, 4))
    u = TimerVal(t)
    u.after(seconds=9)
    assert t.next_event == (3, 4) and u.next_event == (9, 4)
    with pytest.raises(ValueError):
        TimerVal([1, 2, 3])
    with pytest.raises(TypeError):
        TimerVal().every(seconds=1.5)
    v = TimerVal.__new__(TimerVal)
    assert repr(v) == "<TimerVal offset=(0s, 0ns) reoccuring=(0s, 0ns)>"


# ----------------------------------------------------------------- timerfd() and clocks

def test_timerfd_function_default_clock_and_cloexec():
    fd = timerfd.timerfd()
    try:
        assert clockid(fd) == CLOCK_MONOTONIC
        assert cloexec(fd)
    finally:
        os.close(fd)
    fd = timerfd.timerfd(CLOCK_BOOTTIME, TFD_NONBLOCK, closefd=False)
    try:
        assert clockid(fd) == CLOCK_BOOTTIME
        assert not cloexec(fd)
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    finally:
        os.close(fd)


@pytest.mark.parametrize("clock", [CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
                                   CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
                                   CLOCK_THREAD_CPUTIME_ID, 0xfffc, 0xffff, -1, 2**40])
def test_clocks_timerfd_rejects(clock):
    with pytest.raises(ValueError):
        timerfd.timerfd(clock)


def test_bad_flags_are_a_value_error():
    with pytest.raises(ValueError):
        timerfd.timerfd(CLOCK_MONOTONIC, 0x1000)


def test_alarm_clocks_need_cap_wake_alarm(in_child):
    def unprivileged():
        if os.geteuid() == 0:
            os.setuid(65534)  # drops every capability, CAP_WAKE_ALARM included
        try:
            timerfd.timerfd(CLOCK_REALTIME_ALARM)
        except WakeAlarmPermissionError as e:
            assert isinstance(e, UnknownError) and isinstance(e, PermissionError)
            assert e.errno == errno.EPERM
            assert "CAP_WAKE_ALARM" in str(e)
            return "refused"
        return "created"

    assert in_child(unprivileged) == "refused"


def test_alarm_clocks_work_with_the_capability(root):
    with Timer(CLOCK_BOOTTIME_ALARM) as t:
        assert clockid(t.fileno()) == CLOCK_BOOTTIME_ALARM
        t.after(nano_seconds=MS).update()
        assert t.wait(5) >= 1
    with Timer(CLOCK_REALTIME_ALARM) as t:
        assert clockid(t.fileno()) == CLOCK_REALTIME_ALARM


# ----------------------------------------------------------------- Timer against the kernel

def test_timer_fires_once():
    with Timer() as t:
        assert clockid(t.fileno()) == CLOCK_MONOTONIC
        assert cloexec(t.fileno())
        old = t.after(nano_seconds=MS).update()
        assert isinstance(old, TimerVal) and not old
        assert t.wait(5) == 1
        with pytest.raises(TimeoutError):
            t.wait(0.01)  # one-shot: nothing more


def test_timer_repeats_and_counts_expirations():
    with Timer(flags=TFD_NONBLOCK) as t:
        t.repeats(nano_seconds=MS).update()
        assert t.next_event == (0, MS)  # repeats() armed the first expiry
        assert t.wait(5) >= 1
        time.sleep(0.01)
        assert t.read_event() >= 1  # several periods may have passed
        cur = t.get_current()
        assert cur.period == (0, MS)
        assert cur is not t and t.period == (0, MS)
        t.disable()
        old = t.update()
        assert old.period == (0, MS)
        assert t.get_current().next_event == (0, 0)
        with pytest.raises(BlockingIOError):  # setting the timer reset the count
            t.read_event()


def test_gettime_reports_the_remaining_time():
    with Timer() as t:
        t.after(seconds=100).every(seconds=3).update()
        cur = t.get_current()
        assert 0 < cur.next_event.seconds <= 100 and cur.period == (3, 0)
        assert cur.enabled
        fromfd = timerfd.timerfd_gettime(t)  # an object with fileno() works too
        assert fromfd.period == (3, 0)


def test_absolute_timer():
    with Timer(CLOCK_MONOTONIC) as t:
        now = time.clock_gettime_ns(CLOCK_MONOTONIC) + MS
        t.after(now // 10**9, now % 10**9).update(absolute=True)
        assert t.wait(5) == 1
    with Timer(CLOCK_REALTIME) as t:
        past = time.clock_gettime_ns(CLOCK_REALTIME) - 10**9
        t.after(past // 10**9, past % 10**9)
        t.update(absolute=True)  # in the past: expires at once
        assert t.wait(5) == 1


def test_settime_function_with_raw_and_flags():
    fd = timerfd.timerfd(CLOCK_REALTIME)
    try:
        old = timerfd.timerfd_settime(fd, [0, 0, 100, 0])
        assert not old
        old = timerfd.timerfd_settime(fd, TimerVal().after(seconds=50))
        assert old.enabled and 0 < old.next_event.seconds <= 100
        future = time.clock_gettime(CLOCK_REALTIME) + 100
        timerfd.timerfd_settime(fd, TimerVal().after(int(future)),
                                TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)
        assert 0 < timerfd.timerfd_gettime(fd).next_event.seconds <= 100
    finally:
        os.close(fd)


def test_settime_range_errors_name_the_field():
    with Timer() as t:
        with pytest.raises(ValueError, match="interval nanoseconds"):
            t.every(nano_seconds=10**9).update()
        with pytest.raises(ValueError, match="value nanoseconds"):
            timerfd.timerfd_settime(t, TimerVal().after(1, 10**9))
        with pytest.raises(ValueError, match="value nanoseconds"):
            timerfd.timerfd_settime(t, TimerVal().after(1, -1))
        with pytest.raises(ValueError):
            timerfd.timerfd_settime(t, TimerVal().after(1), 0x100)  # bad flags
        with pytest.raises(ValueError):
            timerfd.timerfd_settime(t, [2**70, 0, 1, 0])  # does not fit time_t


def test_real_gettime_settime_errors():
    fd = os.eventfd(0)
    try:
        with pytest.raises(ValueError):  # EINVAL: not a timer
            timerfd.timerfd_gettime(fd)
        with pytest.raises(ValueError):
            timerfd.timerfd_settime(fd, TimerVal().after(1))
    finally:
        os.close(fd)
    with pytest.raises(ValueError):  # EBADF
        timerfd.timerfd_gettime(fd)
    with pytest.raises(UnknownError) as e:  # EBADF: not in butter's settime table
        timerfd.timerfd_settime(fd, TimerVal().after(1))
    assert e.value.errno == errno.EBADF


def test_timer_repr_and_made_with_new():
    t = Timer.__new__(Timer)
    assert repr(t) == "<Timer fd=closed offset=(0s, 0ns) reoccuring=(0s, 0ns)>"
    t._fd = 1
    t.every(nano_seconds=10 * MS)
    assert repr(t) == "<Timer fd=1 offset=(0s, 10000000ns) reoccuring=(0s, 10000000ns)>"
    with Timer() as real:
        fd = real.fileno()
        assert repr(real).startswith("<Timer fd={} offset=".format(fd))
    assert repr(real) == "<Timer fd=closed offset=(0s, 0ns) reoccuring=(0s, 0ns)>"
    with pytest.raises(ValueError):
        real.update()
    with pytest.raises(ValueError):
        real.read_event()


def test_async_for_on_a_timer():
    import asyncio

    async def main():
        with Timer(flags=TFD_NONBLOCK) as t:
            t.every(nano_seconds=MS).update()
            got = []
            async for n in t:
                got.append(n)
                if len(got) == 2:
                    return got

    assert all(n >= 1 for n in asyncio.run(main()))


# ----------------------------------------------------------------- timer slack

def test_timer_slack_per_thread():
    out = {}

    def run():
        out["default"] = timerfd.get_timer_slack()
        timerfd.set_timer_slack(123456)
        out["set"] = timerfd.get_timer_slack()
        timerfd.set_timer_slack(None)
        out["restored"] = timerfd.get_timer_slack()
        with pytest.raises(ValueError):
            timerfd.set_timer_slack(-1)
        out["ok"] = True

    main_slack = timerfd.get_timer_slack()
    th = threading.Thread(target=run)
    th.start()
    th.join()
    assert out["ok"] and out["set"] == 123456
    assert out["restored"] == out["default"] > 0
    assert timerfd.get_timer_slack() == main_slack  # another thread's slack


# ----------------------------------------------------------------- the seam

@pytest.mark.parametrize("clock", [0xfffc, 0xffff, CLOCK_MONOTONIC])
@pytest.mark.parametrize("err, exc", [
    (errno.EINVAL, ValueError),
    (errno.EMFILE, OSError),
    (errno.ENFILE, OSError),
    (errno.ENODEV, OSError),
    (errno.ENOMEM, MemoryError),
    (errno.EPERM, UnknownError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_timerfd_create_mapping(mocker, clock, err, exc):
    mock = mocker.patch("butter._timerfd.C.timerfd_create", return_value=-1)
    _timerfd.ffi.errno = err
    with pytest.raises(exc) as e:
        _timerfd.timerfd(clock)
    mock.assert_called_once_with(clock, TFD_CLOEXEC)
    if issubclass(exc, OSError) or exc is UnknownError:
        assert e.value.errno == err


def test_timerfd_create_eperm_is_also_a_permission_error(mocker):
    mocker.patch("butter._timerfd.C.timerfd_create", return_value=-1)
    _timerfd.ffi.errno = errno.EPERM
    with pytest.raises(PermissionError):
        Timer(CLOCK_REALTIME_ALARM)


@pytest.mark.parametrize("err, exc", [
    (errno.EBADF, ValueError),
    (errno.EINVAL, ValueError),
    (errno.EFAULT, InternalError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_timerfd_gettime_mapping(mocker, err, exc):
    mock = mocker.patch("butter._timerfd.C.timerfd_gettime", return_value=-1)
    _timerfd.ffi.errno = err
    with pytest.raises(exc):
        _timerfd.timerfd_gettime(0)
    assert mock.call_args[0][0] == 0


@pytest.mark.parametrize("spec", [
    TimerVal(),
    TimerVal().repeats(seconds=10**9),
    TimerVal().repeats(nano_seconds=10**9),
    TimerVal().offset(seconds=10**9),
    TimerVal().offset(nano_seconds=10**9),
])
def test_timerfd_settime_einval_mapping(mocker, spec):
    mock = mocker.patch("butter._timerfd.C.timerfd_settime", return_value=-1)
    _timerfd.ffi.errno = errno.EINVAL
    with pytest.raises(ValueError):
        _timerfd.timerfd_settime(0, spec)
    assert mock.called


@pytest.mark.parametrize("err, exc", [
    (errno.EMFILE, OSError),
    (errno.ENFILE, OSError),
    (errno.ENODEV, OSError),
    (errno.ENOMEM, MemoryError),
    (errno.EFAULT, InternalError),
    (errno.EBADF, UnknownError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_timerfd_settime_mapping(mocker, err, exc):
    mocker.patch("butter._timerfd.C.timerfd_settime", return_value=-1)
    _timerfd.ffi.errno = err
    with pytest.raises(exc) as e:
        _timerfd.timerfd_settime(0, TimerVal())
    if issubclass(exc, OSError) or exc is UnknownError:
        assert e.value.errno == err


@pytest.mark.parametrize("err, exc", [(errno.EINVAL, ValueError),
                                      (errno.EHOSTDOWN, UnknownError)])
def test_timer_slack_mapping(mocker, err, exc):
    mocker.patch("butter._timerfd.C.timerslack_set", return_value=-1)
    mocker.patch("butter._timerfd.C.timerslack_get", return_value=-1)
    _timerfd.ffi.errno = err
    with pytest.raises(exc):
        timerfd.set_timer_slack(1000)
    _timerfd.ffi.errno = err
    with pytest.raises(exc):
        timerfd.get_timer_slack()


def test_seam_passes_the_spec_and_flags(mocker):
    mock = mocker.patch("butter._timerfd.C.timerfd_settime", return_value=0)
    old = _timerfd.timerfd_settime(7, TimerVal().after(1, 2).every(3, 4), TFD_TIMER_ABSTIME)
    args = mock.call_args[0]
    assert args[:3] == (7, TFD_TIMER_ABSTIME, [3, 4, 1, 2])
    assert isinstance(old, TimerVal)
