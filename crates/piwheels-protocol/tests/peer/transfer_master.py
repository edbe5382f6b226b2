"""Receives one file over piwheels' raw-frame transfer protocol the way the original
master's FileJuggler does: a ROUTER, 64 KiB FETCHes with up to 10 in flight (credit),
a sorted list of missing ranges, a cursor that wraps to the first missing range, credit
reset on a repeated HELLO, and ``DONE`` once nothing is missing.

Usage: python transfer_master.py ENDPOINT SLAVE_ID SIZE OUTPUT
Prints the bound endpoint first (ENDPOINT may use a wildcard port), then ``done`` and
the seconds from the first HELLO to DONE (the benchmark's figure) at the end.
"""

import sys
import time

import zmq

CHUNK = 65536
PIPELINE = 10


def remove(missing, start, stop):
    """The missing ranges with [start, stop) taken out."""
    out = []
    for a, b in missing:
        if b <= start or a >= stop:
            out.append((a, b))
            continue
        if a < start:
            out.append((a, start))
        if stop < b:
            out.append((stop, b))
    return out


def next_fetch(missing, cursor):
    """The window [cursor, cursor + CHUNK) cut to the first missing range it overlaps;
    when it overlaps none, the start of the first missing range (the wrap-around)."""
    end = cursor + CHUNK
    for a, b in missing:
        if a < end and b > cursor:
            return max(a, cursor), min(b, end)
    a, b = missing[0]
    return a, min(b, a + CHUNK)


def main():
    endpoint, slave_id, size, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.ipv6 = True
    sock.hwm = 500
    sock.bind(endpoint)
    print(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)

    initial = max(1, min(PIPELINE, size // CHUNK))
    missing = [(0, size)] if size else []
    cursor = 0
    credit = 0
    with open(output, "wb") as f:
        f.truncate(size)
        while True:
            assert sock.poll(30000), "the client went quiet"
            identity, *frames = sock.recv_multipart()
            if frames[0] == b"HELLO":
                assert frames[1] == slave_id.encode(), frames
                if not cursor:
                    started = time.perf_counter()
                credit = initial
            elif frames[0] == b"CHUNK":
                offset, data = int(frames[1]), frames[2]
                f.seek(offset)
                f.write(data)
                missing = remove(missing, offset, offset + len(data))
                credit += 1
            else:
                raise AssertionError("unexpected frames %r" % frames)
            if not missing:
                sock.send_multipart([identity, b"DONE"])
                elapsed = time.perf_counter() - started
                break
            while credit > 0:
                lo, hi = next_fetch(missing, cursor)
                cursor = hi
                sock.send_multipart([identity, b"FETCH", str(lo).encode(), str(hi - lo).encode()])
                credit -= 1
    print("done %.6f" % elapsed, flush=True)
    # Long enough for DONE to go out on a loaded machine (1 s was not).
    sock.close(linger=30000)
    ctx.term()


if __name__ == "__main__":
    main()
