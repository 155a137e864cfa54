"""WebSocket proxying: the tunnel carries every kind of frame unchanged, the
handshake reaches the backend as configured, and timeouts apply as in nginx."""

import asyncio
import os

import pytest
import websockets

from harness import rawhttp
from harness.backends import header_values
from harness.wsclient import (OP_TEXT, accept_key, connect, frame, handshake_seen, read_frame, recv, run,
                              upgrade_request)

# The location every WebSocket guide shows (nginx.org's own example).
WS_CONF = """
upstream backend {
    server 127.0.0.1:{backend};
}

server {
    listen 127.0.0.1:{listen};

    location /ws/ {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        %(extra)s
    }
}
"""


def ws_conf(extra: str = "") -> str:
    return WS_CONF % {"extra": extra}


@pytest.fixture
def ws_proxy(proxy, ws_backend):
    """A proxy with WS_CONF in front of a fresh echo backend."""
    be = ws_backend()
    proxy.start(ws_conf(), backend=be.port)
    proxy.backend = be
    return proxy


def test_text_echo(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/echo", "ws")) as ws:
            for msg in ["hello", "", "ünïcödé ✓", "x" * 125, "y" * 126, "z" * 65535]:
                await ws.send(msg)
                assert await recv(ws) == msg
    run(body())


def test_binary_echo(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/bin", "ws")) as ws:
            for msg in [b"\x00\x01\x02\xff", bytes(range(256)) * 3, os.urandom(70000)]:
                await ws.send(msg)
                got = await recv(ws)
                assert isinstance(got, bytes) and got == msg
    run(body())


def test_fragmented_message(ws_proxy):
    """A message sent as several frames (FIN=0 ... continuation, FIN=1)
    arrives whole."""
    parts = ["first-", "second-" * 100, "third"]

    async def fragments():
        for p in parts:
            yield p

    async def body():
        async with connect(ws_proxy.url("/ws/frag", "ws"), compression=None) as ws:
            await ws.send(fragments())
            assert await recv(ws) == "".join(parts)
            await ws.send("after")
            assert await recv(ws) == "after"
    run(body())


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024], ids=["64KiB+1", "1MiB"])
@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "nodeflate"])
def test_large_message(ws_proxy, size, compression):
    data = os.urandom(size)

    async def body():
        async with connect(ws_proxy.url("/ws/big", "ws"), compression=compression) as ws:
            await ws.send(data)
            assert await recv(ws, timeout=30) == data
    run(body())


def test_ping_gets_pong(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/ping", "ws")) as ws:
            for payload in [b"", b"are you there"]:
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 10)
            await ws.send("still works")
            assert await recv(ws) == "still works"
    run(body())


def test_client_close_code_reaches_backend(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/close", "ws")) as ws:
            await ws.send("hi")
            assert await recv(ws) == "hi"
            await ws.close(4001, "bye")
            assert ws.close_code == 4001  # the backend echoed our close frame
    run(body())
    closed = ws_proxy.backend.wait_close()
    assert (closed["code"], closed["reason"]) == (4001, "bye")


def test_backend_close_code_reaches_client(proxy, ws_backend):
    be = ws_backend(close_code=4002, close_reason="server bye")
    proxy.start(ws_conf(), backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/", "ws")) as ws:
            await ws.send("__close__")
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws)
            return ws.close_code, ws.close_reason
    assert run(body()) == (4002, "server bye")


def test_permessage_deflate_end_to_end(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/deflate", "ws")) as ws:
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            text = "compressible " * 5000
            await ws.send(text)
            assert await recv(ws) == text
            return await handshake_seen(ws)
    seen = run(body())
    ext = header_values(seen["headers"], "Sec-WebSocket-Extensions")
    assert ext and "permessage-deflate" in ext[0]
    assert ws_proxy.backend.last_open()["extensions"] == ["permessage-deflate"]


def test_no_deflate_when_backend_refuses(proxy, ws_backend):
    be = ws_backend(compression=False)
    proxy.start(ws_conf(), backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/", "ws")) as ws:
            assert ws.extensions == []
            await ws.send("plain")
            assert await recv(ws) == "plain"
    run(body())


def test_subprotocol_negotiated(proxy, ws_backend):
    be = ws_backend(subprotocols=["chat", "superchat"])
    proxy.start(ws_conf(), backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/", "ws"), subprotocols=["superchat", "other"]) as ws:
            assert ws.subprotocol == "superchat"
            await ws.send("m")
            assert await recv(ws) == "m"
    run(body())


def test_handshake_as_backend_sees_it(ws_proxy):
    async def body():
        async with connect(ws_proxy.url("/ws/path?q=1", "ws"),
                           extra_headers={"X-Forwarded-For": "203.0.113.7", "Origin": "http://example.test"}) as ws:
            return await handshake_seen(ws)
    seen = run(body())
    h = seen["headers"]
    assert seen["path"] == "/ws/path?q=1"
    assert header_values(h, "Upgrade") == ["websocket"]
    assert header_values(h, "Connection") == ["upgrade"]
    assert header_values(h, "Host") == ["127.0.0.1"]  # $host: no port
    assert header_values(h, "X-Real-IP") == ["127.0.0.1"]
    assert header_values(h, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header_values(h, "Origin") == ["http://example.test"]
    assert header_values(h, "Sec-WebSocket-Version") == ["13"]
    assert len(header_values(h, "Sec-WebSocket-Key")) == 1


def test_many_concurrent_tunnels(ws_proxy):
    async def one(i):
        async with connect(ws_proxy.url("/ws/c%d" % i, "ws")) as ws:
            for j in range(5):
                msg = "client %d message %d" % (i, j)
                await ws.send(msg)
                assert await recv(ws) == msg

    async def body():
        await asyncio.gather(*(one(i) for i in range(20)))
    run(body())


def test_pipelined_frame_after_handshake(ws_proxy):
    """Upgrade request and the first (masked) frame in one send(): the frame
    must not be lost while the proxy waits for the 101."""
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    req = upgrade_request("/ws/pipelined", "127.0.0.1:%d" % ws_proxy.port, key)
    with rawhttp.connect(ws_proxy.port) as s:
        s.sendall(req + frame(OP_TEXT, b"pipelined hello"))
        r = rawhttp.Reader(s)
        resp = r.response()
        assert resp.status == 101
        assert resp.header("Sec-WebSocket-Accept") == accept_key(key)
        fin, op, payload = read_frame(r)
        assert (fin, op, payload) == (True, OP_TEXT, b"pipelined hello")
        s.sendall(frame(0x8, b"\x03\xe8"))  # close 1000
        fin, op, payload = read_frame(r)
        assert op == 0x8 and payload[:2] == b"\x03\xe8"


def test_idle_tunnel_closed_by_read_timeout(proxy, ws_backend):
    be = ws_backend()
    proxy.start(ws_conf("proxy_read_timeout 2s;"), backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/idle", "ws")) as ws:
            await ws.send("one")
            assert await recv(ws) == "one"
            # Nothing is sent now: the proxy must close the tunnel after ~2s.
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws, timeout=15)
            return ws.close_code
    assert run(body()) == 1006  # no close frame: the proxy just closes TCP
    proxy.wait_error_log(r"upstream timed out \(110: Connection timed out\) while proxying upgraded connection")


def test_active_tunnel_outlives_read_timeout(proxy, ws_backend):
    """Traffic resets the timer: a message a second for 6s through a tunnel
    with a 3s read timeout keeps it open."""
    be = ws_backend()
    proxy.start(ws_conf("proxy_read_timeout 3s;"), backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/busy", "ws")) as ws:
            for i in range(7):
                await ws.send("tick %d" % i)
                assert await recv(ws) == "tick %d" % i
                await asyncio.sleep(1)
            assert ws.open
    run(body())
    assert "upstream timed out" not in proxy.error_log()


def test_curl_upgrade_check(ws_proxy):
    """The troubleshooting seed's check: curl -i -N with upgrade headers."""
    r = rawhttp.curl(["-i", "-N",
                      "-H", "Connection: Upgrade",
                      "-H", "Upgrade: websocket",
                      "-H", "Sec-WebSocket-Version: 13",
                      "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                      ws_proxy.url("/ws/")], max_time=3)
    # curl keeps the upgraded connection open until --max-time (exit 28).
    assert r.returncode in (0, 28), r.stderr
    assert r.status_line == "HTTP/1.1 101 Switching Protocols"
    assert r.header("Upgrade").lower() == "websocket"
    assert r.header("Connection").lower() == "upgrade"
    assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_proxy_pass_uri_replaces_location_prefix(proxy, ws_backend):
    """`proxy_pass http://host:port/` (with a URI) replaces the matched
    location prefix; without a URI the original path goes through."""
    be = ws_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location /socket/ {
                proxy_pass http://127.0.0.1:{backend}/;
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "upgrade";
            }
            location /keep/ {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "upgrade";
            }
        }
    """, backend=be.port)

    async def path_seen(path):
        async with connect(proxy.url(path, "ws")) as ws:
            return (await handshake_seen(ws))["path"]

    assert run(path_seen("/socket/chat")) == "/chat"
    assert run(path_seen("/socket/chat?x=1")) == "/chat?x=1"
    assert run(path_seen("/keep/chat")) == "/keep/chat"
