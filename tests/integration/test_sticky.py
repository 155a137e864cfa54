"""`sticky cookie` (nginx Plus's syntax and cookie value, which open-source
nginx lacks): clients behind one NAT address stay on their backend, for plain
requests and for WebSocket reconnects."""

from __future__ import annotations

import hashlib

import pytest

from harness import rawhttp
from harness.marks import only_switchyard
from harness.wsclient import connect, recv, run

pytestmark = only_switchyard("sticky cookie is an nginx Plus directive")

CONF = """
upstream app {
    server 127.0.0.1:{a};
    server 127.0.0.1:{b};
    sticky cookie srv expires=1h path=/ httponly samesite=lax;
}
upstream chat {
    server 127.0.0.1:{wa};
    server 127.0.0.1:{wb};
    sticky cookie route;
}
server {
    listen 127.0.0.1:{listen};
    location / { proxy_pass http://app; }
    location /ws/ {
        proxy_pass http://chat;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""


def sticky_id(port: int) -> str:
    """nginx Plus's cookie value: the MD5 of the peer's address."""
    return hashlib.md5(("127.0.0.1:%d" % port).encode()).hexdigest()


def get(port: int, cookie: str | None = None) -> rawhttp.Response:
    extra = "Cookie: theme=dark; %s\r\n" % cookie if cookie else ""
    return rawhttp.exchange(port, ("GET /page HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n" % extra).encode())


@pytest.fixture
def sticky(proxy, http_backend, ws_backend):
    be = {"a": http_backend("a"), "b": http_backend("b"), "wa": ws_backend("wa"), "wb": ws_backend("wb")}
    proxy.start(CONF, **{k: v.port for k, v in be.items()})
    return proxy, be


def test_cookie_set_and_followed(sticky):
    proxy, be = sticky
    served = []
    for _ in range(4):
        r = get(proxy.port)
        assert r.status == 200
        name = r.body.split(b" ")[0].decode()
        served.append(name)
        cookie = r.header("Set-Cookie")
        assert cookie is not None
        parts = cookie.split("; ")
        assert parts[0] == "srv=" + sticky_id(be[name].port)
        assert parts[1].startswith("expires=") and parts[1].endswith(" GMT")
        assert parts[2:] == ["max-age=3600", "path=/", "httponly", "samesite=Lax"]
    assert sorted(served) == ["a", "a", "b", "b"]  # without the cookie: round robin
    for _ in range(6):
        r = get(proxy.port, "srv=" + sticky_id(be["b"].port))
        assert r.body.startswith(b"b ")
        assert r.header("Set-Cookie") is None  # it already names this peer
    assert len(be["b"].requests()) == 2 + 6


def test_cookie_of_a_dead_peer_is_replaced(sticky):
    proxy, be = sticky
    be["a"].stop()
    for _ in range(3):
        r = get(proxy.port, "srv=" + sticky_id(be["a"].port))
        assert r.status == 200 and r.body.startswith(b"b ")
        assert r.header("Set-Cookie").startswith("srv=%s;" % sticky_id(be["b"].port))
    # an unknown value is ignored, not an error
    r = get(proxy.port, "srv=0123456789abcdef0123456789abcdef")
    assert r.status == 200 and r.header("Set-Cookie") is not None


def test_websocket_reconnects_stay_on_their_backend(sticky):
    proxy, be = sticky
    url = proxy.url("/ws/chat", scheme="ws")

    async def body():
        async with connect(url) as ws:
            cookie = ws.response_headers.get("Set-Cookie")
            await ws.send("hello")
            assert await recv(ws) == "hello"
        assert cookie and cookie.startswith("route=") and "; " not in cookie  # a session cookie
        for i in range(5):
            async with connect(url, extra_headers={"Cookie": cookie}) as ws:
                assert "Set-Cookie" not in ws.response_headers
                await ws.send("again %d" % i)
                assert await recv(ws) == "again %d" % i
        return cookie.split("=", 1)[1]
    value = run(body())
    home = "wa" if value == sticky_id(be["wa"].port) else "wb"
    other = "wb" if home == "wa" else "wa"
    assert value == sticky_id(be[home].port)
    assert len(be[home].opens()) == 6 and len(be[other].opens()) == 0
