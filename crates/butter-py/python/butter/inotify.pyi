"""Type stubs for butter.inotify."""

from typing import List, Optional

from ._inotify import *
from ._inotify import IN_ALL_EVENTS as IN_ALL_EVENTS, InotifyEvent as InotifyEvent, _Path
from .utils import Eventlike


class Inotify(Eventlike):
    _blocking: bool
    def __init__(self, flags: int = ..., closefd: bool = ...) -> None: ...
    def watch(self, path: _Path, events: int) -> int: ...
    def ignore(self, wd: int) -> None: ...
    def del_watch(self, wd: int) -> None: ...
    def _read_events(self) -> List[InotifyEvent]: ...
    def read_event(self) -> InotifyEvent: ...
    def read_events(self) -> List[InotifyEvent]: ...
    def wait(self, timeout: "Optional[float]" = ...) -> InotifyEvent: ...


def watch(path: _Path, events: int = ...) -> InotifyEvent: ...

__all__ = [
    "Inotify",
    "watch",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "str_to_events",
    "event_name",
    "IN_ACCESS",
    "IN_ALL_EVENTS",
    "IN_ATTRIB",
    "IN_CLOEXEC",
    "IN_CLOSE",
    "IN_CLOSE_NOWRITE",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_DONT_FOLLOW",
    "IN_EXCL_UNLINK",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MASK_ADD",
    "IN_MASK_CREATE",
    "IN_MODIFY",
    "IN_MOVE",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_NONBLOCK",
    "IN_ONESHOT",
    "IN_ONLYDIR",
    "IN_OPEN",
    "IN_Q_OVERFLOW",
    "IN_UNMOUNT",
]
