"""Type stubs for butter._timerfd."""

from types import SimpleNamespace
from typing import Any, List, NamedTuple, Optional, Sequence, TypeVar, Union

from . import _native
from .utils import UnknownError

__all__ = ['TimePair', 'TimerVal', 'WakeAlarmPermissionError', 'timerfd', 'timerfd_gettime', 'timerfd_settime', 'get_timer_slack', 'set_timer_slack', 'TFD_CLOEXEC', 'TFD_NONBLOCK', 'TFD_TIMER_ABSTIME', 'TFD_TIMER_CANCEL_ON_SET', 'CLOCK_REALTIME', 'CLOCK_MONOTONIC', 'CLOCK_PROCESS_CPUTIME_ID', 'CLOCK_THREAD_CPUTIME_ID', 'CLOCK_MONOTONIC_RAW', 'CLOCK_REALTIME_COARSE', 'CLOCK_MONOTONIC_COARSE', 'CLOCK_BOOTTIME', 'CLOCK_REALTIME_ALARM', 'CLOCK_BOOTTIME_ALARM']

TFD_CLOEXEC: int
TFD_NONBLOCK: int
TFD_TIMER_ABSTIME: int
TFD_TIMER_CANCEL_ON_SET: int
CLOCK_REALTIME: int
CLOCK_MONOTONIC: int
CLOCK_PROCESS_CPUTIME_ID: int
CLOCK_THREAD_CPUTIME_ID: int
CLOCK_MONOTONIC_RAW: int
CLOCK_REALTIME_COARSE: int
CLOCK_MONOTONIC_COARSE: int
CLOCK_BOOTTIME: int
CLOCK_REALTIME_ALARM: int
CLOCK_BOOTTIME_ALARM: int

C: SimpleNamespace
ffi: _native.Errno

_T = TypeVar("_T", bound="TimerVal")


class TimePair(NamedTuple):
    seconds: int
    nano_seconds: int


class WakeAlarmPermissionError(UnknownError, PermissionError):
    errno: int
    def __init__(self, errno: int = ...) -> None: ...


class TimerVal:
    def __init__(self, timerspec: Union[None, "TimerVal", Sequence[int], Any] = ...) -> None: ...
    @property
    def occuring(self: _T) -> _T: ...
    @property
    def and_repeats(self: _T) -> _T: ...
    def every(self: _T, seconds: Optional[int] = ..., nano_seconds: Optional[int] = ...) -> _T: ...
    def repeat(self: _T, seconds: Optional[int] = ..., nano_seconds: Optional[int] = ...) -> _T: ...
    def repeats(self: _T, seconds: Optional[int] = ..., nano_seconds: Optional[int] = ...) -> _T: ...
    def after(self: _T, seconds: Optional[int] = ..., nano_seconds: Optional[int] = ...) -> _T: ...
    def offset(self: _T, seconds: Optional[int] = ..., nano_seconds: Optional[int] = ...) -> _T: ...
    def disable(self: _T) -> _T: ...
    @property
    def next_event(self) -> TimePair: ...
    @property
    def period(self) -> TimePair: ...
    @property
    def enabled(self) -> bool: ...
    def __timerspec__(self) -> List[int]: ...
    def __bool__(self) -> bool: ...


_Fd = Union[int, Any]

def timerfd(clock_type: int = ..., flags: int = ..., closefd: bool = ...) -> int: ...
def timerfd_gettime(fd: _Fd) -> TimerVal: ...
def timerfd_settime(fd: _Fd, timer_spec: Union[TimerVal, Sequence[int], Any], flags: int = ...) -> TimerVal: ...
def get_timer_slack() -> int: ...
def set_timer_slack(ns: Optional[int]) -> None: ...
