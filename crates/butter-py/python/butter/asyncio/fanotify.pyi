"""Type stubs for butter.asyncio.fanotify."""

import asyncio
from typing import Optional, Union

from .._fanotify import FanotifyEvent, _Fd, _Path
from ..fanotify import Fanotify
from .inotify import QueueClosed as QueueClosed, _EventQueue


class Fanotify_async(_EventQueue[FanotifyEvent]):
    _fanotify: Fanotify
    def __init__(self, flags: int = ..., event_flags: int = ..., *, loop: Optional[asyncio.AbstractEventLoop] = ..., maxsize: int = ..., closefd: bool = ...) -> None: ...
    def watch(self, path: _Path, event_mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def ignore(self, path: _Path, event_mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def del_watch(self, path: _Path, event_mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def respond(self, event: Union[FanotifyEvent, int], allow: bool = ..., audit: bool = ...) -> None: ...
    def allow(self, event: Union[FanotifyEvent, int]) -> None: ...
    def deny(self, event: Union[FanotifyEvent, int]) -> None: ...

__all__ = [
    "Fanotify_async",
    "QueueClosed",
]
