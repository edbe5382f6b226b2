"""The top-level ``sendfile`` module: pysendfile 2.0.1's Linux API (butter.md §3.1) against the
real kernel — files to sockets and files, every offset rule, argument checking,
non-blocking sockets, the GIL and signals."""

import errno
import hashlib
import os
import signal
import socket
import tempfile
import threading

import pytest

import sendfile as sendfile_module
from sendfile import sendfile


@pytest.fixture
def src():
    f = tempfile.TemporaryFile(buffering=0)
    f.write(b"0123456789")
    f.seek(0)
    yield f
    f.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_module_face():
    assert callable(sendfile)
    assert not any(n.startswith("SF_") for n in dir(sendfile_module))  # none on Linux
    assert sendfile.__doc__.startswith("sendfile(out, in, offset, nbytes)")


def test_int_offset_does_not_move_the_position(src, pair):
    a, b = pair
    assert sendfile(a.fileno(), src.fileno(), 2, 3) == 3
    assert src.tell() == 0
    assert sendfile(a.fileno(), src.fileno(), 0, 2) == 2
    assert b.recv(100) == b"23401"
    assert src.tell() == 0


def test_none_offset_advances_the_position(src, pair):
    a, b = pair
    assert sendfile(a.fileno(), src.fileno(), None, 3) == 3
    assert src.tell() == 3
    assert sendfile(a.fileno(), src.fileno(), None, 100) == 7
    assert src.tell() == 10
    assert sendfile(a.fileno(), src.fileno(), None, 100) == 0  # EOF
    assert b.recv(100) == b"0123456789"


def test_end_of_file_and_zero_bytes(src, pair):
    a, b = pair
    assert sendfile(a.fileno(), src.fileno(), 100, 5) == 0  # offset past the end
    assert sendfile(a.fileno(), src.fileno(), 10, 5) == 0
    assert sendfile(a.fileno(), src.fileno(), 0, 0) == 0
    assert sendfile(a.fileno(), src.fileno(), 8, 5) == 2  # partial: the end of the file
    assert b.recv(100) == b"89"


def test_file_to_file(src):
    with tempfile.TemporaryFile(buffering=0) as out:
        assert sendfile(out.fileno(), src.fileno(), 4, 6) == 6
        assert sendfile(out.fileno(), src.fileno(), None, 4) == 4
        out.seek(0)
        assert out.read() == b"4567890123"


def test_argument_rules(src, pair):
    a, b = pair
    out, fd = a.fileno(), src.fileno()
    with pytest.raises(TypeError) as e:
        sendfile(out, fd, 0, 5, b"header")
    assert str(e.value) == "function takes exactly 4 arguments (5 given)"
    with pytest.raises(TypeError) as e:
        sendfile(out, fd, 0)
    assert str(e.value) == "function takes exactly 4 arguments (3 given)"
    with pytest.raises(TypeError):
        sendfile(a, fd, 0, 5)  # objects with fileno() are not accepted
    with pytest.raises(TypeError):
        sendfile(out, src, 0, 5)
    with pytest.raises(TypeError):
        sendfile(out, fd, 1.0, 5)  # a float offset
    with pytest.raises(TypeError):
        sendfile(out, fd, 0, 5.0)
    with pytest.raises(TypeError):
        sendfile(out=out, in_=fd, offset=0, nbytes=5)  # keywords are not the arguments
    # Keyword arguments are accepted and ignored on Linux.
    assert sendfile(out, fd, 0, 4, header=b"HDR", trailer=b"TRL", flags=5) == 4
    assert b.recv(100) == b"0123"


def test_kernel_errors_are_oserrors_with_errno(src, pair):
    a, b = pair
    with pytest.raises(OSError) as e:
        sendfile(a.fileno(), src.fileno(), -1, 5)  # negative offset
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        sendfile(a.fileno(), src.fileno(), 0, -1)
    assert e.value.errno == errno.EINVAL
    with open(os.devnull, "rb") as ro:
        with pytest.raises(OSError) as e:
            sendfile(ro.fileno(), src.fileno(), 0, 5)  # output not open for writing
        assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        sendfile(src.fileno(), b.fileno(), None, 5)  # a socket is no file to read
    assert e.value.errno == errno.EINVAL
    closed = os.dup(src.fileno())
    os.close(closed)
    with pytest.raises(OSError) as e:
        sendfile(a.fileno(), closed, 0, 5)
    assert e.value.errno == errno.EBADF
    assert "Bad file descriptor" in str(e.value)


def test_nonblocking_socket_eagain(pair):
    a, b = pair
    a.setblocking(False)
    with tempfile.TemporaryFile(buffering=0) as f:
        f.write(b"x" * 65536)
        sent = 0
        with pytest.raises(BlockingIOError) as e:
            while True:
                sent += sendfile(a.fileno(), f.fileno(), 0, 65536)
        assert e.value.errno == errno.EAGAIN
        assert sent > 0


def test_big_file_to_socket_in_chunks(pair):
    a, b = pair
    data = os.urandom(1 << 20) * 8
    got = hashlib.sha256()
    counted = []

    def receive():
        n = 0
        while True:
            chunk = b.recv(1 << 16)
            if not chunk:
                break
            got.update(chunk)
            n += len(chunk)
        counted.append(n)
    t = threading.Thread(target=receive)
    t.start()  # the receiver runs while sendfile blocks: the GIL is released
    with tempfile.TemporaryFile(buffering=0) as f:
        f.write(data)
        offset = 0
        while True:
            n = sendfile(a.fileno(), f.fileno(), offset, 65536)
            if n == 0:
                break
            offset += n
    a.shutdown(socket.SHUT_WR)
    t.join(60)
    assert counted == [len(data)]
    assert got.hexdigest() == hashlib.sha256(data).hexdigest()


class Interrupted(Exception):
    pass


def fill(sock):
    """Fills the socket's buffers, so that the next blocking send blocks having sent
    nothing (a signal then makes it fail with EINTR, not return a partial count)."""
    sock.setblocking(False)
    n = 0
    try:
        while True:
            n += sock.send(b"f" * 65536)
    except BlockingIOError:
        pass
    sock.setblocking(True)
    return n


def test_a_signal_handler_can_interrupt_a_blocked_send(pair):
    a, b = pair

    def handler(signum, frame):
        raise Interrupted()
    old = signal.signal(signal.SIGALRM, handler)
    try:
        with tempfile.TemporaryFile(buffering=0) as f:
            f.write(b"y" * 65536)
            fill(a)
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(Interrupted):
                sendfile(a.fileno(), f.fileno(), 0, 65536)  # blocks until the signal
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_signal_that_does_not_raise_is_retried(pair):
    a, b = pair
    hits = []
    old = signal.signal(signal.SIGALRM, lambda s, f: hits.append(s))
    received = []

    def drain_later():
        # The alarm goes to the main thread, blocked in sendfile; this thread waits for
        # it before reading, so that sendfile is interrupted while blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        while not hits:
            threading.Event().wait(0.01)
        n = 0
        while n < total + filled:
            n += len(b.recv(1 << 16))
        received.append(n)
    try:
        with tempfile.TemporaryFile(buffering=0) as f:
            f.write(b"z" * (1 << 22))
            total = 1 << 22
            filled = fill(a)
            t = threading.Thread(target=drain_later)
            t.start()
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            offset = 0
            while offset < total:
                offset += sendfile(a.fileno(), f.fileno(), offset, total - offset)
            t.join(60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert hits == [signal.SIGALRM]
    assert received == [total + filled]
