"""butter.inotify and butter._inotify against the real kernel, and every errno mapping of
butter.md §1.15 through the patchable seam (``butter._inotify.C`` + ``ffi.errno``)."""

import ctypes
import errno
import fcntl
import gc
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import threading
import time

import pytest

from butter import _inotify, _native, inotify
from butter._inotify import InotifyEvent
from butter.inotify import (
    IN_ALL_EVENTS, IN_ATTRIB, IN_CLOEXEC, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_CREATE,
    IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR, IN_MASK_ADD, IN_MASK_CREATE,
    IN_MODIFY, IN_MOVE_SELF, IN_MOVED_FROM, IN_NONBLOCK, IN_ONLYDIR, IN_OPEN,
    IN_Q_OVERFLOW, Inotify,
)
from butter.utils import UnknownError

QUEUE_SYSCTL = "/proc/sys/fs/inotify/max_queued_events"

SPEC_VALUES = {
    "IN_ACCESS": 0x1, "IN_MODIFY": 0x2, "IN_ATTRIB": 0x4, "IN_CLOSE_WRITE": 0x8,
    "IN_CLOSE_NOWRITE": 0x10, "IN_OPEN": 0x20, "IN_MOVED_FROM": 0x40, "IN_MOVED_TO": 0x80,
    "IN_CREATE": 0x100, "IN_DELETE": 0x200, "IN_DELETE_SELF": 0x400, "IN_MOVE_SELF": 0x800,
    "IN_UNMOUNT": 0x2000, "IN_Q_OVERFLOW": 0x4000, "IN_IGNORED": 0x8000, "IN_CLOSE": 0x18,
    "IN_MOVE": 0xc0, "IN_ONLYDIR": 0x1000000, "IN_DONT_FOLLOW": 0x2000000,
    "IN_EXCL_UNLINK": 0x4000000, "IN_MASK_ADD": 0x20000000, "IN_ISDIR": 0x40000000,
    "IN_ONESHOT": 0x80000000, "IN_ALL_EVENTS": 0xfff, "IN_CLOEXEC": 0x80000,
    "IN_NONBLOCK": 0x800, "IN_MASK_CREATE": 0x10000000,
}

PROPERTIES = {
    "access_event": 0x1, "modify_event": 0x2, "attrib_event": 0x4, "close_write_event": 0x8,
    "close_nowrite_event": 0x10, "open_event": 0x20, "moved_from_event": 0x40,
    "moved_to_event": 0x80, "create_event": 0x100, "delete_event": 0x200,
    "delete_self_event": 0x400, "move_self_event": 0x800, "is_dir_event": 0x40000000,
    "queue_overflow_event": 0x4000, "ignored_event": 0x8000, "unmount_event": 0x2000,
}


@pytest.fixture
def ino():
    i = Inotify(IN_NONBLOCK)
    yield i
    if not i.closed():
        i.close()


def drain(i):
    """Every event queued on a non-blocking instance."""
    out = []
    while True:
        try:
            out.extend(i.read_events())
        except BlockingIOError:
            return out


def record(wd, mask, cookie, name):
    """One record as the kernel writes it: the name NUL-padded to a multiple of 16."""
    padded = name.ljust((len(name) // 16 + 1) * 16, b"\0") if name else b""
    return struct.pack("iIII", wd, mask, cookie, len(padded)) + padded


# ------------------------------------------------------------------ names and constants

def test_constants_are_the_kernels():
    libc = _native.inotify_constants()
    for name, value in SPEC_VALUES.items():
        assert getattr(inotify, name) == value, name
        assert getattr(_inotify, name) == value, name
        assert libc[name] == value, name
    assert IN_CLOEXEC == os.O_CLOEXEC and IN_NONBLOCK == os.O_NONBLOCK


def test_event_name_maps_both_ways_with_sorted_collisions():
    names = inotify.event_name
    assert names is _inotify.event_name
    assert names["IN_CREATE"] == 0x100 and names[0x100] == "IN_CREATE"
    assert names[0x800] == "IN_NONBLOCK"  # IN_MOVE_SELF shares it; later names win
    assert names["IN_MOVE_SELF"] == 0x800
    assert names[0x10000000] == "IN_MASK_CREATE"
    for key in SPEC_VALUES:
        assert key in names
    # 27 names, 26 distinct values (0x800 is shared)
    assert len(names) == 53


def test_public_names_exist():
    for name in ["Inotify", "watch", "inotify_init", "inotify_add_watch", "inotify_rm_watch",
                 "str_to_events", "event_name"]:
        assert hasattr(inotify, name), name
    for name in ["InotifyEvent", "inotify_init", "inotify_add_watch", "inotify_rm_watch",
                 "str_to_events", "event_name", "C", "lib", "ffi"]:
        assert hasattr(_inotify, name), name
    assert _inotify.lib is _inotify.C
    ns = {}
    exec("from butter.inotify import *", ns)
    assert "Inotify" in ns and "IN_CREATE" in ns and "watch" in ns


# ------------------------------------------------------------------ InotifyEvent

def test_inotify_event_is_a_slotted_namedtuple():
    ev = InotifyEvent(1, IN_CREATE, 0, b"f")
    assert isinstance(ev, tuple)
    assert InotifyEvent.__slots__ == []
    assert not hasattr(ev, "__dict__")
    assert ev == (1, IN_CREATE, 0, b"f") and hash(ev) == hash((1, IN_CREATE, 0, b"f"))
    assert repr(ev) == "InotifyEvent(wd=1, mask=256, cookie=0, filename=b'f')"
    assert (ev.wd, ev.mask, ev.cookie, ev.filename) == (1, 256, 0, b"f")
    assert pickle.loads(pickle.dumps(ev)) == ev
    with pytest.raises(AttributeError):
        ev.extra = 1


@pytest.mark.parametrize("prop,bit", sorted(PROPERTIES.items()))
def test_friendly_properties(prop, bit):
    assert getattr(InotifyEvent(1, bit, 0, b""), prop) is True
    assert getattr(InotifyEvent(1, 0, 0, b""), prop) is False
    assert getattr(InotifyEvent(1, ~bit & 0xffffffff, 0, b""), prop) is False


def test_close_event_is_either_close():
    assert InotifyEvent(1, IN_CLOSE_WRITE, 0, b"").close_event
    assert InotifyEvent(1, IN_CLOSE_NOWRITE, 0, b"").close_event
    assert not InotifyEvent(1, IN_OPEN, 0, b"").close_event


def test_str_to_events_decodes_records():
    raw = (record(1, IN_CREATE, 0, b"abc") + record(2, IN_OPEN | IN_ISDIR, 0, b"")
           + record(3, IN_MOVED_FROM, 77, b"x" * 16) + record(-1, IN_Q_OVERFLOW, 0, b""))
    evs = inotify.str_to_events(raw)
    assert evs == [(1, IN_CREATE, 0, b"abc"), (2, IN_OPEN | IN_ISDIR, 0, b""),
                   (3, IN_MOVED_FROM, 77, b"x" * 16), (-1, IN_Q_OVERFLOW, 0, b"")]
    assert all(type(e) is InotifyEvent for e in evs)
    assert evs[1].is_dir_event and evs[3].queue_overflow_event
    assert _inotify.str_to_events(bytearray(raw)) == evs
    assert inotify.str_to_events(b"") == []


def test_str_to_events_cuts_names_at_the_first_nul():
    raw = struct.pack("iIII", 1, 2, 0, 16) + b"ab\0cd" + b"\0" * 11
    assert inotify.str_to_events(raw)[0].filename == b"ab"
    unterminated = struct.pack("iIII", 1, 2, 0, 4) + b"abcd"
    assert inotify.str_to_events(unterminated)[0].filename == b"abcd"


@pytest.mark.parametrize("raw", [
    b"\x01\x00\x00",  # not even a header
    struct.pack("iIII", 1, 2, 0, 32) + b"abc",  # the name runs past the end
    record(1, 2, 0, b"ok") + b"\x01",  # a good record, then garbage
])
def test_str_to_events_rejects_truncated_records(raw):
    with pytest.raises(ValueError):
        inotify.str_to_events(raw)


def test_decoded_events_are_not_tracked_by_the_gc():
    (ev,) = inotify.str_to_events(record(1, IN_CREATE, 0, b"f"))
    assert not gc.is_tracked(ev)
    gc.collect()
    assert ev == (1, IN_CREATE, 0, b"f")


def test_big_decodes_leave_the_garbage_collector_as_they_found_it():
    raw = record(1, IN_CREATE, 0, b"f") * 1000  # 32 KiB: decoded with the collector paused
    assert gc.isenabled()
    assert len(inotify.str_to_events(raw)) == 1000
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(inotify.str_to_events(raw)) == 1000
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_decoding_into_a_subclass_with_a_dict_keeps_it_tracked():
    class WithDict(InotifyEvent):
        pass

    (ev,) = _native.inotify_decode(record(1, IN_CREATE, 0, b"f"), WithDict)
    assert type(ev) is WithDict and ev == (1, IN_CREATE, 0, b"f")
    assert gc.is_tracked(ev)
    ev.note = ev  # a cycle through __dict__ is collectable
    del ev
    gc.collect()
    with pytest.raises(TypeError):
        _native.inotify_decode(b"", int)


# ------------------------------------------------------------------ low-level calls

def test_inotify_init_is_close_on_exec_unless_told():
    fd = inotify.inotify_init()
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.get_blocking(fd)
    finally:
        os.close(fd)
    fd = inotify.inotify_init(IN_NONBLOCK, closefd=False)
    try:
        assert not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert not os.get_blocking(fd)
    finally:
        os.close(fd)


def test_add_and_rm_watch_with_fileno_objects(tmp_path, ino):
    fd = _inotify.inotify_init(IN_NONBLOCK)
    try:
        wd = _inotify.inotify_add_watch(fd, str(tmp_path), IN_CREATE)
        assert wd == 1
        assert _inotify.inotify_add_watch(fd, str(tmp_path), IN_CREATE | IN_DELETE) == wd
        _inotify.inotify_rm_watch(fd, wd)
        assert inotify.str_to_events(os.read(fd, 4096)) == [(wd, IN_IGNORED, 0, b"")]
    finally:
        os.close(fd)
    wd = inotify.inotify_add_watch(ino, tmp_path, IN_CREATE)  # an object with fileno()
    inotify.inotify_rm_watch(ino, wd)
    assert drain(ino) == [(wd, IN_IGNORED, 0, b"")]


@pytest.mark.parametrize("kind", ["str", "bytes", "path", "bytes-undecodable"])
def test_paths_of_every_kind(tmp_path, ino, kind):
    d = tmp_path / "d"
    if kind == "bytes-undecodable":
        d = os.path.join(os.fsencode(tmp_path), b"\xff\xfe")
        os.mkdir(d)
        arg = d
    else:
        d.mkdir()
        arg = {"str": str(d), "bytes": os.fsencode(d), "path": pathlib.Path(d)}[kind]
    ino.watch(arg, IN_CREATE)
    open(os.path.join(os.fsencode(d), b"f\xe9"), "w").close()
    (ev,) = drain(ino)
    assert ev.create_event and ev.filename == b"f\xe9"


# ------------------------------------------------------------------ Inotify on the kernel

def test_create_modify_attrib_move_delete(tmp_path, ino):
    wd = ino.watch(tmp_path, IN_ALL_EVENTS)
    f = tmp_path / "abc"
    with open(f, "w") as fh:
        fh.write("x")
    os.chmod(f, 0o600)
    os.rename(f, tmp_path / "def")
    os.unlink(tmp_path / "def")
    evs = drain(ino)
    assert all(e.wd == wd for e in evs)
    kinds = [(e.mask, e.filename) for e in evs]
    assert kinds[:4] == [(IN_CREATE, b"abc"), (0x20, b"abc"), (IN_MODIFY, b"abc"),
                         (IN_CLOSE_WRITE, b"abc")]
    assert (IN_ATTRIB, b"abc") in kinds
    moved_from = [e for e in evs if e.moved_from_event]
    moved_to = [e for e in evs if e.moved_to_event]
    assert len(moved_from) == len(moved_to) == 1
    assert moved_from[0].filename == b"abc" and moved_to[0].filename == b"def"
    assert moved_from[0].cookie == moved_to[0].cookie != 0
    assert evs[-1].delete_event and evs[-1].filename == b"def"


def test_a_directory_listing_is_reported_with_isdir(tmp_path, ino):
    ino.watch(tmp_path, IN_ALL_EVENTS)
    os.listdir(tmp_path)
    evs = drain(ino)
    assert evs[0].open_event and evs[0].is_dir_event and evs[0].filename == b""
    assert evs[-1].close_nowrite_event and evs[-1].is_dir_event


def test_identical_events_are_merged_while_unread(tmp_path, ino):
    f = tmp_path / "f"
    f.write_bytes(b"")
    ino.watch(f, IN_MODIFY)
    with open(f, "wb", buffering=0) as fh:
        for _ in range(5):
            fh.write(b"x")
    assert drain(ino) == [(1, IN_MODIFY, 0, b"")]


def test_self_events_and_ignored(tmp_path, ino):
    d = tmp_path / "d"
    d.mkdir()
    wd = ino.watch(d, IN_DELETE_SELF | IN_MOVE_SELF)
    os.rename(d, tmp_path / "e")
    os.rmdir(tmp_path / "e")
    evs = drain(ino)
    assert [e.mask for e in evs] == [IN_MOVE_SELF, IN_DELETE_SELF, IN_IGNORED]
    assert evs[0].move_self_event and evs[1].delete_self_event and evs[2].ignored_event
    with pytest.raises(ValueError):  # the wd went with the directory
        ino.ignore(wd)


def test_ignore_and_del_watch_deliver_in_ignored(tmp_path, ino):
    a = ino.watch(tmp_path, IN_CREATE)
    (tmp_path / "sub").mkdir()
    b = ino.watch(tmp_path / "sub", IN_CREATE)
    drain(ino)
    ino.ignore(a)
    ino.del_watch(b)
    assert drain(ino) == [(a, IN_IGNORED, 0, b""), (b, IN_IGNORED, 0, b"")]
    with pytest.raises(ValueError):
        ino.ignore(a)


def test_mask_add_and_mask_create(tmp_path, ino):
    wd = ino.watch(tmp_path, IN_CREATE)
    assert ino.watch(tmp_path, IN_DELETE | IN_MASK_ADD) == wd
    (tmp_path / "f").write_bytes(b"")
    os.unlink(tmp_path / "f")
    assert [e.mask for e in drain(ino)] == [IN_CREATE, IN_DELETE]
    with pytest.raises(ValueError):  # EEXIST: watched already
        ino.watch(tmp_path, IN_CREATE | IN_MASK_CREATE)


def test_read_events_returns_every_queued_event_in_one_batch(tmp_path):
    # 3000 records of 32 bytes: more than one 64 KiB read
    with Inotify() as i:
        i.watch(tmp_path, IN_CREATE)
        for n in range(3000):
            open(tmp_path / ("f%07d" % n), "w").close()
        evs = i.read_events()
        assert len(evs) == 3000
        assert [e.filename for e in evs] == [b"f%07d" % n for n in range(3000)]
        with pytest.raises(TimeoutError):
            i.wait(0)


@pytest.mark.parametrize("blocking", [False, True])
def test_a_big_backlog_comes_whole_and_in_order(tmp_path, blocking):
    # about 1.5 MB of records of every length: many 64 KiB reads, decoded while a helper
    # thread reads the next ones
    names = [("%05d_" % n + "x" * (n % 230)).encode() for n in range(12000)]
    tasks = len(os.listdir("/proc/self/task"))
    with Inotify(0 if blocking else IN_NONBLOCK) as i:
        i.watch(tmp_path, IN_CREATE)
        for name in names:
            open(os.path.join(os.fsencode(tmp_path), name), "w").close()
        evs = i.read_events()
        assert [e.filename for e in evs] == names
        assert all(e == (1, IN_CREATE, 0, e.filename) for e in evs)
        assert len(os.listdir("/proc/self/task")) == tasks  # the helper was joined
        if not blocking:
            with pytest.raises(BlockingIOError):
                i.read_events()
        else:
            with pytest.raises(TimeoutError):
                i.wait(0)


def test_a_big_backlog_on_one_cpu_is_read_in_this_thread(tmp_path):
    # available_parallelism() is 1 with the affinity of a single CPU: no helper thread
    code = """if 1:
        import os, sys
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        from butter.inotify import Inotify, IN_CREATE, IN_NONBLOCK
        d = sys.argv[1]
        names = [("%05d_" % n + "x" * (n % 230)).encode() for n in range(12000)]
        with Inotify(IN_NONBLOCK) as i:
            i.watch(d, IN_CREATE)
            for name in names:
                open(os.path.join(os.fsencode(d), name), "w").close()
            tasks = set(os.listdir("/proc/self/task"))
            evs = i.read_events()
            assert set(os.listdir("/proc/self/task")) == tasks
        assert [e.filename for e in evs] == names, len(evs)
        print("ok")
    """
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_read_limit_bounds_the_batch(tmp_path, ino):
    ino.watch(tmp_path, IN_CREATE)
    for n in range(5000):
        open(tmp_path / ("f%07d" % n), "w").close()  # 32-byte records
    got = _inotify._read(ino.fileno(), 100 * 32)
    assert 0 < len(got) <= 100
    rest = drain(ino)
    assert [e.filename for e in got + rest] == [b"f%07d" % n for n in range(5000)]


def test_read_event_takes_one_at_a_time_in_order(tmp_path, ino):
    ino.watch(tmp_path, IN_CREATE)
    for n in range(500):
        open(tmp_path / ("f%03d" % n), "w").close()
    got = [ino.read_event().filename for _ in range(500)]
    assert got == [b"f%03d" % n for n in range(500)]
    with pytest.raises(BlockingIOError):
        ino.read_event()
    # events cached by read_event() come first in read_events()
    for n in range(300):
        open(tmp_path / ("g%03d" % n), "w").close()
    first = ino.read_event()
    rest = ino.read_events()
    rest += drain(ino)
    assert [first.filename] + [e.filename for e in rest] == [b"g%03d" % n for n in range(300)]


def test_non_blocking_reads_raise_blocking_io_error(ino):
    with pytest.raises(BlockingIOError):
        ino.read_events()
    with pytest.raises(BlockingIOError):
        ino.read_event()
    assert ino._blocking is False
    with Inotify() as blocking:
        assert blocking._blocking is True


def test_a_blocking_read_waits_without_holding_the_gil(tmp_path):
    with Inotify() as i:
        i.watch(tmp_path, IN_CREATE)
        got = []
        t = threading.Thread(target=lambda: got.append(i.read_events()))
        t.start()
        time.sleep(0.2)
        assert t.is_alive() and not got  # blocked in the kernel...
        spins = 0
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:  # ...and this thread still runs
            spins += 1
        assert spins > 1000
        open(tmp_path / "late", "w").close()
        t.join(10)
        assert got == [[(1, IN_CREATE, 0, b"late")]]


def test_wait_and_iteration(tmp_path):
    with Inotify() as i:
        assert i.watch(tmp_path, IN_CREATE) == 1
        with pytest.raises(TimeoutError):
            i.wait(0.05)
        for n in range(3):
            open(tmp_path / str(n), "w").close()
        assert i.wait(5).filename == b"0"
        it = iter(i)
        assert [next(it).filename for _ in range(2)] == [b"1", b"2"]


def test_eventlike_face(tmp_path):
    i = Inotify()
    with i as same:
        assert same is i
        fd = i.fileno()
        assert repr(i) == "<Inotify fd={}>".format(fd)
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert i.closed() and repr(i) == "<Inotify fd=closed>"
    with pytest.raises(ValueError):
        i.close()
    bare = Inotify.__new__(Inotify)
    bare._fd = 1
    assert repr(bare) == "<Inotify fd=1>"


def _poking(action):
    """Runs ``action`` every 10 ms in a thread until the returned ``stop()`` is called
    (module ``watch()`` only sees what happens after its watch is in place)."""
    done = threading.Event()

    def loop():
        while not done.is_set():
            action()
            time.sleep(0.01)

    t = threading.Thread(target=loop)
    t.start()

    def stop():
        done.set()
        t.join()

    return stop


def test_module_watch_returns_the_first_event(tmp_path):
    stop = _poking(lambda: (tmp_path / "poke").write_bytes(b"x"))
    try:
        ev = inotify.watch(str(tmp_path))
    finally:
        stop()
    assert isinstance(ev, InotifyEvent) and ev.wd == 1 and ev.filename in (b"poke", b"")
    stop = _poking(lambda: os.chmod(tmp_path / "poke", 0o600))
    try:
        ev = inotify.watch(pathlib.Path(tmp_path / "poke"), IN_ATTRIB)
    finally:
        stop()
    assert ev == (1, IN_ATTRIB, 0, b"")


def test_overflow_is_an_event_not_a_loss(root, tmp_path):
    old = open(QUEUE_SYSCTL).read()
    try:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write("16")
        i = Inotify(IN_NONBLOCK)  # the limit is taken when the instance is made
    finally:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write(old)
    assert open(QUEUE_SYSCTL).read() == old
    with i:
        i.watch(tmp_path, IN_CREATE)
        for n in range(40):
            open(tmp_path / str(n), "w").close()
        evs = drain(i)
    assert len(evs) == 17
    assert [e.filename for e in evs[:16]] == [str(n).encode() for n in range(16)]
    assert evs[16] == InotifyEvent(-1, IN_Q_OVERFLOW, 0, b"")
    assert evs[16].queue_overflow_event and not any(e.queue_overflow_event for e in evs[:16])


def test_overflow_reaches_read_event_too(root, tmp_path):
    old = open(QUEUE_SYSCTL).read()
    try:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write("4")
        i = Inotify(IN_NONBLOCK)
    finally:
        with open(QUEUE_SYSCTL, "w") as f:
            f.write(old)
    with i:
        i.watch(tmp_path, IN_CREATE)
        for n in range(10):
            open(tmp_path / str(n), "w").close()
        got = []
        while True:
            try:
                got.append(i.read_event())
            except BlockingIOError:
                break
    assert len(got) == 5 and got[-1].queue_overflow_event and got[-1].wd == -1


# ------------------------------------------------------------------ real errors

def test_real_errors(tmp_path, ino):
    with pytest.raises(ValueError):  # ENOENT
        ino.watch(tmp_path / "missing", IN_CREATE)
    with pytest.raises(ValueError):  # EINVAL: mask 0
        ino.watch(tmp_path, 0)
    with pytest.raises(ValueError):  # ENOENT: empty path
        ino.watch("", IN_CREATE)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValueError):  # ENOTDIR
        ino.watch(tmp_path / "file", IN_CREATE | IN_ONLYDIR)
    with pytest.raises(ValueError):  # EINVAL: unknown wd
        ino.ignore(12345)
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError):  # EINVAL: not an inotify descriptor
            inotify.inotify_add_watch(r, tmp_path, IN_CREATE)
        with pytest.raises(ValueError):
            inotify.inotify_rm_watch(r, 1)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(ValueError):  # EBADF
        inotify.inotify_add_watch(r, tmp_path, IN_CREATE)
    with pytest.raises(ValueError):  # EBADF: negative numbers never reach the kernel
        inotify.inotify_rm_watch(-1, 1)
    with pytest.raises(ValueError):  # EINVAL: unknown flags
        inotify.inotify_init(0x1)
    with pytest.raises(ValueError):  # embedded NUL
        ino.watch(b"a\0b", IN_CREATE)
    with pytest.raises(OSError) as e:
        _native.inotify_read(-1, InotifyEvent)
    assert e.value.errno == errno.EBADF


def test_watch_of_an_unreadable_directory_is_a_permission_error(root, tmp_path, in_child):
    d = tmp_path / "private"
    d.mkdir(mode=0o700)

    def child():
        os.setgid(65534)
        os.setuid(65534)
        with Inotify() as i:
            try:
                i.watch(d, IN_CREATE)
            except PermissionError as e:
                return "PermissionError", e.errno
            return "no error"

    assert in_child(child) == ("PermissionError", errno.EACCES)


def _unshare_user():
    """Moves this (forked, single-threaded) process into a new user namespace in which
    it is root mapped to root, so that it may set the namespace's inotify limits."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        raise OSError(ctypes.get_errno(), "unshare")
    for name, line in (("uid_map", "0 0 1"), ("setgroups", "deny"), ("gid_map", "0 0 1")):
        with open("/proc/self/" + name, "w") as f:
            f.write(line)


def test_watch_limit_is_an_os_error_with_a_hint(root, tmp_path, in_child):
    def child():
        _unshare_user()
        with open("/proc/sys/user/max_inotify_watches", "w") as f:
            f.write("1")
        with Inotify() as i:
            i.watch(tmp_path, IN_CREATE)
            (tmp_path / "d").mkdir()
            try:
                i.watch(tmp_path / "d", IN_CREATE)
            except OSError as e:
                return type(e).__name__, e.errno, "max_user_watches" in str(e)
            return "no error"

    assert in_child(child) == ("OSError", errno.ENOSPC, True)


def test_instance_limit_is_an_os_error(root, in_child):
    def child():
        _unshare_user()
        with open("/proc/sys/user/max_inotify_instances", "w") as f:
            f.write("1")
        with Inotify():
            try:
                Inotify()
            except OSError as e:
                return type(e).__name__, e.errno
            return "no error"

    assert in_child(child) == ("OSError", errno.EMFILE)


# ------------------------------------------------------------------ the seam (butter.md §1.15, §2.1)

INIT_TABLE = [(errno.EINVAL, ValueError), (errno.EMFILE, OSError), (errno.ENFILE, OSError),
              (errno.ENOMEM, MemoryError), (errno.EHOSTDOWN, UnknownError)]
ADD_TABLE = [(errno.EINVAL, ValueError), (errno.EBADF, ValueError), (errno.EFAULT, ValueError),
             (errno.ENOENT, ValueError), (errno.ENOSPC, OSError), (errno.ENOMEM, MemoryError),
             (errno.EACCES, PermissionError), (errno.EHOSTDOWN, UnknownError)]
RM_TABLE = [(errno.EINVAL, ValueError), (errno.EBADF, ValueError),
            (errno.EHOSTDOWN, UnknownError)]


@pytest.mark.parametrize("err,exc", INIT_TABLE)
def test_seam_inotify_init(mocker, err, exc):
    m = mocker.patch("butter._inotify.C.inotify_init1", return_value=-1)
    _inotify.ffi.errno = err
    with pytest.raises(exc) as e:
        _inotify.inotify_init()
    assert m.call_args[0][0] & IN_CLOEXEC  # closefd adds IN_CLOEXEC
    if issubclass(exc, (OSError, UnknownError)):
        assert e.value.errno == err
    _inotify.ffi.errno = err
    with pytest.raises(exc):
        inotify.inotify_init()  # the re-export uses the same seam
    _inotify.ffi.errno = err
    with pytest.raises(exc):
        Inotify()


@pytest.mark.parametrize("err,exc", ADD_TABLE)
def test_seam_inotify_add_watch(mocker, err, exc):
    m = mocker.patch("butter._inotify.C.inotify_add_watch", return_value=-1)
    _inotify.ffi.errno = err
    with pytest.raises(exc) as e:
        _inotify.inotify_add_watch(0, "/", 0)
    m.assert_called_once_with(0, b"/", 0)
    if issubclass(exc, (OSError, UnknownError)):
        assert e.value.errno == err
    _inotify.ffi.errno = err
    with pytest.raises(exc):
        inotify.inotify_add_watch(0, "/", 0)


@pytest.mark.parametrize("err,exc", RM_TABLE)
def test_seam_inotify_rm_watch(mocker, err, exc):
    m = mocker.patch("butter._inotify.C.inotify_rm_watch", return_value=-1)
    _inotify.ffi.errno = err
    with pytest.raises(exc):
        _inotify.inotify_rm_watch(0, 0)
    m.assert_called_once_with(0, 0)
    _inotify.ffi.errno = err
    with pytest.raises(exc):
        inotify.inotify_rm_watch(0, 0)


def test_seam_success_values_pass_through(mocker):
    mocker.patch("butter._inotify.C.inotify_init1", return_value=7)
    mocker.patch("butter._inotify.C.inotify_add_watch", return_value=3)
    mocker.patch("butter._inotify.C.inotify_rm_watch", return_value=0)
    assert inotify.inotify_init() == 7
    assert inotify.inotify_add_watch(7, b"/x", IN_CREATE) == 3
    assert inotify.inotify_rm_watch(7, 3) is None


def test_ffi_errno_is_settable_and_set_by_raw_calls():
    _inotify.ffi.errno = errno.EHOSTDOWN
    assert _inotify.ffi.errno == errno.EHOSTDOWN
    assert _native.inotify_rm_watch(-1, 0) == -1
    assert _inotify.ffi.errno == errno.EBADF


# ------------------------------------------------------------------ signals (PEP 475)

def test_a_blocking_read_runs_signal_handlers_and_goes_on(tmp_path):
    import signal

    seen = []
    old = signal.signal(signal.SIGALRM, lambda *a: seen.append("alarm"))
    try:
        with Inotify() as i:
            i.watch(tmp_path, IN_CREATE)
            t = threading.Timer(0.4, touch_file, (tmp_path / "after",))
            t.start()
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            evs = i.read_events()
            t.join()
        assert seen == ["alarm"]
        assert evs == [(1, IN_CREATE, 0, b"after")]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_signal_handler_that_raises_interrupts_a_blocking_read(tmp_path):
    import signal

    class Stop(Exception):
        pass

    def handler(*args):
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with Inotify() as i:
            i.watch(tmp_path, IN_CREATE)
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            with pytest.raises(Stop):
                i.read_event()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def touch_file(path):
    open(path, "w").close()
