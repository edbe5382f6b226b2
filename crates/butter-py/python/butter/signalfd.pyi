"""Type stubs for butter.signalfd."""

import signal
from typing import Iterable, List, Optional, Set, Union

from ._signalfd import (
    NEW_SIGNALFD as NEW_SIGNALFD,
    SFD_CLOEXEC as SFD_CLOEXEC,
    SFD_NONBLOCK as SFD_NONBLOCK,
    SIG_BLOCK as SIG_BLOCK,
    SIG_SETMASK as SIG_SETMASK,
    SIG_UNBLOCK as SIG_UNBLOCK,
    SIGINFO_LENGTH as SIGINFO_LENGTH,
    Signal as Signal,
    pthread_sigmask as pthread_sigmask,
    signalfd as signalfd,
    signum_to_signame as signum_to_signame,
)
from .utils import Eventlike

__all__ = ['Signalfd', 'Signal', 'signalfd', 'pthread_sigmask', 'signum_to_signame', 'NEW_SIGNALFD', 'SFD_CLOEXEC', 'SFD_NONBLOCK', 'SIG_BLOCK', 'SIG_UNBLOCK', 'SIG_SETMASK']

_Signals = Union[int, Iterable[int]]


class Signalfd(Eventlike):
    def __init__(self, sigmask: _Signals = ..., flags: int = ..., closefd: bool = ...) -> None: ...
    @property
    def signals(self) -> Set[Union[signal.Signals, int]]: ...
    def enable(self, signals: _Signals) -> None: ...
    def enable_all(self) -> None: ...
    def disable(self, signal: _Signals) -> None: ...
    def disable_all(self) -> None: ...
    def __contains__(self, signal: int) -> bool: ...
    def read_event(self) -> Signal: ...
    def read_events(self) -> List[Signal]: ...
    def wait(self, timeout: Optional[float] = ...) -> Signal: ...
    def __enter__(self) -> "Signalfd": ...
