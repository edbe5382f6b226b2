"""The shared core of the "broadcast wait" asyncio objects (``Eventfd_async``,
``Signalfd_async``, ``Timerfd_async``).

Each ``wait()`` adds a future to the pending waiters and makes sure the event loop watches
the descriptor (``loop.add_reader``). When it becomes readable, the callback reads **one**
event from the wrapped (non-blocking) object, stops watching, and resolves **every**
pending waiter with that same value. A spurious wake-up (``BlockingIOError``) just keeps
watching; nothing ever blocks the loop. A cancelled waiter is dropped, and when no waiter
is left the descriptor is no longer watched, so no event is consumed for nobody.
``close()`` stops watching, closes the descriptor and fails the pending waiters with
``ValueError("I/O operation on closed file")``.

The event loop is the one given as ``loop=`` or else the running loop of each ``wait()``.
"""

import asyncio as _asyncio

__all__ = []


class _Broadcast(object):
    """Base of the broadcast-wait objects; subclasses name the wrapped object's attribute
    in ``_inner_attr``."""

    _inner_attr = None
    _loop = None
    _reader_loop = None
    _reader_fd = None

    def __init__(self, loop=None):
        self._loop = loop
        self._waiters = []

    # -- the wrapped object

    def _inner(self):
        return getattr(self, self._inner_attr)

    def _pending(self):
        try:
            return self._waiters
        except AttributeError:  # made with __new__ alone
            self._waiters = []
            return self._waiters

    def _on_value(self, value):
        """Called with every value read, before the waiters get it."""

    def fileno(self):
        """The wrapped descriptor; ``ValueError`` once closed."""
        return self._inner().fileno()

    def closed(self):
        """Whether the descriptor was closed."""
        return self._inner()._fd is None

    def close(self):
        """Stops watching the descriptor, closes it, and fails every pending ``wait()``
        with ``ValueError``."""
        self._unwatch()
        inner = self._inner()
        try:
            inner.close()
        finally:
            waiters, self._waiters = self._pending(), []
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(ValueError("I/O operation on closed file"))

    # -- watching the descriptor

    def _watch(self, loop):
        if self._reader_loop is loop:
            return
        self._unwatch()
        fd = self.fileno()
        loop.add_reader(fd, self._readable)
        self._reader_loop, self._reader_fd = loop, fd

    def _unwatch(self):
        loop, fd = self._reader_loop, self._reader_fd
        self._reader_loop = self._reader_fd = None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(fd)

    def _readable(self):
        waiters = self._pending()
        if not any(not fut.done() for fut in waiters):
            self._waiters = []
            self._unwatch()
            return
        try:
            value = self._inner().read_event()
        except BlockingIOError:
            return  # spurious wake-up: keep watching
        except Exception as exc:  # noqa: BLE001 - handed to the waiters
            self._unwatch()
            self._waiters = []
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self._unwatch()
        self._on_value(value)
        self._waiters = []
        for fut in waiters:
            if not fut.done():
                fut.set_result(value)

    # -- the public face

    async def wait(self):
        """The next value; every ``wait()`` pending at that moment gets the same one."""
        loop = self._loop if self._loop is not None else _asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending().append(fut)
        try:
            inner = self._inner()
            if inner._cache():  # events already read: hand one out at once
                loop.call_soon(self._readable)
            else:
                self._watch(loop)
            return await fut
        finally:
            waiters = self._pending()
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._unwatch()

    def __aiter__(self):
        return self

    async def __anext__(self):
        """``async for value in obj``: each ``wait()`` in turn."""
        return await self.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.closed():
            self.close()
        return False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def _fd_repr(self):
        try:
            fd = self._inner()._fd
        except AttributeError:
            fd = None
        return "closed" if fd is None else fd

    def __repr__(self):
        return "<{} fd={}>".format(self.__class__.__name__, self._fd_repr())
