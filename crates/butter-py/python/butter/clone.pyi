"""Typed stub of butter.clone: unshare and setns."""

import os
from types import SimpleNamespace
from typing import List, Optional, Protocol, TypeVar, Union

from .utils import PermissionError as PermissionError
from .utils import UnknownError as UnknownError

__all__ = [
    "unshare",
    "setns",
    "main",
    "PermissionError",
    "UnknownError",
    "SETNS_ANY",
    "CLONE_ALL",
    "CLONE_VM",
    "CLONE_FS",
    "CLONE_FILES",
    "CLONE_SIGHAND",
    "CLONE_PIDFD",
    "CLONE_PTRACE",
    "CLONE_VFORK",
    "CLONE_PARENT",
    "CLONE_THREAD",
    "CLONE_NEWNS",
    "CLONE_SYSVSEM",
    "CLONE_SETTLS",
    "CLONE_PARENT_SETTID",
    "CLONE_CHILD_CLEARTID",
    "CLONE_DETACHED",
    "CLONE_UNTRACED",
    "CLONE_CHILD_SETTID",
    "CLONE_NEWCGROUP",
    "CLONE_NEWUTS",
    "CLONE_NEWIPC",
    "CLONE_NEWUSER",
    "CLONE_NEWPID",
    "CLONE_NEWNET",
    "CLONE_IO",
    "CLONE_NEWTIME",
]

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

_T = TypeVar("_T", int, str, bytes, _HasFileno, "os.PathLike[str]", "os.PathLike[bytes]")

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

C: SimpleNamespace
_C: SimpleNamespace
_lib: SimpleNamespace
ffi: _Errno
_ffi: _Errno

SETNS_ANY: int
CLONE_VM: int
CLONE_FS: int
CLONE_FILES: int
CLONE_SIGHAND: int
CLONE_PIDFD: int
CLONE_PTRACE: int
CLONE_VFORK: int
CLONE_PARENT: int
CLONE_THREAD: int
CLONE_NEWNS: int
CLONE_SYSVSEM: int
CLONE_SETTLS: int
CLONE_PARENT_SETTID: int
CLONE_CHILD_CLEARTID: int
CLONE_DETACHED: int
CLONE_UNTRACED: int
CLONE_CHILD_SETTID: int
CLONE_NEWCGROUP: int
CLONE_NEWUTS: int
CLONE_NEWIPC: int
CLONE_NEWUSER: int
CLONE_NEWPID: int
CLONE_NEWNET: int
CLONE_IO: int
CLONE_NEWTIME: int
CLONE_ALL: int

def unshare(flags: int) -> int: ...
def setns(fd: _T, nstype: int = ...) -> _T: ...
def main(argv: Optional[List[str]] = None) -> None: ...
