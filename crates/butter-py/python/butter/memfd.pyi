"""Typed stub of butter.memfd: anonymous memory files and their seals."""

import mmap
import os
from typing import Optional, Union

from ._memfd import flags as flags
from ._memfd import memfd_create as memfd_create
from ._memfd import revoke as revoke
from ._memfd import seal as seal
from ._memfd import PermissionError as PermissionError
from ._memfd import UnknownError as UnknownError
from .utils import Eventlike

__all__ = [
    "Memfd",
    "memfd_create",
    "seal",
    "revoke",
    "flags",
    "MFD_CLOEXEC",
    "MFD_ALLOW_SEALING",
    "MFD_HUGETLB",
    "MFD_NOEXEC_SEAL",
    "MFD_EXEC",
    "F_SEAL_SEAL",
    "F_SEAL_SHRINK",
    "F_SEAL_GROW",
    "F_SEAL_WRITE",
    "F_SEAL_FUTURE_WRITE",
    "F_SEAL_EXEC",
    "F_ADD_SEALS",
    "F_GET_SEALS",
    "ACCESS_COPY",
    "ACCESS_DEFAULT",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "MAP_PRIVATE",
    "MAP_SHARED",
    "PAGESIZE",
    "PROT_EXEC",
    "PROT_READ",
    "PROT_WRITE",
]

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
ACCESS_COPY: int
ACCESS_DEFAULT: int
ACCESS_READ: int
ACCESS_WRITE: int
MAP_PRIVATE: int
MAP_SHARED: int
PAGESIZE: int
PROT_EXEC: int
PROT_READ: int
PROT_WRITE: int

_Bytes = Union[bytes, bytearray, memoryview]

class Memfd(Eventlike):
    _name: str
    writable: bool  # type: ignore[assignment]
    growable: bool
    shrinkable: bool
    def __init__(
        self,
        name: Union[str, bytes] = "",
        inital_value: Union[int, _Bytes] = 0,
        flags: int = 0,
        closefd: bool = ...,
    ) -> None: ...
    @property
    def flags(self) -> int: ...
    def revoke(self, flags: int) -> None: ...
    def seal(self) -> None: ...
    def mmap(
        self,
        length: int = 0,
        flags: Optional[int] = None,
        prot: Optional[int] = None,
        access: Optional[int] = None,
        offset: int = 0,
    ) -> mmap.mmap: ...
    def read(self, size: Optional[int] = -1) -> bytes: ...
    def write(self, data: _Bytes) -> int: ...
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int: ...
    def tell(self) -> int: ...
    def seekable(self) -> bool: ...
    def size(self) -> int: ...
    def truncate(self, size: Optional[int] = None) -> int: ...  # type: ignore[override]
