"""butter.prctl against the real kernel — round trips in forked children, so the test
process keeps its settings — and the errno mapping through the patchable seam
(``butter.prctl._C`` + ``butter.prctl.ffi``)."""

import errno
import os
import signal

import pytest

from butter import _native, prctl
from butter.prctl import (
    CAP_CHOWN, CAP_SETPCAP, CAP_SYS_ADMIN, PR_CAPBSET_READ, PR_GET_DUMPABLE, PR_GET_NAME,
    PR_GET_PDEATHSIG, PR_GET_TID_ADDRESS, PR_SET_MM, PR_SET_NAME, PR_SET_SECCOMP, Capbset,
    Prctl,
)
from butter.utils import InternalError, UnknownError


def capbnd():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)


def test_names_and_constants():
    for name in prctl.__all__:
        assert hasattr(prctl, name)
    assert prctl._lib is prctl._C
    assert prctl.ffi is prctl._ffi and isinstance(prctl.ffi, _native.Errno)
    assert (prctl.PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE) == (1, 2, 3)
    assert (PR_SET_NAME, PR_GET_NAME, PR_CAPBSET_READ) == (15, 16, 23)
    assert (prctl.PR_SET_CHILD_SUBREAPER, prctl.PR_SET_NO_NEW_PRIVS) == (36, 38)
    assert (prctl.PR_SET_TIMERSLACK, prctl.PR_GET_TIMERSLACK) == (29, 30)
    assert (CAP_CHOWN, CAP_SETPCAP, CAP_SYS_ADMIN, prctl.CAP_CHECKPOINT_RESTORE) == (0, 8, 21, 40)
    assert prctl.cap_last_cap() >= 40


def test_name(in_child):
    def run():
        prctl.set_name("butter-test")
        one = prctl.get_name()
        with open("/proc/self/comm", "rb") as f:
            comm = f.read().strip()
        prctl.set_name(b"a-very-long-thread-name")
        two = prctl.get_name()
        try:
            prctl.set_name(b"nul\0byte")
        except ValueError:
            nul = "ValueError"
        return one, comm, two, nul
    assert in_child(run) == (b"butter-test", b"butter-test", b"a-very-long-thr", "ValueError")


def test_pdeathsig_round_trip(in_child):
    def run():
        before = prctl.get_pdeathsig()
        prctl.set_pdeathsig(signal.SIGUSR1)
        one = prctl.get_pdeathsig()
        prctl.set_pdeathsig()
        return before, one, prctl.get_pdeathsig(), prctl.prctl(PR_GET_PDEATHSIG)
    assert in_child(run) == (0, signal.SIGUSR1, 0, 0)


def test_pdeathsig_fires_when_the_parent_dies():
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        # The middle process starts a child that asks for SIGTERM when it dies, then exits.
        ready_r, ready_w = os.pipe()
        child = os.fork()
        if child == 0:
            def on_term(signum, frame):
                os.write(w, b"SIGTERM")
                os._exit(0)
            signal.signal(signal.SIGTERM, on_term)
            prctl.set_pdeathsig(signal.SIGTERM)
            os.write(ready_w, b"x")
            signal.pause()
            os._exit(1)
        os.read(ready_r, 1)
        os._exit(0)
    os.close(w)
    os.waitpid(middle, 0)
    assert os.read(r, 100) == b"SIGTERM"
    os.close(r)


def test_child_subreaper_adopts_orphans(in_child):
    def run():
        assert not prctl.get_child_subreaper()
        prctl.set_child_subreaper()
        on = prctl.get_child_subreaper()
        r, w = os.pipe()
        middle = os.fork()
        if middle == 0:
            me = os.getpid()
            if os.fork() == 0:
                while os.getppid() == me:  # until the middle process is gone
                    pass
                os.write(w, str(os.getppid()).encode())
                os._exit(0)
            os._exit(0)
        os.waitpid(middle, 0)
        adopter = int(os.read(r, 20))
        os.wait()  # reap the orphan we adopted
        prctl.set_child_subreaper(False)
        return on, adopter == os.getpid(), prctl.get_child_subreaper()
    assert in_child(run) == (True, True, False)


def test_no_new_privs(in_child):
    def run():
        before = prctl.get_no_new_privs()
        prctl.set_no_new_privs()
        p = Prctl()
        try:
            p.no_new_privs = False
        except ValueError:
            cleared = "ValueError"
        p.no_new_privs = True
        return before, prctl.get_no_new_privs(), cleared
    before, after, cleared = in_child(run)
    assert (after, cleared) == (True, "ValueError")
    assert before == prctl.get_no_new_privs()  # the test process is untouched


def test_timer_slack(in_child):
    def run():
        default = prctl.get_timer_slack()
        prctl.set_timer_slack(1000)
        one = prctl.get_timer_slack()
        prctl.set_timer_slack(0)  # back to the default
        return default, one, prctl.get_timer_slack()
    default, one, back = in_child(run)
    assert default > 0 and one == 1000 and back == default


def test_dumpable_keepcaps_securebits_seccomp(in_child):
    def run():
        p = Prctl()
        out = [p.dumpable]
        p.dumpable = False
        out += [prctl.get_dumpable(), prctl.prctl(PR_GET_DUMPABLE)]
        prctl.set_dumpable(True)
        out.append(p.dumpable)
        p.keepcaps = True
        out.append(prctl.get_keepcaps())
        prctl.set_keepcaps(False)
        out.append(p.keepcaps)
        bits = prctl.get_securebits()
        p.securebits = bits
        out += [p.securebits == bits, prctl.get_seccomp()]
        return out
    assert in_child(run) == [True, False, 0, True, True, False, True, 0]


def test_capbset(root, in_child):
    caps = Prctl().capbset
    assert isinstance(caps, Capbset)
    assert (CAP_SYS_ADMIN in caps) == bool(capbnd() & (1 << CAP_SYS_ADMIN))
    assert set(caps) == {c for c in range(prctl.cap_last_cap() + 1) if capbnd() & (1 << c)}
    assert "Capbset" in repr(caps)

    def run():
        before = CAP_SYS_ADMIN in caps
        caps.drop(CAP_SYS_ADMIN, prctl.CAP_SYS_BOOT)
        out = [before, CAP_SYS_ADMIN in caps, prctl.capbset_read(prctl.CAP_SYS_BOOT),
               bool(capbnd() & (1 << CAP_SYS_ADMIN)), CAP_CHOWN in caps]
        prctl.capbset_drop(CAP_CHOWN)
        out.append(prctl.capbset_read(CAP_CHOWN))
        try:
            prctl.capbset_read(999)
        except ValueError:
            out.append("ValueError")
        return out
    assert in_child(run) == [True, False, False, False, True, False, "ValueError"]
    assert CAP_SYS_ADMIN in caps  # the test process still has it


def test_capbset_drop_unprivileged(root, in_child):
    def run():
        prctl.capbset_drop(CAP_SETPCAP)  # without CAP_SETPCAP in the bounding set ...
        os.setgroups([])
        os.setuid(65534)  # ... and without any effective capability
        try:
            prctl.capbset_drop(CAP_CHOWN)
        except PermissionError as e:
            return e.errno
    assert in_child(run) == errno.EPERM


def test_raw_prctl_refuses_pointers():
    assert prctl.prctl(PR_GET_TID_ADDRESS) >= 0
    for option in (PR_GET_NAME, PR_SET_NAME, PR_SET_MM, 123456):
        with pytest.raises(ValueError):
            prctl.prctl(option, 1, 2)
    with pytest.raises(ValueError):
        prctl.prctl(PR_SET_SECCOMP, 2, 0x1000)  # SECCOMP_MODE_FILTER takes a pointer


def test_prctl_class_repr_and_name(in_child):
    def run():
        p = Prctl()
        p.name = "prctl-class"
        return p.name, repr(p), p.sub_reaper, p.pdeathsig
    name, text, sub, sig = in_child(run)
    assert (name, sub, sig) == (b"prctl-class", False, 0)
    assert text.startswith("<Prctl name=b'prctl-class'")


PRCTL_CASES = [
    (errno.EINVAL, ValueError), (errno.EPERM, PermissionError), (errno.EACCES, PermissionError),
    (errno.EFAULT, InternalError), (errno.ENOMEM, MemoryError), (errno.EBUSY, OSError),
    (errno.EHOSTDOWN, UnknownError),
]


@pytest.mark.parametrize("err,exc", PRCTL_CASES)
def test_prctl_errno_mapping(mocker, err, exc):
    mocker.patch("butter.prctl._C.prctl", return_value=-1)
    prctl.ffi.errno = err
    with pytest.raises(exc):
        prctl.prctl(PR_GET_DUMPABLE)
    prctl.ffi.errno = err
    with pytest.raises(exc):
        prctl.set_child_subreaper(True)
    prctl.ffi.errno = err
    with pytest.raises(exc):
        Prctl().dumpable


@pytest.mark.parametrize("err,exc", PRCTL_CASES)
def test_name_errno_mapping(mocker, err, exc):
    mocker.patch("butter.prctl._C.get_name", return_value=-1)
    mocker.patch("butter.prctl._C.set_name", return_value=-1)
    prctl.ffi.errno = err
    with pytest.raises(exc):
        prctl.get_name()
    prctl.ffi.errno = err
    with pytest.raises(exc):
        prctl.set_name("x")


def test_seam_gets_the_arguments(mocker):
    m = mocker.patch("butter.prctl._C.prctl", return_value=0)
    prctl.set_timer_slack(5000)
    m.assert_called_once_with(prctl.PR_SET_TIMERSLACK, 5000, 0, 0, 0)
