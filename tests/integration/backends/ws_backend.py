#!/usr/bin/python3
"""WebSocket echo backend (python3-websockets 10.4, asyncio).

Echoes every text and binary message back unchanged, except:

  __handshake__  replies with JSON {"path": ..., "headers": [[name, value], ...]}:
                 the opening handshake request it received, headers in order
                 with their original case
  __close__      with --close-code N: closes with code N and --close-reason

A request without an `Upgrade` header is answered as plain HTTP: 200 with the
body "plain http\n" (apps often serve both on one port; the `map` seeds rely
on it).

Every request and connection is also appended to the --record file as JSON
lines:
  {"event": "request", "path": "/ws/", "headers": [...]}   every request, first
  {"event": "open", "conn": 1, "path": "/ws/", "headers": [...],
   "extensions": ["permessage-deflate"], "subprotocol": null}
  {"event": "close", "conn": 1, "code": 4001, "reason": "bye"}

Options: --no-compression turns permessage-deflate off (websockets offers it
by default); --subprotocols a,b lists the subprotocols the server accepts.
Keepalive pings are off so that an idle connection stays idle.

tls_ws_backend.py runs this server behind TLS: main(ssl=..., facts=...).
"""

import argparse
import asyncio
import http
import json
import socket
import sys

import websockets


class Recorder:
    def __init__(self, path):
        self.path = path
        self.conns = 0
        open(path, "w").close()

    def write(self, obj):
        with open(self.path, "a") as f:
            f.write(json.dumps(obj) + "\n")
            f.flush()


def make_process_request(rec):
    def process_request(path, request_headers):
        rec.write({"event": "request", "path": path, "headers": [[k, v] for k, v in request_headers.raw_items()]})
        if "Upgrade" not in request_headers:
            return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"plain http\n"
        return None

    return process_request


def make_handler(args, rec, facts=None):
    """facts(ws) -> {key: JSON object} about a new connection: each is added
    to its "open" record under key, and is the answer to the message
    `__<key>__`."""
    async def handler(ws):
        rec.conns += 1
        conn = rec.conns
        headers = [[k, v] for k, v in ws.request_headers.raw_items()]
        extra = facts(ws) if facts else {}
        rec.write({
            "event": "open",
            "conn": conn,
            "path": ws.path,
            "headers": headers,
            "extensions": [e.name for e in ws.extensions],
            "subprotocol": ws.subprotocol,
            **extra,
        })
        answers = {"__%s__" % k: json.dumps(v) for k, v in extra.items()}
        try:
            async for msg in ws:
                if msg == "__handshake__":
                    await ws.send(json.dumps({"path": ws.path, "headers": headers}))
                elif msg in answers:
                    await ws.send(answers[msg])
                elif msg == "__close__" and args.close_code:
                    await ws.close(args.close_code, args.close_reason)
                    break
                else:
                    await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        rec.write({"event": "close", "conn": conn, "code": ws.close_code, "reason": ws.close_reason})

    return handler


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def serve(args, ssl=None, facts=None):
    rec = Recorder(args.record)
    hosts = args.host or (["127.0.0.1", "::1"] if has_ipv6() else ["127.0.0.1"])
    subprotocols = [p for p in (args.subprotocols or "").split(",") if p] or None
    async with websockets.serve(
        make_handler(args, rec, facts),
        hosts,
        args.port,
        ssl=ssl,
        process_request=make_process_request(rec),
        compression=None if args.no_compression else "deflate",
        subprotocols=subprotocols,
        max_size=None,
        ping_interval=None,
        close_timeout=5,
    ):
        await asyncio.Future()


def arg_parser(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", action="append", help="address to listen on (repeatable; default 127.0.0.1 and ::1)")
    ap.add_argument("--record", required=True, help="JSON-lines file of connections")
    ap.add_argument("--no-compression", action="store_true", help="do not negotiate permessage-deflate")
    ap.add_argument("--close-code", type=int, default=0, help="on __close__, close with this code")
    ap.add_argument("--close-reason", default="server bye")
    ap.add_argument("--subprotocols", help="comma-separated subprotocols to accept")
    return ap


def main(args=None, ssl=None, facts=None):
    """Serves until stopped; args parsed from the command line by default.
    ssl: an SSLContext (wss); facts: as make_handler takes it."""
    args = args or arg_parser(__doc__.split("\n")[0]).parse_args()
    try:
        asyncio.run(serve(args, ssl, facts))
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
