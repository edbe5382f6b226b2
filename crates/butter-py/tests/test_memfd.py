"""butter.memfd / butter._memfd against the real kernel (creation, seals, mappings, the
file-like face), and the errno mapping through the patchable seam
(``butter._memfd.lib`` + ``butter._memfd.ffi``)."""

import errno
import fcntl
import mmap
import os

import pytest

from butter import _memfd, _native, memfd
from butter.memfd import (
    F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
    MFD_ALLOW_SEALING, MFD_CLOEXEC, Memfd, flags, memfd_create, revoke, seal,
)
from butter.utils import Eventlike, UnknownError


def cloexec(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


def test_names_and_constants():
    for name in memfd.__all__:
        assert hasattr(memfd, name)
    for name in _memfd.__all__:
        assert hasattr(_memfd, name)
    assert memfd.memfd_create is _memfd.memfd_create
    assert isinstance(_memfd.ffi, _native.Errno)
    assert (MFD_CLOEXEC, MFD_ALLOW_SEALING) == (os.MFD_CLOEXEC, os.MFD_ALLOW_SEALING) == (1, 2)
    assert (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE) == (2, 4, 8)
    assert (F_SEAL_SEAL, _memfd.F_ADD_SEALS, _memfd.F_GET_SEALS) == (
        fcntl.F_SEAL_SEAL, fcntl.F_ADD_SEALS, fcntl.F_GET_SEALS)
    assert (memfd.PROT_READ, memfd.MAP_SHARED, memfd.ACCESS_READ) == (
        mmap.PROT_READ, mmap.MAP_SHARED, mmap.ACCESS_READ)
    assert issubclass(Memfd, Eventlike)


def test_memfd_create():
    fd = memfd_create("test-name")
    try:
        assert cloexec(fd)
        assert os.readlink("/proc/self/fd/{}".format(fd)).startswith("/memfd:test-name")
        assert flags(fd) == F_SEAL_SEAL  # no MFD_ALLOW_SEALING: sealed against seals
        with pytest.raises(PermissionError) as e:
            revoke(fd, F_SEAL_WRITE)
        assert e.value.errno == errno.EPERM
        os.write(fd, b"data")
        assert os.pread(fd, 10, 0) == b"data"
    finally:
        os.close(fd)
    fd = memfd_create(b"other", MFD_ALLOW_SEALING, closefd=False)
    try:
        assert not cloexec(fd)
        assert flags(fd) == 0
    finally:
        os.close(fd)


def test_memfd_create_real_errors():
    with pytest.raises(ValueError):
        memfd_create("x" * 250)  # over 249 bytes
    with pytest.raises(ValueError):
        memfd_create("x", 0x100)  # not a flag
    with pytest.raises(ValueError):
        memfd_create("nul\0")


def test_seals_functions():
    fd = memfd_create("seals", MFD_ALLOW_SEALING)
    try:
        os.write(fd, b"12345")
        revoke(fd, F_SEAL_WRITE | F_SEAL_SHRINK)
        assert flags(fd) == F_SEAL_WRITE | F_SEAL_SHRINK
        with pytest.raises(PermissionError) as e:
            os.write(fd, b"more")
        assert e.value.errno == errno.EPERM
        with pytest.raises(PermissionError):
            os.ftruncate(fd, 1)
        os.ftruncate(fd, 100)  # growing is still allowed
        seal(fd)
        assert flags(fd) & F_SEAL_SEAL
        with pytest.raises(PermissionError) as e:
            revoke(fd, F_SEAL_GROW)
        assert e.value.errno == errno.EPERM
    finally:
        os.close(fd)
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as e:
            flags(r)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            revoke(w, F_SEAL_WRITE)
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(r)
        os.close(w)


def test_memfd_class_file_face():
    with Memfd("test") as m:
        assert repr(m) == "<Memfd fd={} name='test'>".format(m.fileno())
        assert cloexec(m.fileno())
        assert m.flags == 0 and m.writable and m.growable and m.shrinkable
        assert m.write(b"hello world") == 11
        assert (m.tell(), m.size()) == (11, 11)
        assert m.seek(6) == 6
        assert m.read() == b"world"
        m.seek(0)
        assert m.read(5) == b"hello"
        assert m.truncate() == 5
        assert m.size() == 5
        assert m.truncate(8) == 8
        m.seek(0)
        assert m.read() == b"hello\0\0\0"
        assert m.seekable()
    assert repr(m) == "<Memfd fd=closed name='test'>"
    with pytest.raises(ValueError):
        m.close()


def test_memfd_initial_value_and_flags():
    with Memfd(inital_value=4096) as m:
        assert m.size() == 4096 and m.tell() == 0
        assert "name=''" in repr(m)
    with Memfd("c", b"contents", closefd=False) as m:
        assert not cloexec(m.fileno())
        assert (m.read(), m.size()) == (b"contents", 8)
    try:
        m = Memfd("c", bytearray(b"xy"), flags=memfd.MFD_NOEXEC_SEAL)
    except ValueError:
        pytest.skip("MFD_NOEXEC_SEAL needs Linux 6.3")
    with m:
        assert m.read() == b"xy"
        assert m.flags & memfd.F_SEAL_EXEC


def test_memfd_seal_properties():
    with Memfd("props", b"abc") as m:
        m.writable = True  # not sealed: nothing to do
        m.shrinkable = False
        assert not m.shrinkable and m.writable and m.growable
        with pytest.raises(PermissionError):
            m.truncate(1)
        with pytest.raises(ValueError):
            m.shrinkable = True  # seals cannot be removed
        m.growable = False
        m.seek(0, os.SEEK_END)
        with pytest.raises(PermissionError):
            m.write(b"grow")
        m.writable = False
        m.seek(0)
        with pytest.raises(PermissionError):
            m.write(b"x")
        assert m.flags == F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
        m.revoke(F_SEAL_FUTURE_WRITE)
        m.seal()
        with pytest.raises(PermissionError):
            m.revoke(F_SEAL_GROW)
        with pytest.raises(PermissionError):
            m.writable = False


def test_memfd_mmap():
    with Memfd("map", inital_value=mmap.PAGESIZE) as m:
        with m.mmap() as mm:  # shared, writable, the whole file
            mm[:5] = b"hello"
        m.seek(0)
        assert m.read(5) == b"hello"
        mm = m.mmap(0)
        with pytest.raises(OSError) as e:
            m.revoke(F_SEAL_WRITE)  # a writable shared mapping exists
        assert e.value.errno == errno.EBUSY
        mm.close()
        m.revoke(F_SEAL_WRITE)
        with m.mmap() as ro:  # sealed: read-only by default
            assert ro[:5] == b"hello"
            with pytest.raises(TypeError):
                ro[0] = 1
        with m.mmap(access=memfd.ACCESS_READ) as ro:
            assert ro[:5] == b"hello"
        with m.mmap(flags=memfd.MAP_PRIVATE) as cow:  # private copies stay writable
            cow[0:1] = b"J"
            assert cow[:5] == b"Jello"
        with pytest.raises(ValueError):
            m.mmap(access=memfd.ACCESS_READ, prot=memfd.PROT_READ)


def test_memfd_made_with_new():
    m = Memfd.__new__(Memfd)
    assert m._fd is None and repr(m) == "<Memfd fd=closed name=''>"
    m._fd = 1
    assert m.fileno() == 1


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.EMFILE, OSError), (errno.ENFILE, OSError),
    (errno.ENODEV, OSError), (errno.ENOMEM, MemoryError), (errno.EPERM, PermissionError),
    (errno.EHOSTDOWN, UnknownError)])
def test_memfd_create_errno_mapping(mocker, err, exc):
    mocker.patch("butter._memfd.lib.memfd_create", return_value=-1)
    _memfd.ffi.errno = err
    with pytest.raises(exc) as e:
        memfd_create()
    if issubclass(exc, OSError):
        assert e.value.errno == err
    _memfd.ffi.errno = err
    with pytest.raises(exc):
        Memfd("x")


@pytest.mark.parametrize("err", [errno.EPERM, errno.EBUSY, errno.EINVAL, errno.EHOSTDOWN])
def test_seal_calls_raise_oserror_with_errno(mocker, err):
    mocker.patch("butter._memfd.lib.fcntl_add_seals", return_value=-1)
    mocker.patch("butter._memfd.lib.fcntl_get_seals", return_value=-1)
    for call in (lambda: seal(3), lambda: revoke(3, F_SEAL_WRITE), lambda: flags(3)):
        _memfd.ffi.errno = err
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == err
