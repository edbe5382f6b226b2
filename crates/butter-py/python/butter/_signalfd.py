"""signalfd's and pthread_sigmask's low-level calls (butter's ``butter._signalfd``).

``C`` is the patchable namespace of raw calls (``signalfd``, ``pthread_sigmask``) and
``ffi`` the errno object the wrappers read after a failed call (butter.md §2.1). A signal set
crosses to the raw calls as an integer, bit ``n - 1`` for signal ``n``.

Signals reach a signalfd only while they are **blocked** in every thread that could
otherwise take them (block them with :func:`pthread_sigmask` before starting threads):
otherwise their handler or default action runs instead.
"""

import errno as _errno
import operator as _operator
import signal as _signal
import types as _types

from . import _native
from .utils import CLOEXEC_DEFAULT, _fileno, _raise

__all__ = [
    "Signal", "signalfd", "pthread_sigmask", "signum_to_signame",
    "NEW_SIGNALFD", "SFD_CLOEXEC", "SFD_NONBLOCK", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK",
    "SIGINFO_LENGTH",
]

#: ``signalfd``'s ``fd`` to create a new descriptor (otherwise an existing one is updated).
NEW_SIGNALFD = -1
#: Set close-on-exec on the new descriptor.
SFD_CLOEXEC = _native.SFD_CLOEXEC
#: Make the descriptor non-blocking (reads with nothing pending raise BlockingIOError).
SFD_NONBLOCK = _native.SFD_NONBLOCK
#: ``pthread_sigmask``: add the signals to the mask.
SIG_BLOCK = _native.SIG_BLOCK
#: ``pthread_sigmask``: remove the signals from the mask.
SIG_UNBLOCK = _native.SIG_UNBLOCK
#: ``pthread_sigmask``: replace the mask with the signals.
SIG_SETMASK = _native.SIG_SETMASK
#: The size of one record read from a signalfd (``struct signalfd_siginfo``): 128.
SIGINFO_LENGTH = _native.SIGINFO_LENGTH

_SIGRTMAX = _native.SIGRTMAX
_SIGSET_FULL = _native.SIGSET_FULL

#: The raw calls, looked up at call time (the patchable seam).
C = _types.SimpleNamespace(signalfd=_native.signalfd, pthread_sigmask=_native.pthread_sigmask)
#: The errno object of the raw calls.
ffi = _native.Errno()


def _signame_table():
    # butter's rule (the signal module's int attributes without an underscore), then the
    # canonical names where aliases collide (6 is SIGABRT, not SIGIOT; 17 SIGCHLD).
    table = {}
    for name in dir(_signal):
        value = getattr(_signal, name)
        if "_" not in name and isinstance(value, int) and not isinstance(value, bool):
            table[int(value)] = name
    for sig in _signal.Signals:
        table[int(sig)] = sig.name
    return table


#: Signal number -> name (``'SIGUSR1'``), for reprs and messages.
signum_to_signame = _signame_table()


def _check(n):
    n = _operator.index(n)
    if not 0 < n <= _SIGRTMAX:
        raise ValueError("invalid signal number: {} (1 to {})".format(n, _SIGRTMAX))
    return n


def _mask_of(signals):
    """The 64-bit mask of ``signals``: a signal number or an iterable of them."""
    if signals is None:
        return None
    if isinstance(signals, int):
        signals = (signals,)
    bits = 0
    for s in signals:
        bits |= 1 << (_check(s) - 1)
    return bits


def _set_of(bits):
    """The signals of a 64-bit mask, as :class:`signal.Signals` where the name is known."""
    out = set()
    n = 1
    while bits:
        if bits & 1:
            try:
                out.add(_signal.Signals(n))
            except ValueError:
                out.add(n)
        bits >>= 1
        n += 1
    return out


_SIGNALFD_ERRORS = {
    _errno.EBADF: ValueError,
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENOMEM: MemoryError,
}

_SIGMASK_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EFAULT: ValueError,
}


def _signalfd(bits, fd, flags, closefd):
    if closefd:
        flags |= SFD_CLOEXEC
    ret = C.signalfd(fd, bits, flags)
    if ret < 0:
        err = ffi.errno
        if err == _errno.EINVAL:
            if flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
                raise ValueError("signalfd: invalid flags {:#x} (SFD_CLOEXEC and SFD_NONBLOCK "
                                 "only)".format(flags))
            raise ValueError("signalfd: fd {} is not a signalfd".format(fd))
        if err == _errno.EBADF:
            raise ValueError("signalfd: fd {} is not an open descriptor".format(fd))
        _raise(err, _SIGNALFD_ERRORS, "signalfd")
    return ret


def signalfd(signals, fd=NEW_SIGNALFD, flags=0, closefd=CLOEXEC_DEFAULT):
    """Creates a signalfd receiving ``signals`` (a signal number or an iterable of them),
    or, with ``fd`` an existing signalfd, replaces its signals; returns the descriptor.

    ``flags``: ``SFD_NONBLOCK``; ``closefd`` (true by default) sets close-on-exec. The
    signals must also be blocked (:func:`pthread_sigmask`). ``SIGKILL`` and ``SIGSTOP`` are
    silently ignored by the kernel. ``ValueError`` for bad flags, an invalid signal number,
    or an ``fd`` that is not a signalfd; ``OSError`` at the descriptor limits;
    ``MemoryError``.
    """
    return _signalfd(_mask_of(signals), _fileno(fd), flags, closefd)


def pthread_sigmask(action, signals):
    """Changes the calling thread's signal mask and returns the previous one as a set
    (like :func:`signal.pthread_sigmask`).

    ``action``: ``SIG_BLOCK`` (add ``signals``), ``SIG_UNBLOCK`` (remove them) or
    ``SIG_SETMASK`` (replace the mask with them); ``signals`` is a signal number, an
    iterable of them, or ``None`` to only read the mask. ``ValueError`` for an invalid
    action or signal number. Only the calling thread is affected; threads started later
    inherit its mask. (butter 0.13 returned ``None`` and ignored errors.)
    """
    old = [0]
    ret = C.pthread_sigmask(action, _mask_of(signals), old)
    if ret != 0:
        # The C call reports failure with a positive errno; a seam returning -1 (as
        # butter's tests' mocks do) leaves it in ffi.errno.
        err = ffi.errno if ret < 0 else ret
        _raise(err, _SIGMASK_ERRORS, "pthread_sigmask")
    return _set_of(old[0])


def _field(index, doc):
    return property(lambda self: self._info[index], doc=doc)


class Signal(object):
    """A received signal: every field of ``struct signalfd_siginfo``, read-only.

    ``Signal(siginfo)`` takes the 128-byte record (``bytes``) or the tuple of its fields
    in the order of ``butter._native.SIGINFO_FIELDS``. Which fields mean something depends
    on the signal and on ``signal_code`` (``SI_USER`` for ``kill``, ``SI_QUEUE`` for
    ``sigqueue``, ``CLD_EXITED`` and friends for ``SIGCHLD``, ...); see ``sigaction(2)``.
    """

    __slots__ = ["_info"]

    def __init__(self, siginfo):
        if isinstance(siginfo, (bytes, bytearray, memoryview)):
            siginfo = _native.siginfo_decode(bytes(siginfo))
        info = tuple(siginfo)
        if len(info) != len(_native.SIGINFO_FIELDS):
            raise ValueError("a siginfo is the 128-byte record or a tuple of {} fields"
                             .format(len(_native.SIGINFO_FIELDS)))
        self._info = info

    signal = _field(0, "The signal number (ssi_signo).")
    errno = _field(1, "An error number, rarely set (ssi_errno).")
    signal_code = _field(2, "Why the signal was sent: SI_USER, SI_QUEUE, CLD_EXITED, ... "
                            "(ssi_code).")
    pid = _field(3, "The sender's process id, or the child's for SIGCHLD (ssi_pid).")
    uid = _field(4, "The sender's real user id (ssi_uid).")
    sigio_fd = _field(5, "The descriptor, for SIGIO (ssi_fd).")
    timer_id = _field(6, "The kernel timer id, for POSIX timer signals (ssi_tid).")
    sigio_band = _field(7, "The band event, for SIGIO (ssi_band).")
    overrun = _field(8, "The overrun count, for POSIX timer signals (ssi_overrun).")
    trapno = _field(9, "The trap number of a hardware fault (ssi_trapno).")
    child_status = _field(10, "The exit status or signal, for SIGCHLD (ssi_status).")
    int = _field(11, "The integer sent with sigqueue (ssi_int).")
    ptr = _field(12, "The pointer value sent with sigqueue (ssi_ptr).")
    child_user_time = _field(13, "The child's user CPU time in clock ticks, for SIGCHLD "
                                 "(ssi_utime).")
    child_system_time = _field(14, "The child's system CPU time in clock ticks, for SIGCHLD "
                                   "(ssi_stime).")
    addr = _field(15, "The faulting address, for hardware faults (ssi_addr).")
    addr_lsb = _field(16, "The least significant bit of the address, for SIGBUS memory "
                          "errors (ssi_addr_lsb).")
    syscall = _field(17, "The system call number, for seccomp's SIGSYS (ssi_syscall).")
    call_addr = _field(18, "The address of the system call instruction, for SIGSYS "
                           "(ssi_call_addr).")
    arch = _field(19, "The system call's architecture (AUDIT_ARCH_*), for SIGSYS (ssi_arch).")

    def as_dict(self):
        """Every field, keyed by its ``struct signalfd_siginfo`` name without ``ssi_``."""
        return dict(zip(_native.SIGINFO_FIELDS, self._info))

    def __eq__(self, other):
        if not isinstance(other, Signal):
            return NotImplemented
        return self._info == other._info

    def __ne__(self, other):
        if not isinstance(other, Signal):
            return NotImplemented
        return self._info != other._info

    def __hash__(self):
        return hash(self._info)

    def __repr__(self):
        name = signum_to_signame.get(self.signal, self.signal)
        return "<{} signal={} uid={} pid={}>".format(
            self.__class__.__name__, name, self.uid, self.pid)


def _read_signals(fd):
    """The pending signals of signalfd ``fd`` (at least one), as :class:`Signal` objects."""
    return [Signal(info) for info in _native.signalfd_read(fd)]
