"""butter.asyncio.fanotify: Fanotify_async as a read-only asyncio.Queue of events, on the
real kernel (as root), run with asyncio.run."""

import asyncio
import os
import sys

import pytest

from butter.asyncio.fanotify import Fanotify_async, QueueClosed
from butter.fanotify import (
    FAN_CLASS_CONTENT, FAN_CLASS_NOTIF, FAN_EVENT_ON_CHILD, FAN_OPEN, FAN_OPEN_PERM, Fanotify,
)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def opener(*paths):
    for p in paths:
        open(p).close()


def test_get_event_and_the_fixed_watch_order(root, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")

    async def main():
        with Fanotify_async() as q:
            assert q._fanotify._flags & FAN_CLASS_NOTIF == 0  # the default class
            q.watch(str(f), FAN_OPEN)  # (path, mask, flags, dfd), as Fanotify.watch
            asyncio.get_running_loop().call_later(0.02, opener, f)
            with await q.get_event() as ev:
                name = ev.filename
            q.ignore(f, FAN_OPEN)
            opener(f)
            await asyncio.sleep(0.02)
            with pytest.raises(asyncio.QueueEmpty):
                q.get_event_nowait()
            return name

    assert run(main()) == str(f)


def test_queue_semantics(root, tmp_path):
    for n in range(6):
        (tmp_path / str(n)).write_bytes(b"")

    async def main():
        with Fanotify_async(maxsize=2) as q:
            assert q.maxsize == 2
            q.watch(tmp_path, FAN_OPEN | FAN_EVENT_ON_CHILD)
            with pytest.raises(asyncio.QueueEmpty):
                q.get_nowait()
            opener(*(tmp_path / str(n) for n in range(6)))
            first = q.get_nowait()
            await asyncio.sleep(0.02)
            assert q.qsize() == 2 and q.full()
            events = [first] + [await q.get() for _ in range(5)]
            names = [e.filename for e in events]
            for e in events:
                e.close()
            return names

    assert run(main()) == [str(tmp_path / str(n)) for n in range(6)]


def test_unbounded_read_ahead_is_limited(root, tmp_path):
    for n in range(200):
        (tmp_path / str(n)).write_bytes(b"")

    async def main():
        with Fanotify_async() as q:
            q.watch(tmp_path, FAN_OPEN | FAN_EVENT_ON_CHILD)
            opener(*(tmp_path / str(n) for n in range(200)))
            first = await q.get()
            for _ in range(5):
                await asyncio.sleep(0.01)
            queued = q.qsize()
            first.close()
            return queued

    # each event holds a descriptor: no more than 128 are read ahead
    assert run(main()) == 128


def test_close_wakes_getters_and_closes_queued_events(root, tmp_path):
    for n in range(3):
        (tmp_path / str(n)).write_bytes(b"")

    async def main():
        q = Fanotify_async()
        q.watch(tmp_path, FAN_OPEN | FAN_EVENT_ON_CHILD)
        opener(*(tmp_path / str(n) for n in range(3)))
        first = await q.get_event()
        await asyncio.sleep(0.02)
        queued = list(q._queue)
        assert len(queued) == 2
        q2 = Fanotify_async()
        getter = asyncio.ensure_future(q2.get_event())
        await asyncio.sleep(0.01)
        q2.close()
        with pytest.raises(QueueClosed):
            await getter
        q.close()
        assert all(e.fd is None for e in queued)  # nobody will get them: closed
        first.close()
        with pytest.raises(QueueClosed):
            await q.get()
        return repr(q)

    assert run(main()) == "<Fanotify_async fd=closed>"


def test_permission_event_answered_from_asyncio(root, tmp_path):
    f = tmp_path / "guarded"
    f.write_bytes(b"x")
    code = "import sys\ntry:\n    open(sys.argv[1]).read()\nexcept PermissionError:\n" \
           "    sys.exit(13)\n"

    async def main():
        statuses = []
        with Fanotify_async(FAN_CLASS_CONTENT) as q:
            q.watch(f, FAN_OPEN_PERM)
            for answer in (q.deny, q.allow):
                child = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(f))
                with await q.get_event() as ev:
                    assert ev.open_perm_event and ev.pid == child.pid
                    answer(ev)
                statuses.append(await child.wait())
            child = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(f))
            with await q.get_event() as ev:
                q.respond(ev, allow=False)
            statuses.append(await child.wait())
        return statuses

    assert run(main()) == [13, 0, 13]


def test_flags_repr_and_new(root):
    with Fanotify_async() as q:
        assert not os.get_blocking(q.fileno())  # reads in callbacks never block
        assert repr(q) == "<Fanotify_async fd={}>".format(q.fileno())
    bare = Fanotify_async.__new__(Fanotify_async)
    bare._fanotify = Fanotify.__new__(Fanotify)
    bare._fanotify._fd = 5
    assert repr(bare) == "<Fanotify_async fd=5>"
    assert bare.qsize() == 0


def test_async_for(root, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")

    async def main():
        q = Fanotify_async()
        q.watch(f, FAN_OPEN)
        asyncio.get_running_loop().call_later(0.02, opener, f)
        seen = []
        async for ev in q:
            seen.append(ev.filename)
            ev.close()
            q.close()
        return seen

    assert run(main()) == [str(f)]


def test_unprivileged_is_a_permission_error(root, in_child):
    def child():
        os.setgid(65534)
        os.setuid(65534)
        try:
            Fanotify_async()
        except PermissionError:
            return "PermissionError"
        return "no error"

    assert in_child(child) == "PermissionError"
