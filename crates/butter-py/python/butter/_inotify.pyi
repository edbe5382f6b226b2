"""Type stubs for butter._inotify."""

import os
from types import SimpleNamespace
from typing import Dict, List, NamedTuple, Optional, Union

from typing import Any as _Any

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

C: SimpleNamespace
lib: SimpleNamespace
ffi: _Any

IN_ACCESS: int
IN_MODIFY: int
IN_ATTRIB: int
IN_CLOSE_WRITE: int
IN_CLOSE_NOWRITE: int
IN_CLOSE: int
IN_OPEN: int
IN_MOVED_FROM: int
IN_MOVED_TO: int
IN_MOVE: int
IN_CREATE: int
IN_DELETE: int
IN_DELETE_SELF: int
IN_MOVE_SELF: int
IN_ALL_EVENTS: int
IN_UNMOUNT: int
IN_Q_OVERFLOW: int
IN_IGNORED: int
IN_ISDIR: int
IN_ONLYDIR: int
IN_DONT_FOLLOW: int
IN_EXCL_UNLINK: int
IN_MASK_CREATE: int
IN_MASK_ADD: int
IN_ONESHOT: int
IN_CLOEXEC: int
IN_NONBLOCK: int

event_name: Dict[Union[str, int], Union[int, str]]


class _FileNo:
    def fileno(self) -> int: ...

_Fd = Union[int, _FileNo]

def inotify_init(flags: int = ..., closefd: bool = ...) -> int: ...
def inotify_add_watch(fd: _Fd, path: _Path, mask: int) -> int: ...
def inotify_rm_watch(fd: _Fd, wd: int) -> None: ...


class InotifyEvent(NamedTuple):
    wd: int
    mask: int
    cookie: int
    filename: bytes
    @property
    def access_event(self) -> bool: ...
    @property
    def modify_event(self) -> bool: ...
    @property
    def attrib_event(self) -> bool: ...
    @property
    def close_write_event(self) -> bool: ...
    @property
    def close_nowrite_event(self) -> bool: ...
    @property
    def close_event(self) -> bool: ...
    @property
    def open_event(self) -> bool: ...
    @property
    def moved_from_event(self) -> bool: ...
    @property
    def moved_to_event(self) -> bool: ...
    @property
    def create_event(self) -> bool: ...
    @property
    def delete_event(self) -> bool: ...
    @property
    def delete_self_event(self) -> bool: ...
    @property
    def move_self_event(self) -> bool: ...
    @property
    def is_dir_event(self) -> bool: ...
    @property
    def queue_overflow_event(self) -> bool: ...
    @property
    def ignored_event(self) -> bool: ...
    @property
    def unmount_event(self) -> bool: ...


def str_to_events(raw_bytes: bytes) -> List[InotifyEvent]: ...
def _read(fd: int, limit: Optional[int] = ...) -> List[InotifyEvent]: ...

__all__ = [
    "C",
    "lib",
    "ffi",
    "InotifyEvent",
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
