"""butter.seccomp (new work on butter::seccomp) against the real kernel — every filter is
installed in a forked child, never in the test process — and the errno mapping through
the patchable seam (``butter.seccomp.lib`` + ``butter.seccomp.ffi``)."""

import errno
import fcntl
import os
import signal
import threading

import pytest

from butter import _native, seccomp
from butter.prctl import get_no_new_privs
from butter.seccomp import (
    ALLOW, CMP_EQ, CMP_MASKED_EQ, ERRNO, KILL, KILL_PROCESS, KILL_THREAD, LOG,
    SANDBOX_DENY, TRAP, Cond, SyscallFilter, allow, deny, sandbox_default, syscall_name,
    syscall_names, syscall_number,
)
from butter.utils import InternalError, UnknownError


def run_killed(fn):
    """Runs ``fn`` in a child; returns the signal that killed it (None if it exited)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def test_names_and_constants():
    for name in seccomp.__all__:
        assert hasattr(seccomp, name)
    assert seccomp.lib is seccomp._C
    assert seccomp.ffi is seccomp._ffi and isinstance(seccomp.ffi, _native.Errno)
    assert (ALLOW, KILL_PROCESS, KILL_THREAD, TRAP, LOG) == (
        0x7fff0000, 0x80000000, 0, 0x30000, 0x7ffc0000)
    assert KILL == KILL_PROCESS
    assert ERRNO(errno.EPERM) == 0x50000 | errno.EPERM and ERRNO(0) == 0x50000
    for bad in (-1, 4096):
        with pytest.raises(ValueError):
            ERRNO(bad)
    assert "mount" in SANDBOX_DENY and "ptrace" in SANDBOX_DENY


def test_syscall_names_and_numbers():
    names = syscall_names()
    assert {"read", "write", "openat", "getcwd", "mount"} <= set(names)
    for name in ("read", "getcwd", "mount", "exit_group"):
        assert syscall_name(syscall_number(name)) == name
    assert syscall_name(-5) is None
    with pytest.raises(ValueError, match="mountt"):
        syscall_number("mountt")


def test_filter_building():
    f = deny(["mount", "umount2"])
    assert isinstance(f, SyscallFilter) and f.mode == "deny"
    assert f.action == ERRNO(errno.EPERM)
    assert "mount" in f and "read" not in f
    assert f.add("ptrace", "mount") is f
    assert f.names == ["mount", "umount2", "ptrace"]
    assert f.add_when("fcntl", (1, CMP_EQ, fcntl.F_SETFL)) is f
    assert "fcntl" in f
    assert "deny 4 calls" in repr(f)
    a = allow(["read"])
    assert (a.mode, a.action) == ("allow", KILL_PROCESS)
    with pytest.raises(ValueError, match="nosuchcall"):
        deny(["nosuchcall"])
    with pytest.raises(ValueError):
        f.add_when("nosuchcall")
    with pytest.raises(TypeError):
        deny([0])
    with pytest.raises(ValueError):
        deny(["read"], ALLOW)
    with pytest.raises(ValueError):
        allow(["read"], ALLOW)
    with pytest.raises(ValueError):
        SyscallFilter("maybe")
    assert Cond(1, CMP_EQ, 5) == (1, CMP_EQ, 5, 0, 32)


def test_compile():
    prog = deny(["mount"]).compile()
    assert isinstance(prog, _native.SeccompProgram)
    assert len(prog) > 3 and len(prog.instructions()) == 8 * len(prog)
    assert "instructions" in repr(prog)
    bigger = deny(["mount", "umount2", "ptrace"]).add_when(
        "fcntl", Cond(1, CMP_EQ, fcntl.F_SETFL)).compile()
    assert len(bigger) > len(prog)
    with pytest.raises(ValueError):
        deny([]).add_when("fcntl", Cond(9, CMP_EQ, 1)).compile()  # arguments 0 to 5
    with pytest.raises(ValueError):
        deny([]).add_when("fcntl", Cond(1, CMP_EQ, 1 << 40)).compile()  # not 32 bits
    with pytest.raises(ValueError):
        deny(["mount"], 0x7ff00000).compile()  # TRACE: not supported


def test_deny_list_errno_in_a_child(in_child):
    def run():
        before = get_no_new_privs()
        deny(["getcwd"], ERRNO(errno.EPERM)).install()
        try:
            os.getcwd()
        except PermissionError as e:
            err = e.errno
        return before, get_no_new_privs(), err, os.getpid() > 0
    assert in_child(run)[1:] == (True, errno.EPERM, True)
    assert os.getcwd()  # the test process is not filtered


def test_kill_process_and_kill_thread():
    def kill(action):
        def fn():
            deny(["getppid"], action).install()
            os.getppid()
        return fn
    assert run_killed(kill(KILL_PROCESS)) == signal.SIGSYS
    assert run_killed(kill(KILL_THREAD)) == signal.SIGSYS
    # Filtered calls only: a child that never makes them exits normally.
    assert run_killed(lambda: deny(["getppid"], KILL_PROCESS).install()) is None


def test_trap_and_log(in_child):
    def run():
        got = []
        signal.signal(signal.SIGSYS, lambda signum, frame: got.append(signum))
        ppid = os.getppid()
        deny(["getppid"], LOG).install()
        logged = os.getppid() == ppid  # LOG runs the call
        deny(["getppid"], TRAP).install()
        os.getppid()
        for _ in range(3):  # let the handler run
            pass
        return logged, got
    assert in_child(run) == (True, [signal.SIGSYS])


def test_allow_list(in_child):
    def run():
        everything_but_getcwd = [n for n in syscall_names() if n != "getcwd"]
        allow(everything_but_getcwd, ERRNO(errno.EACCES)).install()
        try:
            os.getcwd()
        except PermissionError as e:
            return e.errno, os.getpid() > 0
    assert in_child(run) == (errno.EACCES, True)


def test_conditions(in_child):
    def run():
        r, w = os.pipe()
        deny([], ERRNO(errno.EPERM)).add_when(
            "fcntl", Cond(1, CMP_EQ, fcntl.F_SETFL)).install()
        flags = fcntl.fcntl(r, fcntl.F_GETFL)  # another command: runs
        try:
            fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)
        except PermissionError:
            refused = True
        return flags & os.O_ACCMODE == os.O_RDONLY, refused
    assert in_child(run) == (True, True)


def test_all_threads(in_child):
    def run():
        go, out = threading.Event(), []

        def other():
            go.wait()
            try:
                os.getcwd()
                out.append("ran")
            except PermissionError:
                out.append("refused")
        t = threading.Thread(target=other)
        t.start()
        deny(["getcwd"]).install(all_threads=True)
        go.set()
        t.join()
        return out
    assert in_child(run) == ["refused"]


def test_all_threads_esrch(in_child):
    def run():
        ready, done = threading.Event(), threading.Event()

        def other():
            deny(["getcwd"]).install()  # a filter of this thread's own
            ready.set()
            done.wait()
        t = threading.Thread(target=other)
        t.start()
        ready.wait()
        try:
            deny(["uname"]).install(all_threads=True)
        except OSError as e:
            err = e.errno
        done.set()
        t.join()
        return err
    assert in_child(run) == errno.ESRCH


def test_install_a_precompiled_program(in_child):
    f = deny(["getcwd"], ERRNO(errno.ENOSYS))
    program = f.compile()

    def run():
        f.install(program=program)
        try:
            os.getcwd()
        except OSError as e:
            return e.errno
    assert in_child(run) == errno.ENOSYS


def test_sandbox_default(root, in_child):
    from butter.clone import CLONE_NEWUTS, unshare
    from butter.system import sethostname

    def run():
        sandbox_default().install()
        out = []
        for call in (lambda: sethostname("nope"), lambda: unshare(CLONE_NEWUTS)):
            try:
                call()
            except PermissionError as e:
                out.append(e.errno)
        pid = os.fork()  # clone without CLONE_NEW*: allowed
        if pid == 0:
            os._exit(3)
        out.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        return out
    assert in_child(run) == [errno.EPERM, errno.EPERM, 3]
    f = sandbox_default()
    assert "clone" in f and "mount" in f
    assert any(c[0][1] == CMP_MASKED_EQ for n, c in f._conds)


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.EACCES, PermissionError), (errno.ENOMEM, MemoryError),
    (errno.EFAULT, InternalError), (errno.ESRCH, OSError), (errno.EHOSTDOWN, UnknownError)])
def test_install_errno_mapping(mocker, err, exc):
    m = mocker.patch("butter.seccomp.lib.seccomp_load", return_value=-1)
    seccomp.ffi.errno = err
    with pytest.raises(exc):
        deny(["mount"]).install(all_threads=True)
    assert m.call_args[0][1] is True
