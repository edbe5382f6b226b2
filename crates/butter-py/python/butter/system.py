"""Mounts, the root, the hostname and raw process ids: ``mount``, ``umount``,
``pivot_root``, ``sethostname``, ``gethostname``, ``getpid``, ``getppid``.

Everything but the process ids needs ``CAP_SYS_ADMIN``; to leave the host alone, do it in
new namespaces (``butter.clone.unshare(CLONE_NEWNS | CLONE_NEWUTS)``) and make the
mount tree private first (``mount("none", "/", None, MS_REC | MS_PRIVATE)``).

Where this differs from butter 0.13 on purpose (butter.md §1.16):

* Paths may be ``str``, ``bytes`` or ``os.PathLike``, up to ``MAXPATHLEN`` (4096, the
  kernel's ``PATH_MAX``; butter said 256).
* Every mount flag is here, including those a container needs before ``pivot_root``:
  ``MS_REC``, ``MS_PRIVATE``, ``MS_SLAVE``, ``MS_SHARED``, ``MS_UNBINDABLE``,
  ``MS_LAZYTIME``; and the ``umount`` flags ``MNT_FORCE``, ``MNT_DETACH``, ``MNT_EXPIRE``,
  ``UMOUNT_NOFOLLOW``.
* ``mount``'s ``fs`` and ``data`` (and ``src``) may be ``None`` where the kernel ignores
  them (binds, moves, remounts, propagation changes); ``data=""`` passes no options.
* ``sethostname`` accepts a 64-byte name (``HOST_NAME_MAX``; butter refused it).
* ``pivot_root``'s ENOTDIR error says which argument is not a directory.
* OSErrors carry their errno.

>>> from butter.system import getpid
>>> import os
>>> getpid() == os.getpid()
True
"""

import errno as _errno
import os as _os
import types as _types

from . import _native
from .utils import InternalError, PermissionError, UnknownError, _raise

__all__ = [
    "mount", "umount", "pivot_root", "sethostname", "gethostname", "getpid", "getppid",
    "Retry", "PermissionError", "InternalError", "UnknownError", "HOST_NAME_MAX",
    "MAXPATHLEN",
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_SYNCHRONOUS", "MS_REMOUNT",
    "MS_MANDLOCK", "MS_DIRSYNC", "MS_NOSYMFOLLOW", "MS_NOATIME", "MS_NODIRATIME",
    "MS_BIND", "MS_MOVE", "MS_REC", "MS_SILENT", "MS_POSIXACL", "MS_UNBINDABLE",
    "MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_RELATIME", "MS_KERNMOUNT", "MS_I_VERSION",
    "MS_STRICTATIME", "MS_LAZYTIME", "MS_ACTIVE", "MS_NOUSER", "MS_MGC_VAL", "MS_MGC_MSK",
    "MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW",
]

#: The raw calls (C contract: the result, or -1 with the errno in ``_ffi``), looked up at
#: call time so that tests can patch them.
_C = _types.SimpleNamespace(
    mount=_native.mount,
    umount2=_native.umount2,
    pivot_root=_native.pivot_root,
    sethostname=_native.sethostname,
    gethostname=_native.gethostname,
    getpid=_native.getpid,
    getppid=_native.getppid,
)
_lib = _C  # butter 0.12's name for the same namespace
#: The errno of the raw calls.
_ffi = _native.Errno()

MS_RDONLY = _native.MS_RDONLY
MS_NOSUID = _native.MS_NOSUID
MS_NODEV = _native.MS_NODEV
MS_NOEXEC = _native.MS_NOEXEC
MS_SYNCHRONOUS = _native.MS_SYNCHRONOUS
MS_REMOUNT = _native.MS_REMOUNT
MS_MANDLOCK = _native.MS_MANDLOCK
MS_DIRSYNC = _native.MS_DIRSYNC
MS_NOSYMFOLLOW = _native.MS_NOSYMFOLLOW
MS_NOATIME = _native.MS_NOATIME
MS_NODIRATIME = _native.MS_NODIRATIME
MS_BIND = _native.MS_BIND
MS_MOVE = _native.MS_MOVE
MS_REC = _native.MS_REC
MS_SILENT = _native.MS_SILENT
MS_POSIXACL = _native.MS_POSIXACL
MS_UNBINDABLE = _native.MS_UNBINDABLE
MS_PRIVATE = _native.MS_PRIVATE
MS_SLAVE = _native.MS_SLAVE
MS_SHARED = _native.MS_SHARED
MS_RELATIME = _native.MS_RELATIME
MS_KERNMOUNT = _native.MS_KERNMOUNT
MS_I_VERSION = _native.MS_I_VERSION
MS_STRICTATIME = _native.MS_STRICTATIME
MS_LAZYTIME = _native.MS_LAZYTIME
MS_ACTIVE = _native.MS_ACTIVE
MS_NOUSER = _native.MS_NOUSER
MS_MGC_VAL = _native.MS_MGC_VAL
MS_MGC_MSK = _native.MS_MGC_MSK
MNT_FORCE = _native.MNT_FORCE
MNT_DETACH = _native.MNT_DETACH
MNT_EXPIRE = _native.MNT_EXPIRE
UMOUNT_NOFOLLOW = _native.UMOUNT_NOFOLLOW

#: Longest hostname, in bytes.
HOST_NAME_MAX = _native.HOST_NAME_MAX
#: Longest path, in bytes, its terminating NUL included (the kernel's ``PATH_MAX``).
MAXPATHLEN = _native.PATH_MAX


class Retry(Exception):
    """Filesystem now marked as expired"""


_MOUNT_ERRORS = {
    _errno.EBUSY: ValueError,
    _errno.EFAULT: ValueError,
    _errno.EINVAL: ValueError,
    _errno.ELOOP: ValueError,
    _errno.ENAMETOOLONG: ValueError,
    _errno.ENOENT: ValueError,
    _errno.ENOTBLK: ValueError,
    _errno.ENOTDIR: ValueError,
    _errno.EMFILE: OSError,
    _errno.ENODEV: OSError,
    _errno.ENXIO: OSError,
    _errno.ENOMEM: MemoryError,
    _errno.EACCES: PermissionError,
    _errno.EPERM: PermissionError,
}
_UMOUNT_ERRORS = {
    _errno.EBUSY: ValueError,
    _errno.EFAULT: ValueError,
    _errno.EINVAL: ValueError,
    _errno.ENAMETOOLONG: ValueError,
    _errno.ENOENT: ValueError,
    _errno.ENOMEM: MemoryError,
    _errno.EPERM: PermissionError,
    _errno.EAGAIN: Retry,
}
_PIVOT_ROOT_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBUSY: ValueError,
    _errno.ENOTDIR: ValueError,
    _errno.EPERM: PermissionError,
}
_SETHOSTNAME_ERRORS = {
    _errno.EFAULT: ValueError,
    _errno.EINVAL: ValueError,
    _errno.EPERM: PermissionError,
}
_GETHOSTNAME_ERRORS = {
    _errno.EFAULT: ValueError,
    _errno.EINVAL: ValueError,
    _errno.EPERM: PermissionError,
    _errno.ENAMETOOLONG: InternalError,
}


def _path(p, what):
    """A path argument as the raw calls take it: bytes, at most MAXPATHLEN - 1 long."""
    b = _os.fsencode(p)
    if len(b) >= MAXPATHLEN:
        raise ValueError("{} is longer than {} bytes".format(what, MAXPATHLEN - 1))
    return b


def _opt(s, what):
    if s is None:
        return None
    return _path(s, what)


def _word(s):
    return None if s is None else _os.fsencode(s)


def mount(src, target, fs, flags=0, data=""):
    """Mounts ``src`` (a device, a directory to bind, or any word for virtual file
    systems) on ``target``, of file-system type ``fs``, with ``MS_*`` ``flags`` and the
    file system's ``data`` options (e.g. ``"size=16m,mode=0755"``).

    ``src``, ``fs`` and ``data`` may be ``None`` (and ``data`` empty) where the kernel
    ignores them: binds (``MS_BIND``, with ``MS_REC`` for the subtree), moves
    (``MS_MOVE``), remounts (``MS_REMOUNT``) and propagation changes (``MS_PRIVATE``,
    ``MS_SLAVE``, ``MS_SHARED``, ``MS_UNBINDABLE``, alone or with ``MS_REC``). A read-only
    bind needs a second call: ``MS_REMOUNT | MS_BIND | MS_RDONLY``.

    Raises ValueError (EBUSY, EFAULT, EINVAL, ELOOP, ENAMETOOLONG, ENOENT, ENOTBLK,
    ENOTDIR), OSError (EMFILE, ENODEV: unknown file system, ENXIO), MemoryError, or
    PermissionError (EACCES, EPERM: needs CAP_SYS_ADMIN).
    """
    data = _word(data) or None
    err = _C.mount(_opt(src, "src"), _path(target, "target"), _word(fs), flags, data)
    if err < 0:
        _raise(_ffi.errno, _MOUNT_ERRORS, "mount")


def umount(target, flags=0):
    """Unmounts ``target`` (``umount2``), with ``MNT_FORCE``, ``MNT_DETACH`` (lazy),
    ``MNT_EXPIRE`` or ``UMOUNT_NOFOLLOW``.

    Raises :class:`Retry` when ``MNT_EXPIRE`` has just marked the mount expired (unmount
    again to remove it), ValueError (EBUSY: in use, EFAULT, EINVAL: not a mount point,
    ENAMETOOLONG, ENOENT), MemoryError, or PermissionError (EPERM).
    """
    err = _C.umount2(_path(target, "target"), flags)
    if err < 0:
        _raise(_ffi.errno, _UMOUNT_ERRORS, "umount")


def pivot_root(new, old):
    """Makes ``new`` the root of the caller's mount namespace and moves the old root to
    ``old`` (at or under ``new``).

    ``new`` must be a mount point other than the current root's, and the mounts involved
    must not be shared (make ``/`` private, recursively, after unsharing the mount
    namespace). ``pivot_root(".", ".")`` then ``umount(".", MNT_DETACH)`` needs no
    directory for the old root.

    Raises ValueError (EINVAL, EBUSY; ENOTDIR, saying which argument is not a
    directory) or PermissionError (EPERM).
    """
    err = _C.pivot_root(_path(new, "new"), _path(old, "old"))
    if err < 0:
        errno = _ffi.errno
        if errno == _errno.ENOTDIR:
            bad = [name for name, p in (("new root", new), ("old root", old))
                   if not _os.path.isdir(p)]
            raise ValueError("pivot_root: {} is not a directory".format(
                " and ".join(bad) if bad else "a path component"))
        _raise(errno, _PIVOT_ROOT_ERRORS, "pivot_root")


def sethostname(hostname):
    """Sets the hostname of the caller's UTS namespace (``str`` or ``bytes``, up to
    ``HOST_NAME_MAX`` = 64 bytes).

    Raises ValueError (EINVAL: too long, EFAULT) or PermissionError (EPERM: needs
    CAP_SYS_ADMIN over the UTS namespace; ``unshare(CLONE_NEWUTS)`` first).
    """
    if isinstance(hostname, str):
        hostname = hostname.encode()
    err = _C.sethostname(bytes(hostname))
    if err < 0:
        _raise(_ffi.errno, _SETHOSTNAME_ERRORS, "sethostname")


def gethostname():
    """The hostname of the caller's UTS namespace, as ``bytes``."""
    name = _C.gethostname()
    if isinstance(name, int) and name < 0:
        _raise(_ffi.errno, _GETHOSTNAME_ERRORS, "gethostname")
    return name


def getpid():
    """The caller's process id, from the raw system call (no C library cache), as its
    PID namespace sees it."""
    return _C.getpid()


def getppid():
    """The parent's process id, from the raw system call; 0 when the parent lives
    outside the caller's PID namespace."""
    return _C.getppid()
