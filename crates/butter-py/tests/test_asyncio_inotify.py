"""butter.asyncio.inotify: Inotify_async as a read-only asyncio.Queue of events, on the
real kernel, run with asyncio.run."""

import asyncio
import errno
import fcntl
import os

import pytest

from butter.asyncio.inotify import Inotify_async, QueueClosed
from butter.inotify import IN_CREATE, IN_IGNORED, Inotify, InotifyEvent


def touch(d, *names):
    for name in names:
        open(os.path.join(d, name), "w").close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_get_event_waits_for_events(tmp_path):
    async def main():
        with Inotify_async() as q:
            wd = q.watch(tmp_path, IN_CREATE)
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, touch, tmp_path, "a", "b")
            first = await q.get_event()
            second = await q.get()
            return wd, first, second

    wd, first, second = run(main())
    assert first == InotifyEvent(wd, IN_CREATE, 0, b"a")
    assert second == InotifyEvent(wd, IN_CREATE, 0, b"b")


def test_get_event_nowait_and_queue_empty(tmp_path):
    async def main():
        with Inotify_async() as q:
            q.watch(tmp_path, IN_CREATE)
            with pytest.raises(asyncio.QueueEmpty):
                q.get_event_nowait()
            touch(tmp_path, "a", "b", "c")
            got = [q.get_event_nowait().filename]  # read without waiting
            assert q.qsize() == 2 and not q.empty()
            got.append(q.get_nowait().filename)
            got.append((await q.get_event()).filename)
            assert q.qsize() == 0 and q.empty()
            with pytest.raises(asyncio.QueueEmpty):
                q.get_nowait()
            return got

    assert run(main()) == [b"a", b"b", b"c"]


def test_the_reader_fills_the_queue_up_to_maxsize_and_no_further(tmp_path):
    async def main():
        with Inotify_async(maxsize=3) as q:
            assert q.maxsize == 3 and not q.full()
            q.watch(tmp_path, IN_CREATE)
            touch(tmp_path, *("f%d" % n for n in range(10)))
            first = await q.get_event()
            for _ in range(5):  # let the reader run as often as it likes
                await asyncio.sleep(0.01)
            assert q.qsize() == 3 and q.full()
            assert q._reader_loop is None  # full: the descriptor is left alone
            names = [first.filename]
            while len(names) < 10:
                names.append((await q.get()).filename)
                assert q.qsize() <= 3
            return names

    assert run(main()) == [b"f%d" % n for n in range(10)]


def test_unbounded_queue_reads_ahead(tmp_path):
    async def main():
        with Inotify_async() as q:
            assert q.maxsize == 0
            q.watch(tmp_path, IN_CREATE)
            touch(tmp_path, "a")
            assert (await q.get()).filename == b"a"
            touch(tmp_path, "b", "c")
            for _ in range(5):
                await asyncio.sleep(0.01)
            assert q.qsize() == 2  # moved by the reader, nobody asked
            assert not q.full()
            return [q.get_nowait().filename, q.get_nowait().filename]

    assert run(main()) == [b"b", b"c"]


def test_a_cancelled_waiting_getter_leaves_nothing_behind(tmp_path):
    async def main():
        with Inotify_async() as q:
            q.watch(tmp_path, IN_CREATE)
            t = asyncio.ensure_future(q.get_event())
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert not q._getters
            touch(tmp_path, "a")
            return (await q.get_event()).filename

    assert run(main()) == b"a"


def test_a_getter_cancelled_after_its_wakeup_does_not_swallow_the_event(tmp_path):
    async def main():
        with Inotify_async() as q:
            q.watch(tmp_path, IN_CREATE)
            a = asyncio.ensure_future(q.get_event())
            b = asyncio.ensure_future(q.get_event())
            await asyncio.sleep(0.01)
            assert len(q._getters) == 2
            touch(tmp_path, "only")
            q._on_readable()  # the reader runs: the first getter is woken...
            a.cancel()  # ...and cancelled before it could run
            with pytest.raises(asyncio.CancelledError):
                await a
            got = await b  # the event went on to the other getter
            assert q.qsize() == 0
            return got.filename

    assert run(main()) == b"only"


def test_close_wakes_pending_getters_and_ends_async_for(tmp_path):
    async def main():
        q = Inotify_async()
        q.watch(tmp_path, IN_CREATE)
        getters = [asyncio.ensure_future(q.get_event()) for _ in range(3)]
        await asyncio.sleep(0.01)
        q.close()
        results = await asyncio.gather(*getters, return_exceptions=True)
        assert all(isinstance(r, QueueClosed) for r in results)
        assert isinstance(results[0], ValueError)
        with pytest.raises(QueueClosed):
            await q.get_event()
        with pytest.raises(QueueClosed):
            q.get_event_nowait()
        with pytest.raises(ValueError):
            q.close()
        assert repr(q) == "<Inotify_async fd=closed>"

        q2 = Inotify_async()
        q2.watch(tmp_path, IN_CREATE)
        touch(tmp_path, "x", "y")
        seen = []

        async def consume():
            async for ev in q2:
                seen.append(ev.filename)
                if len(seen) == 2:
                    asyncio.get_running_loop().call_soon(q2.close)
            return "ended"

        return await consume(), seen

    assert run(main()) == ("ended", [b"x", b"y"])


def test_queue_shutdown_on_newer_pythons():
    if hasattr(asyncio, "QueueShutDown"):
        assert issubclass(QueueClosed, asyncio.QueueShutDown)
    assert issubclass(QueueClosed, ValueError)


def test_the_descriptor_is_non_blocking_and_flags_are_honoured(tmp_path):
    q = Inotify_async(closefd=False)
    try:
        fd = q.fileno()
        assert not os.get_blocking(fd)
        assert not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        q.close()
    with Inotify_async(os.O_CLOEXEC) as q:
        assert fcntl.fcntl(q.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert not os.get_blocking(q.fileno())
        with pytest.raises(ValueError):
            Inotify_async(0x1)  # unknown flags reach the kernel: EINVAL


def test_watch_and_ignore(tmp_path):
    async def main():
        with Inotify_async() as q:
            wd = q.watch(str(tmp_path), IN_CREATE)
            q.ignore(wd)
            ev = await q.get_event()
            with pytest.raises(ValueError):
                q.del_watch(wd)
            return wd, ev

    wd, ev = run(main())
    assert ev == (wd, IN_IGNORED, 0, b"") and ev.ignored_event


def test_loop_is_optional_but_accepted(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        with Inotify_async(loop=loop) as q:
            q.watch(tmp_path, IN_CREATE)
            loop.call_later(0.02, touch, tmp_path, "a")
            return (await q.get_event()).filename

    assert run(main()) == b"a"


def test_one_queue_across_two_event_loops(tmp_path):
    q = Inotify_async()  # made outside any loop
    try:
        q.watch(tmp_path, IN_CREATE)

        async def one(name):
            asyncio.get_running_loop().call_later(0.02, touch, tmp_path, name)
            return (await q.get_event()).filename

        assert run(one("a")) == b"a"
        assert run(one("b")) == b"b"
    finally:
        q.close()


def test_async_with_and_repr(tmp_path):
    async def main():
        async with Inotify_async() as q:
            assert repr(q) == "<Inotify_async fd={}>".format(q.fileno())
        return q

    q = run(main())
    assert repr(q) == "<Inotify_async fd=closed>"
    bare = Inotify_async.__new__(Inotify_async)
    bare._inotify = Inotify.__new__(Inotify)
    bare._inotify._fd = 1
    assert repr(bare) == "<Inotify_async fd=1>"
    assert bare.qsize() == 0 and bare.maxsize == 0


def test_a_failing_descriptor_reaches_the_getters(tmp_path, mocker):
    async def main():
        with Inotify_async() as q:
            q.watch(tmp_path, IN_CREATE)
            getter = asyncio.ensure_future(q.get_event())
            await asyncio.sleep(0.01)
            mocker.patch.object(q._inotify, "_read_events", side_effect=OSError(errno.EIO, "io"))
            touch(tmp_path, "a")
            with pytest.raises(OSError) as e:
                await getter
            assert e.value.errno == errno.EIO
            with pytest.raises(OSError):
                q.get_event_nowait()

    run(main())


def test_events_left_in_the_wrapped_cache_come_first(tmp_path):
    async def main():
        with Inotify_async(maxsize=1) as q:
            q.watch(tmp_path, IN_CREATE)
            touch(tmp_path, "a", "b", "c")
            got = [q.get_nowait().filename]
            assert q.qsize() == 1 and len(q._inotify._events) == 1
            got += [(await q.get()).filename for _ in range(2)]
            return got

    assert run(main()) == [b"a", b"b", b"c"]


def test_a_bounded_queue_does_not_pull_the_whole_kernel_queue(tmp_path):
    async def main():
        with Inotify_async(maxsize=1) as q:
            q.watch(tmp_path, IN_CREATE)
            touch(tmp_path, *("f%04d" % n for n in range(1000)))
            first = await q.get()
            # one 4 KiB read: 128 records of 32 bytes, one queued, one handed out
            assert q.qsize() == 1 and len(q._inotify._events) == 126
            names = [first.filename] + [(await q.get()).filename for _ in range(999)]
            return names

    assert run(main()) == [b"f%04d" % n for n in range(1000)]
