"""butter: Linux's low-level features for Python.

inotify, fanotify, eventfd, timerfd, signalfd (with signal masks), splice/tee/vmsplice,
mounts and pivot_root, hostnames, raw getpid/getppid, namespaces, prctl, seccomp and
memfd: butter 0.12/0.13's modules and names, built on Rust, with asyncio forms in
``butter.asyncio``. Programs written for butter run unchanged; where the original was
broken (butter.md §1.16) this one works.

>>> from butter.eventfd import Eventfd
>>> with Eventfd() as ev:
...     ev.increment(2)
...     int(ev)
2
"""

from . import _native

__version__ = _native.__version__
__author__ = "Da_Blitz"
__license__ = "BSD (3 Clause)"
__all__ = ["fanotify", "inotify", "splice", "system", "utils"]
