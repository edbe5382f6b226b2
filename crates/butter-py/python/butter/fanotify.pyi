"""Type stubs for butter.fanotify."""

from typing import List, Optional, Union

from ._fanotify import *
from ._fanotify import FanotifyEvent as FanotifyEvent, _Fd, _Path
from .utils import Eventlike


class Fanotify(Eventlike):
    blocking: bool
    _blocking: bool
    _flags: int
    def __init__(self, flags: int, event_flags: int = ..., closefd: bool = ...) -> None: ...
    def watch(self, path: _Path, mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def ignore(self, path: _Path, mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def del_watch(self, path: _Path, mask: int, flags: int = ..., dfd: _Fd = ...) -> None: ...
    def flush(self, flags: int = ...) -> None: ...
    def respond(self, event: Union[FanotifyEvent, int], allow: bool = ..., audit: bool = ...) -> None: ...
    def allow(self, event: Union[FanotifyEvent, int]) -> None: ...
    def deny(self, event: Union[FanotifyEvent, int]) -> None: ...
    def close(self) -> None: ...
    def truncate(self) -> None: ...
    def _read_events(self) -> List[FanotifyEvent]: ...
    def read_event(self) -> FanotifyEvent: ...
    def read_events(self) -> List[FanotifyEvent]: ...
    def wait(self, timeout: "Optional[float]" = ...) -> FanotifyEvent: ...

__all__ = [
    "Fanotify",
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
