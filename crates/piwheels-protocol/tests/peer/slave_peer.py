"""A build slave, speaking piwheels 0.23's slave protocol as the original does, against
a Rust master endpoint (tests/it/python_peer.rs). Sends every request type, checks every
reply: decoded values and exact bytes.

Usage: python slave_peer.py ENDPOINT
"""

import datetime as dt
import sys

import zmq

from piwheels_wire import SLAVE_RECEIVES, SLAVE_SENDS, NoData, dump_msg, dumps, load_msg

UTC = dt.timezone.utc

HELLO = [
    dt.timedelta(hours=3), dt.timedelta(minutes=5), "311", "cp311", "linux_armv7l",
    "slave-ü", "Debian GNU/Linux", "12 (bookworm)", "a020d3", "00000000deadbeef",
]
STATS_1 = [
    dt.datetime(2026, 11, 22, 4, 5, 6, tzinfo=UTC), 31_000_000_000, 12_345_678_901,
    8_000_000_000, 6_500_000_000, 2_147_483_648, 0, 0.25, 51.5,
]
STATS_2 = [
    dt.datetime(2026, 11, 22, 4, 5, 6, 789012, tzinfo=UTC), 31_000_000_000, 12_000_000_000,
    8_000_000_000, 6_400_000_000, 2_147_483_648, 1024, 1.0, 0.0,
]
FILES = [
    ["foo-1.0-py3-none-any.whl", 12345, "ab" * 32, "foo", "1.0", "py3", "none", "any",
     None, {"apt": [], "pip": ["bar"], "": []}, "/simple"],
    ["foo-1.0-cp311-cp311-linux_armv7l.whl", 98765, "0f" * 32, "foo", "1.0", "cp311",
     "cp311", "linux_armv7l", ">=3.9", {"apt": ["libc6", "libffi8"], "pip": [], "": ["libx.so.1"]},
     "/simple"],
]
BUILT = [True, dt.timedelta(seconds=83, microseconds=250000), "log ☃\n" * 100, FILES]

# (request, data, expected reply, expected reply data)
SCRIPT = [
    ("HELLO", HELLO, "ACK", [1, "http://127.0.0.1:8080/simple"]),
    ("IDLE", STATS_1, "SLEEP", False),
    ("IDLE", STATS_2, "BUILD", ["foo", "1.0"]),
    ("BUSY", STATS_2, "CONT", NoData),
    ("BUILT", BUILT, "SEND", "foo-1.0-cp311-cp311-linux_armv7l.whl"),
    ("SENT", NoData, "SEND", "foo-1.0-py3-none-any.whl"),
    ("SENT", NoData, "DONE", NoData),
    ("IDLE", STATS_1, "SLEEP", True),
    ("IDLE", STATS_1, "DIE", NoData),
    ("BYE", NoData, None, None),
]


def main():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.ipv6 = True
    # Long enough for the last message to go out on a loaded machine (1 s was not).
    sock.linger = 30000
    sock.rcvtimeo = 20000
    sock.connect(sys.argv[1])
    for request, data, reply, reply_data in SCRIPT:
        sock.send(dump_msg(SLAVE_SENDS, request, data))
        if reply is None:
            break
        buf = sock.recv()
        msg, got = load_msg(SLAVE_RECEIVES, buf)
        if got is not NoData and isinstance(got, tuple):
            got = list(got)
        assert (msg, got) == (reply, reply_data), "after %s: got %r %r" % (request, msg, got)
        want = dumps(reply if reply_data is NoData else (reply, reply_data))
        assert buf == want, "after %s: bytes %s, cbor2 writes %s" % (request, buf.hex(), want.hex())
        print("ok", request, "->", reply)
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
