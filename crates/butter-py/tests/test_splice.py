"""butter.splice against the real kernel (pipes, files, offsets, vmsplice's copy
semantics, the GIL), and the errno mapping through the patchable seam
(``butter.splice._C`` + ``butter.splice._ffi``)."""

import errno
import fcntl
import os
import tempfile
import threading

import pytest

from butter import _native, splice
from butter.splice import (
    IOV_MAX, NULL_TERMINATOR, SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE,
    SPLICE_F_NONBLOCK, splice_at, tee, vmsplice,
)
from butter.utils import UnknownError

# What butter's own test suite does at import.
splice.ffi = splice._ffi


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def pipe2(pipe):
    r, w = os.pipe()
    yield pipe, (r, w)
    os.close(r)
    os.close(w)


@pytest.fixture
def datafile():
    f = tempfile.TemporaryFile(buffering=0)
    f.write(b"0123456789")
    f.seek(0)
    yield f
    f.close()


def test_names_and_constants():
    assert (SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT) == (1, 2, 4, 8)
    assert SPLICE_F_NONBLOCK == getattr(os, "SPLICE_F_NONBLOCK", 2)  # os has it from 3.10
    assert (IOV_MAX, NULL_TERMINATOR) == (1024, 1)
    for name in splice.__all__:
        assert hasattr(splice, name)
    assert splice.UnknownError is UnknownError
    assert splice._lib is splice._C
    assert isinstance(splice._ffi, _native.Errno)


def test_splice_and_tee_between_pipes(pipe2):
    (r1, w1), (r2, w2) = pipe2
    os.write(w1, b"hello world")
    assert tee(r1, w2, 11) == 11
    assert os.read(r2, 100) == b"hello world"
    # tee did not consume: splice moves the same bytes.
    assert splice.splice(r1, w2, len=11) == 11
    assert os.read(r2, 100) == b"hello world"


def test_default_len_moves_nothing(pipe2):
    (r1, w1), (r2, w2) = pipe2
    os.write(w1, b"abc")
    assert splice.splice(r1, w2) == 0
    assert tee(r1, w2) == 0
    assert os.read(r1, 10) == b"abc"


def test_fileno_objects(pipe2, datafile):
    (r1, w1), (r2, w2) = pipe2
    with open(w1, "wb", closefd=False) as wf:
        assert splice.splice(datafile, wf, len=4) == 4
    assert os.read(r1, 10) == b"0123"


def test_file_position_without_offset(pipe, datafile):
    r, w = pipe
    assert splice.splice(datafile, w, 0, 0, 4) == 4  # butter's 0 = NULL
    assert datafile.tell() == 4
    assert splice.splice(datafile, w, None, None, 3) == 3
    assert datafile.tell() == 7
    assert os.read(r, 10) == b"0123456"


def test_real_offsets_leave_the_position(pipe, datafile):
    r, w = pipe
    assert splice.splice(datafile, w, len=3, offset_in=5) == 3
    assert datafile.tell() == 0
    assert os.read(r, 10) == b"567"
    # offset_in=0 is a real offset (not NULL) ...
    datafile.seek(6)
    assert splice.splice(datafile, w, len=2, offset_in=0) == 2
    assert datafile.tell() == 6
    assert os.read(r, 10) == b"01"
    # ... and a non-zero legacy in_offset is one too (butter cast it to a pointer).
    assert splice.splice(datafile, w, 8, 0, 5) == 2
    assert datafile.tell() == 6
    assert os.read(r, 10) == b"89"
    # An offset at the end of the file: end of input.
    assert splice.splice(datafile, w, len=5, offset_in=10) == 0


def test_splice_at_returns_the_new_offsets(pipe, datafile):
    r, w = pipe
    assert splice_at(datafile, w, 4, offset_in=2) == (4, 6, None)
    assert splice_at(datafile, w, 100, offset_in=6) == (4, 10, None)
    assert splice_at(datafile, w, 100, offset_in=10) == (0, 10, None)
    assert os.read(r, 100) == b"23456789"
    assert datafile.tell() == 0
    # Without offsets: the file position.
    assert splice_at(datafile, w, 3) == (3, None, None)
    assert datafile.tell() == 3


def test_pipe_to_file_with_out_offset(pipe, datafile):
    r, w = pipe
    os.write(w, b"AB")
    datafile.seek(1)
    assert splice.splice(r, datafile, len=2, offset_out=7) == 2
    assert datafile.tell() == 1
    os.write(w, b"CD")
    assert splice_at(r, datafile, 2, offset_out=12) == (2, None, 14)
    assert os.pread(datafile.fileno(), 20, 0) == b"0123456AB9\0\0CD"


def test_offset_for_a_pipe_is_espipe(pipe2):
    (r1, w1), (r2, w2) = pipe2
    os.write(w1, b"x")
    with pytest.raises(UnknownError) as e:
        splice.splice(r1, w2, len=1, offset_in=0)
    assert e.value.errno == errno.ESPIPE
    with pytest.raises(UnknownError) as e:
        splice.splice(r1, w2, len=1, offset_out=3)
    assert e.value.errno == errno.ESPIPE


def test_both_offset_spellings_is_a_type_error(pipe, datafile):
    r, w = pipe
    with pytest.raises(TypeError):
        splice.splice(datafile, w, 3, 0, 1, offset_in=2)


def test_negative_offset_is_einval(pipe, datafile):
    r, w = pipe
    with pytest.raises(ValueError):
        splice.splice(datafile, w, len=1, offset_in=-1)


def test_real_errors(pipe, datafile):
    r, w = pipe
    # No pipe on either side.
    with pytest.raises(ValueError):
        splice.splice(datafile, datafile, len=1)
    # A closed descriptor.
    fd = os.dup(r)
    os.close(fd)
    with pytest.raises(ValueError):
        splice.splice(fd, w, len=1)
    # Non-blocking on an empty pipe: EAGAIN with its errno.
    with pytest.raises(BlockingIOError) as e:
        splice.splice(r, datafile, len=1, flags=SPLICE_F_NONBLOCK)
    assert e.value.errno == errno.EAGAIN
    # tee needs two different pipes.
    with pytest.raises(ValueError):
        tee(r, w, 1)
    with pytest.raises(ValueError):
        tee(datafile, w, 1)


def test_tee_nonblocking_empty_is_unknown_eagain(pipe2):
    (r1, w1), (r2, w2) = pipe2
    with pytest.raises(UnknownError) as e:
        tee(r1, w2, 10, SPLICE_F_NONBLOCK)
    assert e.value.errno == errno.EAGAIN


def test_end_of_input(pipe2):
    (r1, w1), (r2, w2) = pipe2
    os.close(w1)
    assert splice.splice(r1, w2, len=10) == 0


def test_vmsplice_bytes_arrive_intact_after_the_buffer_changes(pipe):
    r, w = pipe
    buf = bytearray(b"A" * 40000)
    small = bytearray(b"abc")
    view = memoryview(bytearray(b"xyz"))
    assert vmsplice(w, [buf, small, view, b"!", "é"]) == 40000 + 3 + 3 + 1 + 2
    # Change (and free) what was given: the pipe holds copies.
    buf[:] = b"B" * 40000
    small[0] = ord("Z")
    view[:] = b"___"
    del buf, small, view
    junk = [bytes([i]) * 4096 for i in range(64)]  # reuse the freed memory
    got = b""
    while len(got) < 40009:
        got += os.read(r, 65536)
    assert got == b"A" * 40000 + b"abcxyz!" + "é".encode()
    assert len(junk) == 64


def test_vmsplice_flags_and_errors(pipe):
    r, w = pipe
    assert vmsplice(w, [], SPLICE_F_GIFT) == 0
    assert vmsplice(w, [b"abc"], SPLICE_F_GIFT | SPLICE_F_MOVE) == 3
    assert os.read(r, 10) == b"abc"
    with pytest.raises(ValueError):
        vmsplice(r, [b"x"])  # the read end
    with tempfile.TemporaryFile() as f:
        with pytest.raises(ValueError):
            vmsplice(f, [b"x"])  # not a pipe
    # A full pipe, not waited on: EAGAIN with its errno.
    fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
    total = 0
    while True:
        try:
            total += os.write(w, b"x" * 65536)
        except BlockingIOError:
            break
    fcntl.fcntl(w, fcntl.F_SETFL, 0)
    with pytest.raises(BlockingIOError) as e:
        vmsplice(w, [b"y"], SPLICE_F_NONBLOCK)
    assert e.value.errno == errno.EAGAIN
    assert total > 0


def test_vmsplice_nonblocking_writes_what_fits(pipe):
    r, w = pipe
    assert vmsplice(w, [b"q" * 100], SPLICE_F_NONBLOCK) == 100
    assert os.read(r, 200) == b"q" * 100


def test_blocking_calls_release_the_gil(pipe2):
    (r1, w1), (r2, w2) = pipe2
    got = []
    t = threading.Thread(target=lambda: got.append(splice.splice(r1, w2, len=5)))
    t.start()
    # The thread blocks in splice on an empty pipe; this thread can still run Python.
    os.write(w1, b"later")
    t.join(30)
    assert not t.is_alive()
    assert got == [5]
    assert os.read(r2, 10) == b"later"
    # vmsplice into a full pipe waits for the reader, without the GIL.
    fcntl.fcntl(w1, fcntl.F_SETFL, os.O_NONBLOCK)
    filled = 0
    while True:
        try:
            filled += os.write(w1, b"f" * 4096)
        except BlockingIOError:
            break
    fcntl.fcntl(w1, fcntl.F_SETFL, 0)
    done = []
    t = threading.Thread(target=lambda: done.append(vmsplice(w1, [b"tail"])))
    t.start()
    drained = 0
    while drained < filled + 4:
        drained += len(os.read(r1, 65536))
    t.join(30)
    assert done == [4]


SPLICE_CASES = [
    (errno.EINVAL, ValueError), (errno.EBADF, ValueError), (errno.EPIPE, ValueError),
    (errno.EAGAIN, OSError), (errno.ENOMEM, MemoryError), (errno.ESPIPE, UnknownError),
    (errno.EFAULT, UnknownError), (errno.EHOSTDOWN, UnknownError),
]


@pytest.mark.parametrize("args", [(0, 0), (0, 0, 20)])
@pytest.mark.parametrize("err,exc", SPLICE_CASES)
def test_splice_errno_mapping(mocker, args, err, exc):
    mocker.patch("butter.splice._C.splice", return_value=-1)
    splice.ffi.errno = err
    with pytest.raises(exc) as e:
        splice.splice(*args)
    if exc in (OSError, UnknownError):
        assert e.value.errno == err


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.ENOMEM, MemoryError), (errno.EAGAIN, UnknownError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_tee_errno_mapping(mocker, err, exc):
    mocker.patch("butter.splice._C.tee", return_value=-1)
    splice.ffi.errno = err
    with pytest.raises(exc):
        tee(0, 0)


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.EBADF, ValueError), (errno.ENOMEM, MemoryError),
    (errno.EAGAIN, BlockingIOError), (errno.EHOSTDOWN, UnknownError),
])
def test_vmsplice_errno_mapping(mocker, err, exc):
    mocker.patch("butter.splice._C.vmsplice", return_value=-1)
    splice.ffi.errno = err
    with pytest.raises(exc):
        vmsplice(0, [])


def test_seam_gets_the_arguments(mocker):
    m = mocker.patch("butter.splice._C.splice", return_value=7)
    assert splice_at(3, 4, 10, offset_in=5, flags=SPLICE_F_MORE) == (7, 12, None)
    m.assert_called_once_with(3, 5, 4, None, 10, SPLICE_F_MORE)
