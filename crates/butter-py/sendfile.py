"""pysendfile 2.0.1's ``sendfile`` module, as it behaves on Linux, on butter.

``sendfile(out, in, offset, nbytes)`` copies up to ``nbytes`` bytes of the regular
file ``in`` to ``out`` (a socket, or any writable descriptor) inside the kernel and
returns how many it sent; 0 means the end of the file. ``offset=None`` reads from the
file's current position and advances it; an integer offset reads there and leaves the
position alone (add the result yourself). Exactly four positional integer arguments;
keyword arguments (``header``, ``trailer``, ``flags``, honoured on BSD only) are ignored.
Failures raise ``OSError`` with the errno: a full non-blocking socket raises
``BlockingIOError`` (retry on EAGAIN/EBUSY; ECONNRESET, ENOTCONN, ESHUTDOWN and
ECONNABORTED mean the peer went away). The GIL is released during the call.

>>> import os, socket, tempfile
>>> from sendfile import sendfile
>>> f = tempfile.TemporaryFile(); _ = f.write(b"0123456789"); f.flush()
>>> a, b = socket.socketpair()
>>> sendfile(a.fileno(), f.fileno(), 2, 5), b.recv(10)
(5, b'23456')
"""

from butter._native import sendfile  # noqa: F401
