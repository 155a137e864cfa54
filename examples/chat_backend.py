#!/usr/bin/env python3
"""Demo WebSocket backend for switchyard (websockets 10.x asyncio API).

It listens on 127.0.0.1 and expects the proxy to strip the /ws/ prefix
(conf/switchyard.conf: `location /ws/ { proxy_pass http://chat_backend/; }`):

    /echo    sends every message (text or binary) straight back
    /chat    broadcasts each text message to every chat client as
             {"from": ..., "text": ..., "time": ...}; a client sends either
             plain text or {"name": ..., "text": ...}; connect with
             /chat?name=NAME to be announced under that name
    /health  plain HTTP GET -> 200 "ok" (no WebSocket upgrade)

The server pings every client every 20 s and answers client pings.
Connects and disconnects are logged to stdout. SIGTERM/SIGINT close all
connections with 1001 (going away) and exit 0.

Usage: chat_backend.py [PORT]    (or SY_BACKEND_PORT=PORT; default 9001)
"""

import asyncio
import itertools
import json
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import websockets

HOST = "127.0.0.1"
DEFAULT_PORT = 9001
PING_INTERVAL = 20.0  # seconds between server pings
PING_TIMEOUT = 20.0  # close with 1011 if a pong does not arrive in time
MAX_CHAT_TEXT = 2000  # characters kept from one chat message
MAX_NAME = 32

log = logging.getLogger("chat_backend")

chat_clients = set()
conn_ids = itertools.count(1)


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(sender, text):
    return json.dumps({"from": sender, "text": text, "time": now_iso()})


def peer(ws):
    """Client address as the proxy reported it, else the TCP peer."""
    headers = ws.request_headers
    real = headers.get("X-Real-IP") or headers.get("X-Forwarded-For")
    tcp = ws.remote_address[0] if ws.remote_address else "?"
    return f"{real} via {tcp}" if real else tcp


async def process_request(path, request_headers):
    """Runs before the WebSocket handshake: plain HTTP answers go here."""
    path = path.split("?", 1)[0]
    if path == "/health":
        return HTTPStatus.OK, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n"
    if path not in ("/echo", "/chat"):
        return HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain; charset=utf-8")], b"not found\n"
    return None  # continue with the WebSocket handshake


async def handle_echo(ws, cid):
    async for message in ws:
        await ws.send(message)


def clean_name(raw, fallback):
    name = " ".join(str(raw or "").split())[:MAX_NAME]
    return name if name and name.lower() != "server" else fallback  # "server" marks notices


async def handle_chat(ws, cid):
    # Optional ?name=... sets the name used in join/leave notices and for
    # plain-text messages; a JSON message can still carry its own name.
    query = parse_qs(urlsplit(ws.path).query)
    default_name = clean_name(query.get("name", [""])[0], f"guest-{cid}")
    chat_clients.add(ws)
    try:
        websockets.broadcast(chat_clients, envelope("server", f"{default_name} joined ({len(chat_clients)} online)"))
        async for message in ws:
            if isinstance(message, bytes):
                log.info("#%d chat: ignoring %d-byte binary message", cid, len(message))
                continue
            name, text = default_name, message
            try:
                data = json.loads(message)
            except ValueError:
                data = None
            if isinstance(data, dict):
                name = clean_name(data.get("name"), default_name)
                text = str(data.get("text", ""))
            text = text.strip()[:MAX_CHAT_TEXT]
            if text:
                websockets.broadcast(chat_clients, envelope(name, text))
    finally:
        chat_clients.discard(ws)
        websockets.broadcast(chat_clients, envelope("server", f"{default_name} left ({len(chat_clients)} online)"))


async def handler(ws):
    cid = next(conn_ids)
    path = ws.path.split("?", 1)[0]
    log.info("#%d connect    %s from %s", cid, path, peer(ws))
    try:
        if path == "/echo":
            await handle_echo(ws, cid)
        elif path == "/chat":
            await handle_chat(ws, cid)
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        log.info("#%d disconnect %s code=%s reason=%r", cid, path, ws.close_code, ws.close_reason or "")


def parse_port():
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SY_BACKEND_PORT", str(DEFAULT_PORT))
    if raw in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0)
    try:
        port = int(raw)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        sys.exit(f"chat_backend: bad port {raw!r}")
    return port


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: stop.done() or stop.set_result(s))

    async with websockets.serve(
        handler,
        HOST,
        port,
        process_request=process_request,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
    ):
        log.info("listening on ws://%s:%d  (paths /echo /chat, GET /health)", HOST, port)
        sig = await stop
        log.info("%s: closing connections", signal.Signals(sig).name)
    log.info("stopped")


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s chat_backend: %(message)s",
        datefmt="%H:%M:%S",
    )
    # The library's own INFO lines (handshake noise) are not needed here.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    port = parse_port()
    try:
        asyncio.run(main(port))
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", HOST, port, e.strerror or e)
        sys.exit(1)
