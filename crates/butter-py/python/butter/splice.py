"""Moving data between descriptors inside the kernel: ``splice``, ``tee`` and
``vmsplice``.

* :func:`splice` moves up to ``len`` bytes between a pipe and another descriptor (a
  file, a socket, another pipe) without copying them through user space.
* :func:`tee` duplicates up to ``len`` bytes of one pipe into another without consuming
  them.
* :func:`vmsplice` puts byte strings into a pipe.

Where this differs from butter 0.13 on purpose (butter.md §1.16):

* **Offsets work.** butter cast the offset integers to pointers, so only ``0`` ("no
  offset": use and advance the file position) ever worked. ``in_offset``/``out_offset``
  keep that meaning for 0 (and ``None``); any other value, and any integer given with the
  new keywords ``offset_in``/``offset_out`` (as in :func:`os.splice`; ``0`` included), is
  a real offset: the kernel reads or writes there and the file position is left alone.
  The kernel advances the offset by the bytes moved; :func:`splice_at` returns the new
  offsets. An offset for a pipe fails with ``ESPIPE``.
* **vmsplice is back, and safe**: it copies the bytes into the pipe (as ``os.writev``
  does) instead of making the pipe reference Python's memory, so the bytes the reader
  gets are the bytes given, whatever happens to the objects after the call.
* Errors for an ``EAGAIN`` carry their errno (``BlockingIOError``).

>>> import os
>>> from butter.splice import splice, tee
>>> r1, w1 = os.pipe(); r2, w2 = os.pipe()
>>> os.write(w1, b"hello")
5
>>> tee(r1, w2, 5), splice(r1, w2, len=5)
(5, 5)
>>> os.read(r2, 10)
b'hellohello'
"""

import errno as _errno
import types as _types

from . import _native
from .utils import UnknownError, _fileno, _raise

__all__ = [
    "splice", "splice_at", "tee", "vmsplice", "SPLICE_F_MOVE", "SPLICE_F_NONBLOCK",
    "SPLICE_F_MORE", "SPLICE_F_GIFT", "IOV_MAX", "NULL_TERMINATOR", "UnknownError",
]

#: The raw calls (C contract: the result, or -1 with the errno in ``_ffi``), looked up at
#: call time so that tests can patch them.
_C = _types.SimpleNamespace(
    splice=_native.splice,
    tee=_native.tee,
    vmsplice=_native.vmsplice,
)
_lib = _C  # butter 0.12's name for the same namespace
#: The errno of the raw calls.
_ffi = _native.Errno()

SPLICE_F_MOVE = _native.SPLICE_F_MOVE
SPLICE_F_NONBLOCK = _native.SPLICE_F_NONBLOCK
SPLICE_F_MORE = _native.SPLICE_F_MORE
SPLICE_F_GIFT = _native.SPLICE_F_GIFT
IOV_MAX = _native.IOV_MAX
NULL_TERMINATOR = 1

_SPLICE_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
    _errno.EPIPE: ValueError,
    _errno.EAGAIN: OSError,
    _errno.ENOMEM: MemoryError,
}
_TEE_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.ENOMEM: MemoryError,
}
_VMSPLICE_ERRORS = {
    _errno.EINVAL: ValueError,
    _errno.EBADF: ValueError,
    _errno.EAGAIN: OSError,
    _errno.ENOMEM: MemoryError,
}


def _offset(legacy, offset, side):
    if offset is not None:
        if legacy not in (0, None):
            raise TypeError("give in_{0}/out_{0} or offset_{1}, not both".format("offset", side))
        return offset.__index__()
    if legacy is None or legacy == 0:
        return None
    return legacy.__index__()


def _splice(fd_in, fd_out, off_in, off_out, len, flags):
    n = _C.splice(_fileno(fd_in), off_in, _fileno(fd_out), off_out, len, flags)
    if n < 0:
        _raise(_ffi.errno, _SPLICE_ERRORS, "splice")
    return n


def splice(fd_in, fd_out, in_offset=0, out_offset=0, len=0, flags=0, *,
           offset_in=None, offset_out=None):
    """Moves up to ``len`` bytes from ``fd_in`` to ``fd_out``, one of which must be a
    pipe; returns the bytes moved (0: end of input).

    ``fd_in``/``fd_out`` are descriptors or objects with ``fileno()``. Offsets are for
    the non-pipe side: ``in_offset``/``out_offset`` of 0 or ``None`` (the default) mean
    "use and advance the file position", as in butter; another integer, or any integer
    in ``offset_in``/``offset_out`` (0 included), is read or written at, leaving the file
    position alone (the kernel advances the offset by the returned count). ``flags``:
    ``SPLICE_F_MOVE``, ``SPLICE_F_NONBLOCK`` (the pipe side only), ``SPLICE_F_MORE``.

    Raises ValueError (EINVAL: no pipe, unsupported file, O_APPEND target; EBADF; EPIPE),
    ``BlockingIOError`` (EAGAIN), MemoryError (ENOMEM), UnknownError otherwise (ESPIPE:
    an offset given for a pipe).
    """
    return _splice(fd_in, fd_out, _offset(in_offset, offset_in, "in"),
                   _offset(out_offset, offset_out, "out"), len, flags)


def splice_at(fd_in, fd_out, len, offset_in=None, offset_out=None, flags=0):
    """:func:`splice` with real offsets (``None``: the file position), returning
    ``(bytes_moved, new_offset_in, new_offset_out)``; a side given ``None`` stays
    ``None``.

    >>> import os, tempfile
    >>> f = tempfile.TemporaryFile(buffering=0); _ = f.write(b"0123456789")
    >>> r, w = os.pipe()
    >>> splice_at(f, w, 4, offset_in=3)
    (4, 7, None)
    >>> os.read(r, 4), f.tell()
    (b'3456', 10)
    """
    offset_in = None if offset_in is None else offset_in.__index__()
    offset_out = None if offset_out is None else offset_out.__index__()
    n = _splice(fd_in, fd_out, offset_in, offset_out, len, flags)
    return (n, None if offset_in is None else offset_in + n,
            None if offset_out is None else offset_out + n)


def tee(fd_in, fd_out, len=0, flags=0):
    """Duplicates up to ``len`` bytes from pipe ``fd_in`` into pipe ``fd_out`` without
    consuming them; returns the bytes duplicated.

    Raises ValueError (EINVAL: not two different pipes), MemoryError (ENOMEM),
    UnknownError otherwise (including EAGAIN under ``SPLICE_F_NONBLOCK``, as in butter).
    """
    n = _C.tee(_fileno(fd_in), _fileno(fd_out), len, flags)
    if n < 0:
        _raise(_ffi.errno, _TEE_ERRORS, "tee")
    return n


def _as_bytes(b):
    if isinstance(b, bytes):
        return b
    if isinstance(b, str):
        return b.encode()
    return bytes(b)


def vmsplice(fd, vec, flags=0):
    """Puts the byte strings of ``vec`` (bytes, bytearray, memoryview, or str, encoded
    UTF-8) into the pipe ``fd`` (its write end), in order; returns the bytes put in.

    The bytes are copied into the pipe, so the objects may be changed or freed at once
    (the kernel's vmsplice would leave the pipe pointing at their memory: butter 0.12
    removed it for that). ``SPLICE_F_NONBLOCK`` makes the call not wait for room;
    ``SPLICE_F_GIFT`` means nothing for a copy.

    Raises ValueError (EINVAL, EBADF: not a pipe's write end), ``BlockingIOError``
    (EAGAIN: a full pipe under ``SPLICE_F_NONBLOCK`` or on a non-blocking pipe),
    MemoryError (ENOMEM), UnknownError otherwise.
    """
    bufs = [_as_bytes(b) for b in vec]
    n = _C.vmsplice(_fileno(fd), bufs, flags)
    if n < 0:
        _raise(_ffi.errno, _VMSPLICE_ERRORS, "vmsplice")
    return n
