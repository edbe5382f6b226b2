"""signalfd and signal masks: receive signals by reading a file descriptor.

A signal reaches a signalfd only while it is **blocked** (:func:`pthread_sigmask`) in every
thread that could otherwise take it — block before starting threads, which inherit the
mask — otherwise its handler or default action runs instead.

>>> import os, signal
>>> from butter.signalfd import Signalfd, pthread_sigmask, SIG_BLOCK, SIG_SETMASK
>>> old = pthread_sigmask(SIG_BLOCK, [signal.SIGUSR1])
>>> with Signalfd([signal.SIGUSR1]) as sfd:
...     os.kill(os.getpid(), signal.SIGUSR1)
...     sfd.wait().signal == signal.SIGUSR1
True
>>> _ = pthread_sigmask(SIG_SETMASK, old)

Differences from butter 0.13 (butter.md §1.16): ``Signalfd(sigmask, closefd=...)`` honours both
arguments; ``pthread_sigmask`` returns the previous mask and raises on errors;
``Signal.sigio_band``/``trapno`` work and every other field is there too; one read takes
every pending record (the extra ones are cached); descriptors are close-on-exec by
default.
"""

from . import _native
from ._signalfd import (  # noqa: F401 (re-exported)
    NEW_SIGNALFD, SFD_CLOEXEC, SFD_NONBLOCK, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK,
    SIGINFO_LENGTH, Signal, _check, _mask_of, _read_signals, _set_of, _signalfd,
    pthread_sigmask, signalfd, signum_to_signame,
)
from .utils import CLOEXEC_DEFAULT, Eventlike

__all__ = [
    "Signalfd", "Signal", "signalfd", "pthread_sigmask", "signum_to_signame",
    "NEW_SIGNALFD", "SFD_CLOEXEC", "SFD_NONBLOCK", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK",
]


class Signalfd(Eventlike):
    """A signalfd (event-like: ``fileno()``, ``wait()``, iteration, ``async for``, context
    manager); each event is a :class:`Signal`.

    ``Signalfd(sigmask=set(), flags=0, closefd=CLOEXEC_DEFAULT)``: ``sigmask`` is the
    signals to receive (a number or an iterable); ``flags`` may be ``SFD_NONBLOCK``;
    ``closefd`` sets close-on-exec. The object does not block the signals: call
    ``pthread_sigmask(SIG_BLOCK, signals)`` first.
    """

    def __init__(self, sigmask=frozenset(), flags=0, closefd=CLOEXEC_DEFAULT):
        super(Signalfd, self).__init__()
        bits = _mask_of(sigmask)
        self._flags = flags
        self._closefd = closefd
        self._fd = _signalfd(bits, NEW_SIGNALFD, flags, closefd)
        self._sigmask = bits

    def _bits(self):
        return getattr(self, "_sigmask", 0)

    def _set_mask(self, bits):
        _signalfd(bits, self.fileno(), getattr(self, "_flags", 0),
                  getattr(self, "_closefd", CLOEXEC_DEFAULT))
        self._sigmask = bits

    @property
    def signals(self):
        """The signals this descriptor receives, as a set."""
        return _set_of(self._bits())

    def enable(self, signals):
        """Adds ``signals`` (a number or an iterable) to the signals received."""
        self._set_mask(self._bits() | _mask_of(signals))

    def enable_all(self):
        """Receives every signal (as ``sigfillset``; ``SIGKILL``/``SIGSTOP`` never come)."""
        self._set_mask(_native.SIGSET_FULL)

    def disable(self, signal):
        """Stops receiving ``signal`` (a number, or an iterable of them)."""
        self._set_mask(self._bits() & ~_mask_of(signal))

    def disable_all(self):
        """Stops receiving every signal."""
        self._set_mask(0)

    def __contains__(self, signal):
        """Whether ``signal`` is received; ``ValueError`` for an invalid number."""
        return bool(self._bits() >> (_check(signal) - 1) & 1)

    def _read_events(self):
        return _read_signals(self._fd)
