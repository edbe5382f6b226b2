"""The Python side of `benches/codec.rs`: piwheels 0.23's way of putting a message on
the wire and taking it off again, with cbor2 and voluptuous.

For each of HELLO, IDLE and a BUILT carrying 10 files, two measurements, in ns per
message:

* ``cbor2``: ``dumps`` of ``[name, data]`` with a ``default`` hook that writes
  timedeltas as tag 2001 ``[days, seconds, microseconds]``, then ``loads`` with a tag
  hook that turns tag 2001 back into a timedelta;
* ``cbor2+voluptuous``: what piwheels pays per message: the data checked against its
  schema before sending, dumped, loaded, and checked again on receipt (piwheels
  validates in both directions).

The messages hold the same values as the Rust side's, so both encode to the same bytes
(the Rust bench checks this before timing anything).

Usage::

    python codec_cbor2.py --iters 2000    # one run of every measurement; prints JSON
    python codec_cbor2.py --serve         # driven by the Rust bench over stdin/stdout

In ``--serve`` mode the script first prints ``frame NAME HEX`` for each message, a
``versions …`` line and ``ready``; then, for each line ``time NAME KIND OPS`` it reads,
it runs that measurement ``OPS`` times and prints the ns per message.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import cbor2
from voluptuous import Any, ExactSequence, Schema

# --- the codec, as piwheels sets up cbor2 -------------------------------------------

TIMEDELTA_TAG = 2001


def encode_extra(encoder, value):
    """cbor2's ``default`` hook: timedeltas travel as tag 2001."""
    if isinstance(value, timedelta):
        encoder.encode(
            cbor2.CBORTag(TIMEDELTA_TAG, [value.days, value.seconds, value.microseconds])
        )
    else:
        raise cbor2.CBOREncodeValueError(f"cannot encode {type(value).__name__}")


def decode_tag(decoder, tag):
    """cbor2's ``tag_hook``: tag 2001 back to a timedelta; other tags stay raw."""
    if tag.tag == TIMEDELTA_TAG:
        days, seconds, microseconds = tag.value
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    return tag


def dump(name, data):
    return cbor2.dumps([name, data], default=encode_extra)


def load(frame):
    return cbor2.loads(frame, tag_hook=decode_tag)


# --- the schemas, written after piwheels' protocol tables ---------------------------

SLAVE_HELLO = ExactSequence(
    [timedelta, timedelta, str, str, str, str, str, str, str, str]
)
SLAVE_STATS = ExactSequence([datetime, int, int, int, int, int, int, float, float])
FILE_STATE = ExactSequence(
    [str, int, str, str, str, str, str, str, Any(str, None), {str: [str]}, str]
)
BUILT = ExactSequence([bool, timedelta, str, [FILE_STATE]])

SCHEMAS = {
    "HELLO": Schema(SLAVE_HELLO),
    "IDLE": Schema(SLAVE_STATS),
    "BUILT": Schema(BUILT),
}

# --- the messages (the same values as in codec.rs) ----------------------------------


def build_log():
    lines = "".join(
        f"{i:04d} Building wheel for foo (setup.py): still running...\n" for i in range(64)
    )
    return lines[:2048]


def file_state(i):
    return [
        f"pkg{i}-1.2.{i}-cp311-cp311-linux_armv7l.whl",
        100_000 + i * 7919,
        f"{i:02x}" * 32,
        f"pkg{i}",
        f"1.2.{i}",
        "cp311",
        "cp311",
        "linux_armv7l",
        ">=3.8",
        {"apt": ["libc6", "libgcc-s1", f"libpkg{i}-0"], "pip": ["numpy", f"dep{i}"]},
        "/simple",
    ]


MESSAGES = {
    "HELLO": [
        timedelta(hours=3),
        timedelta(minutes=5),
        "311",
        "cp311",
        "linux_armv7l",
        "slave1",
        "Debian GNU/Linux",
        "12 (bookworm)",
        "unknown",
        "unknown",
    ],
    "IDLE": [
        datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc),
        31_254_233_088,
        18_253_611_008,
        3_977_629_696,
        3_101_892_608,
        104_853_504,
        104_853_504,
        0.42,
        48.2,
    ],
    "BUILT": [
        True,
        timedelta(seconds=95, microseconds=250_000),
        build_log(),
        [file_state(i) for i in range(10)],
    ],
}

# --- the measurements ----------------------------------------------------------------


def cbor2_only(name, data, ops):
    """ns per dumps + loads."""
    start = time.perf_counter_ns()
    for _ in range(ops):
        got_name, got = load(dump(name, data))
    elapsed = time.perf_counter_ns() - start
    assert got_name == name
    return elapsed / ops


def cbor2_validated(name, data, ops):
    """ns per validate + dumps + loads + validate, as piwheels sends and receives."""
    schema = SCHEMAS[name]
    start = time.perf_counter_ns()
    for _ in range(ops):
        frame = dump(name, schema(data))
        got_name, got = load(frame)
        got = SCHEMAS[got_name](got)
    elapsed = time.perf_counter_ns() - start
    assert got_name == name
    return elapsed / ops


KINDS = {"cbor2": cbor2_only, "cbor2+voluptuous": cbor2_validated}


def check():
    """Each message survives the trip and passes its schema (else the bench is moot)."""
    for name, data in MESSAGES.items():
        got_name, got = load(dump(name, data))
        assert got_name == name and got == data, name
        SCHEMAS[name](got)


def versions():
    import _cbor2  # noqa: F401 -- fails if cbor2's C extension is missing
    from importlib.metadata import version

    py = ".".join(map(str, sys.version_info[:3]))
    c_ext = cbor2.dumps.__module__ == "_cbor2"
    return (
        f"python={py} cbor2={version('cbor2')} c-extension={c_ext} "
        f"voluptuous={version('voluptuous')}"
    )


def serve():
    for name, data in MESSAGES.items():
        print("frame", name, dump(name, data).hex())
    print("versions", versions())
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "time" and len(words) == 4:
            _, name, kind, ops = words
            print(KINDS[kind](name, MESSAGES[name], int(ops)), flush=True)
        else:
            print(f"error: {line.strip()!r}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--iters", type=int, help="run every measurement this many times")
    mode.add_argument("--serve", action="store_true", help="take commands on stdin")
    args = parser.parse_args()
    check()
    if args.serve:
        serve()
    else:
        result = {
            name: {kind: fn(name, data, args.iters) for kind, fn in KINDS.items()}
            for name, data in MESSAGES.items()
        }
        result["versions"] = versions()
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
