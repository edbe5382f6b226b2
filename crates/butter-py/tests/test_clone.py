"""butter.clone against the real kernel (in forked children, so the test process keeps
its namespaces), and the errno mapping through the patchable seam
(``butter.clone.C`` + ``butter.clone.ffi``)."""

import errno
import os
import pathlib

import pytest

from butter import _native, clone
from butter.clone import (
    CLONE_ALL, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS,
    CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS, CLONE_PARENT, SETNS_ANY,
    main, setns, unshare,
)
from butter.system import gethostname, sethostname
from butter.utils import UnknownError


def ns(kind, pid="self"):
    return os.readlink("/proc/{}/ns/{}".format(pid, kind))


def test_names_and_constants():
    for name in clone.__all__:
        assert hasattr(clone, name)
    assert clone.C is clone._C is clone._lib
    assert clone.ffi is clone._ffi and isinstance(clone.ffi, _native.Errno)
    assert (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC) == (0x20000, 0x4000000, 0x8000000)
    assert (CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET) == (0x10000000, 0x20000000, 0x40000000)
    assert (CLONE_NEWCGROUP, CLONE_NEWTIME, SETNS_ANY) == (0x2000000, 0x80, 0)
    assert CLONE_ALL == 0x7c020000
    assert (CLONE_FS, CLONE_PARENT) == (0x200, 0x8000)
    assert clone.PermissionError is PermissionError and clone.UnknownError is UnknownError


def test_unshare(root, in_child):
    parent = ns("uts"), ns("ipc"), ns("mnt")

    def run():
        assert unshare(CLONE_NEWUTS | CLONE_NEWIPC) == 0
        return ns("uts"), ns("ipc"), ns("mnt")
    uts, ipc, mnt = in_child(run)
    assert uts != parent[0] and ipc != parent[1]
    assert mnt == parent[2]
    assert (ns("uts"), ns("ipc")) == parent[:2]  # the test process is untouched


def test_unshare_time_and_cgroup(root, in_child):
    parent = ns("time_for_children"), ns("cgroup")

    def run():
        unshare(CLONE_NEWTIME | CLONE_NEWCGROUP)
        return ns("time"), ns("time_for_children"), ns("cgroup")
    time, for_children, cgroup = in_child(run)
    assert time == parent[0]  # the caller stays; its next children move
    assert for_children != parent[0]
    assert cgroup != parent[1]


def test_setns_takes_fds_objects_and_paths(root, in_child):
    def run():
        home = os.open("/proc/self/ns/uts", os.O_RDONLY)
        home_ns, name = ns("uts"), gethostname()
        path = "/proc/self/fd/{}".format(home)  # the first namespace, whatever ours is
        out = []
        for target, nstype in ((home, SETNS_ANY), (open(path), CLONE_NEWUTS),
                               (path, SETNS_ANY), (pathlib.Path(path), CLONE_NEWUTS),
                               (os.fsencode(path), SETNS_ANY)):
            unshare(CLONE_NEWUTS)
            sethostname("elsewhere")
            away = ns("uts") != home_ns
            returned = setns(target, nstype)
            out.append((away, returned is target, ns("uts") == home_ns,
                        gethostname() == name))
        return out
    # Each time: moved away, the argument returned, back in the first namespace.
    assert in_child(run) == [(True, True, True, True)] * 5


def test_setns_real_errors(root, in_child, tmp_path):
    def run():
        out = []
        uts = os.open("/proc/self/ns/uts", os.O_RDONLY)
        try:
            setns(uts, CLONE_NEWNET)  # the wrong kind
        except ValueError:
            out.append("EINVAL")
        with open(os.devnull) as f:
            try:
                setns(f)  # not a namespace
            except ValueError:
                out.append("not ns")
        bad = os.dup(uts)
        os.close(bad)
        try:
            setns(bad)
        except ValueError:
            out.append("EBADF")
        try:
            setns(str(tmp_path / "missing"))
        except FileNotFoundError:
            out.append("ENOENT")
        return out
    assert in_child(run) == ["EINVAL", "not ns", "EBADF", "ENOENT"]


def test_unshare_real_errors(root, in_child):
    def bad_flag():
        try:
            unshare(CLONE_PARENT)
        except ValueError:
            return "ValueError"

    def unprivileged():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        try:
            unshare(CLONE_NEWNS)
        except PermissionError as e:
            return e.errno
    assert in_child(bad_flag) == "ValueError"
    assert in_child(unprivileged) == errno.EPERM


def test_user_namespace_as_single_threaded_child(in_child):
    def run():
        unshare(CLONE_NEWUSER)
        return ns("user")
    assert in_child(run) != ns("user")


def test_main_runs_a_command_in_new_namespaces(root):
    parent = ns("uts")
    pid = os.fork()
    if pid == 0:
        try:
            main(["/bin/sh", "-c", '[ "$(readlink /proc/self/ns/uts)" != "{}" ] && exit 7'
                  .format(parent)])
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.ENOMEM, MemoryError), (errno.EPERM, PermissionError),
    (errno.EUSERS, PermissionError), (errno.ENOSPC, UnknownError),
    (errno.EHOSTDOWN, UnknownError)])
def test_unshare_errno_mapping(mocker, err, exc):
    mocker.patch("butter.clone.C.unshare", return_value=-1)
    clone.ffi.errno = err
    with pytest.raises(exc) as e:
        unshare(0)
    if exc is PermissionError:
        assert e.value.errno == err
    if exc is UnknownError:
        assert e.value.errno == err


@pytest.mark.parametrize("err,exc", [
    (errno.EBADF, ValueError), (errno.EINVAL, ValueError), (errno.ENOMEM, MemoryError),
    (errno.EPERM, PermissionError), (errno.EHOSTDOWN, UnknownError)])
def test_setns_errno_mapping(mocker, err, exc):
    m = mocker.patch("butter.clone.C.setns", return_value=-1)
    clone.ffi.errno = err
    with pytest.raises(exc):
        setns(5, CLONE_NEWNET)
    m.assert_called_once_with(5, CLONE_NEWNET)
