"""Anonymous memory files (``memfd_create``) and their seals.

A memfd lives in memory only: it has no path, can be read, written, resized and mapped
like a regular file, and goes away with its last descriptor. Seals make it trustworthy
for a receiver: once sealed against writing and shrinking, nobody (not even its creator)
can change its contents or cut it short.

Where this differs from butter 0.13 on purpose (butter.md §1.16):

* :class:`Memfd` is created with ``MFD_ALLOW_SEALING``, so ``seal()``/``revoke()`` work;
  its ``inital_value`` (the original's spelling, unused there) gives the initial size
  (an int) or contents (bytes).
* ``seal``, ``revoke`` and ``flags`` raise ``OSError`` subclasses carrying the errno.
* ``Memfd.mmap()`` works with its defaults: a shared mapping of the whole file, writable
  unless the memfd is sealed against writing (butter's defaults always failed).
* Setting ``writable``/``growable``/``shrinkable`` to True on a sealed memfd raises
  ``ValueError`` (seals cannot be removed) instead of silently doing nothing.
* ``Memfd`` also reads, writes, seeks and resizes (``read``, ``write``, ``seek``,
  ``tell``, ``size``, ``truncate``).
* Descriptors are close-on-exec by default.

>>> from butter.memfd import Memfd, F_SEAL_WRITE
>>> with Memfd("demo", b"hello") as m:
...     m.revoke(F_SEAL_WRITE)
...     bytes(m.mmap()[:5]), m.writable
(b'hello', False)
"""

import mmap as _mmap
import os as _os

from . import _memfd
from ._memfd import (  # noqa: F401
    F_ADD_SEALS, F_GET_SEALS, F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL,
    F_SEAL_SHRINK, F_SEAL_WRITE, MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_EXEC, MFD_HUGE_1GB,
    MFD_HUGE_1MB, MFD_HUGE_2GB, MFD_HUGE_2MB, MFD_HUGE_8MB, MFD_HUGE_16GB, MFD_HUGE_16MB,
    MFD_HUGE_32MB, MFD_HUGE_64KB, MFD_HUGE_256MB, MFD_HUGE_512KB, MFD_HUGE_512MB,
    MFD_HUGE_MASK, MFD_HUGE_SHIFT, MFD_HUGETLB, MFD_NOEXEC_SEAL, PermissionError,
    UnknownError, flags, memfd_create, revoke, seal,
)
from .utils import CLOEXEC_DEFAULT, Eventlike

# The mmap names butter re-exported.
from mmap import (  # noqa: F401
    ACCESS_COPY, ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, MAP_PRIVATE, MAP_SHARED,
    PAGESIZE, PROT_EXEC, PROT_READ, PROT_WRITE,
)

__all__ = [
    "Memfd", "memfd_create", "seal", "revoke", "flags", "MFD_CLOEXEC", "MFD_ALLOW_SEALING",
    "MFD_HUGETLB", "MFD_NOEXEC_SEAL", "MFD_EXEC", "F_SEAL_SEAL", "F_SEAL_SHRINK",
    "F_SEAL_GROW", "F_SEAL_WRITE", "F_SEAL_FUTURE_WRITE", "F_SEAL_EXEC", "F_ADD_SEALS",
    "F_GET_SEALS", "ACCESS_COPY", "ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE",
    "MAP_PRIVATE", "MAP_SHARED", "PAGESIZE", "PROT_EXEC", "PROT_READ", "PROT_WRITE",
]


class Memfd(Eventlike):
    """An anonymous memory file, sealable.

    ``Memfd(name='', inital_value=0, flags=0, closefd=CLOEXEC_DEFAULT)``: ``name`` is a
    label (``memfd:name`` in ``/proc/PID/fd``); ``inital_value`` the initial size (int)
    or contents (bytes-like; the position is left at 0); ``flags`` more ``MFD_*`` flags
    (``MFD_ALLOW_SEALING`` is always added); ``closefd`` true makes it close-on-exec.
    """

    _name = ""

    def __init__(self, name="", inital_value=0, flags=0, closefd=CLOEXEC_DEFAULT):
        super(Memfd, self).__init__()
        self._name = name
        self._fd = memfd_create(name, flags | MFD_ALLOW_SEALING, closefd)
        try:
            if isinstance(inital_value, int):
                if inital_value:
                    _os.ftruncate(self._fd, inital_value)
            else:
                self.write(inital_value)
                _os.lseek(self._fd, 0, _os.SEEK_SET)
        except BaseException:
            self.close()
            raise

    # seals

    @property
    def flags(self):
        """The memfd's seals (``F_SEAL_*``)."""
        return flags(self.fileno())

    def revoke(self, flags):
        """Adds the seals ``flags``, for good (see :func:`revoke`)."""
        revoke(self.fileno(), flags)

    def seal(self):
        """Forbids adding more seals (``F_SEAL_SEAL``)."""
        seal(self.fileno())

    def _seal_property(bit, doc):
        def get(self):
            return not (self.flags & bit)

        def set(self, value):
            if not value:
                self.revoke(bit)
            elif self.flags & bit:
                raise ValueError("seals cannot be removed")

        return property(get, set, doc=doc)

    writable = _seal_property(F_SEAL_WRITE, "Whether the contents may change (no F_SEAL_WRITE); "
                              "set to False to seal them.")
    growable = _seal_property(F_SEAL_GROW, "Whether the file may grow (no F_SEAL_GROW); "
                              "set to False to seal it.")
    shrinkable = _seal_property(F_SEAL_SHRINK, "Whether the file may shrink (no "
                                "F_SEAL_SHRINK); set to False to seal it.")
    del _seal_property

    # mapping

    def mmap(self, length=0, flags=None, prot=None, access=None, offset=0):
        """Maps the memfd (an :class:`mmap.mmap`); ``length`` 0 maps all of it (it must
        not be empty). By default a shared mapping, readable and, unless the memfd is
        sealed against writing, writable. Give either ``access`` (``ACCESS_*``) or
        ``flags``/``prot``, as :class:`mmap.mmap` wants."""
        fd = self.fileno()
        if access is not None:
            if flags is not None or prot is not None:
                raise ValueError("give either access or flags/prot")
            return _mmap.mmap(fd, length, access=access, offset=offset)
        if flags is None:
            flags = MAP_SHARED
        if prot is None:
            prot = PROT_READ
            sealed = self.flags & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)
            if not sealed or not flags & MAP_SHARED:
                prot |= PROT_WRITE
        return _mmap.mmap(fd, length, flags=flags, prot=prot, offset=offset)

    # file-like

    def read(self, size=-1):
        """Reads up to ``size`` bytes from the position (all that is left if negative)."""
        fd = self.fileno()
        if size is not None and size >= 0:
            return _os.read(fd, size)
        chunks = []
        while True:
            chunk = _os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def write(self, data):
        """Writes all of ``data`` at the position; returns its length. ``PermissionError``
        once sealed against writing (or growing past the end)."""
        fd = self.fileno()
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += _os.write(fd, view[done:])
        return done

    def seek(self, offset, whence=_os.SEEK_SET):
        """Moves the position; returns the new one."""
        return _os.lseek(self.fileno(), offset, whence)

    def tell(self):
        """The position."""
        return _os.lseek(self.fileno(), 0, _os.SEEK_CUR)

    def seekable(self):
        return True

    def size(self):
        """The file's size in bytes."""
        return _os.fstat(self.fileno()).st_size

    def truncate(self, size=None):
        """Resizes the file to ``size`` bytes (default: the position); returns the size.
        ``PermissionError`` when sealed against it."""
        if size is None:
            size = self.tell()
        _os.ftruncate(self.fileno(), size)
        return size

    def __repr__(self):
        fd = "closed" if self._fd is None else self._fd
        return "<{} fd={} name={!r}>".format(self.__class__.__name__, fd, self._name)
