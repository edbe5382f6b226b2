"""Uploads a file over piwheels' raw-frame transfer protocol the way the original build
slave does: a new DEALER (high-water marks 10), ``HELLO <id>``, then answer every
``FETCH <offset> <length>`` with ``CHUNK <offset> <bytes>`` until ``DONE``; when nothing
arrives for a while, say ``HELLO`` again.

Usage: python transfer_client.py ENDPOINT SLAVE_ID FILE [--timeout S] [--drop N]
``--drop N`` ignores the first N FETCHes (a lossy link), so the master must re-request
them after the repeated HELLO.
"""

import argparse

import zmq


def main():
    p = argparse.ArgumentParser()
    p.add_argument("endpoint")
    p.add_argument("slave_id")
    p.add_argument("file")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--drop", type=int, default=0)
    args = p.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.ipv6 = True
    sock.hwm = 10
    # Long enough for the last message to go out on a loaded machine (1 s was not).
    sock.linger = 30000
    sock.connect(args.endpoint)
    hellos = 1
    fetches = 0
    to_drop = args.drop
    with open(args.file, "rb") as f:
        sock.send_multipart([b"HELLO", args.slave_id.encode("ascii")])
        while True:
            if not sock.poll(args.timeout * 1000):
                sock.send_multipart([b"HELLO", args.slave_id.encode("ascii")])
                hellos += 1
                assert hellos < 50, "the master stopped answering"
                continue
            frames = sock.recv_multipart()
            if frames[0] == b"DONE":
                assert len(frames) == 1, frames
                break
            cmd, offset, length = frames
            assert cmd == b"FETCH", frames
            fetches += 1
            if to_drop:
                to_drop -= 1
                continue
            f.seek(int(offset))
            sock.send_multipart([b"CHUNK", offset, f.read(int(length))])
    print("done: %d fetches, %d hellos" % (fetches, hellos))
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
