"""Repeated header fields (nginx 1.23+ semantics) and add_trailer.

- $http_NAME joins same-named request fields with ", " (Cookie with "; "),
  $cookie_NAME looks through every Cookie field; $sent_http_NAME sees what
  add_header added before it; $upstream_http_NAME joins, $upstream_cookie_NAME
  reads the upstream's Set-Cookie fields; $remote_user, $content_type.
- Fields a request may carry once (If-Match, Authorization, ...): a second is 400.
- add_trailer: an HTTP/1.1 response turns chunked and ends with the trailer
  fields; HTTP/1.0 gets none; HTTP/2 gets a trailing HEADERS frame. On
  `return`, static files and proxied responses (length and chunked upstreams).

Debian's nginx 1.22 joins only Cookie and X-Forwarded-For (request) and
Cache-Control/Link (sent): the general joins are switchyard-only.
"""

from __future__ import annotations

import h2.events
import pytest

from harness import rawhttp
from harness.config import block, location
from harness.marks import only_switchyard

from test_http2 import H2Client

JOIN = "nginx 1.22 gives the first field of several; 1.23+ joins them with \", \""


def conf() -> str:
    locs = [
        location("/", None,
                 "add_header X-Forwarded-For $http_x_forwarded_for", "add_header X-Cookie $http_cookie",
                 "add_header X-Foo $http_foo", "add_header X-Cookie-Foo $cookie_foo",
                 "add_header X-Cookie-Bazz $cookie_bazz", "add_header X-Remote-User $remote_user",
                 "add_header X-Content-Type $content_type", "add_header X-Content-Length $content_length",
                 "return 204"),
        location("/s", None,
                 "add_header Cache-Control foo", "add_header Cache-Control bar",
                 "add_header Foo foo", "add_header Foo bar",
                 "add_header X-Sent-CC $sent_http_cache_control", "add_header X-Sent-Foo $sent_http_foo",
                 "return 204"),
        location("/u/", "http://127.0.0.1:{backend}",
                 "add_header X-Up-SC $upstream_http_set_cookie", "add_header X-Up-Bar $upstream_http_bar",
                 "add_header X-Up-Cookie-A $upstream_cookie_a", "add_header X-Up-Cookie-B $upstream_cookie_b"),
        location("/t", None,
                 "add_trailer X-T foo", "add_trailer X-T bar", "add_trailer X-Sent-T $sent_trailer_x_t",
                 "add_trailer X-Empty $http_no_such_field",
                 'return 200 "hello"'),
        location("/tnf", None, 'add_trailer X-T foo', 'return 404 "nf"'),
        location("/talways", None, 'add_trailer X-T foo always', 'return 404 "nf"'),
        location("/tf/", None, "root {prefix}/html", "add_trailer X-T file"),
        location("/tp/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1", "add_trailer X-T up"),
        location("/d", None, "return 204"),
    ]
    return (block("server", "listen 127.0.0.1:{listen}", "server_name localhost", *locs) + "\n" +
            block("server", "listen 127.0.0.1:{listen_h2c} http2", "server_name localhost", *locs) + "\n")


@pytest.fixture
def running(proxy, http_backend):
    be = http_backend()
    proxy.start(conf(), backend=be.port)
    proxy.write_file("html/tf/f.txt", b"static file\n")
    return proxy


def get(proxy, path: str, *headers: str, version: str = "1.1") -> rawhttp.Response:
    req = "GET %s HTTP/%s\r\nHost: localhost\r\nConnection: close\r\n" % (path, version)
    req += "".join(h + "\r\n" for h in headers) + "\r\n"
    return rawhttp.exchange(proxy.port, req.encode())


def raw(proxy, path: str, version: str = "1.1") -> bytes:
    req = "GET %s HTTP/%s\r\nHost: localhost\r\nConnection: close\r\n\r\n" % (path, version)
    return rawhttp.exchange_raw(proxy.port, req.encode())


def chunked_parts(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, trailer block) of a raw chunked response."""
    head, _, rest = data.partition(b"\r\n\r\n")
    body = b""
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return head, body, rest
        body += rest[:size]
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]


# ---- request fields ---------------------------------------------------------

def test_cookie_and_xff_joined(running):
    r = get(running, "/", "Cookie: foo=1", "Cookie: bar=2", "Cookie: bazz=3",
            "X-Forwarded-For: a", "X-Forwarded-For: b")
    assert r.status == 204
    assert r.header("X-Cookie") == "foo=1; bar=2; bazz=3"
    assert r.header("X-Forwarded-For") == "a, b"
    assert r.header("X-Cookie-Foo") == "1"
    assert r.header("X-Cookie-Bazz") == "3"   # $cookie_NAME looks through every Cookie field


@only_switchyard(JOIN)
def test_other_request_fields_joined(running):
    r = get(running, "/", "Foo: foo", "Foo: bar", "Foo: bazz", "Content-Type: a", "Content-Type: b")
    assert r.header("X-Foo") == "foo, bar, bazz"
    assert r.header("X-Content-Type") == "a, b"


def test_remote_user_and_content_length(running):
    r = get(running, "/", "Authorization: Basic dXNlcjpzZWNyZXQ=", "Content-Length: 0")
    assert r.header("X-Remote-User") == "user"
    assert r.header("X-Content-Length") == "0"
    r = get(running, "/", "Authorization: Bearer dXNlcjpzZWNyZXQ=")
    assert r.header("X-Remote-User") is None
    r = get(running, "/", "Authorization: Basic !!!")
    assert r.header("X-Remote-User") is None


UNIQUE = ["If-Modified-Since", "If-Unmodified-Since", "If-Match", "If-None-Match", "Content-Range",
          "If-Range", "Expect", "Authorization", "Content-Length", "Host"]


@pytest.mark.parametrize("name", UNIQUE)
def test_duplicate_unique_field_refused(running, name):
    value = "0" if name == "Content-Length" else "foo"
    if name == "Host":   # get() sends one already
        assert get(running, "/d", "Host: foo").status == 400
        return
    r = get(running, "/d", "%s: %s" % (name, value), "%s: %s" % (name, value))
    assert r.status == 400
    running.wait_error_log(r'client sent duplicate header line: "%s: %s", previous value: "%s: %s" while reading client request headers'
                           % (name, value, name, value))
    assert get(running, "/d", "%s: %s" % (name, value)).status == 204   # once is fine


@pytest.mark.parametrize("name", ["if-match", "authorization", "expect"])
def test_duplicate_unique_field_refused_h2(running, name):
    c = H2Client(running.ports["listen_h2c"])
    sid = c.request("/d", headers=[(name, "foo"), (name, "bar")])
    c.wait(lambda: c.streams[sid]["ended"] or c.streams[sid]["reset"] is not None, what="the answer")
    assert dict(c.streams[sid]["headers"])[":status"] == "400"
    sid = c.request("/d", headers=[(name, "foo")] if name != "expect" else [])
    c.wait(lambda: c.streams[sid]["ended"], what="the answer")
    assert dict(c.streams[sid]["headers"])[":status"] == "204"


# ---- response fields --------------------------------------------------------

def test_sent_http_sees_earlier_add_header(running):
    r = get(running, "/s")
    assert r.header_all("Cache-Control") == ["foo", "bar"]
    assert r.header("X-Sent-CC") == "foo, bar"


@only_switchyard(JOIN)
def test_sent_http_general_join(running):
    assert get(running, "/s").header("X-Sent-Foo") == "foo, bar"


def test_upstream_cookie(running):
    r = get(running, "/u/x?h=Set-Cookie:a=1;%20Path=/&h=Set-Cookie:b=2&h=Bar:x&h=Bar:y")
    assert r.status == 200
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert r.header("X-Up-Cookie-A") == "1"
    assert r.header("X-Up-Cookie-B") == "2"


@only_switchyard(JOIN)
def test_upstream_http_joined(running):
    r = get(running, "/u/x?h=Set-Cookie:a=1&h=Set-Cookie:b=2&h=Bar:x&h=Bar:y")
    assert r.header("X-Up-SC") == "a=1, b=2"
    assert r.header("X-Up-Bar") == "x, y"


# ---- add_trailer ------------------------------------------------------------

def trailer_fields(block: bytes) -> list[tuple[str, str]]:
    out = []
    for line in block.decode().split("\r\n"):
        if line:
            n, _, v = line.partition(":")
            out.append((n, v.strip()))
    return out


def test_trailer_http11_return(running):
    head, body, trailer = chunked_parts(raw(running, "/t"))
    assert b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    assert body == b"hello"
    fields = trailer_fields(trailer)
    assert trailer.endswith(b"\r\n")
    assert fields[:2] == [("X-T", "foo"), ("X-T", "bar")]
    assert fields[2][0] == "X-Sent-T"
    assert len(fields) == 3   # an empty value adds nothing


@only_switchyard(JOIN)
def test_sent_trailer_joined(running):
    _, _, trailer = chunked_parts(raw(running, "/t"))
    assert ("X-Sent-T", "foo, bar") in trailer_fields(trailer)


def test_trailer_status_rule(running):
    r = get(running, "/tnf")
    assert (r.status, r.header("Content-Length"), r.body) == (404, "2", b"nf")
    head, body, trailer = chunked_parts(raw(running, "/talways"))
    assert head.startswith(b"HTTP/1.1 404") and body == b"nf"
    assert trailer_fields(trailer) == [("X-T", "foo")]


def test_no_trailer_for_http10(running):
    r = get(running, "/t", version="1.0")
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None
    assert r.body == b"hello"
    assert b"X-T" not in r.raw_head


def test_trailer_static_file(running):
    head, body, trailer = chunked_parts(raw(running, "/tf/f.txt"))
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert body == b"static file\n"
    assert trailer_fields(trailer) == [("X-T", "file")]


@pytest.mark.parametrize("mode", ["length", "chunked", "close"])
def test_trailer_proxied(running, mode):
    head, body, trailer = chunked_parts(raw(running, "/tp/x?mode=%s&size=5000" % mode))
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert body == rawhttp.pattern(5000)
    assert trailer_fields(trailer) == [("X-T", "up")]


def test_trailer_keepalive_then_next_request(running):
    """The chunked body with trailers is framed exactly: a second request on
    the connection is answered."""
    with rawhttp.connect(running.port) as s:
        s.sendall(b"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\nGET /tnf HTTP/1.1\r\nHost: localhost\r\n\r\n")
        rd = rawhttp.Reader(s)
        first = rd.response()
        second = rd.response()
    assert (first.status, first.body) == (200, b"hello")
    assert (second.status, second.body) == (404, b"nf")


@pytest.mark.parametrize("path,body,fields", [
    ("/t", b"hello", [("x-t", "foo"), ("x-t", "bar")]),
    ("/tf/f.txt", b"static file\n", [("x-t", "file")]),
    ("/tp/x?size=100", rawhttp.pattern(100), [("x-t", "up")]),
])
def test_trailer_h2(running, path, body, fields):
    c = H2Client(running.ports["listen_h2c"])
    sid = c.request(path)
    c.wait(lambda: c.streams[sid]["ended"], what="the stream's end")
    assert dict(c.streams[sid]["headers"])[":status"] == "200"
    assert c.streams[sid]["body"] == body
    tr = [e for e in c.events if isinstance(e, h2.events.TrailersReceived) and e.stream_id == sid]
    assert len(tr) == 1
    got = [(n, v) for n, v in tr[0].headers]
    assert got[:len(fields)] == fields


def test_nginx_122_gives_the_first_field(running):
    """The reference's side of the only_switchyard tests above: Debian's
    nginx 1.22 takes the first of several fields where 1.23+ joins them."""
    if running.impl == "switchyard":
        pytest.skip("nginx 1.22's behaviour; switchyard has 1.23's (tests above)")
    r = get(running, "/", "Foo: foo", "Foo: bar")
    assert r.header("X-Foo") == "foo"
    assert get(running, "/s").header("X-Sent-Foo") == "foo"
    r = get(running, "/u/x?h=Bar:x&h=Bar:y")
    assert r.header("X-Up-Bar") == "x"
    _, _, trailer = chunked_parts(raw(running, "/t"))
    assert ("X-Sent-T", "foo") in trailer_fields(trailer)


def test_no_trailer_for_head(running):
    r = rawhttp.exchange(running.port, b"HEAD /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    assert r.header("Content-Length") == "5"
    assert r.header("Transfer-Encoding") is None
