"""butter.utils: the exceptions, the errno mapping, and Eventlike on a real pipe."""

import asyncio
import errno
import os
import resource

import pytest

from butter import utils
from butter.utils import Eventlike, InternalError, UnknownError


class Pipe(Eventlike):
    """An event-like object over a pipe's read end: each byte is an event."""

    def __init__(self):
        super().__init__()
        self._fd, self.w = os.pipe()

    def _read_events(self):
        return list(os.read(self._fd, 4096))


def test_exceptions_are_the_builtins_and_butters_own():
    assert utils.PermissionError is PermissionError
    assert utils.TimeoutError is TimeoutError
    assert not issubclass(UnknownError, OSError)
    e = UnknownError(errno.EHOSTDOWN)
    assert e.errno == errno.EHOSTDOWN
    assert str(e).endswith("Error: {} (EHOSTDOWN)".format(errno.EHOSTDOWN))
    assert "UNKNOWN" in str(UnknownError(100000))
    assert issubclass(InternalError, Exception)
    assert utils.CLOEXEC_DEFAULT is True


def test_the_mapping_raises_with_the_errno():
    table = {errno.EINVAL: ValueError, errno.EMFILE: OSError, errno.ENOMEM: MemoryError,
             errno.EPERM: PermissionError, errno.EFAULT: InternalError}
    with pytest.raises(ValueError):
        utils._raise(errno.EINVAL, table, "call")
    with pytest.raises(OSError) as e:
        utils._raise(errno.EMFILE, table, "call")
    assert e.value.errno == errno.EMFILE
    with pytest.raises(PermissionError) as e:
        utils._raise(errno.EPERM, table, "call")
    assert e.value.errno == errno.EPERM
    with pytest.raises(MemoryError):
        utils._raise(errno.ENOMEM, table, "call")
    with pytest.raises(InternalError):
        utils._raise(errno.EFAULT, table, "call")
    with pytest.raises(UnknownError) as e:
        utils._raise(errno.EHOSTDOWN, table, "call")
    assert e.value.errno == errno.EHOSTDOWN


def test_get_buffered_length_on_a_real_pipe():
    r, w = os.pipe()
    try:
        assert utils.get_buffered_length(r) == 0
        os.write(w, b"hello")
        assert utils.get_buffered_length(r) == 5

        class F:
            def fileno(self):
                return r

        assert utils.get_buffered_length(F()) == 5
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(OSError) as e:
        utils.get_buffered_length(r)
    assert e.value.errno == errno.EBADF


def test_fileno_close_and_closed():
    p = Pipe()
    fd = p.fileno()
    assert not p.closed()
    p.close()
    assert p.closed()
    with pytest.raises(ValueError):
        p.fileno()
    with pytest.raises(ValueError):
        p.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    os.close(p.w)


def test_fd_zero_is_an_open_descriptor():
    p = Eventlike.__new__(Eventlike)
    assert p.closed()
    assert repr(p) == "<Eventlike fd=closed>"
    p._fd = 0
    assert p.fileno() == 0
    assert not p.closed()
    assert repr(p) == "<Eventlike fd=0>"


def test_repr_eq_ne_hash_as_butter():
    a = Eventlike.__new__(Eventlike)
    b = Eventlike.__new__(Eventlike)
    a._fd, b._fd = 1, 1
    assert a == b and not (a != b)
    assert hash(a) == hash(b) == hash(Eventlike) ^ hash(1)
    b._fd = 2
    assert a != b and not (a == b)
    # Objects of other classes are neither equal nor unequal.
    assert not (a == 1) and not (a != 1)
    assert repr(a) == "<Eventlike fd=1>"


def test_context_manager_binds_the_object_and_closes():
    with Pipe() as p:
        assert isinstance(p, Pipe)
        w = p.w
    assert p.closed()
    os.close(w)


def test_events_are_cached_and_read_in_order():
    p = Pipe()
    os.write(p.w, b"\x01\x02\x03")
    assert p.read_event() == 1
    assert p.read_events() == [2, 3]
    os.write(p.w, b"\x04\x05")
    assert p.wait(1) == 4
    p.truncate()
    with pytest.raises(TimeoutError):
        p.wait(0.01)
    os.write(p.w, b"\x06")
    assert next(iter(p)) == 6
    p.close()
    os.close(p.w)


def test_wait_works_above_fd_1024():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1100:
        pytest.skip("RLIMIT_NOFILE's hard limit is below 1100")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    p = Pipe()
    high = os.dup2(p._fd, 1050)
    os.close(p._fd)
    p._fd = high
    try:
        with pytest.raises(TimeoutError):
            p.wait(0.01)
        os.write(p.w, b"\x07")
        assert p.wait(5) == 7
    finally:
        p.close()
        os.close(p.w)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_file_like_face():
    p = Eventlike.__new__(Eventlike)
    for method in (p.read, p.readlines, p.seek, p.write, p.writelines):
        with pytest.raises(NotImplementedError):
            method()
    assert p.isatty() is False and p.seekable() is False and p.tell() == 0
    assert p.mode() == "r" and p.readable() and not p.writable()
    assert p.name() == repr(p)


def test_async_for_reads_without_blocking_the_loop_and_cancels_cleanly():
    p = Pipe()

    async def main():
        loop = asyncio.get_running_loop()
        got = []

        async def consume():
            async for ev in p:
                got.append(ev)
                if len(got) == 3:
                    return

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        assert not task.done()
        os.write(p.w, b"\x01\x02")
        await asyncio.sleep(0.01)
        loop.call_later(0.01, os.write, p.w, b"\x03")
        await asyncio.wait_for(task, 5)
        assert got == [1, 2, 3]
        # A cancelled wait leaves no reader behind, and loses no event.
        waiter = asyncio.ensure_future(p.__anext__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not loop.remove_reader(p.fileno())
        os.write(p.w, b"\x09")
        assert await asyncio.wait_for(p.__anext__(), 5) == 9

    asyncio.run(main())
    p.close()
    os.close(p.w)
