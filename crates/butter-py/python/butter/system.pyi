"""Typed stub of butter.system: mounts, pivot_root, hostnames, raw process ids."""

import os
from types import SimpleNamespace
from typing import Optional, Protocol, Union

from .utils import InternalError as InternalError
from .utils import PermissionError as PermissionError
from .utils import UnknownError as UnknownError

__all__ = [
    "mount",
    "umount",
    "pivot_root",
    "sethostname",
    "gethostname",
    "getpid",
    "getppid",
    "Retry",
    "PermissionError",
    "InternalError",
    "UnknownError",
    "HOST_NAME_MAX",
    "MAXPATHLEN",
    "MS_RDONLY",
    "MS_NOSUID",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_SYNCHRONOUS",
    "MS_REMOUNT",
    "MS_MANDLOCK",
    "MS_DIRSYNC",
    "MS_NOSYMFOLLOW",
    "MS_NOATIME",
    "MS_NODIRATIME",
    "MS_BIND",
    "MS_MOVE",
    "MS_REC",
    "MS_SILENT",
    "MS_POSIXACL",
    "MS_UNBINDABLE",
    "MS_PRIVATE",
    "MS_SLAVE",
    "MS_SHARED",
    "MS_RELATIME",
    "MS_KERNMOUNT",
    "MS_I_VERSION",
    "MS_STRICTATIME",
    "MS_LAZYTIME",
    "MS_ACTIVE",
    "MS_NOUSER",
    "MS_MGC_VAL",
    "MS_MGC_MSK",
    "MNT_FORCE",
    "MNT_DETACH",
    "MNT_EXPIRE",
    "UMOUNT_NOFOLLOW",
]

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

_C: SimpleNamespace
_lib: SimpleNamespace
_ffi: _Errno

HOST_NAME_MAX: int
MAXPATHLEN: int
MS_RDONLY: int
MS_NOSUID: int
MS_NODEV: int
MS_NOEXEC: int
MS_SYNCHRONOUS: int
MS_REMOUNT: int
MS_MANDLOCK: int
MS_DIRSYNC: int
MS_NOSYMFOLLOW: int
MS_NOATIME: int
MS_NODIRATIME: int
MS_BIND: int
MS_MOVE: int
MS_REC: int
MS_SILENT: int
MS_POSIXACL: int
MS_UNBINDABLE: int
MS_PRIVATE: int
MS_SLAVE: int
MS_SHARED: int
MS_RELATIME: int
MS_KERNMOUNT: int
MS_I_VERSION: int
MS_STRICTATIME: int
MS_LAZYTIME: int
MS_ACTIVE: int
MS_NOUSER: int
MS_MGC_VAL: int
MS_MGC_MSK: int
MNT_FORCE: int
MNT_DETACH: int
MNT_EXPIRE: int
UMOUNT_NOFOLLOW: int

class Retry(Exception):
    """Filesystem now marked as expired"""

def mount(
    src: Optional[_Path],
    target: _Path,
    fs: Optional[Union[str, bytes]],
    flags: int = 0,
    data: Optional[Union[str, bytes]] = "",
) -> None: ...
def umount(target: _Path, flags: int = 0) -> None: ...
def pivot_root(new: _Path, old: _Path) -> None: ...
def sethostname(hostname: Union[str, bytes]) -> None: ...
def gethostname() -> bytes: ...
def getpid() -> int: ...
def getppid() -> int: ...
