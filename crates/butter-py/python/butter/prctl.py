"""``prctl``: the calling process's and thread's settings — name, parent-death signal,
child subreaper, no_new_privs, timer slack, dumpable, keepcaps, securebits and the
capability bounding set.

New work (butter.md §1.11): butter's ``prctl`` module never imported (a malformed cdef in
0.12.x, a ``NameError`` in its class body in 0.12.6–0.13.1), so nothing here has to match
it. There are three layers:

* :func:`prctl` — the call itself, ``prctl(option, arg2, arg3, arg4, arg5)`` with
  integer arguments and the ``PR_*`` constants. For the options that answer through a
  pointer (``PR_GET_PDEATHSIG``, ``PR_GET_CHILD_SUBREAPER``, …) it returns the answer;
  options taking other pointers are refused with ``ValueError`` (a Python integer cannot
  safely be an address), as are options not known to take integers only.
* friendly functions: :func:`get_name`/:func:`set_name`, :func:`get_pdeathsig`/
  :func:`set_pdeathsig`, :func:`get_child_subreaper`/:func:`set_child_subreaper`,
  :func:`get_no_new_privs`/:func:`set_no_new_privs`, :func:`get_timer_slack`/
  :func:`set_timer_slack`, :func:`get_dumpable`/:func:`set_dumpable`,
  :func:`get_keepcaps`/:func:`set_keepcaps`, :func:`get_securebits`/
  :func:`set_securebits`, :func:`capbset_read`/:func:`capbset_drop`.
* :class:`Prctl` — the same as properties (``sub_reaper``, ``dumpable``, ``name``, …)
  and a ``capbset`` object (``CAP_SYS_ADMIN in p.capbset``, ``p.capbset.drop(cap)``), as
  butter 0.12.6 meant its ``prctl`` class to be.

Some settings belong to the calling *thread* (name, no_new_privs, timer slack,
capability bounding set, parent-death signal's trigger); the others to the process.

>>> from butter import prctl
>>> prctl.get_timer_slack() > 0
True
>>> isinstance(prctl.CAP_SYS_ADMIN in prctl.Prctl().capbset, bool)
True
"""

import errno as _errno
import types as _types

from . import _native
from .utils import InternalError, PermissionError, UnknownError, _raise

__all__ = [
    "prctl", "Prctl", "Capbset", "get_name", "set_name", "get_pdeathsig", "set_pdeathsig",
    "get_child_subreaper", "set_child_subreaper", "get_no_new_privs", "set_no_new_privs",
    "get_timer_slack", "set_timer_slack", "get_dumpable", "set_dumpable", "get_keepcaps",
    "set_keepcaps", "get_securebits", "set_securebits", "get_seccomp", "capbset_read",
    "capbset_drop", "cap_last_cap", "InternalError", "PermissionError", "UnknownError",
]

#: The raw calls (C contract: the result, or -1 with the errno in ``ffi``), looked up at
#: call time so that tests can patch them.
_C = _types.SimpleNamespace(
    prctl=_native.prctl,
    get_name=_native.prctl_get_name,
    set_name=_native.prctl_set_name,
)
_lib = _C  # butter 0.12.6's name for the same namespace
#: The errno of the raw calls.
ffi = _native.Errno()
_ffi = ffi

PR_SET_PDEATHSIG = _native.PR_SET_PDEATHSIG
PR_GET_PDEATHSIG = _native.PR_GET_PDEATHSIG
PR_GET_DUMPABLE = _native.PR_GET_DUMPABLE
PR_SET_DUMPABLE = _native.PR_SET_DUMPABLE
PR_GET_UNALIGN = _native.PR_GET_UNALIGN
PR_SET_UNALIGN = _native.PR_SET_UNALIGN
PR_UNALIGN_NOPRINT = _native.PR_UNALIGN_NOPRINT
PR_UNALIGN_SIGBUS = _native.PR_UNALIGN_SIGBUS
PR_GET_KEEPCAPS = _native.PR_GET_KEEPCAPS
PR_SET_KEEPCAPS = _native.PR_SET_KEEPCAPS
PR_GET_FPEMU = _native.PR_GET_FPEMU
PR_SET_FPEMU = _native.PR_SET_FPEMU
PR_FPEMU_NOPRINT = _native.PR_FPEMU_NOPRINT
PR_FPEMU_SIGFPE = _native.PR_FPEMU_SIGFPE
PR_GET_FPEXC = _native.PR_GET_FPEXC
PR_SET_FPEXC = _native.PR_SET_FPEXC
PR_FP_EXC_SW_ENABLE = _native.PR_FP_EXC_SW_ENABLE
PR_FP_EXC_DIV = _native.PR_FP_EXC_DIV
PR_FP_EXC_OVF = _native.PR_FP_EXC_OVF
PR_FP_EXC_UND = _native.PR_FP_EXC_UND
PR_FP_EXC_RES = _native.PR_FP_EXC_RES
PR_FP_EXC_INV = _native.PR_FP_EXC_INV
PR_FP_EXC_DISABLED = _native.PR_FP_EXC_DISABLED
PR_FP_EXC_NONRECOV = _native.PR_FP_EXC_NONRECOV
PR_FP_EXC_ASYNC = _native.PR_FP_EXC_ASYNC
PR_FP_EXC_PRECISE = _native.PR_FP_EXC_PRECISE
PR_GET_TIMING = _native.PR_GET_TIMING
PR_SET_TIMING = _native.PR_SET_TIMING
PR_TIMING_STATISTICAL = _native.PR_TIMING_STATISTICAL
PR_TIMING_TIMESTAMP = _native.PR_TIMING_TIMESTAMP
PR_SET_NAME = _native.PR_SET_NAME
PR_GET_NAME = _native.PR_GET_NAME
PR_GET_ENDIAN = _native.PR_GET_ENDIAN
PR_SET_ENDIAN = _native.PR_SET_ENDIAN
PR_ENDIAN_BIG = _native.PR_ENDIAN_BIG
PR_ENDIAN_LITTLE = _native.PR_ENDIAN_LITTLE
PR_ENDIAN_PPC_LITTLE = _native.PR_ENDIAN_PPC_LITTLE
PR_GET_SECCOMP = _native.PR_GET_SECCOMP
PR_SET_SECCOMP = _native.PR_SET_SECCOMP
PR_CAPBSET_READ = _native.PR_CAPBSET_READ
PR_CAPBSET_DROP = _native.PR_CAPBSET_DROP
PR_GET_TSC = _native.PR_GET_TSC
PR_SET_TSC = _native.PR_SET_TSC
PR_TSC_ENABLE = _native.PR_TSC_ENABLE
PR_TSC_SIGSEGV = _native.PR_TSC_SIGSEGV
PR_GET_SECUREBITS = _native.PR_GET_SECUREBITS
PR_SET_SECUREBITS = _native.PR_SET_SECUREBITS
PR_SET_TIMERSLACK = _native.PR_SET_TIMERSLACK
PR_GET_TIMERSLACK = _native.PR_GET_TIMERSLACK
PR_TASK_PERF_EVENTS_DISABLE = _native.PR_TASK_PERF_EVENTS_DISABLE
PR_TASK_PERF_EVENTS_ENABLE = _native.PR_TASK_PERF_EVENTS_ENABLE
PR_MCE_KILL = _native.PR_MCE_KILL
PR_MCE_KILL_CLEAR = _native.PR_MCE_KILL_CLEAR
PR_MCE_KILL_SET = _native.PR_MCE_KILL_SET
PR_MCE_KILL_LATE = _native.PR_MCE_KILL_LATE
PR_MCE_KILL_EARLY = _native.PR_MCE_KILL_EARLY
PR_MCE_KILL_DEFAULT = _native.PR_MCE_KILL_DEFAULT
PR_MCE_KILL_GET = _native.PR_MCE_KILL_GET
PR_SET_MM = _native.PR_SET_MM
PR_SET_PTRACER = _native.PR_SET_PTRACER
PR_SET_PTRACER_ANY = _native.PR_SET_PTRACER_ANY
PR_SET_CHILD_SUBREAPER = _native.PR_SET_CHILD_SUBREAPER
PR_GET_CHILD_SUBREAPER = _native.PR_GET_CHILD_SUBREAPER
PR_SET_NO_NEW_PRIVS = _native.PR_SET_NO_NEW_PRIVS
PR_GET_NO_NEW_PRIVS = _native.PR_GET_NO_NEW_PRIVS
PR_GET_TID_ADDRESS = _native.PR_GET_TID_ADDRESS
PR_SET_THP_DISABLE = _native.PR_SET_THP_DISABLE
PR_GET_THP_DISABLE = _native.PR_GET_THP_DISABLE
PR_SET_FP_MODE = _native.PR_SET_FP_MODE
PR_GET_FP_MODE = _native.PR_GET_FP_MODE
PR_CAP_AMBIENT = _native.PR_CAP_AMBIENT
PR_CAP_AMBIENT_IS_SET = _native.PR_CAP_AMBIENT_IS_SET
PR_CAP_AMBIENT_RAISE = _native.PR_CAP_AMBIENT_RAISE
PR_CAP_AMBIENT_LOWER = _native.PR_CAP_AMBIENT_LOWER
PR_CAP_AMBIENT_CLEAR_ALL = _native.PR_CAP_AMBIENT_CLEAR_ALL
PR_SET_VMA = _native.PR_SET_VMA
PR_SCHED_CORE = _native.PR_SCHED_CORE
PR_SET_MDWE = _native.PR_SET_MDWE
PR_GET_MDWE = _native.PR_GET_MDWE
PR_SET_MEMORY_MERGE = _native.PR_SET_MEMORY_MERGE
PR_GET_MEMORY_MERGE = _native.PR_GET_MEMORY_MERGE
_PR_NAMES = [
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
]
__all__ += _PR_NAMES

#: The capabilities (``linux/capability.h``), for the bounding set.
_CAPS = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_IPC_OWNER = 15
CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_PACCT = 20
CAP_SYS_ADMIN = 21
CAP_SYS_BOOT = 22
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_SYS_TTY_CONFIG = 26
CAP_MKNOD = 27
CAP_LEASE = 28
CAP_AUDIT_WRITE = 29
CAP_AUDIT_CONTROL = 30
CAP_SETFCAP = 31
CAP_MAC_OVERRIDE = 32
CAP_MAC_ADMIN = 33
CAP_SYSLOG = 34
CAP_WAKE_ALARM = 35
CAP_BLOCK_SUSPEND = 36
CAP_AUDIT_READ = 37
CAP_PERFMON = 38
CAP_BPF = 39
CAP_CHECKPOINT_RESTORE = 40
__all__ += ["CAP_" + n for n in _CAPS]

_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
    _errno.EFAULT: InternalError,
    _errno.ENOMEM: MemoryError,
    _errno.EBUSY: OSError,
    _errno.ENXIO: OSError,
}


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    """``prctl(option, arg2, arg3, arg4, arg5)`` with integer arguments: the call's
    result (for options answering through a pointer in ``arg2``, the answer).

    Raises ValueError (EINVAL, and for options that take pointers, which a Python integer
    cannot safely be: use the functions of this module), PermissionError (EPERM, EACCES),
    InternalError (EFAULT), MemoryError, OSError (EBUSY, ENXIO), UnknownError otherwise.
    """
    r = _C.prctl(option, arg2, arg3, arg4, arg5)
    if r < 0:
        _raise(ffi.errno, _ERRORS, "prctl")
    return r


def get_name():
    """The calling thread's name (``PR_GET_NAME``), as ``bytes``."""
    name = _C.get_name()
    if isinstance(name, int) and name < 0:
        _raise(ffi.errno, _ERRORS, "prctl(PR_GET_NAME)")
    return name


def set_name(name):
    """Sets the calling thread's name (``PR_SET_NAME``: what ``ps`` and
    ``/proc/self/comm`` show; the kernel keeps 15 bytes). ``str`` (UTF-8) or ``bytes``."""
    if isinstance(name, str):
        name = name.encode()
    if _C.set_name(bytes(name)) < 0:
        _raise(ffi.errno, _ERRORS, "prctl(PR_SET_NAME)")


def get_pdeathsig():
    """The signal the calling thread gets when its parent dies; 0 for none."""
    return prctl(PR_GET_PDEATHSIG)


def set_pdeathsig(signal=0):
    """Asks for ``signal`` (0: none) when the parent *thread* dies. A ``fork`` child does
    not inherit it; set it in the child, then check ``os.getppid()`` for a parent that
    died before."""
    prctl(PR_SET_PDEATHSIG, int(signal))


def get_child_subreaper():
    """Whether the process is a child subreaper."""
    return bool(prctl(PR_GET_CHILD_SUBREAPER))


def set_child_subreaper(on=True):
    """Makes the process a child subreaper (or not): orphaned descendants are reparented
    to it instead of to init, so it can wait for a whole process tree."""
    prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


def get_no_new_privs():
    """Whether no_new_privs is set for the calling thread."""
    return bool(prctl(PR_GET_NO_NEW_PRIVS))


def set_no_new_privs():
    """Sets no_new_privs for the calling thread and everything it starts, for good:
    ``execve`` never grants privileges again (set-user-ID bits, file capabilities), and
    seccomp filters can be installed without CAP_SYS_ADMIN."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def get_timer_slack():
    """The calling thread's timer slack, in nanoseconds (50,000 by default)."""
    return prctl(PR_GET_TIMERSLACK)


def set_timer_slack(nanoseconds):
    """Sets the calling thread's timer slack, in nanoseconds; 0 restores the thread's
    default. Sleeps and poll timeouts may be delayed by up to that much."""
    prctl(PR_SET_TIMERSLACK, int(nanoseconds))


def get_dumpable():
    """Whether the process is dumpable (core dumps; ptrace and ``/proc/PID`` by its
    user)."""
    return bool(prctl(PR_GET_DUMPABLE))


def set_dumpable(on):
    """Sets whether the process is dumpable."""
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def get_keepcaps():
    """Whether the thread keeps its permitted capabilities when all its user ids become
    non-zero."""
    return bool(prctl(PR_GET_KEEPCAPS))


def set_keepcaps(on):
    """Sets keepcaps (cleared by ``execve``)."""
    prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def get_securebits():
    """The thread's securebits (``SECBIT_*`` flags)."""
    return prctl(PR_GET_SECUREBITS)


def set_securebits(bits):
    """Sets the thread's securebits (needs CAP_SETPCAP)."""
    prctl(PR_SET_SECUREBITS, bits)


def get_seccomp():
    """The thread's seccomp mode: 0 none, 2 filter (in strict mode, 1, the call itself
    would be fatal)."""
    return prctl(PR_GET_SECCOMP)


def capbset_read(cap):
    """Whether capability ``cap`` (``CAP_*``) is in the calling thread's bounding set.
    ValueError for a capability the kernel does not know."""
    return bool(prctl(PR_CAPBSET_READ, cap))


def capbset_drop(cap):
    """Drops capability ``cap`` from the calling thread's bounding set, for it and
    everything it starts, for good (needs CAP_SETPCAP)."""
    prctl(PR_CAPBSET_DROP, cap)


def cap_last_cap():
    """The highest capability number the kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(_CAPS) - 1


class Capbset(object):
    """The calling thread's capability bounding set: ``cap in capbset``, iteration over
    the capabilities in it, ``drop(*caps)``."""

    def __contains__(self, cap):
        return capbset_read(cap)

    def __iter__(self):
        return iter([c for c in range(cap_last_cap() + 1) if capbset_read(c)])

    def drop(self, *caps):
        """Drops each of ``caps`` from the bounding set (needs CAP_SETPCAP)."""
        for cap in caps:
            capbset_drop(cap)

    def __repr__(self):
        return "<Capbset {}>".format(sorted(self))


class Prctl(object):
    """The calling process's and thread's prctl settings as properties:
    ``name``, ``pdeathsig``, ``sub_reaper``, ``no_new_privs`` (set to True only),
    ``timer_slack``, ``dumpable``, ``keepcaps``, ``securebits``, and ``capbset``.

    butter 0.12.6's class of this kind was named ``prctl`` (and never imported); here
    ``prctl`` is the call and this class is ``Prctl``.
    """

    capbset = Capbset()

    @property
    def name(self):
        """The calling thread's name (bytes)."""
        return get_name()

    @name.setter
    def name(self, value):
        set_name(value)

    @property
    def pdeathsig(self):
        """The parent-death signal (0: none)."""
        return get_pdeathsig()

    @pdeathsig.setter
    def pdeathsig(self, value):
        set_pdeathsig(value)

    @property
    def sub_reaper(self):
        """Whether the process is a child subreaper."""
        return get_child_subreaper()

    @sub_reaper.setter
    def sub_reaper(self, value):
        set_child_subreaper(value)

    @property
    def no_new_privs(self):
        """no_new_privs; it can be set (True), never cleared."""
        return get_no_new_privs()

    @no_new_privs.setter
    def no_new_privs(self, value):
        if not value:
            if get_no_new_privs():
                raise ValueError("no_new_privs cannot be cleared")
            return
        set_no_new_privs()

    @property
    def timer_slack(self):
        """The calling thread's timer slack, in nanoseconds."""
        return get_timer_slack()

    @timer_slack.setter
    def timer_slack(self, value):
        set_timer_slack(value)

    @property
    def dumpable(self):
        """Whether the process is dumpable."""
        return get_dumpable()

    @dumpable.setter
    def dumpable(self, value):
        set_dumpable(value)

    @property
    def keepcaps(self):
        """keepcaps."""
        return get_keepcaps()

    @keepcaps.setter
    def keepcaps(self, value):
        set_keepcaps(value)

    @property
    def securebits(self):
        """The securebits."""
        return get_securebits()

    @securebits.setter
    def securebits(self, value):
        set_securebits(value)

    def __repr__(self):
        return "<Prctl name={!r} sub_reaper={} dumpable={}>".format(
            self.name, self.sub_reaper, self.dumpable)
