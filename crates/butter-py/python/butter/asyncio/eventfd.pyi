"""Type stubs for butter.asyncio.eventfd."""

import asyncio
from typing import Optional

from ..eventfd import Eventfd
from ._broadcast import _Broadcast

__all__ = ['Eventfd_async']


class Eventfd_async(_Broadcast[int]):
    _eventfd: Eventfd
    _value: int
    def __init__(self, inital_value: int = ..., flags: int = ..., *, loop: Optional[asyncio.AbstractEventLoop] = ...) -> None: ...
    def increment(self, value: int = ...) -> None: ...
    def get_last(self) -> int: ...
