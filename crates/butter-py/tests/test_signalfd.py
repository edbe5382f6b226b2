"""butter.signalfd / butter._signalfd against the real kernel — signal masks and real
signals (``os.kill``, ``sigqueue``, a child's exit) received through a signalfd, always in
a forked child so the test process's mask is left alone — the siginfo decoder, and every
errno mapping through the patchable seam (``butter._signalfd.C`` + ``ffi``)."""

import ctypes
import errno
import fcntl
import os
import signal
import struct

import pytest

from butter import _native, _signalfd, signalfd
from butter.signalfd import (
    NEW_SIGNALFD, SFD_CLOEXEC, SFD_NONBLOCK, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK,
    Signal, Signalfd, pthread_sigmask, signum_to_signame,
)
from butter.utils import Eventlike, UnknownError

USR1, USR2 = signal.SIGUSR1, signal.SIGUSR2


def fdinfo_mask(fd):
    with open("/proc/self/fdinfo/{}".format(fd)) as f:
        for line in f:
            if line.startswith("sigmask:"):
                return int(line.split()[1], 16)


def bits(*signals):
    return sum(1 << (s - 1) for s in signals)


def cloexec(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


# ----------------------------------------------------------------- names and constants

def test_constants_and_names():
    assert NEW_SIGNALFD == -1
    assert (SFD_CLOEXEC, SFD_NONBLOCK) == (os.O_CLOEXEC, os.O_NONBLOCK)
    assert (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK) == (
        signal.SIG_BLOCK, signal.SIG_UNBLOCK, signal.SIG_SETMASK)
    assert _signalfd.SIGINFO_LENGTH == 128
    for name in signalfd.__all__:
        assert hasattr(signalfd, name), name
    for name in ("signalfd", "pthread_sigmask", "signum_to_signame", "Signal", "C", "ffi",
                 "SIGINFO_LENGTH", "NEW_SIGNALFD"):
        assert hasattr(_signalfd, name), name
    assert issubclass(Signalfd, Eventlike)


def test_signum_to_signame():
    assert signum_to_signame[USR1] == "SIGUSR1"
    assert signum_to_signame[signal.SIGKILL] == "SIGKILL"
    assert signum_to_signame[6] == "SIGABRT"
    assert signum_to_signame[17] == "SIGCHLD"
    assert all("_" not in name for name in signum_to_signame.values())


# ----------------------------------------------------------------- pthread_sigmask

def test_pthread_sigmask_returns_the_previous_mask(in_child):
    def child():
        before = signal.pthread_sigmask(SIG_BLOCK, [])
        old = pthread_sigmask(SIG_BLOCK, [USR1])
        assert old == before
        assert pthread_sigmask(signal.SIG_BLOCK, USR2) == before | {USR1}
        now = pthread_sigmask(SIG_BLOCK, None)  # None: only read it
        assert now == before | {USR1, USR2} == signal.pthread_sigmask(SIG_BLOCK, [])
        assert all(isinstance(s, signal.Signals) for s in now)
        assert pthread_sigmask(SIG_UNBLOCK, [USR2]) == now
        assert pthread_sigmask(SIG_SETMASK, before) == before | {USR1}
        assert signal.pthread_sigmask(SIG_BLOCK, []) == before
        pthread_sigmask(SIG_BLOCK, [signal.SIGKILL, signal.SIGSTOP])  # silently left out
        assert signal.SIGKILL not in pthread_sigmask(SIG_BLOCK, [])
        return "ok"

    assert in_child(child) == "ok"


def test_pthread_sigmask_errors(in_child):
    def child():
        with pytest.raises(ValueError):
            pthread_sigmask(99, [USR1])
        with pytest.raises(ValueError):
            pthread_sigmask(SIG_BLOCK, [0])
        with pytest.raises(ValueError):
            pthread_sigmask(SIG_BLOCK, [_native.SIGRTMAX + 1])
        with pytest.raises(TypeError):
            pthread_sigmask(SIG_BLOCK, ["SIGUSR1"])
        assert USR1 not in signal.pthread_sigmask(SIG_BLOCK, [])  # nothing changed
        return "ok"

    assert in_child(child) == "ok"


# ----------------------------------------------------------------- receiving real signals

def test_signalfd_receives_a_real_signal(in_child):
    def child():
        pthread_sigmask(SIG_BLOCK, [USR1, USR2])
        with Signalfd([USR1]) as sfd:  # the mask is honoured
            assert USR1 in sfd and USR2 not in sfd
            assert fdinfo_mask(sfd.fileno()) == bits(USR1)
            assert cloexec(sfd.fileno())
            os.kill(os.getpid(), USR1)
            sig = sfd.wait(5)
            assert isinstance(sig, Signal)
            assert sig.signal == USR1
            assert (sig.pid, sig.uid) == (os.getpid(), os.getuid())
            assert sig.signal_code == 0  # SI_USER
            for name in ("errno", "sigio_fd", "timer_id", "sigio_band", "overrun",
                         "trapno", "child_status", "int", "ptr", "child_user_time",
                         "child_system_time", "addr", "addr_lsb", "syscall", "call_addr",
                         "arch"):
                assert getattr(sig, name) == 0, name
            assert repr(sig) == "<Signal signal=SIGUSR1 uid={} pid={}>".format(
                os.getuid(), os.getpid())
            with pytest.raises(TimeoutError):
                sfd.wait(0.01)
        return "ok"

    assert in_child(child) == "ok"


def test_every_pending_signal_is_read(in_child):
    def child():
        rt = signal.SIGRTMIN
        pthread_sigmask(SIG_BLOCK, [USR1, USR2, rt])
        sfd = Signalfd([USR1, USR2, rt], SFD_NONBLOCK)
        libc = ctypes.CDLL(None, use_errno=True)
        os.kill(os.getpid(), USR1)
        os.kill(os.getpid(), USR2)
        for value in (1234, 5678):  # real-time signals queue, each with its value
            assert libc.sigqueue(os.getpid(), rt, ctypes.c_void_p(value)) == 0
        first = sfd.read_event()
        rest = sfd.read_events()
        got = [first] + rest
        assert sorted(s.signal for s in got) == sorted([USR1, USR2, rt, rt])
        queued = [s for s in got if s.signal == rt]
        assert [s.int for s in queued] == [1234, 5678]
        assert [s.ptr for s in queued] == [1234, 5678]
        assert all(s.signal_code == -1 for s in queued)  # SI_QUEUE
        with pytest.raises(BlockingIOError):
            sfd.read_event()
        sfd.close()
        return "ok"

    assert in_child(child) == "ok"


def test_sigchld_fields(in_child):
    def child():
        pthread_sigmask(SIG_BLOCK, [signal.SIGCHLD])
        with Signalfd(signal.SIGCHLD) as sfd:
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            sig = sfd.wait(5)
            os.waitpid(pid, 0)
            assert sig.signal == signal.SIGCHLD
            assert sig.pid == pid
            assert sig.signal_code == 1  # CLD_EXITED
            assert sig.child_status == 7
            assert sig.child_user_time >= 0 and sig.child_system_time >= 0
        return "ok"

    assert in_child(child) == "ok"


def test_enable_disable_and_membership(in_child):
    def child():
        sfd = Signalfd()
        fd = sfd.fileno()
        assert fdinfo_mask(fd) == 0 and sfd.signals == set()
        sfd.enable(USR1)
        sfd.enable([USR2, signal.SIGHUP])
        assert fdinfo_mask(fd) == bits(USR1, USR2, signal.SIGHUP)
        assert sfd.signals == {USR1, USR2, signal.SIGHUP}
        sfd.disable(USR2)
        assert USR2 not in sfd and USR1 in sfd
        assert fdinfo_mask(fd) == bits(USR1, signal.SIGHUP)
        sfd.enable_all()
        assert USR2 in sfd and signal.SIGRTMAX in sfd
        assert fdinfo_mask(fd) & bits(USR1, USR2, signal.SIGRTMAX) == bits(
            USR1, USR2, signal.SIGRTMAX)
        sfd.disable_all()
        assert fdinfo_mask(fd) == 0 and USR1 not in sfd
        with pytest.raises(ValueError):
            0 in sfd
        with pytest.raises(ValueError):
            sfd.enable(1000)
        sfd.close()
        with pytest.raises(ValueError):
            sfd.enable(USR1)
        return "ok"

    assert in_child(child) == "ok"


def test_closefd_and_flags_are_honoured():
    with Signalfd(flags=SFD_NONBLOCK, closefd=False) as sfd:
        assert not cloexec(sfd.fileno())
        assert fcntl.fcntl(sfd.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        with pytest.raises(BlockingIOError):
            sfd.read_event()
        sfd.enable(USR1)  # keeps closefd=False
        assert not cloexec(sfd.fileno())
    with Signalfd(flags=0) as sfd:
        assert cloexec(sfd.fileno())


def test_signalfd_function():
    fd = signalfd.signalfd(USR1)
    try:
        assert fdinfo_mask(fd) == bits(USR1) and cloexec(fd)
        assert signalfd.signalfd([USR1, USR2], fd) == fd  # updates the existing one
        assert fdinfo_mask(fd) == bits(USR1, USR2)
        assert signalfd.signalfd([], fd=fd, flags=0) == fd
        assert fdinfo_mask(fd) == 0
    finally:
        os.close(fd)
    fd = signalfd.signalfd([], NEW_SIGNALFD, SFD_NONBLOCK, closefd=False)
    try:
        assert not cloexec(fd)
    finally:
        os.close(fd)


def test_signalfd_real_errors():
    with pytest.raises(ValueError, match="flags"):
        signalfd.signalfd([], NEW_SIGNALFD, 0x1000)
    efd = os.eventfd(0)
    try:
        with pytest.raises(ValueError, match="not a signalfd"):
            signalfd.signalfd([USR1], efd)
    finally:
        os.close(efd)
    with pytest.raises(ValueError):  # EBADF
        signalfd.signalfd([USR1], efd)
    with pytest.raises(ValueError):
        signalfd.signalfd([0])


def test_made_with_new_alone():
    sfd = Signalfd.__new__(Signalfd)
    assert repr(sfd) == "<Signalfd fd=closed>"
    assert USR1 not in sfd
    sfd._fd = 1
    assert repr(sfd) == "<Signalfd fd=1>"


# ----------------------------------------------------------------- the decoder

FIELDS = ("signo", "errno", "code", "pid", "uid", "fd", "tid", "band", "overrun", "trapno",
          "status", "int", "ptr", "utime", "stime", "addr", "addr_lsb", "syscall",
          "call_addr", "arch")


def record():
    values = (10, -2, -6, 101, 102, -3, 103, 104, 105, 106, -7, -8, 2**64 - 1, 107, 108,
              0xdeadbeef00, 9, -9, 0xfeed00, 0xc000003e)
    raw = struct.pack("=IiiIIiIIIIiiQQQQHHiQI28x", *values[:16], values[16], 0,
                      *values[17:])
    assert len(raw) == 128
    return raw, values


def test_siginfo_decoder_exposes_every_field():
    raw, values = record()
    assert _native.SIGINFO_FIELDS == FIELDS
    assert _native.siginfo_decode(raw) == values
    sig = Signal(raw)
    assert sig.as_dict() == dict(zip(FIELDS, values))
    props = ("signal", "errno", "signal_code", "pid", "uid", "sigio_fd", "timer_id",
             "sigio_band", "overrun", "trapno", "child_status", "int", "ptr",
             "child_user_time", "child_system_time", "addr", "addr_lsb", "syscall",
             "call_addr", "arch")
    assert tuple(getattr(sig, p) for p in props) == values
    assert Signal(values) == sig and hash(Signal(values)) == hash(sig)
    assert Signal(bytearray(raw)) == sig
    assert repr(sig) == "<Signal signal=SIGUSR1 uid=102 pid=101>"
    odd = Signal((200,) + values[1:])
    assert repr(odd) == "<Signal signal=200 uid=102 pid=101>"
    with pytest.raises(ValueError):
        Signal(raw[:100])
    with pytest.raises(ValueError):
        Signal(values[:5])
    with pytest.raises(AttributeError):
        sig.signal = 3


# ----------------------------------------------------------------- the seam

@pytest.mark.parametrize("args", [
    ([], 0, 0xffff ^ (SFD_CLOEXEC | SFD_NONBLOCK)),
    ([], 0, SFD_CLOEXEC | SFD_NONBLOCK),
    ([],),
])
@pytest.mark.parametrize("err, exc", [
    (errno.EBADF, ValueError),
    (errno.EINVAL, ValueError),
    (errno.EMFILE, OSError),
    (errno.ENFILE, OSError),
    (errno.ENODEV, OSError),
    (errno.ENOMEM, MemoryError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_signalfd_mapping(mocker, args, err, exc):
    mock = mocker.patch("butter._signalfd.C.signalfd", return_value=-1)
    _signalfd.ffi.errno = err
    with pytest.raises(exc) as e:
        _signalfd.signalfd(*args)
    assert mock.called
    if issubclass(exc, OSError) or exc is UnknownError:
        assert e.value.errno == err


@pytest.mark.parametrize("err, exc", [
    (errno.EINVAL, ValueError),
    (errno.EFAULT, ValueError),
    (errno.EHOSTDOWN, UnknownError),
])
def test_pthread_sigmask_mapping(mocker, err, exc):
    mock = mocker.patch("butter._signalfd.C.pthread_sigmask", return_value=-1)
    _signalfd.ffi.errno = err
    with pytest.raises(exc):
        _signalfd.pthread_sigmask(0, signal.SIGKILL)
    assert mock.call_args[0][:2] == (0, bits(signal.SIGKILL))
    # The C call's own contract: a positive errno returned.
    mocker.patch("butter._signalfd.C.pthread_sigmask", return_value=err)
    _signalfd.ffi.errno = 0
    with pytest.raises(exc):
        _signalfd.pthread_sigmask(0, signal.SIGKILL)


def test_raw_calls_keep_the_c_contract():
    assert _native.signalfd(-1, 0, 0x1000) == -1
    assert _signalfd.ffi.errno == errno.EINVAL
    old = [None]
    assert _native.pthread_sigmask(99, 0, old) == errno.EINVAL
    assert _signalfd.ffi.errno == errno.EINVAL and old == [None]
    assert _native.pthread_sigmask(SIG_BLOCK, None, old) == 0
    assert isinstance(old[0], int)
