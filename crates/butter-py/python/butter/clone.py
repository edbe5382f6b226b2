"""Namespaces: ``unshare`` moves the caller into new ones, ``setns`` joins existing ones.

A namespace gives a process its own view of one kind of resource: mounts
(``CLONE_NEWNS``), hostname (``CLONE_NEWUTS``), IPC (``CLONE_NEWIPC``), network
(``CLONE_NEWNET``), process ids (``CLONE_NEWPID``), user ids (``CLONE_NEWUSER``), the
cgroup root (``CLONE_NEWCGROUP``) and clocks (``CLONE_NEWTIME``). New PID and time
namespaces apply to the caller's *next children*, not to the caller; a new user namespace
needs a single-threaded process.

Where this differs from butter 0.13 on purpose (butter.md §1.16): ``CLONE_NEWTIME`` and the
other ``CLONE_*`` flags ``unshare`` takes (``CLONE_FS``, ``CLONE_FILES``,
``CLONE_SYSVSEM``, …) are exported; ``setns`` takes a descriptor, an object with
``fileno()`` or a path (``/proc/PID/ns/net``); ``unshare`` and ``setns`` run with the GIL
released.

>>> import os
>>> from butter.clone import setns, CLONE_NEWNET
>>> setns("/proc/self/ns/net", CLONE_NEWNET)  # doctest: +SKIP
'/proc/self/ns/net'
"""

import errno as _errno
import os as _os
import sys as _sys
import types as _types

from . import _native
from .utils import PermissionError, UnknownError, _raise

__all__ = [
    "unshare", "setns", "main", "PermissionError", "UnknownError", "SETNS_ANY",
    "CLONE_ALL", "CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_PIDFD",
    "CLONE_PTRACE", "CLONE_VFORK", "CLONE_PARENT", "CLONE_THREAD", "CLONE_NEWNS",
    "CLONE_SYSVSEM", "CLONE_SETTLS", "CLONE_PARENT_SETTID", "CLONE_CHILD_CLEARTID",
    "CLONE_DETACHED", "CLONE_UNTRACED", "CLONE_CHILD_SETTID", "CLONE_NEWCGROUP",
    "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET",
    "CLONE_IO", "CLONE_NEWTIME",
]

#: The raw calls (C contract: the result, or -1 with the errno in ``ffi``), looked up at
#: call time so that tests can patch them.
C = _types.SimpleNamespace(unshare=_native.unshare, setns=_native.setns)
_C = _lib = C  # butter 0.12's names for the same namespace
#: The errno of the raw calls.
ffi = _native.Errno()
_ffi = ffi

CLONE_VM = _native.CLONE_VM
CLONE_FS = _native.CLONE_FS
CLONE_FILES = _native.CLONE_FILES
CLONE_SIGHAND = _native.CLONE_SIGHAND
CLONE_PIDFD = _native.CLONE_PIDFD
CLONE_PTRACE = _native.CLONE_PTRACE
CLONE_VFORK = _native.CLONE_VFORK
CLONE_PARENT = _native.CLONE_PARENT
CLONE_THREAD = _native.CLONE_THREAD
CLONE_NEWNS = _native.CLONE_NEWNS
CLONE_SYSVSEM = _native.CLONE_SYSVSEM
CLONE_SETTLS = _native.CLONE_SETTLS
CLONE_PARENT_SETTID = _native.CLONE_PARENT_SETTID
CLONE_CHILD_CLEARTID = _native.CLONE_CHILD_CLEARTID
CLONE_DETACHED = _native.CLONE_DETACHED
CLONE_UNTRACED = _native.CLONE_UNTRACED
CLONE_CHILD_SETTID = _native.CLONE_CHILD_SETTID
CLONE_NEWCGROUP = _native.CLONE_NEWCGROUP
CLONE_NEWUTS = _native.CLONE_NEWUTS
CLONE_NEWIPC = _native.CLONE_NEWIPC
CLONE_NEWUSER = _native.CLONE_NEWUSER
CLONE_NEWPID = _native.CLONE_NEWPID
CLONE_NEWNET = _native.CLONE_NEWNET
CLONE_IO = _native.CLONE_IO
CLONE_NEWTIME = _native.CLONE_NEWTIME

#: butter 0.11's OR of the six namespaces it knew (not cgroup and time).
CLONE_ALL = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
             | CLONE_NEWNET)
#: ``setns``: a namespace of any kind.
SETNS_ANY = 0

_UNSHARE_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
    _errno.EUSERS: PermissionError,
}
_SETNS_ERRORS = {
    _errno.EBADF: ValueError,
    _errno.EINVAL: ValueError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
}


def unshare(flags):
    """Moves the calling thread into new namespaces (``CLONE_NEW*``, and ``CLONE_FS``,
    ``CLONE_FILES``, ``CLONE_SYSVSEM`` to stop sharing those); returns 0.

    Raises ValueError (EINVAL: unknown flag, or CLONE_NEWUSER in a multi-threaded
    process), MemoryError, PermissionError (EPERM: needs CAP_SYS_ADMIN; EUSERS: too many
    nested user namespaces), UnknownError otherwise (ENOSPC: a namespace limit).
    """
    err = C.unshare(flags)
    if err < 0:
        _raise(ffi.errno, _UNSHARE_ERRORS, "unshare")
    return err


def setns(fd, nstype=SETNS_ANY):
    """Joins the namespace ``fd`` refers to: a descriptor, an object with ``fileno()``,
    or a path (``str``, ``bytes``, ``os.PathLike``) such as ``/proc/1234/ns/uts``, opened
    for the call. ``nstype`` (``CLONE_NEW*``) requires that kind; ``SETNS_ANY`` (0)
    accepts any (and a pidfd, Linux 5.8+, with several ``CLONE_NEW*`` bits joins those of
    that process). Returns ``fd``, as butter did.

    Raises ValueError (EBADF, EINVAL: wrong kind, or a user/mount namespace from a
    multi-threaded process), MemoryError, PermissionError (EPERM), UnknownError otherwise;
    a path that cannot be opened raises the ``OSError`` of ``open``.
    """
    if isinstance(fd, (str, bytes)) or hasattr(fd, "__fspath__"):
        raw = _os.open(fd, _os.O_RDONLY | _os.O_CLOEXEC)
        try:
            err = C.setns(raw, nstype)
        finally:
            _os.close(raw)
    else:
        err = C.setns(fd.fileno() if hasattr(fd, "fileno") else fd, nstype)
    if err < 0:
        _raise(ffi.errno, _SETNS_ERRORS, "setns")
    return fd


def main(argv=None):
    """Demo: runs a command (default: ``$SHELL``, else ``/bin/sh``) in new mount, UTS,
    IPC and network namespaces: ``python -m butter.clone [COMMAND ARG...]``. Needs root.
    Replaces the calling process (``execvp``)."""
    argv = list(_sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = [_os.environ.get("SHELL", "/bin/sh")]
    unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)
    _os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
