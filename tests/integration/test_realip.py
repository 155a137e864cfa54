"""realip from request headers (ngx_http_realip_module): behind an HTTP load
balancer or a chain of proxies, `set_real_ip_from` + `real_ip_header
X-Real-IP | X-Forwarded-For | <field>` (+ `real_ip_recursive`) make the
client's address `$remote_addr` (and `$remote_port` when the header has one)
for the access log, `X-Real-IP`, `$proxy_add_x_forwarded_for` and ip_hash,
request by request. Both implementations, the same config text.
"""

from __future__ import annotations

import socket

import pytest

from harness import rawhttp
from harness.backends import header_values
from harness.wait import wait_until

FORMAT = ("log_format rip '$request_uri $remote_addr \"$remote_port\" $realip_remote_addr';\n"
          "access_log logs/rip.log rip;\n")

ECHO = 'return 200 "$remote_addr|$remote_port|$realip_remote_addr\\n";'


def get(proxy, target: str, headers: list[tuple[str, str]] = ()) -> rawhttp.Response:
    extra = "".join("%s: %s\r\n" % h for h in headers)
    return rawhttp.exchange(proxy.port, ("GET %s HTTP/1.1\r\nHost: front\r\n%sConnection: close\r\n\r\n"
                                         % (target, extra)).encode())


def seen(proxy, target: str, headers: list[tuple[str, str]] = ()) -> list[str]:
    r = get(proxy, target, headers)
    assert r.status == 200, r
    return r.body.decode().strip().split("|")


def log_line(proxy, target: str) -> list[str]:
    path = proxy.prefix / "logs" / "rip.log"
    return wait_until(lambda: path.exists() and [l.split() for l in path.read_text().splitlines()
                                                 if l.startswith(target + " ")], 10, "rip.log line of " + target)[0]


XFF_CASES = [
    # (trusted, recursive, X-Forwarded-For headers, expected $remote_addr, $remote_port)
    ("127.0.0.1", "off", ["203.0.113.7"], "203.0.113.7", ""),
    ("127.0.0.1", "off", ["198.51.100.1, 10.1.1.1"], "10.1.1.1", ""),            # the rightmost, trusted or not
    ("127.0.0.1 10.0.0.0/8", "on", ["198.51.100.1, 10.1.1.1"], "198.51.100.1", ""),   # past trusted proxies
    ("127.0.0.1 10.0.0.0/8", "on", ["10.2.2.2, 10.1.1.1"], "10.2.2.2", ""),     # all trusted: the leftmost
    ("127.0.0.1 10.0.0.0/8", "on", ["198.51.100.1", "10.1.1.1"], "198.51.100.1", ""),   # two headers: one list
    ("127.0.0.1 10.0.0.0/8", "on", ["junk, 10.1.1.1"], "10.1.1.1", ""),         # stops at what is no address
    ("127.0.0.1", "off", ["203.0.113.7:4711"], "203.0.113.7", "4711"),         # a port comes along
    ("127.0.0.1", "off", ["[2001:db8::7]:443"], "2001:db8::7", "443"),
    ("127.0.0.1", "off", ["2001:db8::8"], "2001:db8::8", ""),
    ("127.0.0.1", "off", ["198.51.100.1 , "], "198.51.100.1", ""),             # trailing separators
    ("127.0.0.1", "off", ["198.51.100.1, junk"], "127.0.0.1", "*"),           # the last is no address: unchanged
    ("192.0.2.0/24", "off", ["203.0.113.7"], "127.0.0.1", "*"),               # the peer is not trusted
]


@pytest.mark.parametrize("case", range(len(XFF_CASES)))
def test_realip_x_forwarded_for(proxy, case):
    trusted, recursive, xff, addr, port = XFF_CASES[case]
    froms = "".join("    set_real_ip_from %s;\n" % t for t in trusted.split())
    proxy.start(FORMAT + """
server {
    listen 127.0.0.1:{listen};
%s    real_ip_header X-Forwarded-For;
    real_ip_recursive %s;
    location / { %s }
}
""" % (froms, recursive, ECHO))
    got = seen(proxy, "/x%d" % case, [("X-Forwarded-For", v) for v in xff])
    assert got[0] == addr, (xff, got)
    if port == "*":
        assert got[1].isdigit() and got[2] == "127.0.0.1", got   # the peer's own
    else:
        assert got[1] == port, got
        assert got[2] == "127.0.0.1", got   # $realip_remote_addr: the peer
    line = log_line(proxy, "/x%d" % case)
    assert line[1] == addr and line[3] == "127.0.0.1", line


def test_realip_x_real_ip_default_header_and_proxying(proxy, http_backend):
    """real_ip_header defaults to X-Real-IP. The address reaches the backend
    (X-Real-IP $remote_addr, $proxy_add_x_forwarded_for), the access log has
    it, and the next request on the same connection starts from the peer."""
    be = http_backend()
    proxy.start(FORMAT + """
server {
    listen 127.0.0.1:{listen};
    set_real_ip_from 127.0.0.0/8;
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
""", backend=be.port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        r = rawhttp.Reader(s, 10)
        s.sendall(b"GET /one HTTP/1.1\r\nHost: front\r\nX-Real-IP: 203.0.113.50\r\n\r\n")
        assert r.response().status == 200
        s.sendall(b"GET /two HTTP/1.1\r\nHost: front\r\n\r\n")
        assert r.response().status == 200
    one, two = [next(q for q in be.requests() if q["target"] == t) for t in ("/one", "/two")]
    assert header_values(one["headers"], "X-Real-IP") == ["203.0.113.50"]
    assert header_values(one["headers"], "X-Forwarded-For") == ["203.0.113.50"]
    assert header_values(two["headers"], "X-Real-IP") == ["127.0.0.1"]
    assert log_line(proxy, "/one")[1] == "203.0.113.50"
    assert log_line(proxy, "/two")[1] == "127.0.0.1"


def test_realip_custom_field_first_header_only(proxy):
    """Any field: its first occurrence counts (case-insensitive name)."""
    proxy.start(FORMAT + """
server {
    listen 127.0.0.1:{listen};
    set_real_ip_from 127.0.0.1;
    real_ip_header CF-Connecting-IP;
    location / { %s }
}
""" % ECHO)
    got = seen(proxy, "/cf", [("cf-connecting-ip", "198.51.100.33"), ("CF-Connecting-IP", "198.51.100.44")])
    assert got[0] == "198.51.100.33", got
    assert seen(proxy, "/none")[0] == "127.0.0.1"


def test_realip_server_level_runs_first_location_level_after_rewrites(proxy, http_backend):
    """nginx's two phases: the server's settings apply before the location's
    rewrites (post-read); a location's own settings only where the server's
    changed nothing, after its rewrites (preaccess) — so a `return` in that
    location answers before they apply, while the access log of a proxied
    request has them."""
    be = http_backend()
    proxy.start(FORMAT + """
server {
    listen 127.0.0.1:{listen};
    location /srv/ {
        proxy_pass http://127.0.0.1:{backend};
        proxy_set_header X-Real-IP $remote_addr;
    }
    location /ret/ {
        set_real_ip_from 127.0.0.1;
        %s
    }
    location /loc/ {
        set_real_ip_from 127.0.0.1;
        proxy_pass http://127.0.0.1:{backend};
        proxy_set_header X-Real-IP $remote_addr;
    }
}
server {
    listen 127.0.0.1:{listen};
    server_name trusted.test;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    real_ip_recursive off;
    location / {
        real_ip_recursive on;
        set_real_ip_from 10.0.0.0/8;
        %s
    }
}
""" % (ECHO, ECHO), backend=be.port)
    h = [("X-Real-IP", "203.0.113.60")]
    assert get(proxy, "/srv/a", h).status == 200
    assert header_values(be.requests()[-1]["headers"], "X-Real-IP") == ["127.0.0.1"]   # no set_real_ip_from here
    assert seen(proxy, "/ret/a", h)[0] == "127.0.0.1"     # return comes before preaccess
    assert get(proxy, "/loc/a", h).status == 200
    assert header_values(be.requests()[-1]["headers"], "X-Real-IP") == ["203.0.113.60"]
    assert log_line(proxy, "/loc/a")[1] == "203.0.113.60"
    # the server's settings (recursive off) win over the location's (on)
    r = rawhttp.exchange(proxy.port, b"GET /t HTTP/1.1\r\nHost: trusted.test\r\nX-Forwarded-For: 198.51.100.1, "
                                     b"10.1.1.1\r\nConnection: close\r\n\r\n")
    assert r.body.decode().split("|")[0] == "10.1.1.1", r.body


def test_realip_ip_hash_keys_on_the_forwarded_address(proxy, http_backend):
    b1, b2 = http_backend(), http_backend()
    proxy.start("""
upstream app {
    ip_hash;
    server 127.0.0.1:{b1};
    server 127.0.0.1:{b2};
}
server {
    listen 127.0.0.1:{listen};
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location / { proxy_pass http://app; }
}
""", b1=b1.port, b2=b2.port)
    clients = ["198.18.%d.%d" % (i, i * 7 % 250) for i in range(1, 9)]
    for rnd in range(2):
        for c in clients:
            assert get(proxy, "/ip/%s/%d" % (c, rnd), [("X-Forwarded-For", c)]).status == 200
    first = {}
    for c in clients:
        where = [b is b1 for b in (b1, b2) for r in b.requests() if r["target"].startswith("/ip/%s/" % c)]
        assert len(where) == 2 and len(set(where)) == 1, (c, where)
        first[c] = where[0]
    assert len(set(first.values())) == 2, first
