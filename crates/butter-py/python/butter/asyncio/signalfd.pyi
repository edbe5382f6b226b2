"""Type stubs for butter.asyncio.signalfd."""

import asyncio
import signal
from typing import Iterable, Optional, Set, Union

from ..signalfd import Signal, Signalfd
from ._broadcast import _Broadcast

_Signals = Union[int, Iterable[int]]

__all__ = ['Signalfd_async']


class Signalfd_async(_Broadcast[Signal]):
    _signalfd: Signalfd
    def __init__(self, signals: _Signals = ..., flags: int = ..., *, loop: Optional[asyncio.AbstractEventLoop] = ...) -> None: ...
    def enable(self, signals: _Signals) -> None: ...
    def enable_all(self) -> None: ...
    def disable(self, signal: _Signals) -> None: ...
    def disable_all(self) -> None: ...
    @property
    def signals(self) -> Set[Union[signal.Signals, int]]: ...
    def __contains__(self, signal: int) -> bool: ...
