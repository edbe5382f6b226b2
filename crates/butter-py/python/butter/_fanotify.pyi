"""Type stubs for butter._fanotify."""

import os
from types import SimpleNamespace, TracebackType
from typing import Any, List, Literal, NamedTuple, Optional, Tuple, Type, Union

from typing import Any as _Any
from .fanotify_constants import *

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class _FileNo:
    def fileno(self) -> int: ...


_Fd = Union[int, _FileNo]

C: SimpleNamespace
lib: SimpleNamespace
ffi: _Any
O_RDONLY: int
O_WRONLY: int
O_RDWR: int
AT_FDCWD: int
READ_EVENTS_MAX: int

def fanotify_init(flags: int = ..., event_flags: int = ..., closefd: bool = ...) -> int: ...
def fanotify_mark(fd: _Fd, path: Optional[_Path], mask: int, flags: int, dfd: _Fd = ...) -> None: ...
def fanotify_respond(fd: _Fd, event_fd: int, response: int) -> None: ...


class FanotifyFid(NamedTuple):
    type: int
    fsid: Tuple[int, int]
    handle_type: int
    handle: bytes
    name: Optional[bytes]


class FanotifyInfo(NamedTuple):
    type: int
    data: Any


class FanotifyEvent:
    version: int
    mask: int
    fd: Optional[int]
    pid: int
    info: Tuple[Union[FanotifyFid, FanotifyInfo], ...]
    pidfd: Optional[int]
    def __init__(self, version: int, mask: int, fd: Optional[int], pid: int, info: Any = ...) -> None: ...
    @property
    def filename(self) -> str: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> "FanotifyEvent": ...
    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> Literal[False]: ...
    @property
    def access_event(self) -> bool: ...
    @property
    def access_perm_event(self) -> bool: ...
    @property
    def modify_event(self) -> bool: ...
    @property
    def close_event(self) -> bool: ...
    @property
    def close_write_event(self) -> bool: ...
    @property
    def close_nowrite_event(self) -> bool: ...
    @property
    def open_event(self) -> bool: ...
    @property
    def open_perm_event(self) -> bool: ...
    @property
    def queue_overflow_event(self) -> bool: ...
    @property
    def on_dir_event(self) -> bool: ...
    @property
    def on_child_event(self) -> bool: ...
    @property
    def open_exec_event(self) -> bool: ...
    @property
    def open_exec_perm_event(self) -> bool: ...
    @property
    def permission_event(self) -> bool: ...
    @property
    def attrib_event(self) -> bool: ...
    @property
    def create_event(self) -> bool: ...
    @property
    def delete_event(self) -> bool: ...
    @property
    def moved_from_event(self) -> bool: ...
    @property
    def moved_to_event(self) -> bool: ...
    @property
    def delete_self_event(self) -> bool: ...
    @property
    def move_self_event(self) -> bool: ...
    @property
    def rename_event(self) -> bool: ...
    @property
    def fs_error_event(self) -> bool: ...
    @property
    def fid(self) -> Optional[FanotifyFid]: ...
    @property
    def dfid(self) -> Optional[FanotifyFid]: ...
    @property
    def name(self) -> Optional[bytes]: ...
    @property
    def error(self) -> Optional[Tuple[int, int]]: ...


def str_to_events(raw: bytes) -> List[FanotifyEvent]: ...
def _read(fd: int, bufsize: int = ...) -> List[FanotifyEvent]: ...

__all__ = [
    "C",
    "lib",
    "ffi",
    "FanotifyEvent",
    "FanotifyFid",
    "FanotifyInfo",
    "fanotify_init",
    "fanotify_mark",
    "fanotify_respond",
    "str_to_events",
    "READ_EVENTS_MAX",
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "AT_FDCWD",
    "FANOTIFY_METADATA_VERSION",
    "FAN_ACCESS",
    "FAN_ACCESS_PERM",
    "FAN_ALLOW",
    "FAN_ALL_EVENTS",
    "FAN_ALL_MARK_FLAGS",
    "FAN_ALL_PERM_EVENTS",
    "FAN_ATTRIB",
    "FAN_AUDIT",
    "FAN_CLASS_CONTENT",
    "FAN_CLASS_NOTIF",
    "FAN_CLASS_PRE_CONTENT",
    "FAN_CLOEXEC",
    "FAN_CLOSE",
    "FAN_CLOSE_NOWRITE",
    "FAN_CLOSE_WRITE",
    "FAN_CREATE",
    "FAN_DELETE",
    "FAN_DELETE_SELF",
    "FAN_DENY",
    "FAN_ENABLE_AUDIT",
    "FAN_EPIDFD",
    "FAN_EVENT_INFO_TYPE_DFID",
    "FAN_EVENT_INFO_TYPE_DFID_NAME",
    "FAN_EVENT_INFO_TYPE_ERROR",
    "FAN_EVENT_INFO_TYPE_FID",
    "FAN_EVENT_INFO_TYPE_NEW_DFID_NAME",
    "FAN_EVENT_INFO_TYPE_OLD_DFID_NAME",
    "FAN_EVENT_INFO_TYPE_PIDFD",
    "FAN_EVENT_ON_CHILD",
    "FAN_FS_ERROR",
    "FAN_MARK_ADD",
    "FAN_MARK_DONT_FOLLOW",
    "FAN_MARK_EVICTABLE",
    "FAN_MARK_FILESYSTEM",
    "FAN_MARK_FLUSH",
    "FAN_MARK_IGNORE",
    "FAN_MARK_IGNORED_MASK",
    "FAN_MARK_IGNORED_SURV_MODIFY",
    "FAN_MARK_IGNORE_SURV",
    "FAN_MARK_INODE",
    "FAN_MARK_MOUNT",
    "FAN_MARK_ONLYDIR",
    "FAN_MARK_REMOVE",
    "FAN_MODIFY",
    "FAN_MODIFY_DIR",
    "FAN_MOVE",
    "FAN_MOVED_FROM",
    "FAN_MOVED_TO",
    "FAN_MOVE_SELF",
    "FAN_NOFD",
    "FAN_NONBLOCK",
    "FAN_NOPIDFD",
    "FAN_ONDIR",
    "FAN_OPEN",
    "FAN_OPEN_EXEC",
    "FAN_OPEN_EXEC_PERM",
    "FAN_OPEN_PERM",
    "FAN_Q_OVERFLOW",
    "FAN_RENAME",
    "FAN_REPORT_DFID_NAME",
    "FAN_REPORT_DFID_NAME_TARGET",
    "FAN_REPORT_DIR_FID",
    "FAN_REPORT_FID",
    "FAN_REPORT_NAME",
    "FAN_REPORT_PIDFD",
    "FAN_REPORT_TARGET_FID",
    "FAN_REPORT_TID",
    "FAN_UNLIMITED_MARKS",
    "FAN_UNLIMITED_QUEUE",
]
