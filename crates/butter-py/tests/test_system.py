"""butter.system against the real kernel — always in a forked child that first unshares
its mount and UTS namespaces and makes its mount tree private, so the host's mounts and
hostname are never touched — and the errno mapping through the patchable seam
(``butter.system._C`` + ``butter.system._ffi``)."""

import errno
import os
import shutil
import socket
import tempfile

import pytest

from butter import _native, system
from butter.clone import CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, unshare
from butter.system import (
    HOST_NAME_MAX, MAXPATHLEN, MNT_DETACH, MNT_EXPIRE, MNT_FORCE, MS_BIND, MS_LAZYTIME,
    MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_UNBINDABLE,
    UMOUNT_NOFOLLOW, Retry, gethostname, getpid, getppid, mount, pivot_root, sethostname,
    umount,
)
from butter.utils import InternalError, UnknownError

# What butter's own test suite does at import.
system.ffi = system._ffi


def isolate():
    """In a child: new mount and UTS namespaces, with nothing propagating back."""
    unshare(CLONE_NEWNS | CLONE_NEWUTS)
    mount("none", "/", None, MS_REC | MS_PRIVATE)


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="butter-system-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_names_and_constants():
    for name in system.__all__:
        assert hasattr(system, name)
    assert system._lib is system._C
    assert isinstance(system._ffi, _native.Errno)
    assert (system.MS_RDONLY, system.MS_NOSUID, system.MS_NODEV, system.MS_NOEXEC) == (1, 2, 4, 8)
    assert (system.MS_SYNCHRONOUS, system.MS_REMOUNT, system.MS_MANDLOCK) == (0x10, 0x20, 0x40)
    assert (system.MS_DIRSYNC, system.MS_NOATIME, system.MS_NODIRATIME) == (0x80, 0x400, 0x800)
    assert (MS_BIND, system.MS_MOVE, system.MS_SILENT) == (0x1000, 0x2000, 0x8000)
    assert (system.MS_RELATIME, system.MS_STRICTATIME) == (0x200000, 0x1000000)
    assert (MS_REC, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_LAZYTIME) == (
        0x4000, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 25)
    assert (MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW) == (1, 2, 4, 8)
    assert (HOST_NAME_MAX, MAXPATHLEN) == (64, 4096)
    assert system.PermissionError is PermissionError
    assert system.InternalError is InternalError and system.UnknownError is UnknownError
    assert issubclass(Retry, Exception) and not issubclass(Retry, OSError)


def test_raw_pids(in_child):
    assert getpid() == os.getpid()
    assert getppid() == os.getppid()
    assert in_child(lambda: (getpid() == os.getpid(), getppid() == os.getppid(),
                             getppid())) == (True, True, os.getpid())


def test_pids_in_a_new_pid_namespace(root, in_child):
    def run():
        unshare(CLONE_NEWPID)
        before = getpid()  # unshare does not change the caller's own PID
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, repr((getpid(), getppid())).encode())
            os._exit(0)
        os.close(w)
        got = os.read(r, 100)
        os.waitpid(pid, 0)
        return before == os.getpid(), got.decode()
    assert in_child(run) == (True, "(1, 0)")


def test_hostname_in_a_new_uts_namespace(root, in_child):
    host = gethostname()
    assert isinstance(host, bytes)
    assert host == socket.gethostname().encode()

    def run():
        isolate()
        sethostname("butter-test")
        one = gethostname()
        sethostname(b"h" * 64)  # exactly HOST_NAME_MAX: legal (butter refused it)
        two = gethostname()
        try:
            sethostname("h" * 65)
        except ValueError:
            too_long = "ValueError"
        return one, two, os.uname().nodename, too_long
    assert in_child(run) == (b"butter-test", b"h" * 64, "h" * 64, "ValueError")
    assert gethostname() == host  # the host's name is untouched


def test_unprivileged_is_permission_error(root, in_child):
    def run():
        unshare(CLONE_NEWUSER)  # no capability over the parent's UTS and mount namespaces
        out = []
        for call in (lambda: sethostname("nope"),
                     lambda: mount("none", "/tmp", "tmpfs"),
                     lambda: umount("/proc")):
            try:
                call()
            except PermissionError as e:
                out.append(e.errno)
        return out
    assert in_child(run) == [errno.EPERM] * 3


def test_mount_tmpfs_bind_remount_and_umount(root, in_child, tmpdir_):
    a, b = os.path.join(tmpdir_, "a"), os.path.join(tmpdir_, "b")
    os.mkdir(a)
    os.mkdir(b)

    def run():
        isolate()
        mount("tmpfs", a, "tmpfs", 0, "size=1m,mode=0700")
        with open(os.path.join(a, "f"), "w") as f:
            f.write("in tmpfs")
        mounted = os.path.ismount(a), oct(os.stat(a).st_mode & 0o777)
        # A bind needs no fs or data.
        mount(a, b, None, MS_BIND)
        with open(os.path.join(b, "f")) as f:
            seen = f.read()
        # Read-only bind: a second, remounting call.
        mount(None, b, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        try:
            open(os.path.join(b, "g"), "w")
            ro = None
        except OSError as e:
            ro = e.errno
        open(os.path.join(a, "g"), "w").close()  # the original stays writable
        umount(b)
        umount(pathlib_path(a))
        return mounted, seen, ro, os.path.ismount(a), os.path.ismount(b)
    assert in_child(run) == ((True, "0o700"), "in tmpfs", errno.EROFS, False, False)
    assert not os.path.ismount(a)  # nothing leaked to the host
    assert os.listdir(a) == []


def pathlib_path(p):
    import pathlib
    return pathlib.Path(p)


def test_propagation(root, in_child, tmpdir_):
    a, b, c = (os.path.join(tmpdir_, n) for n in "abc")
    for d in (a, b, c):
        os.mkdir(d)

    def run():
        isolate()
        mount("tmpfs", a, "tmpfs")
        mount(None, a, None, MS_SHARED)
        mount(a, b, None, MS_BIND)  # b is a's peer
        os.mkdir(os.path.join(a, "sub"))
        mount("tmpfs", os.path.join(a, "sub"), "tmpfs")
        shared = os.path.ismount(os.path.join(b, "sub"))  # propagated to the peer
        mount(None, b, None, MS_SLAVE)  # b now only receives
        os.mkdir(os.path.join(b, "only-b"))
        mount("tmpfs", os.path.join(b, "only-b"), "tmpfs")
        slave = os.path.ismount(os.path.join(a, "only-b"))  # not back to a
        mount(None, a, None, MS_PRIVATE | MS_REC)
        mount(None, a, None, MS_UNBINDABLE)
        try:
            mount(a, c, None, MS_BIND)
            unbindable = None
        except ValueError:
            unbindable = "ValueError"
        return shared, slave, unbindable
    assert in_child(run) == (True, False, "ValueError")


def test_umount_flags(root, in_child, tmpdir_):
    a = os.path.join(tmpdir_, "a")
    os.mkdir(a)

    def run():
        isolate()
        out = []
        mount("tmpfs", a, "tmpfs")
        f = open(os.path.join(a, "busy"), "w")
        try:
            umount(a)
        except ValueError:
            out.append("busy")
        umount(a, MNT_DETACH)  # lazy: gone from the tree at once
        out.append(os.path.ismount(a))
        f.close()
        mount("tmpfs", a, "tmpfs")
        try:
            umount(a, MNT_EXPIRE)
        except Retry:
            out.append("retry")  # marked expired
        umount(a, MNT_EXPIRE)  # unused since: unmounted
        out.append(os.path.ismount(a))
        mount("tmpfs", a, "tmpfs")
        umount(a, MNT_FORCE | UMOUNT_NOFOLLOW)
        try:
            umount(a)
        except ValueError:
            out.append("not mounted")
        return out
    assert in_child(run) == ["busy", False, "retry", False, "not mounted"]


def test_mount_real_errors(root, in_child, tmpdir_):
    def run():
        isolate()
        out = []
        try:
            mount("x", tmpdir_, "no-such-fs")
        except OSError as e:
            out.append(e.errno)
        try:
            mount("tmpfs", os.path.join(tmpdir_, "missing"), "tmpfs")
        except ValueError:
            out.append("ENOENT")
        try:
            mount("tmpfs", "/" + "x" * 5000, "tmpfs")
        except ValueError:
            out.append("too long")
        return out
    assert in_child(run) == [errno.ENODEV, "ENOENT", "too long"]


def test_pivot_root(root, in_child, tmpdir_):
    new = os.path.join(tmpdir_, "new")
    os.mkdir(new)

    def run():
        isolate()
        mount("tmpfs", new, "tmpfs")
        os.mkdir(os.path.join(new, "old"))
        with open(os.path.join(new, "marker"), "w") as f:
            f.write("new root")
        pivot_root(new, os.path.join(new, "old"))
        os.chdir("/")
        with open("/marker") as f:
            marker = f.read()
        old_has_tmp = os.path.isdir("/old" + tmpdir_)
        umount("/old", MNT_DETACH)
        return marker, old_has_tmp, sorted(os.listdir("/"))
    assert in_child(run) == ("new root", True, ["marker", "old"])
    assert os.path.isdir("/proc/self")  # the host's root is unchanged


def test_pivot_root_real_errors(root, in_child, tmpdir_):
    def run():
        isolate()
        out = []
        for args in ((os.devnull, tmpdir_), (tmpdir_, os.devnull), (tmpdir_, tmpdir_)):
            try:
                pivot_root(*args)
            except ValueError as e:
                out.append(str(e))
        return out
    got = in_child(run)
    assert "new root is not a directory" in got[0]
    assert "old root is not a directory" in got[1]
    assert len(got) == 3  # not a mount point: EINVAL -> ValueError


MOUNT_CASES = [(e, ValueError) for e in (
    errno.EBUSY, errno.EFAULT, errno.EINVAL, errno.ELOOP, errno.ENAMETOOLONG, errno.ENOENT,
    errno.ENOTBLK, errno.ENOTDIR)] + [
    (errno.EMFILE, OSError), (errno.ENODEV, OSError), (errno.ENXIO, OSError),
    (errno.ENOMEM, MemoryError), (errno.EACCES, PermissionError),
    (errno.EPERM, PermissionError), (errno.EHOSTDOWN, UnknownError)]


@pytest.mark.parametrize("err,exc", MOUNT_CASES)
def test_mount_errno_mapping(mocker, err, exc):
    mocker.patch("butter.system._C.mount", return_value=-1)
    system.ffi.errno = err
    with pytest.raises(exc) as e:
        mount("/dev/null", "/", "auto")
    if issubclass(exc, OSError):
        assert e.value.errno == err


@pytest.mark.parametrize("err,exc", [(e, ValueError) for e in (
    errno.EBUSY, errno.EFAULT, errno.EINVAL, errno.ENAMETOOLONG, errno.ENOENT)] + [
    (errno.ENOMEM, MemoryError), (errno.EPERM, PermissionError), (errno.EAGAIN, Retry),
    (errno.EHOSTDOWN, UnknownError)])
def test_umount_errno_mapping(mocker, err, exc):
    mocker.patch("butter.system._C.umount2", return_value=-1)
    system.ffi.errno = err
    with pytest.raises(exc):
        umount("/")


@pytest.mark.parametrize("args", [
    ("/", "/"), (os.devnull, "/"), ("/", os.devnull), (os.devnull, os.devnull)])
@pytest.mark.parametrize("err,exc", [
    (errno.EINVAL, ValueError), (errno.EBUSY, ValueError), (errno.ENOTDIR, ValueError),
    (errno.EPERM, PermissionError), (errno.EHOSTDOWN, UnknownError)])
def test_pivot_root_errno_mapping(mocker, args, err, exc):
    mocker.patch("butter.system._C.pivot_root", return_value=-1)
    system.ffi.errno = err
    with pytest.raises(exc):
        pivot_root(*args)


@pytest.mark.parametrize("err,exc", [
    (errno.EFAULT, ValueError), (errno.EINVAL, ValueError), (errno.EPERM, PermissionError),
    (errno.EHOSTDOWN, UnknownError)])
def test_sethostname_errno_mapping(mocker, err, exc):
    mocker.patch("butter.system._C.sethostname", return_value=-1)
    system.ffi.errno = err
    with pytest.raises(exc):
        sethostname("foobar")


@pytest.mark.parametrize("err,exc", [
    (errno.EFAULT, ValueError), (errno.EINVAL, ValueError), (errno.EPERM, PermissionError),
    (errno.ENAMETOOLONG, InternalError), (errno.EHOSTDOWN, UnknownError)])
def test_gethostname_errno_mapping(mocker, err, exc):
    mocker.patch("butter.system._C.gethostname", return_value=-1)
    system.ffi.errno = err
    with pytest.raises(exc):
        gethostname()


def test_seam_gets_the_arguments(mocker):
    m = mocker.patch("butter.system._C.mount", return_value=0)
    mount(pathlib_path("/src"), "/target", "tmpfs", MS_BIND, "")
    m.assert_called_once_with(b"/src", b"/target", b"tmpfs", MS_BIND, None)
    m = mocker.patch("butter.system._C.umount2", return_value=0)
    umount(b"/t", MNT_DETACH)
    m.assert_called_once_with(b"/t", MNT_DETACH)
