"""eventfd's low-level calls (butter's ``butter._eventfd``).

``C`` is the patchable namespace of raw calls and ``ffi`` the errno object the wrappers
read after a failed call (butter.md §2.1): a test can ``mocker.patch('butter._eventfd.C.eventfd',
return_value=-1)``, set ``butter._eventfd.ffi.errno`` and see the mapped exception.

The constants come from the C library (``*_NONBLOCK`` differs between architectures).
"""

import errno as _errno
import sys as _sys
import types as _types

from . import _native
from .utils import CLOEXEC_DEFAULT, _raise

__all__ = [
    "eventfd", "str_to_events", "event_to_str",
    "EFD_CLOEXEC", "EFD_NONBLOCK", "EFD_SEMAPHORE",
]

#: Set close-on-exec on the new descriptor.
EFD_CLOEXEC = _native.EFD_CLOEXEC
#: Make the descriptor non-blocking (reads of a zero counter raise BlockingIOError).
EFD_NONBLOCK = _native.EFD_NONBLOCK
#: Semaphore mode: each read returns 1 and decrements the counter.
EFD_SEMAPHORE = _native.EFD_SEMAPHORE

#: The raw calls, looked up at call time (the patchable seam).
C = _types.SimpleNamespace(eventfd=_native.eventfd)
#: The errno object of the raw calls.
ffi = _native.Errno()

_EVENTFD_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENOMEM: MemoryError,
}


def eventfd(inital_value=0, flags=0, closefd=CLOEXEC_DEFAULT):
    """Creates an eventfd whose counter starts at ``inital_value`` (sic: butter's keyword
    spelling); returns the descriptor.

    ``flags``: ``EFD_NONBLOCK``, ``EFD_SEMAPHORE``. ``closefd`` (true by default) sets
    close-on-exec (``EFD_CLOEXEC``). Raises ``ValueError`` for invalid flags or an initial
    value outside ``0..2**32``, ``OSError`` at the descriptor limits, ``MemoryError``.
    """
    if closefd:
        flags |= EFD_CLOEXEC
    fd = C.eventfd(inital_value, flags)
    if fd < 0:
        _raise(ffi.errno, _EVENTFD_ERRORS, "eventfd")
    return fd


def str_to_events(buf):
    """The counter value in the 8 bytes ``buf`` (native-endian u64), as a one-element
    list (``ValueError`` if ``buf`` is shorter than 8 bytes)."""
    if len(buf) < 8:
        raise ValueError("an eventfd value is 8 bytes, got {}".format(len(buf)))
    return [int.from_bytes(bytes(buf[:8]), _sys.byteorder)]


def event_to_str(event):
    """``event`` as the 8 native-endian bytes an eventfd write takes (``OverflowError``
    outside ``0..2**64``)."""
    return int(event).to_bytes(8, _sys.byteorder)
