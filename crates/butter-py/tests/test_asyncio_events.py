"""butter.asyncio.{eventfd,timerfd,signalfd}: the broadcast-wait objects on real
descriptors, run with ``asyncio.run`` — every pending waiter gets the same value,
cancellation leaves no reader and consumes nothing, close() fails the waiters, spurious
wake-ups never block, ``async for`` works. No timing assertions."""

import asyncio
import fcntl
import os
import signal

import pytest

from butter.asyncio.eventfd import Eventfd_async
from butter.asyncio.signalfd import Signalfd_async
from butter.asyncio.timerfd import Timerfd_async
from butter.eventfd import EFD_SEMAPHORE, Eventfd
from butter.signalfd import SIG_BLOCK, Signal, Signalfd, pthread_sigmask
from butter.timerfd import CLOCK_MONOTONIC, CLOCK_REALTIME, Timer, TimerVal

MS = 1000000


def nonblocking(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)


def watched(loop, fd):
    """Whether the loop still has a reader on ``fd`` (removing it says so)."""
    return loop.remove_reader(fd)


# ----------------------------------------------------------------- Eventfd_async

def test_eventfd_async_basics():
    async def main():
        with Eventfd_async(5) as ev:
            assert isinstance(ev._eventfd, Eventfd)
            assert nonblocking(ev.fileno())
            assert ev.get_last() == 5
            assert repr(ev) == "<Eventfd_async fd={} value=5>".format(ev.fileno())
            assert await ev.wait() == 5  # the initial value is pending
            asyncio.get_running_loop().call_soon(ev.increment, 3)
            assert await ev.wait() == 3
            assert ev.get_last() == 3
            assert repr(ev).endswith("value=3>")
            assert not watched(asyncio.get_running_loop(), ev.fileno())
        assert ev.closed()
        assert repr(ev) == "<Eventfd_async fd=closed value=3>"

    asyncio.run(main())


def test_eventfd_async_broadcasts_one_value_to_every_waiter():
    async def main():
        ev = Eventfd_async()
        waiters = [asyncio.ensure_future(ev.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        ev.increment(7)
        assert await asyncio.gather(*waiters) == [7, 7, 7]
        ev.increment(1)  # read once: the counter holds only what came after
        assert ev._eventfd.read_event() == 1
        ev.close()

    asyncio.run(main())


def test_eventfd_async_semaphore_and_async_for():
    async def main():
        ev = Eventfd_async(3, EFD_SEMAPHORE)
        got = []
        async for v in ev:
            got.append(v)
            if len(got) == 3:
                break
        assert got == [1, 1, 1]
        ev.close()

    asyncio.run(main())


def test_eventfd_async_cancellation_leaves_no_reader_and_consumes_nothing():
    async def main():
        loop = asyncio.get_running_loop()
        ev = Eventfd_async()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), 0.01)
        assert not watched(loop, ev.fileno())
        task = asyncio.ensure_future(ev.wait())
        await asyncio.sleep(0)
        other = asyncio.ensure_future(ev.wait())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ev.increment(4)
        assert await other == 4  # the remaining waiter still gets it
        ev.increment(2)
        assert ev._eventfd.read_event() == 2  # nobody waits: nothing was read
        ev.close()

    asyncio.run(main())


def test_eventfd_async_close_fails_the_waiters():
    async def main():
        ev = Eventfd_async()
        fd = ev.fileno()
        waiters = [asyncio.ensure_future(ev.wait()) for _ in range(2)]
        await asyncio.sleep(0)
        ev.close()
        for w in waiters:
            with pytest.raises(ValueError):
                await w
        assert not watched(asyncio.get_running_loop(), fd)
        with pytest.raises(ValueError):
            await ev.wait()

    asyncio.run(main())


def test_spurious_wakeup_keeps_waiting():
    async def main():
        ev = Eventfd_async()
        task = asyncio.ensure_future(ev.wait())
        await asyncio.sleep(0)
        ev._readable()  # readiness reported, but the counter is 0: must not block or fail
        await asyncio.sleep(0)
        assert not task.done()
        ev.increment(9)
        assert await task == 9
        ev.close()

    asyncio.run(main())


def test_explicit_loop_and_new_alone():
    loop = asyncio.new_event_loop()
    try:
        ev = Eventfd_async(2, loop=loop)
        assert loop.run_until_complete(ev.wait()) == 2
        ev.close()
    finally:
        loop.close()
    ev = Eventfd_async.__new__(Eventfd_async)
    ev._eventfd = Eventfd.__new__(Eventfd)
    ev._eventfd._fd = 1
    ev._value = 42
    assert repr(ev) == "<Eventfd_async fd=1 value=42>"


def test_one_object_across_two_runs():
    ev = Eventfd_async(1)
    assert asyncio.run(ev.wait()) == 1
    ev.increment(2)
    assert asyncio.run(ev.wait()) == 2
    ev.close()


# ----------------------------------------------------------------- Timerfd_async

def clockid(fd):
    with open("/proc/self/fdinfo/{}".format(fd)) as f:
        for line in f:
            if line.startswith("clockid:"):
                return int(line.split()[1])


def test_timerfd_async_is_constructible_with_the_fluent_setters():
    async def main():
        t = Timerfd_async()
        assert isinstance(t._timerfd, Timer)
        assert clockid(t.fileno()) == CLOCK_REALTIME  # butter's default here
        assert nonblocking(t.fileno())
        assert repr(t) == "<Timerfd_async fd={}>".format(t.fileno())
        assert t.occuring.every(nano_seconds=MS) is t
        assert t.and_repeats.repeat(nano_seconds=MS) is t and t.repeats() is t
        assert t.after(nano_seconds=MS) is t and t.offset() is t
        assert (t.next_event, t.period, t.enabled) == ((0, MS), (0, MS), True)
        old = t.update()
        assert isinstance(old, TimerVal) and not old
        assert t.get_current().period == (0, MS)
        first = await t.wait()
        assert first >= 1
        got = []
        async for n in t:
            got.append(n)
            if len(got) == 2:
                break
        assert all(n >= 1 for n in got)
        assert t.disable() is t and not t.enabled
        t.update()
        assert t.get_current().next_event == (0, 0)
        t.close()
        assert repr(t) == "<Timerfd_async fd=closed>"

    asyncio.run(main())


def test_timerfd_async_broadcast_and_cancellation():
    async def main():
        loop = asyncio.get_running_loop()
        with Timerfd_async(CLOCK_MONOTONIC) as t:
            assert clockid(t.fileno()) == CLOCK_MONOTONIC
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(t.wait(), 0.01)  # not armed
            assert not watched(loop, t.fileno())
            waiters = [asyncio.ensure_future(t.wait()) for _ in range(3)]
            await asyncio.sleep(0)
            t.after(nano_seconds=MS).update()
            values = await asyncio.gather(*waiters)
            assert values[0] >= 1 and values == [values[0]] * 3

    asyncio.run(main())


# ----------------------------------------------------------------- Signalfd_async

def test_signalfd_async_receives_real_signals(in_child):
    def child():
        usr1, usr2 = signal.SIGUSR1, signal.SIGUSR2
        pthread_sigmask(SIG_BLOCK, [usr1, usr2])

        async def main():
            loop = asyncio.get_running_loop()
            s = Signalfd_async([usr1])  # the signals are honoured
            assert isinstance(s._signalfd, Signalfd)
            assert usr1 in s and usr2 not in s and s.signals == {usr1}
            assert nonblocking(s.fileno())
            assert repr(s) == "<Signalfd_async fd={}>".format(s.fileno())
            waiters = [asyncio.ensure_future(s.wait()) for _ in range(2)]
            await asyncio.sleep(0)
            loop.call_soon(os.kill, os.getpid(), usr1)
            a, b = await asyncio.gather(*waiters)
            assert isinstance(a, Signal) and a is b and a.signal == usr1
            s.enable(usr2)
            s.disable(usr1)
            assert s.signals == {usr2}
            loop.call_soon(os.kill, os.getpid(), usr2)
            async for sig in s:
                assert sig.signal == usr2
                break
            s.enable_all()
            assert usr1 in s
            s.disable_all()
            assert s.signals == set()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(s.wait(), 0.01)
            assert not watched(loop, s.fileno())
            s.close()
            return "ok"

        return asyncio.run(main())

    assert in_child(child) == "ok"


def test_signalfd_async_hands_out_cached_signals(in_child):
    def child():
        usr1, usr2 = signal.SIGUSR1, signal.SIGUSR2
        pthread_sigmask(SIG_BLOCK, [usr1, usr2])

        async def main():
            s = Signalfd_async([usr1, usr2])
            os.kill(os.getpid(), usr1)
            os.kill(os.getpid(), usr2)
            first = await s.wait()  # one read takes both: the second is cached
            second = await s.wait()
            assert {first.signal, second.signal} == {usr1, usr2}
            s.close()
            return "ok"

        return asyncio.run(main())

    assert in_child(child) == "ok"
