"""Typed stub of butter._memfd: memfd_create and the seal calls."""

import os
from types import SimpleNamespace
from typing import Protocol, Union

from .utils import PermissionError as PermissionError
from .utils import UnknownError as UnknownError

__all__ = [
    "memfd_create",
    "seal",
    "revoke",
    "flags",
    "MFD_CLOEXEC",
    "MFD_ALLOW_SEALING",
    "MFD_HUGETLB",
    "MFD_NOEXEC_SEAL",
    "MFD_EXEC",
    "MFD_HUGE_SHIFT",
    "MFD_HUGE_MASK",
    "MFD_HUGE_64KB",
    "MFD_HUGE_512KB",
    "MFD_HUGE_1MB",
    "MFD_HUGE_2MB",
    "MFD_HUGE_8MB",
    "MFD_HUGE_16MB",
    "MFD_HUGE_32MB",
    "MFD_HUGE_256MB",
    "MFD_HUGE_512MB",
    "MFD_HUGE_1GB",
    "MFD_HUGE_2GB",
    "MFD_HUGE_16GB",
    "F_ADD_SEALS",
    "F_GET_SEALS",
    "F_SEAL_SEAL",
    "F_SEAL_SHRINK",
    "F_SEAL_GROW",
    "F_SEAL_WRITE",
    "F_SEAL_FUTURE_WRITE",
    "F_SEAL_EXEC",
    "PermissionError",
    "UnknownError",
]

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

_Fd = Union[int, _HasFileno]

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

lib: SimpleNamespace
_lib: SimpleNamespace
ffi: _Errno

MFD_CLOEXEC: int
MFD_ALLOW_SEALING: int
MFD_HUGETLB: int
MFD_NOEXEC_SEAL: int
MFD_EXEC: int
MFD_HUGE_SHIFT: int
MFD_HUGE_MASK: int
MFD_HUGE_64KB: int
MFD_HUGE_512KB: int
MFD_HUGE_1MB: int
MFD_HUGE_2MB: int
MFD_HUGE_8MB: int
MFD_HUGE_16MB: int
MFD_HUGE_32MB: int
MFD_HUGE_256MB: int
MFD_HUGE_512MB: int
MFD_HUGE_1GB: int
MFD_HUGE_2GB: int
MFD_HUGE_16GB: int
F_ADD_SEALS: int
F_GET_SEALS: int
F_SEAL_SEAL: int
F_SEAL_SHRINK: int
F_SEAL_GROW: int
F_SEAL_WRITE: int
F_SEAL_FUTURE_WRITE: int
F_SEAL_EXEC: int

def memfd_create(
    name: Union[str, bytes, "os.PathLike[str]"] = "", flags: int = 0, closefd: bool = ...
) -> int: ...
def revoke(fd: _Fd, flags: int) -> None: ...
def seal(fd: _Fd) -> None: ...
def flags(fd: _Fd) -> int: ...
