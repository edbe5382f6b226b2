"""Type stubs for butter._eventfd."""

from types import SimpleNamespace
from typing import List, Union

from . import _native

__all__ = ['eventfd', 'str_to_events', 'event_to_str', 'EFD_CLOEXEC', 'EFD_NONBLOCK', 'EFD_SEMAPHORE']

EFD_CLOEXEC: int
EFD_NONBLOCK: int
EFD_SEMAPHORE: int

C: SimpleNamespace
ffi: _native.Errno

def eventfd(inital_value: int = ..., flags: int = ..., closefd: bool = ...) -> int: ...
def str_to_events(buf: Union[bytes, bytearray, memoryview]) -> List[int]: ...
def event_to_str(event: int) -> bytes: ...
