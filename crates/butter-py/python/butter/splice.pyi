"""Typed stub of butter.splice: splice, tee and vmsplice."""

from types import SimpleNamespace
from typing import Iterable, Optional, Protocol, Tuple, Union

from .utils import UnknownError as UnknownError

__all__ = [
    "splice",
    "splice_at",
    "tee",
    "vmsplice",
    "SPLICE_F_MOVE",
    "SPLICE_F_NONBLOCK",
    "SPLICE_F_MORE",
    "SPLICE_F_GIFT",
    "IOV_MAX",
    "NULL_TERMINATOR",
    "UnknownError",
]

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

_Fd = Union[int, _HasFileno]
_Buffer = Union[bytes, bytearray, memoryview, str]

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

_C: SimpleNamespace
_lib: SimpleNamespace
_ffi: _Errno

SPLICE_F_MOVE: int
SPLICE_F_NONBLOCK: int
SPLICE_F_MORE: int
SPLICE_F_GIFT: int
IOV_MAX: int
NULL_TERMINATOR: int

def splice(
    fd_in: _Fd,
    fd_out: _Fd,
    in_offset: Optional[int] = 0,
    out_offset: Optional[int] = 0,
    len: int = 0,
    flags: int = 0,
    *,
    offset_in: Optional[int] = None,
    offset_out: Optional[int] = None,
) -> int: ...
def splice_at(
    fd_in: _Fd,
    fd_out: _Fd,
    len: int,
    offset_in: Optional[int] = None,
    offset_out: Optional[int] = None,
    flags: int = 0,
) -> Tuple[int, Optional[int], Optional[int]]: ...
def tee(fd_in: _Fd, fd_out: _Fd, len: int = 0, flags: int = 0) -> int: ...
def vmsplice(fd: _Fd, vec: Iterable[_Buffer], flags: int = 0) -> int: ...
