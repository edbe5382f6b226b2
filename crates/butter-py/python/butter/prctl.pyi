"""Typed stub of butter.prctl: prctl and its friendly wrappers."""

from types import SimpleNamespace
from typing import Iterator, Protocol, Union

from .utils import InternalError as InternalError
from .utils import PermissionError as PermissionError
from .utils import UnknownError as UnknownError

__all__ = [
    "prctl",
    "Prctl",
    "Capbset",
    "get_name",
    "set_name",
    "get_pdeathsig",
    "set_pdeathsig",
    "get_child_subreaper",
    "set_child_subreaper",
    "get_no_new_privs",
    "set_no_new_privs",
    "get_timer_slack",
    "set_timer_slack",
    "get_dumpable",
    "set_dumpable",
    "get_keepcaps",
    "set_keepcaps",
    "get_securebits",
    "set_securebits",
    "get_seccomp",
    "capbset_read",
    "capbset_drop",
    "cap_last_cap",
    "InternalError",
    "PermissionError",
    "UnknownError",
    "PR_SET_PDEATHSIG",
    "PR_GET_PDEATHSIG",
    "PR_GET_DUMPABLE",
    "PR_SET_DUMPABLE",
    "PR_GET_UNALIGN",
    "PR_SET_UNALIGN",
    "PR_UNALIGN_NOPRINT",
    "PR_UNALIGN_SIGBUS",
    "PR_GET_KEEPCAPS",
    "PR_SET_KEEPCAPS",
    "PR_GET_FPEMU",
    "PR_SET_FPEMU",
    "PR_FPEMU_NOPRINT",
    "PR_FPEMU_SIGFPE",
    "PR_GET_FPEXC",
    "PR_SET_FPEXC",
    "PR_FP_EXC_SW_ENABLE",
    "PR_FP_EXC_DIV",
    "PR_FP_EXC_OVF",
    "PR_FP_EXC_UND",
    "PR_FP_EXC_RES",
    "PR_FP_EXC_INV",
    "PR_FP_EXC_DISABLED",
    "PR_FP_EXC_NONRECOV",
    "PR_FP_EXC_ASYNC",
    "PR_FP_EXC_PRECISE",
    "PR_GET_TIMING",
    "PR_SET_TIMING",
    "PR_TIMING_STATISTICAL",
    "PR_TIMING_TIMESTAMP",
    "PR_SET_NAME",
    "PR_GET_NAME",
    "PR_GET_ENDIAN",
    "PR_SET_ENDIAN",
    "PR_ENDIAN_BIG",
    "PR_ENDIAN_LITTLE",
    "PR_ENDIAN_PPC_LITTLE",
    "PR_GET_SECCOMP",
    "PR_SET_SECCOMP",
    "PR_CAPBSET_READ",
    "PR_CAPBSET_DROP",
    "PR_GET_TSC",
    "PR_SET_TSC",
    "PR_TSC_ENABLE",
    "PR_TSC_SIGSEGV",
    "PR_GET_SECUREBITS",
    "PR_SET_SECUREBITS",
    "PR_SET_TIMERSLACK",
    "PR_GET_TIMERSLACK",
    "PR_TASK_PERF_EVENTS_DISABLE",
    "PR_TASK_PERF_EVENTS_ENABLE",
    "PR_MCE_KILL",
    "PR_MCE_KILL_CLEAR",
    "PR_MCE_KILL_SET",
    "PR_MCE_KILL_LATE",
    "PR_MCE_KILL_EARLY",
    "PR_MCE_KILL_DEFAULT",
    "PR_MCE_KILL_GET",
    "PR_SET_MM",
    "PR_SET_PTRACER",
    "PR_SET_PTRACER_ANY",
    "PR_SET_CHILD_SUBREAPER",
    "PR_GET_CHILD_SUBREAPER",
    "PR_SET_NO_NEW_PRIVS",
    "PR_GET_NO_NEW_PRIVS",
    "PR_GET_TID_ADDRESS",
    "PR_SET_THP_DISABLE",
    "PR_GET_THP_DISABLE",
    "PR_SET_FP_MODE",
    "PR_GET_FP_MODE",
    "PR_CAP_AMBIENT",
    "PR_CAP_AMBIENT_IS_SET",
    "PR_CAP_AMBIENT_RAISE",
    "PR_CAP_AMBIENT_LOWER",
    "PR_CAP_AMBIENT_CLEAR_ALL",
    "PR_SET_VMA",
    "PR_SCHED_CORE",
    "PR_SET_MDWE",
    "PR_GET_MDWE",
    "PR_SET_MEMORY_MERGE",
    "PR_GET_MEMORY_MERGE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

class _Errno(Protocol):
    """The seam's errno object (``butter._native.Errno``)."""

    errno: int

_C: SimpleNamespace
_lib: SimpleNamespace
ffi: _Errno
_ffi: _Errno

PR_SET_PDEATHSIG: int
PR_GET_PDEATHSIG: int
PR_GET_DUMPABLE: int
PR_SET_DUMPABLE: int
PR_GET_UNALIGN: int
PR_SET_UNALIGN: int
PR_UNALIGN_NOPRINT: int
PR_UNALIGN_SIGBUS: int
PR_GET_KEEPCAPS: int
PR_SET_KEEPCAPS: int
PR_GET_FPEMU: int
PR_SET_FPEMU: int
PR_FPEMU_NOPRINT: int
PR_FPEMU_SIGFPE: int
PR_GET_FPEXC: int
PR_SET_FPEXC: int
PR_FP_EXC_SW_ENABLE: int
PR_FP_EXC_DIV: int
PR_FP_EXC_OVF: int
PR_FP_EXC_UND: int
PR_FP_EXC_RES: int
PR_FP_EXC_INV: int
PR_FP_EXC_DISABLED: int
PR_FP_EXC_NONRECOV: int
PR_FP_EXC_ASYNC: int
PR_FP_EXC_PRECISE: int
PR_GET_TIMING: int
PR_SET_TIMING: int
PR_TIMING_STATISTICAL: int
PR_TIMING_TIMESTAMP: int
PR_SET_NAME: int
PR_GET_NAME: int
PR_GET_ENDIAN: int
PR_SET_ENDIAN: int
PR_ENDIAN_BIG: int
PR_ENDIAN_LITTLE: int
PR_ENDIAN_PPC_LITTLE: int
PR_GET_SECCOMP: int
PR_SET_SECCOMP: int
PR_CAPBSET_READ: int
PR_CAPBSET_DROP: int
PR_GET_TSC: int
PR_SET_TSC: int
PR_TSC_ENABLE: int
PR_TSC_SIGSEGV: int
PR_GET_SECUREBITS: int
PR_SET_SECUREBITS: int
PR_SET_TIMERSLACK: int
PR_GET_TIMERSLACK: int
PR_TASK_PERF_EVENTS_DISABLE: int
PR_TASK_PERF_EVENTS_ENABLE: int
PR_MCE_KILL: int
PR_MCE_KILL_CLEAR: int
PR_MCE_KILL_SET: int
PR_MCE_KILL_LATE: int
PR_MCE_KILL_EARLY: int
PR_MCE_KILL_DEFAULT: int
PR_MCE_KILL_GET: int
PR_SET_MM: int
PR_SET_PTRACER: int
PR_SET_PTRACER_ANY: int
PR_SET_CHILD_SUBREAPER: int
PR_GET_CHILD_SUBREAPER: int
PR_SET_NO_NEW_PRIVS: int
PR_GET_NO_NEW_PRIVS: int
PR_GET_TID_ADDRESS: int
PR_SET_THP_DISABLE: int
PR_GET_THP_DISABLE: int
PR_SET_FP_MODE: int
PR_GET_FP_MODE: int
PR_CAP_AMBIENT: int
PR_CAP_AMBIENT_IS_SET: int
PR_CAP_AMBIENT_RAISE: int
PR_CAP_AMBIENT_LOWER: int
PR_CAP_AMBIENT_CLEAR_ALL: int
PR_SET_VMA: int
PR_SCHED_CORE: int
PR_SET_MDWE: int
PR_GET_MDWE: int
PR_SET_MEMORY_MERGE: int
PR_GET_MEMORY_MERGE: int
CAP_CHOWN: int
CAP_DAC_OVERRIDE: int
CAP_DAC_READ_SEARCH: int
CAP_FOWNER: int
CAP_FSETID: int
CAP_KILL: int
CAP_SETGID: int
CAP_SETUID: int
CAP_SETPCAP: int
CAP_LINUX_IMMUTABLE: int
CAP_NET_BIND_SERVICE: int
CAP_NET_BROADCAST: int
CAP_NET_ADMIN: int
CAP_NET_RAW: int
CAP_IPC_LOCK: int
CAP_IPC_OWNER: int
CAP_SYS_MODULE: int
CAP_SYS_RAWIO: int
CAP_SYS_CHROOT: int
CAP_SYS_PTRACE: int
CAP_SYS_PACCT: int
CAP_SYS_ADMIN: int
CAP_SYS_BOOT: int
CAP_SYS_NICE: int
CAP_SYS_RESOURCE: int
CAP_SYS_TIME: int
CAP_SYS_TTY_CONFIG: int
CAP_MKNOD: int
CAP_LEASE: int
CAP_AUDIT_WRITE: int
CAP_AUDIT_CONTROL: int
CAP_SETFCAP: int
CAP_MAC_OVERRIDE: int
CAP_MAC_ADMIN: int
CAP_SYSLOG: int
CAP_WAKE_ALARM: int
CAP_BLOCK_SUSPEND: int
CAP_AUDIT_READ: int
CAP_PERFMON: int
CAP_BPF: int
CAP_CHECKPOINT_RESTORE: int

def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int: ...
def get_name() -> bytes: ...
def set_name(name: Union[str, bytes]) -> None: ...
def get_pdeathsig() -> int: ...
def set_pdeathsig(signal: int = 0) -> None: ...
def get_child_subreaper() -> bool: ...
def set_child_subreaper(on: bool = True) -> None: ...
def get_no_new_privs() -> bool: ...
def set_no_new_privs() -> None: ...
def get_timer_slack() -> int: ...
def set_timer_slack(nanoseconds: int) -> None: ...
def get_dumpable() -> bool: ...
def set_dumpable(on: bool) -> None: ...
def get_keepcaps() -> bool: ...
def set_keepcaps(on: bool) -> None: ...
def get_securebits() -> int: ...
def set_securebits(bits: int) -> None: ...
def get_seccomp() -> int: ...
def capbset_read(cap: int) -> bool: ...
def capbset_drop(cap: int) -> None: ...
def cap_last_cap() -> int: ...

class Capbset:
    def __contains__(self, cap: int) -> bool: ...
    def __iter__(self) -> Iterator[int]: ...
    def drop(self, *caps: int) -> None: ...

class Prctl:
    capbset: Capbset
    name: bytes
    pdeathsig: int
    sub_reaper: bool
    no_new_privs: bool
    timer_slack: int
    dumpable: bool
    keepcaps: bool
    securebits: int
