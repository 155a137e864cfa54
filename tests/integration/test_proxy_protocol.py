"""PROXY protocol on http listeners (`listen ... proxy_protocol`), behind a
TCP load balancer: `$proxy_protocol_addr`, and with `real_ip_header
proxy_protocol` + `set_real_ip_from` the client address for `$remote_addr`,
the access log, `X-Real-IP`/`X-Forwarded-For` and `ip_hash`. Both
implementations; clients write the header themselves (v1 text, v2 binary).
"""

from __future__ import annotations

import re
import socket

import pytest

from harness import rawhttp
from harness.backends import header_values
from harness.tls import client_context, session_pki
from harness.wait import wait_until
from test_stream import proxy_v2

FORMAT = "log_format pp '$remote_addr $proxy_protocol_addr $proxy_protocol_port $realip_remote_addr $status $request';"


def conf(trusted: str, extra: str = "") -> str:
    return FORMAT + """
server {
    listen 127.0.0.1:{listen} proxy_protocol;
    set_real_ip_from %s;
    real_ip_header proxy_protocol;
    access_log logs/pp.log pp;
    %s
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
""" % (trusted, extra)


def request(port: int, header: bytes, target: str) -> rawhttp.Response:
    return rawhttp.exchange(port, header + ("GET %s HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n"
                                            % target).encode())


def pp_line(proxy, target: str) -> list[str]:
    path = proxy.prefix / "logs" / "pp.log"
    return wait_until(lambda: path.exists() and [l.split() for l in path.read_text().splitlines()
                                                 if " %s " % target in l], 10, "pp.log line of " + target)[0]


@pytest.mark.parametrize("trusted", ["127.0.0.1", "192.168.0.0/16"])
def test_http_proxy_protocol_v1(proxy, http_backend, trusted):
    be = http_backend()
    proxy.start(conf(trusted), backend=be.port)
    resp = request(proxy.port, b"PROXY TCP4 203.0.113.9 198.51.100.1 51000 80\r\n", "/pp1")
    assert resp.status == 200, resp
    seen = be.last()
    line = pp_line(proxy, "/pp1")
    if trusted == "127.0.0.1":
        assert line[:6] == ["203.0.113.9", "203.0.113.9", "51000", "127.0.0.1", "200", "GET"], line
        assert header_values(seen["headers"], "X-Real-IP") == ["203.0.113.9"]
        assert header_values(seen["headers"], "X-Forwarded-For") == ["203.0.113.9"]
    else:
        assert line[:6] == ["127.0.0.1", "203.0.113.9", "51000", "127.0.0.1", "200", "GET"], line
        assert header_values(seen["headers"], "X-Real-IP") == ["127.0.0.1"]


def test_http_proxy_protocol_v2_keepalive_requests(proxy, http_backend):
    """One header per connection: every request on it has the address."""
    be = http_backend()
    proxy.start(conf("127.0.0.0/8"), backend=be.port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(proxy_v2("2001:db8::9", "2001:db8::1", 52000, 80))
        r = rawhttp.Reader(s, 10)
        for t in ("/a", "/b"):
            s.sendall(("GET %s HTTP/1.1\r\nHost: front\r\n\r\n" % t).encode())
            assert r.response().status == 200
    assert pp_line(proxy, "/a")[:4] == ["2001:db8::9", "2001:db8::9", "52000", "127.0.0.1"]
    assert pp_line(proxy, "/b")[:4] == ["2001:db8::9", "2001:db8::9", "52000", "127.0.0.1"]


def test_http_proxy_protocol_ip_hash_sees_client(proxy, http_backend):
    """ip_hash keys on the address from the header: the same client always
    reaches the same backend, whatever port the balancer connects from."""
    b1, b2 = http_backend(), http_backend()
    proxy.start(FORMAT + """
upstream app {
    ip_hash;
    server 127.0.0.1:{b1};
    server 127.0.0.1:{b2};
}
server {
    listen 127.0.0.1:{listen} proxy_protocol;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / { proxy_pass http://app; }
}
""", b1=b1.port, b2=b2.port)
    clients = ["198.18.%d.%d" % (i, i * 7 % 250) for i in range(1, 9)]
    first = {}
    for rnd in range(2):
        for c in clients:
            resp = request(proxy.port, b"PROXY TCP4 %s 198.51.100.1 5000 80\r\n" % c.encode(), "/ip/%s/%d" % (c, rnd))
            assert resp.status == 200
    for c in clients:
        where = [b is b1 for b in (b1, b2) for r in b.requests() if r["target"].startswith("/ip/%s/" % c)]
        assert len(where) == 2 and len(set(where)) == 1, (c, where)
        first[c] = where[0]
    assert len(set(first.values())) == 2, first   # the 8 clients do not all land on one backend


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


def test_https_proxy_protocol_then_tls(proxy, http_backend, pki):
    be = http_backend()
    crt, key = pki.leaf("front.test", "front.test")
    proxy.start(conf("127.0.0.1").replace("listen 127.0.0.1:{listen} proxy_protocol;",
                                          "listen 127.0.0.1:{listen} ssl proxy_protocol;\n    ssl_certificate {crt};\n"
                                          "    ssl_certificate_key {key};"), backend=be.port, crt=crt, key=key)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        raw.sendall(b"PROXY TCP4 203.0.113.10 198.51.100.1 53000 443\r\n")
        with client_context(pki.ca.crt).wrap_socket(raw, server_hostname="front.test") as s:
            s.sendall(b"GET /tls HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n")
            assert rawhttp.Reader(s, 10).response().status == 200
    assert pp_line(proxy, "/tls")[:2] == ["203.0.113.10", "203.0.113.10"]


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nHost: front\r\n\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"])
def test_http_proxy_protocol_broken_header_closes(proxy, http_backend, data):
    be = http_backend()
    proxy.start(conf("127.0.0.1"), backend=be.port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(data)
        s.settimeout(5)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass   # closed with the request unread: a reset
    assert got == b"", got   # closed without an answer
    # (nginx 1.22 quotes the whole first read, CRLFs included, over several lines)
    proxy.wait_error_log(r"\[error\] .*broken header: \"" + re.escape(data[:14].decode()))
    if proxy.impl == "switchyard":
        proxy.wait_error_log(r"\[error\] .*broken header: \"[^\\]*\" while reading PROXY protocol, client: 127\.0\.0\.1")
    assert be.requests() == []
    assert request(proxy.port, b"PROXY TCP4 203.0.113.9 198.51.100.1 51000 80\r\n", "/after").status == 200
