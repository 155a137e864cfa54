"""Plain HTTP through proxy_pass: client-side connection handling, bodies in
both directions, and the upstream request nginx builds."""

import http.client
import os

import pytest

from harness import rawhttp
from harness.backends import header_names, header_values
from harness.marks import only_switchyard
from harness.rawhttp import pattern
from harness.wait import wait_until

# proxy_http_version and Connection are explicit so that what is asserted does
# not depend on the defaults nginx 1.22 and 1.29.7 disagree on.
PROXY_CONF = """
server {
    listen 127.0.0.1:{listen};

    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        %(extra)s
    }
}
"""


def conf(extra: str = "") -> str:
    return PROXY_CONF % {"extra": extra}


def start(proxy, http_backend, extra: str = ""):
    be = http_backend()
    proxy.start(conf(extra), backend=be.port)
    return be


def get(port: int, target: str, headers: str = "Host: front\r\n") -> rawhttp.Response:
    return rawhttp.exchange(port, ("GET %s HTTP/1.1\r\n%s\r\n" % (target, headers)).encode())


# ------------------------------------------------------- client connection
def test_client_keepalive(proxy, http_backend):
    start(proxy, http_backend)
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        c.request("GET", "/first")
        r1 = c.getresponse()
        assert (r1.status, r1.read()) == (200, b"backend GET /first\n")
        sock1 = c.sock
        local1 = sock1.getsockname()
        c.request("GET", "/second")
        r2 = c.getresponse()
        assert (r2.status, r2.read()) == (200, b"backend GET /second\n")
        assert c.sock is sock1 and c.sock.getsockname() == local1, "second request needed a new connection"
    finally:
        c.close()


def test_client_pipelining(proxy, http_backend):
    start(proxy, http_backend)
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"GET /one HTTP/1.1\r\nHost: front\r\n\r\n"
                  b"GET /two HTTP/1.1\r\nHost: front\r\n\r\n"
                  b"GET /three HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
        r = rawhttp.Reader(s)
        bodies = [r.response().body for _ in range(3)]
        assert bodies == [b"backend GET /one\n", b"backend GET /two\n", b"backend GET /three\n"]
        assert rawhttp.is_closed(s, 10)


def test_http10_client(proxy, http_backend):
    start(proxy, http_backend)
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        r = rawhttp.Reader(s)
        resp = r.response()
        assert resp.status == 200
        assert resp.body == b"backend GET /old\n"
        assert resp.header("Connection").lower() == "close"
        assert rawhttp.is_closed(s, 10)


def test_head(proxy, http_backend):
    be = start(proxy, http_backend)
    resp = rawhttp.exchange(proxy.port, b"HEAD /h HTTP/1.1\r\nHost: front\r\n\r\n")
    assert resp.status == 200
    assert resp.header("Content-Length") == str(len(b"backend HEAD /h\n"))
    assert resp.body == b""
    assert be.last()["request_line"] == "HEAD /h HTTP/1.1"
    # The connection is still usable: no stray body bytes were sent.
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"HEAD /h HTTP/1.1\r\nHost: front\r\n\r\nGET /after HTTP/1.1\r\nHost: front\r\n\r\n")
        r = rawhttp.Reader(s)
        assert r.response(head_request=True).status == 200
        assert r.response().body == b"backend GET /after\n"


# ------------------------------------------------------------ request bodies
def test_post_content_length_body(proxy, http_backend):
    be = start(proxy, http_backend)
    body = os.urandom(100 * 1024)  # larger than client_body_buffer_size
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=20)
    try:
        c.request("POST", "/upload", body=body, headers={"Content-Type": "application/octet-stream"})
        assert c.getresponse().status == 200
    finally:
        c.close()
    got = be.last()
    assert got["body"] == body
    assert header_values(got["headers"], "Content-Length") == [str(len(body))]
    assert header_values(got["headers"], "Content-Type") == ["application/octet-stream"]


def test_post_chunked_body(proxy, http_backend):
    """A chunked request body is de-chunked and (request buffering on) sent
    upstream with a Content-Length."""
    be = start(proxy, http_backend)
    parts = [b"hello ", os.urandom(5000), b"", b" world"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
    resp = rawhttp.exchange(proxy.port, b"POST /chunked HTTP/1.1\r\nHost: front\r\n"
                                        b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert resp.status == 200
    got = be.last()
    assert got["body"] == b"".join(parts)
    assert header_values(got["headers"], "Content-Length") == [str(len(b"".join(parts)))]
    assert header_values(got["headers"], "Transfer-Encoding") == []


def test_expect_100_continue_raw(proxy, http_backend):
    be = start(proxy, http_backend)
    body = b"x" * 2048
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"POST /expect HTTP/1.1\r\nHost: front\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(body))
        r = rawhttp.Reader(s)
        interim = r.response()
        assert (interim.version, interim.status) == ("HTTP/1.1", 100)
        s.sendall(body)
        final = r.response()
        assert final.status == 200
    got = be.last()
    assert got["body"] == body
    assert header_values(got["headers"], "Expect") == []


def test_expect_100_continue_curl(proxy, http_backend):
    """curl with a >1 KiB body and `Expect: 100-continue` (curl 7.88 adds the
    header by itself only from 1 MiB, so it is asked for explicitly)."""
    be = start(proxy, http_backend)
    body_file = proxy.workdir / "body.bin"
    body_file.write_bytes(b"y" * 5000)
    r = rawhttp.curl(["-v", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue",
                      "--data-binary", "@%s" % body_file,
                      proxy.url("/curl")])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"200"
    assert "Expect: 100-continue" in r.stderr and "HTTP/1.1 100 Continue" in r.stderr
    assert be.last()["body"] == b"y" * 5000


# ----------------------------------------------------------- response bodies
def test_chunked_upstream_response(proxy, http_backend):
    start(proxy, http_backend)
    resp = get(proxy.port, "/c?mode=chunked&size=30000&parts=7")
    assert resp.status == 200
    assert resp.body == pattern(30000)
    # HTTP/1.0 client: no chunked coding for it, the body ends at close.
    resp10 = rawhttp.exchange(proxy.port, b"GET /c?mode=chunked&size=3000 HTTP/1.0\r\n\r\n")
    assert resp10.header("Transfer-Encoding") is None
    assert resp10.body == pattern(3000)


def test_close_delimited_upstream_response(proxy, http_backend):
    start(proxy, http_backend)
    resp = get(proxy.port, "/d?mode=close&size=20000")
    assert resp.status == 200
    assert resp.body == pattern(20000)
    # The client connection survives: the proxy re-frames the body.
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"GET /d?mode=close HTTP/1.1\r\nHost: front\r\n\r\nGET /next HTTP/1.1\r\nHost: front\r\n\r\n")
        r = rawhttp.Reader(s)
        assert r.response().body == b"backend GET /d?mode=close\n"
        assert r.response().body == b"backend GET /next\n"


def test_large_response(proxy, http_backend):
    start(proxy, http_backend)
    resp = rawhttp.exchange(proxy.port, b"GET /big?size=3000000 HTTP/1.1\r\nHost: front\r\n\r\n", timeout=30)
    assert resp.header("Content-Length") == "3000000"
    assert resp.body == pattern(3000000)


def test_proxy_buffering_off_streams(proxy, http_backend):
    """With proxy_buffering off the first chunk reaches the client while the
    backend still holds the rest (it waits for a gate the test opens)."""
    be = start(proxy, http_backend, "proxy_buffering off;")
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"GET /s?mode=stream&gate=g1&body=first-part.second-part.third-part&parts=3 HTTP/1.1\r\n"
                  b"Host: front\r\n\r\n")
        r = rawhttp.Reader(s, timeout=10)
        head = r.until(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0]
        assert b"transfer-encoding: chunked" in head.lower()
        size = int(r.until(b"\r\n").strip(), 16)
        first = r.exact(size + 2)[:-2]
        assert first == b"first-part.", "first chunk must arrive before the backend finishes"
        be.open_gate("g1")
        rest = b""
        while True:
            n = int(r.until(b"\r\n").strip(), 16)
            if n == 0:
                break
            rest += r.exact(n + 2)[:-2]
        assert first + rest == b"first-part.second-part.third-part"


def test_upstream_keepalive_reuses_connection(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        upstream pool {
            server 127.0.0.1:{backend};
            keepalive 4;
        }
        server {
            listen 127.0.0.1:{listen};
            location / {
                proxy_pass http://pool;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }
        }
    """, backend=be.port)
    for i in range(3):
        assert get(proxy.port, "/k%d" % i).status == 200
    reqs = be.wait_requests(3)
    assert be.connections() == 1, [(r["conn"], r["seq"]) for r in reqs]
    assert [r["seq"] for r in reqs] == [1, 2, 3]
    assert be.accepted() == 1


# ------------------------------------------------ the upstream request built
def test_request_line_and_host(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        upstream named_pool {
            server 127.0.0.1:{backend};
        }
        server {
            listen 127.0.0.1:{listen};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            location /ip/ { proxy_pass http://127.0.0.1:{backend}; }
            location /up/ { proxy_pass http://named_pool; }
            location /host/ { proxy_pass http://127.0.0.1:{backend}; proxy_set_header Host $host; }
            location /hostport/ { proxy_pass http://127.0.0.1:{backend}; proxy_set_header Host $http_host; }
        }
    """, backend=be.port)
    get(proxy.port, "/ip/a%20b?x=1&y=%2F")
    get(proxy.port, "/up/x")
    get(proxy.port, "/host/x", "Host: Front.Example:8080\r\n")
    get(proxy.port, "/hostport/x", "Host: Front.Example:8080\r\n")
    reqs = be.wait_requests(4)
    assert [r["request_line"] for r in reqs] == [
        "GET /ip/a%20b?x=1&y=%2F HTTP/1.1", "GET /up/x HTTP/1.1", "GET /host/x HTTP/1.1", "GET /hostport/x HTTP/1.1"]
    assert [header_values(r["headers"], "Host") for r in reqs] == [
        ["127.0.0.1:%d" % be.port], ["named_pool"], ["front.example"], ["Front.Example:8080"]]


def test_forwarding_headers(proxy, http_backend):
    be = start(proxy, http_backend, """
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    """)
    get(proxy.port, "/a")
    get(proxy.port, "/b", "Host: front\r\nX-Forwarded-For: 198.51.100.1\r\nX-Real-IP: 6.6.6.6\r\n")
    a, b = be.wait_requests(2)
    assert header_values(a["headers"], "X-Real-IP") == ["127.0.0.1"]
    assert header_values(a["headers"], "X-Forwarded-For") == ["127.0.0.1"]
    assert header_values(a["headers"], "X-Forwarded-Proto") == ["http"]
    assert header_values(b["headers"], "X-Real-IP") == ["127.0.0.1"]  # replaced, not appended
    assert header_values(b["headers"], "X-Forwarded-For") == ["198.51.100.1, 127.0.0.1"]


def test_hop_by_hop_headers_not_forwarded(proxy, http_backend):
    be = start(proxy, http_backend)
    get(proxy.port, "/hop", "Host: front\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\n"
                            "TE: trailers\r\nUpgrade: h2c\r\nX-Private: stays\r\nX-Custom: 1\r\n")
    names = [n.lower() for n in header_names(be.last()["headers"])]
    for hop in ("connection", "keep-alive", "te", "upgrade", "expect"):
        assert hop not in names, "%s forwarded: %s" % (hop, names)
    # nginx does not parse Connection's tokens: headers it names still go.
    assert "x-private" in names and "x-custom" in names


def test_empty_set_header_removes(proxy, http_backend):
    be = start(proxy, http_backend, """
        proxy_set_header Accept-Encoding "";
        proxy_set_header User-Agent "";
        proxy_set_header X-Empty-Var $http_x_not_sent;
    """)
    get(proxy.port, "/rm", "Host: front\r\nAccept-Encoding: gzip\r\nUser-Agent: test/1\r\nAccept: */*\r\n")
    names = [n.lower() for n in header_names(be.last()["headers"])]
    assert "accept-encoding" not in names and "user-agent" not in names
    assert "x-empty-var" not in names  # a value that evaluates to "" is not sent either
    assert "accept" in names


def test_set_header_inheritance(proxy, http_backend):
    """A level with any proxy_set_header inherits none from the level above."""
    be = http_backend()
    proxy.start("""
        proxy_set_header X-From-Http http;
        server {
            listen 127.0.0.1:{listen};
            proxy_http_version 1.1;
            proxy_set_header X-From-Server server;
            location /own/ {
                proxy_pass http://127.0.0.1:{backend};
                proxy_set_header X-From-Location loc;
            }
            location /inherit/ {
                proxy_pass http://127.0.0.1:{backend};
            }
        }
    """, backend=be.port)
    get(proxy.port, "/own/x")
    get(proxy.port, "/inherit/x")
    own, inherit = be.wait_requests(2)
    own_names = header_names(own["headers"])
    assert "X-From-Location" in own_names
    assert "X-From-Server" not in own_names and "X-From-Http" not in own_names
    inherit_names = header_names(inherit["headers"])
    assert "X-From-Server" in inherit_names and "X-From-Http" not in inherit_names


def test_header_order(proxy, http_backend):
    """proxy_set_header headers first (in config order, then nginx's own Host
    if not set), then the client's headers in the order received."""
    be = start(proxy, http_backend, """
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    """)
    get(proxy.port, "/order", "Host: front\r\nUser-Agent: t\r\nX-B: 2\r\nX-A: 1\r\nAccept: */*\r\n")
    assert be.last()["headers"] == [
        ["X-Real-IP", "127.0.0.1"], ["X-Forwarded-For", "127.0.0.1"], ["Host", "127.0.0.1:%d" % be.port],
        ["User-Agent", "t"], ["X-B", "2"], ["X-A", "1"], ["Accept", "*/*"]]


def test_response_headers_relayed(proxy, http_backend):
    start(proxy, http_backend)
    resp = get(proxy.port, "/r?status=201&h=X-Custom:%20one&h=Set-Cookie:a=1&h=Set-Cookie:b=2&h=Cache-Control:no-store")
    assert resp.status == 201
    assert resp.header("X-Custom") == "one"
    assert resp.header_all("Set-Cookie") == ["a=1", "b=2"]
    assert resp.header("Cache-Control") == "no-store"


@only_switchyard("nginx 1.29.7 defaults to proxy_http_version 1.1 without Connection: close; "
                 "1.22 sends HTTP/1.0 and Connection: close")
def test_defaults_http11_without_connection_close(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location / { proxy_pass http://127.0.0.1:{backend}; }
        }
    """, backend=be.port)
    get(proxy.port, "/defaults")
    got = be.last()
    assert got["request_line"] == "GET /defaults HTTP/1.1"
    assert header_values(got["headers"], "Connection") == []


@only_switchyard("nginx 1.29.7 gives every upstream{} block `keepalive 32 local` by default; 1.22 has no "
                 "upstream keepalive unless configured")
def test_default_upstream_keepalive(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        upstream pool {
            server 127.0.0.1:{backend};
        }
        server {
            listen 127.0.0.1:{listen};
            location / { proxy_pass http://pool; }
        }
    """, backend=be.port)
    for i in range(3):
        assert get(proxy.port, "/d%d" % i).status == 200
    reqs = be.wait_requests(3)
    assert [r["request_line"] for r in reqs] == ["GET /d%d HTTP/1.1" % i for i in range(3)]
    assert be.connections() == 1 and [r["seq"] for r in reqs] == [1, 2, 3]


def test_nginx122_defaults(proxy, http_backend):
    """What Debian's nginx 1.22 sends without proxy_http_version: recorded so
    the difference above stays visible. Skipped on switchyard."""
    if proxy.impl != "nginx":
        pytest.skip("documents nginx 1.22's defaults only")
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location / { proxy_pass http://127.0.0.1:{backend}; }
        }
    """, backend=be.port)
    get(proxy.port, "/defaults")
    got = be.last()
    assert got["request_line"] == "GET /defaults HTTP/1.0"
    assert header_values(got["headers"], "Connection") == ["close"]


def test_access_log_written(proxy, http_backend):
    start(proxy, http_backend)
    get(proxy.port, "/logged?x=1")
    line = wait_until(lambda: [l for l in proxy.access_log().splitlines() if "/logged?x=1" in l], 10,
                      "access log line")[0]
    assert '"GET /logged?x=1 HTTP/1.1" 200 ' in line


def test_unix_socket_upstream_is_localhost(proxy):
    """proxy_pass http://unix:PATH: the Host sent (and $proxy_host) is
    "localhost", as nginx's; a Host of "unix:/..." is no valid host."""
    proxy.start("""
        server { listen unix:{prefix}/u.sock; location / { return 200 "$host|$http_host|$http_x_ph|$request_uri"; } }
        server {
            listen 127.0.0.1:{listen};
            location / { proxy_pass http://unix:{prefix}/u.sock; proxy_set_header X-PH $proxy_host; }
        }
    """)
    resp = rawhttp.exchange(proxy.port, b"GET /a?b HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
    assert resp.status == 200, resp.body
    assert resp.body == b"localhost|localhost|localhost|/a?b"


def test_upstream_times_while_the_try_is_open_and_on_client_close(proxy, http_backend):
    """$upstream_response_time is "-" while the try is still open (an
    add_header on the response head) and, when the client goes away while
    the upstream is still silent, the log line has the time until then."""
    import socket
    import time
    from harness.wait import wait_until
    be = http_backend()
    proxy.start("""
        log_format t '$request_uri $upstream_connect_time:$upstream_header_time:$upstream_response_time';
        server {
            listen 127.0.0.1:{listen};
            access_log logs/t.log t;
            location / { proxy_pass http://127.0.0.1:{backend}; add_header X-Response $upstream_response_time; }
        }
    """, backend=be.port)
    resp = rawhttp.exchange(proxy.port, b"GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 200 and dict(resp.headers).get("X-Response") == "-"
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.sendall(b"GET /slow?delay=3 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.6)
    s.close()
    log = proxy.prefix / "logs" / "t.log"
    line = wait_until(lambda: log.exists() and [l for l in log.read_text().splitlines() if l.startswith("/slow")],
                      10, "the /slow log line")[0]
    connect, header, response = line.split(" ", 1)[1].split(":")
    assert header == "-", line
    assert float(response) >= 0.4 and float(response) > float(connect), line
