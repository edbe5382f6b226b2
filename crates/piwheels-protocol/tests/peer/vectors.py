"""Prints, one per line as ``KEY HEX``, how piwheels 0.23 encodes a sample of every
message of the monitor, admin-tool and logger protocols (each validated first against a
schema equal to piwheels'). tests/it/python_vectors.rs builds the same messages in Rust and
checks both the bytes and the decoded values.
"""

import datetime as dt

from voluptuous import Any, Extra, ExactSequence

from piwheels_wire import FILE_STATE, NoData, SLAVE_HELLO, SLAVE_STATS, dump_msg

UTC = dt.timezone.utc
WHEN = dt.datetime(2026, 11, 22, 4, 5, 6, 500, tzinfo=UTC)
LATER = dt.datetime(2026, 11, 22, 5, 0, 0, tzinfo=UTC)

MASTER_HELLO = ExactSequence([dt.datetime, str, str, str, str, str])
MASTER_STATS = ExactSequence(
    [dt.datetime, int, {str: int}, dt.timedelta, int, {str: int}] + [int] * 11 + [float, float]
)
BUILD_STATE = ExactSequence([int, str, str, str, bool, dt.timedelta, str, [FILE_STATE]])
HIT13 = ExactSequence([str, str, dt.datetime] + [Any(str, None)] * 10)
HIT4 = ExactSequence([str, str, dt.datetime, str])

STATUS = {
    "HELLO": MASTER_HELLO,
    "STATS": MASTER_STATS,
    "SLAVE": ExactSequence([int, dt.datetime, str, Extra]),
}
CONTROL = {
    "HELLO": NoData, "QUIT": NoData,
    "KILL": Any(int, None), "SLEEP": Any(int, None), "SKIP": Any(int, None), "WAKE": Any(int, None),
}
IMPORT = {
    "IMPORT": BUILD_STATE,
    "ADDPKG": ExactSequence([str, str, str, bool, [str]]),
    "ADDVER": ExactSequence([str, str, str, bool, dt.datetime, bool, bool, [str]]),
    "REMPKG": ExactSequence([str, bool, str]),
    "REMVER": ExactSequence([str, str, bool, str, bool]),
    "REBUILD": Any(
        ExactSequence(["HOME"]), ExactSequence(["SEARCH"]),
        ExactSequence(["PROJECT", Any(str, None)]), ExactSequence(["BOTH", Any(str, None)]),
    ),
    "SENT": NoData,
}
IMPORT_REPLIES = {"SEND": str, "DONE": str, "ERROR": str}
LOGGER = {
    "LOGDOWNLOAD": HIT13, "LOGSEARCH": HIT13,
    "LOGPROJECT": HIT4, "LOGJSON": HIT4, "LOGPAGE": HIT4,
}

HELLO = [dt.timedelta(hours=3), dt.timedelta(minutes=5), "311", "cp311", "linux_armv7l",
         "slave1", "Raspbian GNU/Linux", "11 (bullseye)", "c03111", "100000001234abcd"]
STATS = [WHEN, 1 << 40, 1 << 39, 4 << 30, 3 << 30, 0, 0, 3.75, 62.3]
FILE = ["foo-1.0-cp39-cp39-linux_armv7l.whl", 4096, "9" * 64, "foo", "1.0", "cp39", "cp39",
        "linux_armv7l", None, {"apt": ["libgomp1"], "pip": [], "": []}, "/simple"]

SAMPLES = [
    ("status/HELLO", STATUS, "HELLO", [WHEN, "master", "Debian GNU/Linux", "12 (bookworm)", "unknown", "unknown"]),
    ("status/STATS", STATUS, "STATS", [
        WHEN, 12345, {"cp39": 10, "cp311": 3}, dt.timedelta(days=1, seconds=5, microseconds=7),
        1 << 33, {"cp39": 0, "cp311": 4567}, 42, 987654, 1000, 31000, 12345678901,
        1 << 41, 1 << 40, 8 << 30, 5 << 30, 1 << 30, 1 << 29, 0.5, 0.0]),
    ("status/SLAVE#hello", STATUS, "SLAVE", [1, WHEN, "HELLO", HELLO]),
    ("status/SLAVE#stats", STATUS, "SLAVE", [1, WHEN, "STATS", STATS]),
    ("status/SLAVE#ack", STATUS, "SLAVE", [1, LATER, "ACK", [1, "http://127.0.0.1:8080/simple"]]),
    ("status/SLAVE#sleep", STATUS, "SLAVE", [2, LATER, "SLEEP", True]),
    ("status/SLAVE#build", STATUS, "SLAVE", [2, LATER, "BUILD", ["foo", "1.0"]]),
    ("status/SLAVE#send", STATUS, "SLAVE", [2, LATER, "SEND", FILE[0]]),
    ("status/SLAVE#done", STATUS, "SLAVE", [2, LATER, "DONE", NoData]),
    ("status/SLAVE#die", STATUS, "SLAVE", [3, LATER, "DIE", None]),
    # Ours only: SLEEP to a slave in cool-off, with the cool-off's end as data (the
    # original monitor ignores SLEEP's data and accepts any).
    ("status/SLAVE#cooling", STATUS, "SLAVE", [2, WHEN, "SLEEP", LATER]),
    ("control/HELLO", CONTROL, "HELLO", NoData),
    ("control/QUIT", CONTROL, "QUIT", NoData),
    ("control/KILL", CONTROL, "KILL", 3),
    ("control/SLEEP", CONTROL, "SLEEP", None),
    ("control/SKIP", CONTROL, "SKIP", 2),
    ("control/WAKE", CONTROL, "WAKE", None),
    ("import/IMPORT", IMPORT, "IMPORT", [0, "foo", "1.0", "cp39", True, dt.timedelta(seconds=61), "built\n", [FILE]]),
    ("import/ADDPKG", IMPORT, "ADDPKG", ["Foo_Bar", "A package", "", True, ["foo-bar", "Foo.Bar"]]),
    ("import/ADDVER", IMPORT, "ADDVER", ["foo", "1.0", "binary only", False, LATER, True, False, []]),
    ("import/REMPKG", IMPORT, "REMPKG", ["foo", True, ""]),
    ("import/REMVER", IMPORT, "REMVER", ["foo", "1.0", False, "broken", True]),
    ("import/REBUILD#home", IMPORT, "REBUILD", ["HOME"]),
    ("import/REBUILD#search", IMPORT, "REBUILD", ["SEARCH"]),
    ("import/REBUILD#project", IMPORT, "REBUILD", ["PROJECT", None]),
    ("import/REBUILD#both", IMPORT, "REBUILD", ["BOTH", "foo"]),
    ("import/SENT", IMPORT, "SENT", NoData),
    ("import-reply/SEND", IMPORT_REPLIES, "SEND", FILE[0]),
    ("import-reply/DONE", IMPORT_REPLIES, "DONE", "IMPORT"),
    ("import-reply/ERROR", IMPORT_REPLIES, "ERROR", "unknown package version foo 2.0"),
    ("logger/LOGDOWNLOAD", LOGGER, "LOGDOWNLOAD", [FILE[0], "2001:db8::1", WHEN, "armv7l",
        "Raspbian GNU/Linux", "11", "Linux", "6.1.21-v7+", "CPython", "3.9.2", "pip", "23.0.1", None]),
    ("logger/LOGSEARCH", LOGGER, "LOGSEARCH", ["foo", "192.0.2.7", WHEN] + [None] * 10),
    ("logger/LOGPROJECT", LOGGER, "LOGPROJECT", ["foo", "192.0.2.7", WHEN, "mozilla"]),
    ("logger/LOGJSON", LOGGER, "LOGJSON", ["foo", "192.0.2.7", WHEN, "curl"]),
    ("logger/LOGPAGE", LOGGER, "LOGPAGE", ["home", "192.0.2.7", WHEN, "mozilla"]),
]

# The schemas themselves must accept the samples: check the slave sub-shapes too.
SLAVE_HELLO(HELLO)
SLAVE_STATS(STATS)

for key, table, msg, data in SAMPLES:
    print(key, dump_msg(table, msg, data).hex())
