"""asyncio form of :class:`butter.signalfd.Signalfd`.

Block the signals first (``butter.signalfd.pthread_sigmask(SIG_BLOCK, signals)``), in the
thread running the loop and before starting other threads, or they are delivered normally.
Every ``wait()`` pending when a signal arrives gets the same :class:`Signal`; see
:mod:`butter.asyncio._broadcast`. Unlike butter 0.13's, this honours ``signals``, imports
on Python 3.11+, reads a non-blocking descriptor, handles cancellation and supports
``async for``.
"""

from ..signalfd import SFD_NONBLOCK, Signalfd
from ._broadcast import _Broadcast

__all__ = ["Signalfd_async"]


class Signalfd_async(_Broadcast):
    """A signalfd for asyncio.

    ``Signalfd_async(signals=[], flags=0, *, loop=None)``: the wrapped
    :class:`~butter.signalfd.Signalfd` (``_signalfd``) receives ``signals`` and is made
    non-blocking. ``loop`` defaults to the running loop of each ``wait()``.
    """

    _inner_attr = "_signalfd"

    def __init__(self, signals=(), flags=0, *, loop=None):
        super(Signalfd_async, self).__init__(loop)
        self._signalfd = Signalfd(signals, flags | SFD_NONBLOCK)

    def enable(self, signals):
        """Adds ``signals`` (a number or an iterable) to the signals received."""
        self._signalfd.enable(signals)

    def enable_all(self):
        """Receives every signal."""
        self._signalfd.enable_all()

    def disable(self, signal):
        """Stops receiving ``signal`` (a number or an iterable)."""
        self._signalfd.disable(signal)

    def disable_all(self):
        """Stops receiving every signal."""
        self._signalfd.disable_all()

    @property
    def signals(self):
        """The signals received, as a set."""
        return self._signalfd.signals

    def __contains__(self, signal):
        return signal in self._signalfd
