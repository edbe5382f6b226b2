"""butter.fanotify, butter._fanotify and butter.fanotify_constants against the real
kernel (as root: fanotify needs CAP_SYS_ADMIN), and every errno mapping of butter.md §1.15
through the patchable seam (``butter._fanotify.C`` + ``ffi.errno``)."""

import ctypes
import errno
import fcntl
import os
import pathlib
import re
import struct
import subprocess
import sys
import threading
import time

import pytest

from butter import _fanotify, _native, fanotify, fanotify_constants
from butter._fanotify import FanotifyEvent
from butter.fanotify import (
    FAN_ACCESS, FAN_ALLOW, FAN_CLASS_CONTENT, FAN_CLASS_NOTIF, FAN_CLOSE, FAN_CLOSE_NOWRITE,
    FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_DENY, FAN_EVENT_INFO_TYPE_DFID_NAME,
    FAN_EVENT_INFO_TYPE_FID, FAN_MARK_FILESYSTEM, FAN_MARK_MOUNT, FAN_MODIFY, FAN_NONBLOCK,
    FAN_ONDIR, FAN_OPEN, FAN_OPEN_PERM, FAN_Q_OVERFLOW, FAN_REPORT_FID,
    O_RDONLY, O_RDWR, O_WRONLY, Fanotify,
)
from butter.utils import UnknownError

QUEUE_SYSCTL = "/proc/sys/fs/fanotify/max_queued_events"

SPEC_VALUES = {
    "FAN_CLOEXEC": 0x1, "FAN_NONBLOCK": 0x2, "FAN_CLASS_NOTIF": 0x0, "FAN_CLASS_CONTENT": 0x4,
    "FAN_CLASS_PRE_CONTENT": 0x8, "FAN_UNLIMITED_QUEUE": 0x10, "FAN_UNLIMITED_MARKS": 0x20,
    "FAN_MARK_ADD": 0x1, "FAN_MARK_REMOVE": 0x2, "FAN_MARK_DONT_FOLLOW": 0x4,
    "FAN_MARK_ONLYDIR": 0x8, "FAN_MARK_MOUNT": 0x10, "FAN_MARK_IGNORED_MASK": 0x20,
    "FAN_MARK_IGNORED_SURV_MODIFY": 0x40, "FAN_MARK_FLUSH": 0x80, "FAN_ALL_MARK_FLAGS": 0xff,
    "FAN_ACCESS": 0x1, "FAN_MODIFY": 0x2, "FAN_CLOSE_WRITE": 0x8, "FAN_CLOSE_NOWRITE": 0x10,
    "FAN_CLOSE": 0x18, "FAN_OPEN": 0x20, "FAN_Q_OVERFLOW": 0x4000, "FAN_OPEN_PERM": 0x10000,
    "FAN_ACCESS_PERM": 0x20000, "FAN_ONDIR": 0x40000000, "FAN_EVENT_ON_CHILD": 0x8000000,
    "FAN_ALLOW": 0x1, "FAN_DENY": 0x2, "FAN_ALL_EVENTS": 0x3b, "FAN_MODIFY_DIR": 0x40000,
}

PROPERTIES = {
    "access_event": 0x1, "access_perm_event": 0x20000, "modify_event": 0x2,
    "close_write_event": 0x8, "close_nowrite_event": 0x10, "open_event": 0x20,
    "open_perm_event": 0x10000, "queue_overflow_event": 0x4000, "on_dir_event": 0x40000000,
    "on_child_event": 0x8000000, "open_exec_event": 0x1000, "open_exec_perm_event": 0x40000,
    "attrib_event": 0x4, "create_event": 0x100, "delete_event": 0x200,
    "moved_from_event": 0x40, "moved_to_event": 0x80, "delete_self_event": 0x400,
    "move_self_event": 0x800, "rename_event": 0x10000000, "fs_error_event": 0x8000,
}


def drain(group):
    out = []
    while True:
        try:
            out.extend(group.read_events())
        except BlockingIOError:
            return out


def close_all(events):
    for e in events:
        e.close()


def metadata(mask, fd, pid, infos=b"", event_len=None, vers=3, metadata_len=24):
    body = struct.pack("=BBHQii", vers, 0, metadata_len, mask, fd, pid) + infos
    return struct.pack("=I", event_len if event_len is not None else 4 + len(body)) + body


def fid_record(kind, fsid, handle_type, handle, name=None):
    body = struct.pack("=iiIi", fsid[0], fsid[1], len(handle), handle_type) + handle
    if name is not None:
        body += name + b"\0"
    body += b"\0" * (-(4 + len(body)) % 4)
    return struct.pack("=BBH", kind, 0, 4 + len(body)) + body


# ------------------------------------------------------------------ names and constants

def test_constants_are_the_kernels():
    libc = _native.fanotify_constants()
    for name, value in SPEC_VALUES.items():
        for module in (fanotify, _fanotify, fanotify_constants):
            assert getattr(module, name) == value, (module, name)
    for name, value in libc.items():
        assert getattr(fanotify_constants, name) == value, name
        assert getattr(fanotify, name) == value, name
    assert (fanotify.O_RDONLY, fanotify.O_WRONLY, fanotify.O_RDWR) == (
        os.O_RDONLY, os.O_WRONLY, os.O_RDWR)
    assert _fanotify.READ_EVENTS_MAX == 10
    assert _fanotify.lib is _fanotify.C
    ns = {}
    exec("from butter.fanotify import *", ns)
    assert "Fanotify" in ns and "FAN_OPEN" in ns and "fanotify_mark" in ns


@pytest.mark.parametrize("prop,bit", sorted(PROPERTIES.items()))
def test_friendly_properties(prop, bit):
    assert getattr(FanotifyEvent(3, bit, -1, 1), prop) is True
    assert getattr(FanotifyEvent(3, 0, -1, 1), prop) is False


def test_event_object():
    ev = FanotifyEvent(3, 0x2A, -1, 1234)
    assert (ev.version, ev.mask, ev.fd, ev.pid, ev.info, ev.pidfd) == (3, 0x2A, -1, 1234, (), None)
    assert ev.filename == "<Unknown>"
    assert repr(ev) == "<FanotifyEvent filename=<Unknown>, version=3, mask=0x2A, fd=-1, pid=1234>"
    assert not hasattr(ev, "__dict__")
    assert ev != FanotifyEvent(3, 0x2A, -1, 1234)  # identity equality
    with pytest.raises(ValueError):
        ev.fileno()
    ev.close()
    ev.close()
    assert ev.fd is None


def test_event_close_and_context_manager(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    fd = os.open(f, os.O_RDONLY)
    ev = FanotifyEvent(3, FAN_OPEN, fd, os.getpid())
    assert ev.filename == str(f) and ev.fileno() == fd
    assert repr(ev) == "<FanotifyEvent filename={}, version=3, mask=0x20, fd={}, pid={}>".format(
        f, fd, os.getpid())
    with ev as same:
        assert same is ev
    assert ev.fd is None
    with pytest.raises(OSError):
        os.fstat(fd)


# ------------------------------------------------------------------ str_to_events

def test_str_to_events_decodes_metadata_and_info_records():
    raw = (metadata(FAN_OPEN, 5, 1234)
           + metadata(FAN_CREATE, -1, 99,
                      fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, (7, 8), 1, b"\x01\x02\x03\x04",
                                 b"name")
                      + fid_record(FAN_EVENT_INFO_TYPE_FID, (7, 8), 1, b"\x05\x06\x07\x08"))
           + metadata(FAN_Q_OVERFLOW, -1, 0))
    evs = fanotify.str_to_events(raw)
    assert [(e.version, e.mask, e.fd, e.pid) for e in evs] == [
        (3, FAN_OPEN, 5, 1234), (3, FAN_CREATE, -1, 99), (3, FAN_Q_OVERFLOW, -1, 0)]
    created = evs[1]
    assert created.name == b"name"
    assert created.dfid == (FAN_EVENT_INFO_TYPE_DFID_NAME, (7, 8), 1, b"\x01\x02\x03\x04", b"name")
    assert created.fid == (FAN_EVENT_INFO_TYPE_FID, (7, 8), 1, b"\x05\x06\x07\x08", None)
    assert evs[2].queue_overflow_event and evs[0].name is None and evs[0].fid is None
    assert _fanotify.str_to_events(b"") == []


def test_str_to_events_pidfd_and_error_records():
    pidfd = struct.pack("=BBHi", 4, 0, 8, 42)
    error = struct.pack("=BBHiI", 5, 0, 12, errno.EIO, 3)
    other = struct.pack("=BBH", 99, 0, 8) + b"abcd"
    (ev,) = fanotify.str_to_events(metadata(FAN_OPEN, -1, 1, pidfd + error + other))
    assert ev.pidfd == 42
    assert ev.error == (errno.EIO, 3)
    assert ev.info[2] == (99, b"abcd")


@pytest.mark.parametrize("raw", [
    metadata(FAN_OPEN, 5, 1, event_len=0),  # would loop forever without the bounds check
    metadata(FAN_OPEN, 5, 1, event_len=10),
    metadata(FAN_OPEN, 5, 1, event_len=4000),  # runs past the end
    metadata(FAN_OPEN, 5, 1)[:20],
    metadata(FAN_OPEN, 5, 1, vers=2),
    metadata(FAN_OPEN, 5, 1, metadata_len=8),
    metadata(FAN_OPEN, 5, 1, struct.pack("=BBH", 1, 0, 2)),  # info len below its header
    metadata(FAN_OPEN, 5, 1, struct.pack("=BBH", 1, 0, 200)),  # info runs past the event
    # a file handle longer than its record
    metadata(FAN_OPEN, 5, 1, struct.pack("=BBH", 1, 0, 20) + struct.pack("=iiIi", 0, 0, 100, 1)),
    # a name record whose name has no NUL
    metadata(FAN_OPEN, 5, 1, struct.pack("=BBH", 2, 0, 24) + struct.pack("=iiIi", 0, 0, 0, 1)
             + b"abcd"),
    metadata(FAN_OPEN, 5, 1) + b"\x00" * 5,
])
def test_str_to_events_rejects_malformed_records(raw):
    with pytest.raises(ValueError):
        fanotify.str_to_events(raw)


# ------------------------------------------------------------------ low-level calls

def test_fanotify_init_is_close_on_exec_and_honours_nonblock(root):
    fd = fanotify.fanotify_init()
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.get_blocking(fd)
    finally:
        os.close(fd)
    fd = fanotify.fanotify_init(FAN_NONBLOCK, closefd=False)
    try:
        assert not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert not os.get_blocking(fd)
    finally:
        os.close(fd)


def test_mark_open_read_and_close(root, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"data")
    fd = fanotify.fanotify_init(FAN_NONBLOCK)
    try:
        fanotify.fanotify_mark(fd, f, FAN_OPEN | FAN_ACCESS | FAN_CLOSE, fanotify.FAN_MARK_ADD)
        with open(f, "rb") as fh:
            fh.read()
        evs = _fanotify._read(fd)
        mask = 0
        for e in evs:
            mask |= e.mask
            assert e.pid == os.getpid() and e.version == 3 and e.filename == str(f)
            assert fcntl.fcntl(e.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC  # event fds too
            e.close()
        assert mask == FAN_OPEN | FAN_ACCESS | FAN_CLOSE_NOWRITE
        fanotify.fanotify_mark(fd, f, FAN_OPEN | FAN_ACCESS | FAN_CLOSE, fanotify.FAN_MARK_REMOVE)
        with pytest.raises(ValueError):  # nothing left to remove
            fanotify.fanotify_mark(fd, f, FAN_OPEN, fanotify.FAN_MARK_REMOVE)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ Fanotify

@pytest.fixture
def group(root):
    g = Fanotify(FAN_CLASS_NOTIF | FAN_NONBLOCK)
    yield g
    if not g.closed():
        g.close()


def test_fanotify_file_mark_events(group, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    group.watch(str(f), FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE)
    with open(f, "wb", buffering=0) as fh:
        fh.write(b"x")
    evs = drain(group)
    try:
        assert evs and all(e.filename == str(f) for e in evs)
        mask = 0
        for e in evs:
            mask |= e.mask
        assert mask == FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE
        assert any(e.open_event for e in evs) and any(e.close_write_event for e in evs)
        assert re.fullmatch(r"<FanotifyEvent filename=.*, version=3, mask=0x[0-9A-F]+, "
                            r"fd=\d+, pid=%d>" % os.getpid(), repr(evs[0]))
    finally:
        close_all(evs)
    group.ignore(f, FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE)
    open(f).close()
    assert drain(group) == []


@pytest.mark.parametrize("kind", ["bytes", "path", "relative"])
def test_fanotify_paths(group, tmp_path, kind):
    f = tmp_path / "f"
    f.write_bytes(b"")
    if kind == "relative":
        dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            group.watch("f", FAN_OPEN, dfd=dfd)
        finally:
            os.close(dfd)
    else:
        group.watch(os.fsencode(f) if kind == "bytes" else pathlib.Path(f), FAN_OPEN)
    open(f).close()
    evs = drain(group)
    assert [e.filename for e in evs] == [str(f)]
    close_all(evs)


def test_directory_marks_with_event_on_child_and_ondir(group, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "grandchild").write_bytes(b"")
    group.watch(tmp_path, FAN_OPEN | fanotify.FAN_EVENT_ON_CHILD | FAN_ONDIR)
    open(tmp_path / "child", "w").close()
    open(tmp_path / "sub" / "grandchild").close()  # not an entry of the marked dir
    os.listdir(tmp_path / "sub")
    os.listdir(tmp_path)
    evs = drain(group)
    names = sorted(e.filename for e in evs)
    close_all(evs)
    assert names == sorted([str(tmp_path / "child"), str(tmp_path / "sub"), str(tmp_path)])


def test_flush_removes_every_mark(group, tmp_path):
    for n in range(3):
        (tmp_path / str(n)).write_bytes(b"")
        group.watch(tmp_path / str(n), FAN_OPEN)
    group.flush()
    for n in range(3):
        open(tmp_path / str(n)).close()
    assert drain(group) == []


def test_nonblock_and_blocking_reads(root, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    with Fanotify(FAN_CLASS_NOTIF | FAN_NONBLOCK) as nb:
        assert nb.blocking is False and nb._blocking is False
        with pytest.raises(BlockingIOError):
            nb.read_events()
        with pytest.raises(BlockingIOError):
            nb.read_event()
    with Fanotify(FAN_CLASS_NOTIF) as g:
        assert g.blocking is True
        g.watch(f, FAN_OPEN)
        with pytest.raises(TimeoutError):
            g.wait(0.05)
        got = []
        t = threading.Thread(target=lambda: got.append(g.read_event()))
        t.start()  # waits in the kernel (no read(0) trick, no EINVAL)
        time.sleep(0.2)
        assert not got
        open(f).close()
        t.join(10)
        assert got and got[0].open_event and got[0].filename == str(f)
        got[0].close()


def test_mode_follows_event_flags(root):
    for flags, mode, readable, writable in [(O_RDONLY, "r", True, False),
                                            (O_WRONLY, "w", False, True),
                                            (O_RDWR, "w+", True, True)]:
        with Fanotify(FAN_CLASS_NOTIF, flags) as g:
            assert g.mode() == mode
            assert g.readable() is readable and g.writable() is writable


def test_repr_eq_and_new(root):
    with Fanotify(0) as g:
        assert repr(g) == "<Fanotify fd={}>".format(g.fileno())
    assert repr(g) == "<Fanotify fd=closed>"
    bare = Fanotify.__new__(Fanotify)
    bare._fd = 5
    assert repr(bare) == "<Fanotify fd=5>"
    assert bare.blocking is True


def test_close_closes_cached_events(group, tmp_path):
    for n in range(3):
        (tmp_path / str(n)).write_bytes(b"")
    group.watch(tmp_path, FAN_OPEN | fanotify.FAN_EVENT_ON_CHILD)
    for n in range(3):
        open(tmp_path / str(n)).close()
    first = group.read_event()
    cached = list(group._events)
    assert len(cached) == 2
    group.close()
    assert all(e.fd is None for e in cached)
    first.close()


def test_permission_event_denies_and_allows_a_child(root, tmp_path):
    f = tmp_path / "guarded"
    f.write_bytes(b"secret")
    code = "import sys\ntry:\n    open(sys.argv[1]).read()\nexcept PermissionError:\n" \
           "    sys.exit(13)\n"
    with Fanotify(FAN_CLASS_CONTENT) as g:
        g.watch(f, FAN_OPEN_PERM)
        for answer, status in ((g.deny, 13), (g.allow, 0)):
            child = subprocess.Popen([sys.executable, "-c", code, str(f)])
            ev = g.wait(10)
            try:
                assert ev.open_perm_event and ev.permission_event and ev.pid == child.pid
                assert child.poll() is None  # waiting for the answer
                answer(ev)
            finally:
                ev.close()
            assert child.wait(10) == status
        child = subprocess.Popen([sys.executable, "-c", code, str(f)])
        ev = g.wait(10)
        g.respond(ev.fd, allow=False)  # by descriptor number
        ev.close()
        assert child.wait(10) == 13
        with pytest.raises(ValueError):  # nothing waits for an answer on that fd
            g.respond(0)
        with pytest.raises(ValueError):
            g.respond(ev)  # closed


def test_overflow_is_an_event(root, tmp_path):
    old = open(QUEUE_SYSCTL).read()
    try:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write("16")
        g = Fanotify(FAN_CLASS_NOTIF | FAN_NONBLOCK)
    finally:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write(old)
    assert open(QUEUE_SYSCTL).read() == old
    with g:
        for n in range(40):
            (tmp_path / str(n)).write_bytes(b"")
        g.watch(tmp_path, FAN_OPEN | fanotify.FAN_EVENT_ON_CHILD)
        for n in range(40):
            open(tmp_path / str(n)).close()
        evs = drain(g)
        fds = [e.fd for e in evs]
        close_all(evs)
    assert len(evs) == 17
    assert evs[-1].queue_overflow_event and fds[-1] == fanotify.FAN_NOFD
    assert not any(e.queue_overflow_event for e in evs[:-1]) and min(fds[:-1]) >= 0


def test_fid_group_reports_names_and_handles(root, tmp_path):
    # DFID_NAME_TARGET: the directory's handle and the entry's name, and the entry's handle
    with Fanotify(fanotify.FAN_REPORT_DFID_NAME_TARGET | FAN_NONBLOCK) as g:
        g.watch(tmp_path, FAN_CREATE | FAN_DELETE | FAN_ONDIR)
        (tmp_path / "made").write_bytes(b"")
        evs = drain(g)  # read before the delete, which would be merged into it
        os.mkdir(tmp_path / "dir")
        evs += drain(g)
        os.unlink(tmp_path / "made")
        evs += drain(g)
    assert [(e.name, bool(e.create_event), bool(e.delete_event), e.on_dir_event)
            for e in evs] == [(b"made", True, False, False), (b"dir", True, False, True),
                              (b"made", False, True, False)]
    for e in evs:
        assert e.fd == -1 and e.filename == "<Unknown>"
        assert e.dfid.type == FAN_EVENT_INFO_TYPE_DFID_NAME and e.dfid.handle
        assert e.fid is not None and e.fid.type == FAN_EVENT_INFO_TYPE_FID
        assert e.dfid.fsid == e.fid.fsid
        e.close()


def _mount(source, target, fstype, flags=0):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source, os.fsencode(target), fstype, ctypes.c_ulong(flags), None) != 0:
        raise OSError(ctypes.get_errno(), "mount")


def test_mount_and_filesystem_marks(root, tmp_path, in_child):
    mnt = tmp_path / "mnt"
    mnt.mkdir()

    def child():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS: the mount stays in the child
            raise OSError(ctypes.get_errno(), "unshare")
        _mount(None, "/", None, 0x4000 | (1 << 18))  # MS_REC | MS_PRIVATE
        _mount(b"tmpfs", mnt, b"tmpfs")
        (mnt / "a").write_bytes(b"")
        os.mkdir(mnt / "d")
        (mnt / "d" / "b").write_bytes(b"")
        seen = {}
        for name, flags in (("mount", FAN_MARK_MOUNT), ("filesystem", FAN_MARK_FILESYSTEM)):
            with Fanotify(FAN_CLASS_NOTIF | FAN_NONBLOCK) as g:
                g.watch(mnt, FAN_OPEN, flags)
                open(mnt / "a").close()
                open(mnt / "d" / "b").close()
                evs = drain(g)
                seen[name] = sorted(e.filename for e in evs)
                close_all(evs)
        return seen

    both = sorted([str(mnt / "a"), str(mnt / "d" / "b")])
    assert in_child(child) == {"mount": both, "filesystem": both}


# ------------------------------------------------------------------ real errors

def test_real_errors(group, tmp_path):
    with pytest.raises(ValueError):  # ENOENT
        group.watch(tmp_path / "missing", FAN_OPEN)
    with pytest.raises(ValueError):  # EINVAL: mask 0
        group.watch(tmp_path, 0)
    with pytest.raises(ValueError):  # EINVAL: a permission event in a CLASS_NOTIF group
        group.watch(tmp_path, FAN_OPEN_PERM)
    with pytest.raises(ValueError):  # EINVAL: directory-entry events need FID reporting
        group.watch(tmp_path, FAN_CREATE)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValueError):  # ENOTDIR
        group.watch(tmp_path / "file", FAN_OPEN, fanotify.FAN_MARK_ONLYDIR)
    with pytest.raises(ValueError):  # EBADF
        fanotify.fanotify_mark(-1, tmp_path, FAN_OPEN, fanotify.FAN_MARK_ADD)
    r, w = os.pipe()
    os.close(w)
    try:
        with pytest.raises(ValueError):  # EINVAL: not a fanotify group
            fanotify.fanotify_mark(r, tmp_path, FAN_OPEN, fanotify.FAN_MARK_ADD)
    finally:
        os.close(r)
    with pytest.raises(ValueError):  # EINVAL: permission classes cannot report FIDs
        Fanotify(FAN_CLASS_CONTENT | FAN_REPORT_FID)
    with pytest.raises(ValueError):  # EINVAL: unknown flags
        fanotify.fanotify_init(0x80000000)
    with pytest.raises(OSError) as e:
        _native.fanotify_read(-1)
    assert e.value.errno == errno.EBADF


def test_unprivileged_is_a_permission_error(root, in_child):
    def child():
        os.setgid(65534)
        os.setuid(65534)
        try:
            Fanotify(FAN_CLASS_CONTENT)
        except PermissionError as e:
            return "PermissionError", e.errno
        return "no error"

    assert in_child(child) == ("PermissionError", errno.EPERM)


def test_mark_limit_is_an_os_error(root, tmp_path, in_child):
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "b").write_bytes(b"")

    def child():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
            raise OSError(ctypes.get_errno(), "unshare")
        for name, line in (("uid_map", "0 0 1"), ("setgroups", "deny"), ("gid_map", "0 0 1")):
            with open("/proc/self/" + name, "w") as f:
                f.write(line)
        with open("/proc/sys/user/max_fanotify_marks", "w") as f:
            f.write("1")
        # Without CAP_SYS_ADMIN in the first namespace only a FID group may be made.
        with Fanotify(FAN_REPORT_FID) as g:
            g.watch(tmp_path / "a", FAN_OPEN)
            try:
                g.watch(tmp_path / "b", FAN_OPEN)
            except OSError as e:
                return type(e).__name__, e.errno, "max_user_marks" in str(e)
        return "no error"

    assert in_child(child) == ("OSError", errno.ENOSPC, True)


# ------------------------------------------------------------------ the seam (butter.md §1.15, §2.1)

INIT_TABLE = [(errno.EINVAL, ValueError), (errno.EMFILE, OSError), (errno.ENOMEM, MemoryError),
              (errno.EPERM, PermissionError), (errno.EHOSTDOWN, UnknownError)]
MARK_TABLE = [(errno.EINVAL, ValueError), (errno.EBADF, ValueError), (errno.ENOENT, ValueError),
              (errno.ENOSPC, OSError), (errno.ENOMEM, MemoryError),
              (errno.EHOSTDOWN, UnknownError)]


@pytest.mark.parametrize("err,exc", INIT_TABLE)
def test_seam_fanotify_init(mocker, err, exc):
    m = mocker.patch("butter._fanotify.C.fanotify_init", return_value=-1)
    _fanotify.ffi.errno = err
    with pytest.raises(exc) as e:
        _fanotify.fanotify_init(0)
    assert m.call_args[0][0] & fanotify.FAN_CLOEXEC
    if issubclass(exc, (OSError, UnknownError)):
        assert e.value.errno == err
    _fanotify.ffi.errno = err
    with pytest.raises(exc):
        fanotify.fanotify_init(0)
    _fanotify.ffi.errno = err
    with pytest.raises(exc):
        Fanotify(0)


@pytest.mark.parametrize("err,exc", MARK_TABLE)
def test_seam_fanotify_mark(mocker, err, exc):
    m = mocker.patch("butter._fanotify.C.fanotify_mark", return_value=-1)
    _fanotify.ffi.errno = err
    with pytest.raises(exc) as e:
        _fanotify.fanotify_mark(0, "/", 0, 0)
    # C's argument order: (fd, flags, mask, dfd, path); dfd defaults to AT_FDCWD
    m.assert_called_once_with(0, 0, 0, _fanotify.AT_FDCWD, b"/")
    if issubclass(exc, (OSError, UnknownError)):
        assert e.value.errno == err
    _fanotify.ffi.errno = err
    with pytest.raises(exc):
        fanotify.fanotify_mark(0, "/", 0, 0)


@pytest.mark.parametrize("err,exc", [(errno.EINVAL, ValueError), (errno.ENOENT, ValueError),
                                     (errno.EBADF, ValueError), (errno.EHOSTDOWN, UnknownError)])
def test_seam_fanotify_respond(mocker, err, exc):
    m = mocker.patch("butter._fanotify.C.fanotify_respond", return_value=-1)
    _fanotify.ffi.errno = err
    with pytest.raises(exc):
        _fanotify.fanotify_respond(3, 5, FAN_DENY)
    m.assert_called_once_with(3, 5, FAN_DENY)


def test_seam_success_and_the_fixed_watch_order(mocker):
    mocker.patch("butter._fanotify.C.fanotify_init", return_value=9)
    mark = mocker.patch("butter._fanotify.C.fanotify_mark", return_value=0)
    respond = mocker.patch("butter._fanotify.C.fanotify_respond", return_value=0)
    g = Fanotify(FAN_CLASS_NOTIF)
    assert g._fd == 9
    g.watch("/x", FAN_OPEN, FAN_MARK_MOUNT)
    mark.assert_called_with(9, FAN_MARK_MOUNT | fanotify.FAN_MARK_ADD, FAN_OPEN,
                            _fanotify.AT_FDCWD, b"/x")
    g.ignore("/x", FAN_OPEN, dfd=4)
    mark.assert_called_with(9, fanotify.FAN_MARK_REMOVE, FAN_OPEN, 4, b"/x")
    g.del_watch(b"/y", FAN_OPEN)
    mark.assert_called_with(9, fanotify.FAN_MARK_REMOVE, FAN_OPEN, _fanotify.AT_FDCWD, b"/y")
    g.respond(FanotifyEvent(3, FAN_OPEN_PERM, 6, 1), allow=True, audit=True)
    respond.assert_called_with(9, 6, FAN_ALLOW | fanotify.FAN_AUDIT)
    g._fd = None  # not a real descriptor


def test_ffi_errno_is_set_by_raw_calls():
    assert _native.fanotify_mark(-1, fanotify.FAN_MARK_ADD, FAN_OPEN, -100, b"/") == -1
    assert _fanotify.ffi.errno == errno.EBADF
    assert _native.fanotify_respond(-1, 0, FAN_ALLOW) == -1
    assert _fanotify.ffi.errno == errno.EBADF


def test_a_blocking_read_runs_signal_handlers_and_goes_on(root, tmp_path):
    import signal

    f = tmp_path / "f"
    f.write_bytes(b"")
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *a: seen.append("alarm"))
    try:
        with Fanotify(FAN_CLASS_NOTIF) as g:
            g.watch(f, FAN_OPEN)
            t = threading.Timer(0.4, lambda: open(f).close())
            t.start()
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            evs = g.read_events()
            t.join()
            close_all(evs)
        assert seen == ["alarm"]
        assert [e.mask for e in evs] == [FAN_OPEN]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
