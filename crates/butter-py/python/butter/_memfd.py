"""The functions of :mod:`butter.memfd`: ``memfd_create`` and the seal calls, with the
patchable raw namespace ``lib`` and its errno object ``ffi``.

Where this differs from butter 0.13 on purpose (butter.md §1.16): descriptors are
close-on-exec by default (``closefd=True``); ``seal``, ``revoke`` and ``flags`` raise
``OSError`` subclasses carrying the errno (butter's mapping there was dead code with an
undefined name in its fallback); ``memfd_create`` maps EPERM/EACCES to PermissionError
(huge pages without the right to lock them, ``vm.memfd_noexec``).
"""

import errno as _errno
import os as _os
import types as _types

from . import _native
from .utils import CLOEXEC_DEFAULT, PermissionError, UnknownError, _raise

__all__ = [
    "memfd_create", "seal", "revoke", "flags", "MFD_CLOEXEC", "MFD_ALLOW_SEALING",
    "MFD_HUGETLB", "MFD_NOEXEC_SEAL", "MFD_EXEC", "MFD_HUGE_SHIFT", "MFD_HUGE_MASK",
    "MFD_HUGE_64KB", "MFD_HUGE_512KB", "MFD_HUGE_1MB", "MFD_HUGE_2MB", "MFD_HUGE_8MB",
    "MFD_HUGE_16MB", "MFD_HUGE_32MB", "MFD_HUGE_256MB", "MFD_HUGE_512MB", "MFD_HUGE_1GB",
    "MFD_HUGE_2GB", "MFD_HUGE_16GB", "F_ADD_SEALS", "F_GET_SEALS", "F_SEAL_SEAL",
    "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_WRITE", "F_SEAL_FUTURE_WRITE", "F_SEAL_EXEC",
    "PermissionError", "UnknownError",
]

#: The raw calls (C contract: the result, or -1 with the errno in ``ffi``), looked up at
#: call time so that tests can patch them.
lib = _types.SimpleNamespace(
    memfd_create=_native.memfd_create,
    fcntl_add_seals=_native.fcntl_add_seals,
    fcntl_get_seals=_native.fcntl_get_seals,
)
_lib = lib
#: The errno of the raw calls.
ffi = _native.Errno()

MFD_CLOEXEC = _native.MFD_CLOEXEC
MFD_ALLOW_SEALING = _native.MFD_ALLOW_SEALING
MFD_HUGETLB = _native.MFD_HUGETLB
MFD_NOEXEC_SEAL = _native.MFD_NOEXEC_SEAL
MFD_EXEC = _native.MFD_EXEC
MFD_HUGE_SHIFT = _native.MFD_HUGE_SHIFT
MFD_HUGE_MASK = _native.MFD_HUGE_MASK
MFD_HUGE_64KB = _native.MFD_HUGE_64KB
MFD_HUGE_512KB = _native.MFD_HUGE_512KB
MFD_HUGE_1MB = _native.MFD_HUGE_1MB
MFD_HUGE_2MB = _native.MFD_HUGE_2MB
MFD_HUGE_8MB = _native.MFD_HUGE_8MB
MFD_HUGE_16MB = _native.MFD_HUGE_16MB
MFD_HUGE_32MB = _native.MFD_HUGE_32MB
MFD_HUGE_256MB = _native.MFD_HUGE_256MB
MFD_HUGE_512MB = _native.MFD_HUGE_512MB
MFD_HUGE_1GB = _native.MFD_HUGE_1GB
MFD_HUGE_2GB = _native.MFD_HUGE_2GB
MFD_HUGE_16GB = _native.MFD_HUGE_16GB
F_ADD_SEALS = _native.F_ADD_SEALS
F_GET_SEALS = _native.F_GET_SEALS
F_SEAL_SEAL = _native.F_SEAL_SEAL
F_SEAL_SHRINK = _native.F_SEAL_SHRINK
F_SEAL_GROW = _native.F_SEAL_GROW
F_SEAL_WRITE = _native.F_SEAL_WRITE
F_SEAL_FUTURE_WRITE = _native.F_SEAL_FUTURE_WRITE
F_SEAL_EXEC = _native.F_SEAL_EXEC

_CREATE_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
}


def _fd(fd):
    return fd.fileno() if hasattr(fd, "fileno") else fd


def _os_error(call):
    err = ffi.errno
    raise OSError(err, "{}: {}".format(call, _os.strerror(err)))


def memfd_create(name="", flags=0, closefd=CLOEXEC_DEFAULT):
    """Creates an anonymous memory file (shown as ``memfd:NAME`` in ``/proc/PID/fd``);
    returns its descriptor. ``flags``: ``MFD_ALLOW_SEALING`` (needed to add seals later),
    ``MFD_HUGETLB`` (with an ``MFD_HUGE_*`` size), ``MFD_NOEXEC_SEAL``/``MFD_EXEC``
    (Linux 6.3). ``closefd`` true ORs in ``MFD_CLOEXEC`` (close-on-exec).

    Raises ValueError (EINVAL: name over 249 bytes, bad flags), OSError (EMFILE,
    ENFILE, ENODEV), MemoryError, PermissionError (EPERM, EACCES), UnknownError otherwise.
    """
    if closefd:
        flags |= MFD_CLOEXEC
    fd = lib.memfd_create(_os.fsencode(name), flags)
    if fd < 0:
        _raise(ffi.errno, _CREATE_ERRORS, "memfd_create")
    return fd


def revoke(fd, flags):
    """Adds the seals ``flags`` (``F_SEAL_SHRINK``, ``F_SEAL_GROW``, ``F_SEAL_WRITE``,
    ``F_SEAL_FUTURE_WRITE``, ``F_SEAL_EXEC``, ``F_SEAL_SEAL``) to memfd ``fd``, for good.

    Raises ``PermissionError`` (EPERM: sealed with ``F_SEAL_SEAL``, or created without
    ``MFD_ALLOW_SEALING``), ``OSError`` EBUSY (``F_SEAL_WRITE`` while writable shared
    mappings exist) or EINVAL (not a memfd), each with its errno.
    """
    if lib.fcntl_add_seals(_fd(fd), flags) < 0:
        _os_error("fcntl(F_ADD_SEALS)")


def seal(fd):
    """Seals memfd ``fd`` against further seals (``F_SEAL_SEAL``)."""
    revoke(fd, F_SEAL_SEAL)


def flags(fd):
    """The seals of memfd ``fd`` (``F_GET_SEALS``); ``OSError`` (EINVAL) if it takes
    none."""
    r = lib.fcntl_get_seals(_fd(fd))
    if r < 0:
        _os_error("fcntl(F_GET_SEALS)")
    return r
