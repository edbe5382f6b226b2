"""Typed stub of butter.seccomp: system-call filters from names (new work)."""

from types import SimpleNamespace
from typing import Iterable, List, NamedTuple, Optional, Protocol, Tuple, Union

from .utils import InternalError as InternalError
from .utils import PermissionError as PermissionError
from .utils import UnknownError as UnknownError

__all__ = [
    "SyscallFilter",
    "Cond",
    "deny",
    "allow",
    "sandbox_default",
    "ERRNO",
    "ALLOW",
    "KILL",
    "KILL_PROCESS",
    "KILL_THREAD",
    "TRAP",
    "LOG",
    "CMP_EQ",
    "CMP_NE",
    "CMP_LT",
    "CMP_LE",
    "CMP_GT",
    "CMP_GE",
    "CMP_MASKED_EQ",
    "SANDBOX_DENY",
    "syscall_number",
    "syscall_name",
    "syscall_names",
    "InternalError",
    "PermissionError",
    "UnknownError",
]

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

lib: SimpleNamespace
_C: SimpleNamespace
ffi: _Errno
_ffi: _Errno

ALLOW: int
KILL: int
KILL_PROCESS: int
KILL_THREAD: int
TRAP: int
LOG: int
CMP_EQ: int
CMP_NE: int
CMP_LT: int
CMP_LE: int
CMP_GT: int
CMP_GE: int
CMP_MASKED_EQ: int
SANDBOX_DENY: Tuple[str, ...]

class _Program(Protocol):
    """A compiled filter (``butter._native._Program``)."""

    def instructions(self) -> bytes: ...
    def __len__(self) -> int: ...

def ERRNO(code: int) -> int: ...

class Cond(NamedTuple):
    arg: int
    cmp: int
    value: int
    mask: int = 0
    bits: int = 32

def syscall_number(name: str) -> int: ...
def syscall_name(nr: int) -> Optional[str]: ...
def syscall_names() -> List[str]: ...

_CondLike = Union[Cond, Tuple[int, int, int], Tuple[int, int, int, int], Tuple[int, int, int, int, int]]

class SyscallFilter:
    mode: str
    action: int
    def __init__(self, mode: str, names: Iterable[str] = (), action: Optional[int] = None) -> None: ...
    def add(self, *names: str) -> "SyscallFilter": ...
    def add_when(self, name: str, *conds: _CondLike) -> "SyscallFilter": ...
    def __contains__(self, name: str) -> bool: ...
    @property
    def names(self) -> List[str]: ...
    def compile(self) -> _Program: ...
    def install(self, all_threads: bool = False, program: Optional[_Program] = None) -> None: ...

def deny(names: Iterable[str], action: Optional[int] = None) -> SyscallFilter: ...
def allow(names: Iterable[str], action: int = ...) -> SyscallFilter: ...
def sandbox_default() -> SyscallFilter: ...
