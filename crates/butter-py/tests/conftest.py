"""Fixtures shared by butter's Python tests.

The tests drive the real kernel. Privileged features (fanotify, mounts, namespaces,
hostnames, alarm clocks) need root, as in CI; without it those tests are skipped with the
reason printed (run pytest with ``-rs`` to list them).
"""

import os

import pytest


@pytest.fixture
def root():
    """Skips the test, saying why, unless it runs as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (CI runs the suite as root)")


@pytest.fixture
def in_child():
    """Runs a function in a forked child (for calls that change the process: unshare,
    sethostname, pivot_root, signal masks) and returns what it returned, or raises what it
    raised, as text: ``in_child(fn) -> repr(result)`` or ``AssertionError``."""
    import pickle
    import traceback

    def run(fn):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                out = ("ok", fn())
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                out = ("err", "".join(traceback.format_exception(type(e), e, e.__traceback__)))
            try:
                data = pickle.dumps(out)
            except Exception:  # noqa: BLE001
                data = pickle.dumps(("ok", repr(out[1])))
            os.write(w, data)
            os._exit(0)
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        os.waitpid(pid, 0)
        kind, value = pickle.loads(b"".join(chunks))
        if kind == "err":
            raise AssertionError("in the child:\n" + value)
        return value

    return run
