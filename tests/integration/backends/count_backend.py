#!/usr/bin/python3
"""A counting HTTP/1.1 backend for flood tests: every accepted TCP connection
is counted, every request gets `200 ok` (Content-Length: 3, keep-alive) but
one for a target starting with /silent (no answer: the connection is held
until the peer closes it), and the counts are written to --record as one
JSON object {"accepts": N, "requests": M, "open": K} (K: connections not
yet closed by the peer; rewritten whenever they change, at most every
50 ms, atomically), so a test reads them while a flood is running.

One thread, selectors, a listen backlog of 4096: tens of thousands of
connects per second are counted, not dropped by a full accept queue (which
would only make the proxy's connects hang and the count too low).
The readiness probe of the harness is counted too (accepts - 1 is what the
proxy opened).
"""

import argparse
import json
import os
import selectors
import socket
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True)
    args = ap.parse_args()

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    counts = {"accepts": 0, "requests": 0, "open": 0}
    bufs = {}
    written = None
    last_write = 0.0

    def save():
        nonlocal written, last_write
        tmp = args.record + ".tmp"
        with open(tmp, "w") as f:
            json.dump(counts, f)
        os.replace(tmp, args.record)
        written = dict(counts)
        last_write = time.monotonic()

    save()
    while True:
        for key, _ in sel.select(0.05):
            if key.data is None:
                for _ in range(256):
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    c.setblocking(False)
                    counts["accepts"] += 1
                    counts["open"] += 1
                    bufs[c] = b""
                    sel.register(c, selectors.EVENT_READ, "c")
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                counts["open"] -= 1
                sel.unregister(c)
                bufs.pop(c, None)
                c.close()
                continue
            buf = bufs[c] + data
            while b"\r\n\r\n" in buf:   # bodiless requests only (GET)
                head, buf = buf.split(b"\r\n\r\n", 1)
                counts["requests"] += 1
                target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
                if target.startswith(b"/silent"):
                    continue
                try:
                    c.send(RESPONSE)
                except OSError:
                    pass
            bufs[c] = buf[-65536:]
        if counts != written and time.monotonic() - last_write >= 0.05:
            save()


if __name__ == "__main__":
    main()
