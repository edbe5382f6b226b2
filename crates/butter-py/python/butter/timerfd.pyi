"""Type stubs for butter.timerfd."""

from typing import List, Optional

from ._timerfd import (
    CLOCK_BOOTTIME as CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM as CLOCK_BOOTTIME_ALARM,
    CLOCK_MONOTONIC as CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_COARSE as CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW as CLOCK_MONOTONIC_RAW,
    CLOCK_PROCESS_CPUTIME_ID as CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME as CLOCK_REALTIME,
    CLOCK_REALTIME_ALARM as CLOCK_REALTIME_ALARM,
    CLOCK_REALTIME_COARSE as CLOCK_REALTIME_COARSE,
    CLOCK_THREAD_CPUTIME_ID as CLOCK_THREAD_CPUTIME_ID,
    TFD_CLOEXEC as TFD_CLOEXEC,
    TFD_NONBLOCK as TFD_NONBLOCK,
    TFD_TIMER_ABSTIME as TFD_TIMER_ABSTIME,
    TFD_TIMER_CANCEL_ON_SET as TFD_TIMER_CANCEL_ON_SET,
    TimePair as TimePair,
    TimerVal as TimerVal,
    WakeAlarmPermissionError as WakeAlarmPermissionError,
    get_timer_slack as get_timer_slack,
    set_timer_slack as set_timer_slack,
    timerfd as timerfd,
    timerfd_gettime as timerfd_gettime,
    timerfd_settime as timerfd_settime,
)
from .utils import Eventlike

__all__ = ['Timer', 'TimerVal', 'TimePair', 'WakeAlarmPermissionError', 'timerfd', 'timerfd_gettime', 'timerfd_settime', 'get_timer_slack', 'set_timer_slack', 'TFD_CLOEXEC', 'TFD_NONBLOCK', 'TFD_TIMER_ABSTIME', 'TFD_TIMER_CANCEL_ON_SET', 'CLOCK_REALTIME', 'CLOCK_MONOTONIC', 'CLOCK_PROCESS_CPUTIME_ID', 'CLOCK_THREAD_CPUTIME_ID', 'CLOCK_MONOTONIC_RAW', 'CLOCK_REALTIME_COARSE', 'CLOCK_MONOTONIC_COARSE', 'CLOCK_BOOTTIME', 'CLOCK_REALTIME_ALARM', 'CLOCK_BOOTTIME_ALARM']


class Timer(Eventlike, TimerVal):
    def __init__(self, clock_type: int = ..., flags: int = ..., closefd: bool = ...) -> None: ...
    def get_current(self) -> TimerVal: ...
    def update(self, absolute: bool = ...) -> TimerVal: ...
    def read_event(self) -> int: ...
    def read_events(self) -> List[int]: ...
    def wait(self, timeout: Optional[float] = ...) -> int: ...
    def __enter__(self) -> "Timer": ...
