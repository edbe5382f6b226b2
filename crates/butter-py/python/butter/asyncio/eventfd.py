"""asyncio form of :class:`butter.eventfd.Eventfd`.

>>> import asyncio
>>> from butter.asyncio.eventfd import Eventfd_async
>>> async def main():
...     with Eventfd_async() as ev:
...         asyncio.get_running_loop().call_soon(ev.increment, 3)
...         return await ev.wait()
>>> asyncio.run(main())
3

Every ``wait()`` pending when the counter becomes non-zero gets the same value (it is read
once); see :mod:`butter.asyncio._broadcast`. Unlike butter 0.13's, this imports on Python
3.11+, reads a non-blocking descriptor, handles cancellation and supports ``async for``.
"""

from ..eventfd import EFD_NONBLOCK, Eventfd
from ._broadcast import _Broadcast

__all__ = ["Eventfd_async"]


class Eventfd_async(_Broadcast):
    """An eventfd counter for asyncio.

    ``Eventfd_async(inital_value=0, flags=0, *, loop=None)``: the wrapped
    :class:`~butter.eventfd.Eventfd` (``_eventfd``) is made non-blocking; ``flags`` may
    add ``EFD_SEMAPHORE``. ``loop`` defaults to the running loop of each ``wait()``.
    """

    _inner_attr = "_eventfd"
    _value = 0

    def __init__(self, inital_value=0, flags=0, *, loop=None):
        super(Eventfd_async, self).__init__(loop)
        self._eventfd = Eventfd(inital_value, flags | EFD_NONBLOCK)
        self._value = inital_value

    def increment(self, value=1):
        """Adds ``value`` to the counter (waking the waiters)."""
        self._eventfd.increment(value)

    def get_last(self):
        """The last value read (``inital_value`` until the first)."""
        return self._value

    def _on_value(self, value):
        self._value = value

    def __repr__(self):
        return "<{} fd={} value={}>".format(self.__class__.__name__, self._fd_repr(),
                                           self._value)
