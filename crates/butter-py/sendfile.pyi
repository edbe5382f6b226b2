"""pysendfile 2.0.1's ``sendfile`` module (Linux behaviour), on butter."""

from typing import Any, Optional

def sendfile(
    out: int, in_: int, offset: Optional[int], nbytes: int, /, **ignored: Any
) -> int:
    """Sends up to ``nbytes`` bytes of file ``in`` from ``offset`` (None: its position,
    which advances) to ``out``; returns the bytes sent, 0 at the end of the file.
    Keyword arguments (header, trailer, flags) are ignored on Linux."""
    ...
