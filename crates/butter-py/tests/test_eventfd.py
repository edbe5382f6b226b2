"""butter.eventfd / butter._eventfd against the real kernel, and the errno mapping
through the patchable seam (``butter._eventfd.C.eventfd`` + ``butter._eventfd.ffi``)."""

import errno
import fcntl
import os
import select
import sys
import threading

import pytest

from butter import _eventfd, _native, eventfd
from butter.eventfd import (
    EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, Eventfd, event_to_str, str_to_events,
)
from butter.utils import Eventlike, UnknownError


def cloexec(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


def nonblocking(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)


def test_names_and_constants():
    assert eventfd.eventfd is _eventfd.eventfd
    assert eventfd.str_to_events is _eventfd.str_to_events
    assert eventfd.event_to_str is _eventfd.event_to_str
    assert (EFD_CLOEXEC, EFD_SEMAPHORE) == (os.EFD_CLOEXEC, os.EFD_SEMAPHORE)
    assert EFD_NONBLOCK == os.EFD_NONBLOCK == os.O_NONBLOCK
    for name in eventfd.__all__:
        assert hasattr(eventfd, name)
    assert issubclass(Eventfd, Eventlike)


def test_eventfd_function_counts_and_sets_cloexec():
    fd = eventfd.eventfd(5)
    try:
        assert cloexec(fd)
        assert not nonblocking(fd)
        assert os.eventfd_read(fd) == 5
    finally:
        os.close(fd)
    fd = eventfd.eventfd(inital_value=1, flags=EFD_NONBLOCK, closefd=False)
    try:
        assert not cloexec(fd)
        assert nonblocking(fd)
        assert os.eventfd_read(fd) == 1
        with pytest.raises(BlockingIOError):
            os.eventfd_read(fd)
    finally:
        os.close(fd)


def test_real_errors():
    with pytest.raises(ValueError):
        eventfd.eventfd(0, 0x40000000)  # not a flag
    with pytest.raises(ValueError):
        eventfd.eventfd(-1)
    with pytest.raises(ValueError):
        eventfd.eventfd(2**32)


def test_str_to_events_and_event_to_str():
    assert event_to_str(1) == (1).to_bytes(8, sys.byteorder)
    assert str_to_events(event_to_str(2**64 - 2)) == [2**64 - 2]
    assert str_to_events(bytearray(event_to_str(7))) == [7]
    with pytest.raises(OverflowError):
        event_to_str(2**64)
    with pytest.raises(OverflowError):
        event_to_str(-1)
    with pytest.raises(ValueError):
        str_to_events(b"1234")


def test_counter_increment_and_int_consumes():
    with Eventfd(36) as ev:
        assert isinstance(ev, Eventfd)
        ev.increment()
        ev.increment(3)
        ev.increment(value=10)
        assert int(ev) == 50
        ev.increment(2**64 - 2)
        assert ev.read_event() == 2**64 - 2
        assert cloexec(ev.fileno())


def test_semaphore_and_nonblocking():
    with Eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK) as ev:
        assert [ev.read_event(), ev.read_event(), ev.read_event()] == [1, 1, 1]
        with pytest.raises(BlockingIOError) as e:
            ev.read_event()
        assert e.value.errno == errno.EAGAIN
        with pytest.raises(BlockingIOError):
            int(ev)


def test_flags_keyword_and_closefd_false():
    with Eventfd(flags=EFD_NONBLOCK, closefd=False) as ev:
        assert nonblocking(ev.fileno())
        assert not cloexec(ev.fileno())


def test_increment_errors():
    with Eventfd(0, EFD_NONBLOCK) as ev:
        with pytest.raises(ValueError):
            ev.increment(-1)
        with pytest.raises(OverflowError):
            ev.increment(2**64)
        with pytest.raises(OSError) as e:  # the kernel refuses 2**64 - 1
            ev.increment(2**64 - 1)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            ev.increment(1.5)
        with pytest.raises(TypeError):
            ev.increment(1, 2)
        with pytest.raises(TypeError):
            ev.increment(amount=1)
        with pytest.raises(TypeError):
            ev.read_event(1)
        ev.increment(2**64 - 2)
        with pytest.raises(BlockingIOError):  # would overflow
            ev.increment(1)
        assert ev.read_event() == 2**64 - 2


def test_wait_poll_and_iteration():
    with Eventfd(0) as ev:
        with pytest.raises(TimeoutError):
            ev.wait(0.01)
        ev.increment(4)
        p = select.poll()
        p.register(ev, select.POLLIN)
        assert p.poll(0)
        assert ev.wait(1) == 4
        ev.increment(2)
        assert next(iter(ev)) == 2
        ev.increment(9)
        assert ev.read_events() == [9]


def test_blocking_read_releases_the_gil():
    with Eventfd(0) as ev:
        result = []
        t = threading.Thread(target=lambda: result.append(ev.read_event()))
        t.start()
        t.join(0.05)
        assert t.is_alive()  # blocked in the kernel, without holding the GIL
        ev.increment(7)
        t.join(5)
        assert result == [7]


def test_cached_events_come_first():
    with Eventfd(1) as ev:
        ev._events = [10, 20]
        assert ev.read_event() == 10
        assert ev.read_events() == [20]
        assert ev.read_event() == 1


def test_made_with_new_alone():
    ev = Eventfd.__new__(Eventfd)
    assert ev._fd is None
    assert repr(ev) == "<Eventfd fd=closed>"
    with pytest.raises(ValueError):
        ev.read_event()
    with pytest.raises(ValueError):
        ev.increment()
    fd = os.eventfd(3)
    try:
        ev._fd = fd
        assert repr(ev) == "<Eventfd fd={}>".format(fd)
        assert int(ev) == 3
        ev.increment(2)
        assert os.eventfd_read(fd) == 2
        del ev._events  # a slot that is unset reads as "no cache"
        os.eventfd_write(fd, 1)
        assert ev.read_event() == 1
    finally:
        os.close(fd)


def test_fd_zero_is_an_open_descriptor_and_bad_fds():
    ev = Eventfd.__new__(Eventfd)
    ev._fd = -1
    with pytest.raises(OSError) as e:
        ev.read_event()
    assert e.value.errno == errno.EBADF
    ev._fd = 2**40
    with pytest.raises(OSError):
        ev.increment()
    r, w = os.pipe()
    try:
        ev._fd = r  # not an eventfd: a short read or EINVAL, as an OSError
        os.write(w, b"12345678")
        assert ev.read_event() == int.from_bytes(b"12345678", sys.byteorder)
    finally:
        os.close(r)
        os.close(w)


def test_subclass_uses_the_generic_lookup():
    class Mine(Eventfd):
        pass

    with Mine(5) as ev:
        ev.increment(1)
        assert int(ev) == 6


def test_close_twice_and_repr_eq_hash():
    ev = Eventfd()
    fd = ev.fileno()
    assert repr(ev) == "<Eventfd fd={}>".format(fd)
    other = Eventfd.__new__(Eventfd)
    other._fd = fd
    assert ev == other and not (ev != other) and hash(ev) == hash(other)
    ev.close()
    assert ev.closed()
    assert repr(ev) == "<Eventfd fd=closed>"
    with pytest.raises(ValueError):
        ev.close()
    with pytest.raises(ValueError):
        ev.read_event()


def test_native_fast_paths():
    fd = _native.eventfd(0, EFD_CLOEXEC)
    try:
        assert _native.eventfd_write(fd, 3) == 0
        assert _native.eventfd_read(fd) == 3
        with pytest.raises(ValueError):
            _native.eventfd_read(None)
        with pytest.raises(ValueError):
            _native.eventfd_write(fd, -5)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as e:
        _native.eventfd_read(fd)  # closed now
    assert e.value.errno == errno.EBADF
    assert _native.eventfd(0, 0x40000000) == -1
    assert _eventfd.ffi.errno == errno.EINVAL


@pytest.mark.parametrize("err, exc", [
    (errno.EINVAL, ValueError),
    (errno.EMFILE, OSError),
    (errno.ENFILE, OSError),
    (errno.ENODEV, OSError),
    (errno.ENOMEM, MemoryError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_errno_mapping_through_the_seam(mocker, err, exc):
    mock = mocker.patch("butter._eventfd.C.eventfd", return_value=-1)
    _eventfd.ffi.errno = err
    with pytest.raises(exc) as e:
        _eventfd.eventfd()
    assert mock.called
    if issubclass(exc, OSError) or exc is UnknownError:
        assert e.value.errno == err
    _eventfd.ffi.errno = err
    with pytest.raises(exc):
        Eventfd()


def test_the_seam_is_looked_up_at_call_time(mocker):
    mock = mocker.patch("butter._eventfd.C.eventfd", return_value=42)
    assert eventfd.eventfd(3, EFD_NONBLOCK) == 42
    mock.assert_called_once_with(3, EFD_NONBLOCK | EFD_CLOEXEC)
