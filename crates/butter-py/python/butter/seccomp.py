"""seccomp: system-call filters, built from system-call names.

New work: butter ≤ 0.12.4's ``butter.seccomp`` exposed libseccomp's C functions as they
were (and needed the C library); it was deprecated in 0.9.2 and removed in 0.12.5. This
module is a different, small API on ``butter::seccomp`` (Rust, seccompiler; no C library):

* :func:`deny` — a deny-list: every call runs except those named, which get an action
  (``ERRNO(errno.EPERM)`` by default, or ``KILL_PROCESS``, ``KILL_THREAD``, ``TRAP``,
  ``LOG``);
* :func:`allow` — an allow-list: only the calls named run; the others get the action
  (``KILL_PROCESS`` by default);
* :class:`SyscallFilter` — what both return: add calls (:meth:`~SyscallFilter.add`),
  calls restricted by argument values (:meth:`~SyscallFilter.add_when`), then
  :meth:`~SyscallFilter.install` (or :meth:`~SyscallFilter.compile` first).

A filter is for good: it binds the thread that installs it (or every thread, with
``all_threads=True``) and every process it starts, across ``execve``. Installing sets
no_new_privs first, which lets an unprivileged process install filters. Names are the
kernel's (``man 2 syscalls``) for this architecture; an unknown one is a ``ValueError``
naming it. The program checks the architecture first and kills the process on a foreign
one (and refuses x32 calls on x86_64).

Allow-lists need every call the interpreter makes, which is many; deny-lists are the
practical choice. Test filters in a child process (``os.fork()``).

>>> import errno, os
>>> from butter.seccomp import deny, ERRNO
>>> f = deny(["mount", "umount2"], ERRNO(errno.EPERM))
>>> "mount" in f, "read" in f
(True, False)
>>> f.install()  # doctest: +SKIP
"""

import collections as _collections
import errno as _errno
import types as _types

from . import _native
from .utils import InternalError, PermissionError, UnknownError, _raise

__all__ = [
    "SyscallFilter", "Cond", "deny", "allow", "sandbox_default", "ERRNO", "ALLOW",
    "KILL", "KILL_PROCESS", "KILL_THREAD", "TRAP", "LOG", "CMP_EQ", "CMP_NE", "CMP_LT",
    "CMP_LE", "CMP_GT", "CMP_GE", "CMP_MASKED_EQ", "SANDBOX_DENY", "syscall_number",
    "syscall_name", "syscall_names", "InternalError", "PermissionError", "UnknownError",
]

#: The raw calls (``seccomp_load``: 0, or -1 with the errno in ``ffi``), looked up at
#: call time so that tests can patch them.
lib = _types.SimpleNamespace(
    seccomp_compile=_native.seccomp_compile,
    seccomp_load=_native.seccomp_load,
)
_C = lib
#: The errno of the raw calls.
ffi = _native.Errno()
_ffi = ffi

#: Actions: the kernel's ``SECCOMP_RET_*`` values.
ALLOW = _native.SECCOMP_RET_ALLOW
KILL_PROCESS = _native.SECCOMP_RET_KILL_PROCESS
KILL_THREAD = _native.SECCOMP_RET_KILL_THREAD
KILL = KILL_PROCESS
TRAP = _native.SECCOMP_RET_TRAP
LOG = _native.SECCOMP_RET_LOG
_RET_ERRNO = _native.SECCOMP_RET_ERRNO

#: Comparisons for :class:`Cond`.
CMP_EQ = _native.SECCOMP_CMP_EQ
CMP_NE = _native.SECCOMP_CMP_NE
CMP_LT = _native.SECCOMP_CMP_LT
CMP_LE = _native.SECCOMP_CMP_LE
CMP_GT = _native.SECCOMP_CMP_GT
CMP_GE = _native.SECCOMP_CMP_GE
CMP_MASKED_EQ = _native.SECCOMP_CMP_MASKED_EQ



def _known(name):
    try:
        _native.seccomp_syscall_number(name)
    except ValueError:
        return False
    return True


#: The calls butter's sandbox denies (mounts, namespaces, other processes' memory,
#: kernel modules and BPF, the clock and hostname, keyrings, file handles, obsolete
#: calls) that exist on this architecture.
SANDBOX_DENY = tuple(n for n in _native.SECCOMP_SANDBOX_DENY if _known(n))

_LOAD_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EACCES: PermissionError,
    _errno.EPERM: PermissionError,
    _errno.ENOMEM: MemoryError,
    _errno.EFAULT: InternalError,
    _errno.ESRCH: OSError,
}


def ERRNO(code):
    """The action "fail with errno ``code``" (0 to 4095; 0 makes the call return 0
    without running)."""
    code = int(code)
    if not 0 <= code <= 4095:
        raise ValueError("an ERRNO action takes an errno from 0 to 4095")
    return _RET_ERRNO | code


class Cond(_collections.namedtuple("Cond", "arg cmp value mask bits", defaults=(0, 32))):
    """A condition on argument ``arg`` (0 to 5) of a call: ``arg CMP value``, or with
    ``CMP_MASKED_EQ``, ``arg & mask == value``. ``bits`` 32 (the default: C ints,
    descriptors, most flags) compares the lower half only; 64 the whole argument."""

    __slots__ = ()


def syscall_number(name):
    """The number of system call ``name`` here; ValueError if there is none."""
    return _native.seccomp_syscall_number(name)


def syscall_name(nr):
    """The name of system call number ``nr`` here, or None."""
    return _native.seccomp_syscall_name(nr)


def syscall_names():
    """Every system-call name known on this architecture."""
    return list(_native.seccomp_syscall_names())


class SyscallFilter(object):
    """A seccomp filter: a list of system calls, what the listed calls get, and what the
    others get. Made by :func:`deny` or :func:`allow`.

    ``mode`` is ``"deny"`` (the listed calls get ``action``, the others run) or
    ``"allow"`` (the listed calls run, the others get ``action``).
    """

    def __init__(self, mode, names=(), action=None):
        if mode not in ("deny", "allow"):
            raise ValueError("mode is 'deny' or 'allow'")
        if action is None:
            action = ERRNO(_errno.EPERM) if mode == "deny" else KILL_PROCESS
        if action == ALLOW:
            raise ValueError("a filter whose action is ALLOW would do nothing")
        self.mode = mode
        self.action = action
        self._names = []
        self._conds = []
        self.add(*names)

    def add(self, *names):
        """Adds system calls (whatever their arguments); returns the filter."""
        for name in names:
            if not isinstance(name, str):
                raise TypeError("system calls are named by str, not {!r}".format(name))
            syscall_number(name)  # unknown names fail now, naming the name
            if name not in self._names:
                self._names.append(name)
        return self

    def add_when(self, name, *conds):
        """Adds system call ``name`` for the calls whose arguments meet every one of
        ``conds`` (:class:`Cond` or ``(arg, cmp, value[, mask[, bits]])`` tuples); adding
        it again with other conditions matches when either set holds. Returns the
        filter."""
        syscall_number(name)
        self._conds.append((name, [tuple(Cond(*c)) for c in conds]))
        return self

    def __contains__(self, name):
        return name in self._names or any(n == name for n, _ in self._conds)

    @property
    def names(self):
        """The calls listed (unconditionally)."""
        return list(self._names)

    def compile(self):
        """Compiles the filter into a BPF program (``_native.SeccompProgram``;
        ``instructions()`` gives the ``struct sock_filter`` bytes). Compile before
        ``fork`` to install in the child quickly."""
        return lib.seccomp_compile(self.mode == "allow", list(self._names), self.action,
                                   list(self._conds))

    def install(self, all_threads=False, program=None):
        """Sets no_new_privs and installs the filter (or the ``program`` compiled from it)
        on the calling thread, or on every thread with ``all_threads``. For good.

        Raises ValueError (EINVAL: refused by the kernel), PermissionError (EACCES),
        MemoryError (ENOMEM: too many filters), OSError (ESRCH: another thread has
        filters of its own), UnknownError otherwise.
        """
        if program is None:
            program = self.compile()
        if lib.seccomp_load(program, bool(all_threads)) < 0:
            _raise(ffi.errno, _LOAD_ERRORS, "seccomp")

    def __repr__(self):
        return "<SyscallFilter {} {} calls action={:#x}>".format(
            self.mode, len(self._names) + len(self._conds), self.action)


def deny(names, action=None):
    """A deny-list filter: every system call runs except those of ``names``, which get
    ``action`` (default ``ERRNO(errno.EPERM)``)."""
    return SyscallFilter("deny", names, action)


def allow(names, action=KILL_PROCESS):
    """An allow-list filter: only the system calls of ``names`` run; every other one gets
    ``action`` (default ``KILL_PROCESS``)."""
    return SyscallFilter("allow", names, action)


def sandbox_default():
    """butter's sandbox deny-list: the calls of :data:`SANDBOX_DENY`, and ``clone`` with
    any ``CLONE_NEW*`` flag, fail with EPERM."""
    f = deny(SANDBOX_DENY, ERRNO(_errno.EPERM))
    for flag in (_native.CLONE_NEWNS, _native.CLONE_NEWCGROUP, _native.CLONE_NEWUTS,
                 _native.CLONE_NEWIPC, _native.CLONE_NEWUSER, _native.CLONE_NEWPID,
                 _native.CLONE_NEWNET):
        f.add_when("clone", Cond(0, CMP_MASKED_EQ, flag, flag))
    return f
