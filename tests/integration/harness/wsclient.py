"""WebSocket client side: python3-websockets with bounded timeouts, and raw
RFC 6455 frames for tests that need exact bytes on the wire."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct

import websockets

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEST_TIMEOUT = 60.0  # upper bound for any one async test body


def run(coro, timeout: float = TEST_TIMEOUT):
    """Runs an async test body with an overall bound."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def connect(url: str, **kw):
    """websockets.connect with the suite's defaults: bounded handshake and
    close, no keepalive pings (they would hide idle timeouts), no size limit,
    permessage-deflate offered (the library's default) unless compression=None."""
    opts = dict(open_timeout=10, close_timeout=5, ping_interval=None, max_size=None)
    opts.update(kw)
    return websockets.connect(url, **opts)


async def recv(ws, timeout: float = 10.0):
    return await asyncio.wait_for(ws.recv(), timeout)


async def handshake_seen(ws) -> dict:
    """Asks the echo backend (through the proxy) what handshake it received."""
    await ws.send("__handshake__")
    return json.loads(await recv(ws))


# ------------------------------------------------------------- raw frames
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def upgrade_request(path: str, host: str, key: str = "dGhlIHNhbXBsZSBub25jZQ==", extra: str = "") -> bytes:
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (path, host, key, extra)).encode()


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """One frame; clients must mask (RFC 6455 5.3)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def read_frame(reader) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next frame from a rawhttp.Reader."""
    b0, b1 = reader.exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.exact(8))[0]
    key = reader.exact(4) if b1 & 0x80 else None
    payload = reader.exact(n)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload
