"""Edge cases of the issue not covered by the other test files: CR/LF
injection through variables, half-closed WebSocket tunnels, request body
limits, the upgrade headers a location forgets, server and map selection,
wildcard and specific listens on one port, access-log escaping, proxy_pass
with variables, error_page for a dead WebSocket backend, and a slowloris
client next to a live tunnel."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from harness import rawhttp
from harness.backends import header_names, header_values
from harness.marks import only_switchyard
from harness.ports import closed_port, free_port
from harness.wait import wait_until
from harness.wsclient import (OP_TEXT, accept_key, connect, frame, read_frame, recv, run,
                              upgrade_request)


def get(port: int, target: str, host: str | None = "front", addr: str = "127.0.0.1", extra: str = "",
        version: str = "HTTP/1.1") -> rawhttp.Response:
    head = "GET %s %s\r\n" % (target, version)
    if host is not None:
        head += "Host: %s\r\n" % host
    return rawhttp.exchange(port, (head + extra + "\r\n").encode(), host=addr)


def log_lines(text: str, needle: str) -> list[str]:
    return [l for l in text.splitlines() if needle in l]


# ------------------------------------------------------ CR/LF through variables
CRLF_TARGET = "/a%0d%0aX-Injected:%20yes"

CRLF_CONF = """
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Uri $uri;
    }
    location /r/ {
        return 302 "http://x$uri";
    }
}
"""

NGINX_INJECTS = ("nginx 1.22 decodes %0d%0a into $uri and sends the bytes as they are: the header value "
                 "ends at the CR LF and 'X-Injected: yes' becomes a header line of its own (switchyard "
                 "refuses with 400, docs/usage.md 'Differences')")


def test_crlf_in_proxy_set_header_never_reaches_backend(proxy, http_backend, request):
    """`proxy_set_header X-Uri $uri` with a request for
    /a%0d%0aX-Injected:%20yes: the backend must never get a separate
    X-Injected header line. Observed on nginx 1.22.1: it proxies the request
    (the client gets the backend's 200) and the backend receives the two
    header lines `X-Uri: /a` and `X-Injected: yes` -- hence xfail there.
    Switchyard answers 400 (asserted in the next test)."""
    if proxy.impl == "nginx":
        request.applymarker(pytest.mark.xfail(reason=NGINX_INJECTS, strict=True))
    be = http_backend()
    proxy.start(CRLF_CONF, backend=be.port)
    resp = get(proxy.port, CRLF_TARGET)
    assert get(proxy.port, "/after").status == 200  # a marker request: everything before it was recorded
    reqs = be.wait_requests(1)
    for r in reqs:
        assert "X-Injected" not in header_names(r["headers"]), (resp.status, r["headers"])
        for v in header_values(r["headers"], "X-Uri"):
            assert "\r" not in v and "\n" not in v


@only_switchyard("nginx 1.22 forwards the request with the decoded CR LF in the header (see the test above)")
def test_crlf_in_proxy_set_header_is_400(proxy, http_backend):
    be = http_backend()
    proxy.start(CRLF_CONF, backend=be.port)
    resp = get(proxy.port, CRLF_TARGET)
    assert resp.status == 400
    assert b"<title>400 Bad Request</title>" in resp.body
    assert get(proxy.port, "/after").status == 200
    assert [r["target"] for r in be.wait_requests(1)] == ["/after"], "the bad request reached the backend"
    line = proxy.wait_error_log(r"\[info\] .*invalid characters.*X-Uri")
    assert len(log_lines(proxy.error_log(), "invalid characters")) == 1, proxy.error_log()
    assert 'request: "GET %s HTTP/1.1"' % CRLF_TARGET in line, line


def test_crlf_in_return_location_never_reaches_client(proxy, request):
    """`return 302 "http://x$uri"` with %0d%0a in the path: the response must
    not carry an X-Injected header. Observed on nginx 1.22.1: it answers 302
    with `Location: http://x/r/a` followed by a header line `X-Injected: yes`
    (the classic $uri response-splitting misconfiguration) -- hence xfail
    there. Switchyard answers 400 (asserted in the next test)."""
    if proxy.impl == "nginx":
        request.applymarker(pytest.mark.xfail(reason=NGINX_INJECTS.replace("sends the bytes", "writes the "
                                              "Location bytes").replace("the backend", "the client"),
                                              strict=True))
    proxy.start(CRLF_CONF, backend=closed_port())
    resp = get(proxy.port, "/r" + CRLF_TARGET)
    assert resp.header("X-Injected") is None, resp.raw_head
    assert b"\r\nX-Injected:" not in resp.raw_head
    loc = resp.header("Location") or ""
    assert "\r" not in loc and "\n" not in loc


@only_switchyard("nginx 1.22 sends the decoded CR LF in the Location header (see the test above)")
def test_crlf_in_return_location_is_400(proxy):
    proxy.start(CRLF_CONF, backend=closed_port())
    resp = get(proxy.port, "/r" + CRLF_TARGET)
    assert resp.status == 400
    assert resp.header("Location") is None
    line = proxy.wait_error_log(r"\[info\] .*invalid characters.*Location")
    assert len(log_lines(proxy.error_log(), "invalid characters")) == 1, proxy.error_log()
    assert 'request: "GET /r%s HTTP/1.1"' % CRLF_TARGET in line, line


# ------------------------------------------------- half-closed WebSocket tunnel
class RawWsBackend:
    """A one-connection WebSocket backend on a raw socket, run in a thread of
    the test process: it answers the handshake with a 101 by hand, then runs
    `script(conn, reader, events)`. Every wait is bounded."""

    IO = 10.0

    def __init__(self, script):
        self.port = free_port()
        self.events: list = []
        self.error: BaseException | None = None
        self.request_head = b""
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        try:
            deadline = time.monotonic() + 30
            while not self._stop.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("no connection from the proxy")
                try:
                    conn, _ = self.sock.accept()
                    break
                except socket.timeout:
                    continue
            else:
                return
            with conn:
                r = rawhttp.Reader(conn, self.IO)
                self.request_head = r.until(b"\r\n\r\n")
                key = ""
                for line in self.request_head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "sec-websocket-key":
                        key = value.strip()
                conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key)).encode())
                self.events.append(("open",))
                script(conn, r, self.events)
                self.events.append(("closed",))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
            self.events.append(("error", repr(e)))

    def wait_event(self, kind: str, timeout: float = 10.0):
        return wait_until(lambda: [e for e in self.events if e[0] == kind], timeout,
                          "%r at the raw backend (events so far: %r)" % (kind, self.events))[0]

    def stop(self):
        self._stop.set()
        self.thread.join(self.IO + 5)
        self.sock.close()


@pytest.fixture
def raw_ws_backend():
    started = []

    def start(script):
        b = RawWsBackend(script)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


HALF_CLOSE_CONF = """
server {
    listen 127.0.0.1:{listen};
    location /ws/ {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""


def open_tunnel(port: int, path: str) -> tuple[socket.socket, rawhttp.Reader]:
    s = rawhttp.connect(port)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall(upgrade_request(path, "127.0.0.1:%d" % port, key))
    r = rawhttp.Reader(s)
    resp = r.response()
    assert resp.status == 101, resp
    assert resp.header("Sec-WebSocket-Accept") == accept_key(key)
    return s, r


def read_or_explain(r: rawhttp.Reader, be: RawWsBackend):
    """read_frame, failing with what the backend did when nothing comes."""
    try:
        return read_frame(r)
    except (OSError, EOFError) as e:
        raise AssertionError("no frame for the client (%r); raw backend events: %r" % (e, be.events))


def echo_after_client_fin(conn, r, events):
    """Reads frames until EOF, only then echoes them, then closes."""
    payloads = []
    try:
        while True:
            _, _, p = read_frame(r)
            payloads.append(p)
            events.append(("frame", p))
    except EOFError:
        events.append(("eof",))
    for p in payloads:
        conn.sendall(frame(OP_TEXT, p, mask=False))
    events.append(("echoed",))


@only_switchyard("nginx 1.22 ends the whole tunnel when the client's FIN arrives (ngx_http_upstream_"
                 "process_upgraded: downstream eof with nothing left to send -> finalize): the backend's "
                 "answer sent after that FIN never reaches the client")
def test_half_close_client_fin_first(proxy, raw_ws_backend):
    """The client sends a masked text frame, then shutdown(SHUT_WR). The FIN
    is passed on to the backend, which answers only then; the echo reaches
    the client, and the proxy then closes the client side."""
    be = raw_ws_backend(echo_after_client_fin)
    proxy.start(HALF_CLOSE_CONF, backend=be.port)
    s, r = open_tunnel(proxy.port, "/ws/half")
    with s:
        s.sendall(frame(OP_TEXT, b"half-close hello"))
        s.shutdown(socket.SHUT_WR)
        fin, op, payload = read_or_explain(r, be)
        assert (fin, op, payload) == (True, OP_TEXT, b"half-close hello")
        assert r.buf == b""
        assert rawhttp.is_closed(s, 10), "the proxy kept the client side open after the backend closed"
    be.wait_event("closed")
    kinds = [e[0] for e in be.events]
    assert kinds == ["open", "frame", "eof", "echoed", "closed"], be.events


def fin_first_then_read(conn, r, events):
    """Sends one frame, shutdown(SHUT_WR), then reads (and records) what the
    client still sends until the client's own FIN."""
    conn.sendall(frame(OP_TEXT, b"from backend", mask=False))
    conn.shutdown(socket.SHUT_WR)
    events.append(("shut_wr",))
    try:
        while True:
            _, _, p = read_frame(r)
            events.append(("frame", p))
    except EOFError:
        events.append(("eof",))


@only_switchyard("nginx 1.22 ends the whole tunnel when the backend's FIN arrives: what the client sends "
                 "afterwards never reaches the backend")
def test_half_close_backend_fin_first(proxy, raw_ws_backend):
    """The backend sends a frame and shuts its write side. The client gets
    the frame, then EOF (the FIN is passed on), and can still send: its frame
    reaches the backend. Then the client's FIN ends the tunnel."""
    be = raw_ws_backend(fin_first_then_read)
    proxy.start(HALF_CLOSE_CONF, backend=be.port)
    s, r = open_tunnel(proxy.port, "/ws/half-backend")
    with s:
        fin, op, payload = read_or_explain(r, be)
        assert (fin, op, payload) == (True, OP_TEXT, b"from backend")
        assert r.buf == b""
        assert rawhttp.is_closed(s, 10), "no EOF after the backend's FIN (backend: %r)" % be.events
        s.sendall(frame(OP_TEXT, b"client after backend fin"))
        be.wait_event("frame")
        s.shutdown(socket.SHUT_WR)
        be.wait_event("eof")
        assert rawhttp.is_closed(s, 10)
    be.wait_event("closed")
    assert [e for e in be.events if e[0] == "frame"] == [("frame", b"client after backend fin")], be.events


# --------------------------------------------------------- client_max_body_size
BODY_LIMIT_CONF = """
server {
    listen 127.0.0.1:{listen};
    client_max_body_size 1k;
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""


def post(port: int, target: str, body: bytes, chunked: bool = False) -> rawhttp.Response:
    if chunked:
        half = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:])) + b"0\r\n\r\n"
        head = "Transfer-Encoding: chunked\r\n"
    else:
        payload, head = body, "Content-Length: %d\r\n" % len(body)
    return rawhttp.exchange(port, ("POST %s HTTP/1.1\r\nHost: front\r\n%s\r\n" % (target, head)).encode() + payload)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_max_body_size(proxy, http_backend, chunked):
    be = http_backend()
    proxy.start(BODY_LIMIT_CONF, backend=be.port)
    resp = post(proxy.port, "/big", b"x" * 2048, chunked)
    assert resp.status == 413
    assert b"<title>413 Request Entity Too Large</title>" in resp.body
    ok = post(proxy.port, "/fits", b"y" * 1024, chunked)  # exactly the limit
    assert ok.status == 200
    assert [r["target"] for r in be.wait_requests(1)] == ["/fits"]
    if chunked:
        proxy.wait_error_log(r"\[error\] .*client intended to send too large chunked body: 1024\+1024 bytes")
    else:
        proxy.wait_error_log(r"\[error\] .*client intended to send too large body: 2048 bytes")


# ------------------------------------------------ upgrade headers a location sets
UPGRADE_VARIANTS_CONF = """
server {
    listen 127.0.0.1:{listen};
    location /v10/ {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.0;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
    location /forgot/ {
        proxy_pass http://127.0.0.1:{ws};
        proxy_http_version 1.1;
    }
}
"""


def test_proxy_http_version_10_with_upgrade_headers(proxy, http_backend, ws_backend):
    be, ws = http_backend(), ws_backend()
    proxy.start(UPGRADE_VARIANTS_CONF, backend=be.port, ws=ws.port)
    resp = rawhttp.exchange(proxy.port, upgrade_request("/v10/chat", "front"))
    assert (resp.status, resp.body) == (200, b"backend GET /v10/chat\n")
    got = be.last()
    assert got["request_line"] == "GET /v10/chat HTTP/1.0"
    assert header_values(got["headers"], "Upgrade") == ["websocket"]
    assert header_values(got["headers"], "Connection") == ["upgrade"]


def test_location_without_upgrade_headers_is_plain_http(proxy, http_backend, ws_backend):
    """The classic mistake: no `proxy_set_header Upgrade/Connection`. Upgrade
    is hop-by-hop, so the backend gets a plain request, answers 200, and the
    client's connection stays HTTP (no tunnel)."""
    be, ws = http_backend(), ws_backend()
    proxy.start(UPGRADE_VARIANTS_CONF, backend=be.port, ws=ws.port)
    with rawhttp.connect(proxy.port) as s:
        s.sendall(upgrade_request("/forgot/chat", "front"))
        r = rawhttp.Reader(s)
        resp = r.response()
        assert (resp.status, resp.body) == (200, b"plain http\n")
        assert resp.header("Upgrade") is None
        seen = ws.last_request()
        assert seen["path"] == "/forgot/chat"
        assert header_values(seen["headers"], "Upgrade") == []
        assert not [v for v in header_values(seen["headers"], "Connection") if "upgrade" in v.lower()]
        assert ws.opens() == []
        # Still HTTP on the same connection: a second request is answered.
        s.sendall(b"GET /forgot/again HTTP/1.1\r\nHost: front\r\n\r\n")
        again = r.response()
        assert (again.status, again.body) == (200, b"plain http\n")


# ------------------------------------------------------------ server selection
SERVER_NAMES_CONF = r"""
server { listen 127.0.0.1:{listen};                server_name first.example;       return 200 "first"; }
server { listen 127.0.0.1:{listen};                server_name exact.example.com;   return 200 "exact"; }
server { listen 127.0.0.1:{listen};                server_name *.example.com;       return 200 "star-front"; }
server { listen 127.0.0.1:{listen};                server_name www.example.*;       return 200 "star-back"; }
server { listen 127.0.0.1:{listen};                server_name .example.net;        return 200 "dot"; }
server { listen 127.0.0.1:{listen};                server_name ~^(?<sub>[a-z]+)\.test$; return 200 "regex sub=$sub"; }
server { listen 127.0.0.1:{listen} default_server; server_name default.example;     return 200 "default"; }
server { listen 127.0.0.1:{listen2};               server_name a.example;           return 200 "first-of-2"; }
server { listen 127.0.0.1:{listen2};               server_name b.example;           return 200 "b-of-2"; }
"""

SERVER_NAME_CASES = [
    ("exact.example.com", "exact"),
    ("EXACT.Example.COM:8080", "exact"),  # case and port do not matter
    ("exact.example.com.", "exact"),  # nor a trailing dot
    ("first.example", "first"),
    ("a.example.com", "star-front"),
    ("deep.sub.example.com", "star-front"),
    ("www.example.com", "star-front"),  # a leading wildcard beats a trailing one
    ("www.example.org", "star-back"),
    ("example.net", "dot"),
    ("x.example.net", "dot"),
    ("abc.test", "regex sub=abc"),
    ("ABC.test", "regex sub=abc"),
    ("abc1.test", "default"),
    ("unknown.invalid", "default"),
]


def test_server_name_selection(proxy):
    proxy.start(SERVER_NAMES_CONF)
    got = {host: get(proxy.port, "/", host=host).body.decode() for host, _ in SERVER_NAME_CASES}
    assert got == dict(SERVER_NAME_CASES)
    # No Host at all (HTTP/1.0): the default server.
    assert get(proxy.port, "/", host=None, version="HTTP/1.0").body == b"default"
    # Without default_server the first server of the port is the default.
    p2 = proxy.ports["listen2"]
    assert get(p2, "/", host="nobody.example").body == b"first-of-2"
    assert get(p2, "/", host=None, version="HTTP/1.0").body == b"first-of-2"
    assert get(p2, "/", host="b.example").body == b"b-of-2"


# ------------------------------------------------------------------------ map
MAP_CONF = r"""
map $host $site {
    hostnames;
    default         other;
    example.com     exact;
    *.example.com   wild;
    www.example.*   www-any;
    .example.org    dot;
}
map $uri $route {
    ~^/users/([0-9]+)/(.*)$   "user=$1 rest=$2";
    ~*^/ITEMS/(\d+)$          "item=$1";
    default                   "none";
}
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Site $site;
        proxy_set_header X-Route $route;
    }
}
"""


@pytest.mark.parametrize("host,target,site,route", [
    ("example.com", "/users/42/profile/edit", "exact", "user=42 rest=profile/edit"),
    ("a.b.example.com", "/items/7", "wild", "item=7"),
    ("www.example.net", "/ITEMS/8", "www-any", "item=8"),
    ("example.org", "/users/x/y", "dot", "none"),
    ("sub.example.org", "/", "dot", "none"),
    ("elsewhere.test", "/users/1/", "other", "user=1 rest="),
], ids=["exact", "wildcard-front", "wildcard-back", "dot", "dot-sub", "default"])
def test_map_hostnames_and_regex_captures(proxy, http_backend, host, target, site, route):
    be = http_backend()
    proxy.start(MAP_CONF, backend=be.port)
    assert get(proxy.port, target, host=host).status == 200
    h = be.last()["headers"]
    assert header_values(h, "X-Site") == [site]
    assert header_values(h, "X-Route") == [route]


def test_map_named_capture_in_value_and_after(proxy, http_backend):
    """A named capture of a map regex is usable in the map's own value and,
    once the map was evaluated, as a variable of its own (nginx docs of
    `map`: "named and positional captures that can later be used in other
    directives along with the resulting variable")."""
    be = http_backend()
    proxy.start(r"""
        map $uri $who {
            ~^/users/(?<uid>[0-9]+)/   "user-$uid";
            default                    "anon";
        }
        server {
            listen 127.0.0.1:{listen};
            location / {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header X-Who $who;
                proxy_set_header X-Uid $uid;
            }
        }
    """, backend=be.port)
    assert get(proxy.port, "/users/42/x").status == 200
    h = be.last()["headers"]
    assert header_values(h, "X-Who") == ["user-42"]
    assert header_values(h, "X-Uid") == ["42"]


# ----------------------------------------------- specific + wildcard on one port
def test_specific_and_wildcard_listen_same_port(proxy):
    """nginx binds only *:P and picks the server by the local address the
    connection arrived on (all of 127.0.0.0/8 is local)."""
    proxy.start("""
        server { listen 127.0.0.1:{listen}; return 200 "specific $server_addr"; }
        server { listen {listen};           return 200 "wildcard $server_addr"; }
    """)
    assert get(proxy.port, "/", addr="127.0.0.1").body == b"specific 127.0.0.1"
    assert get(proxy.port, "/", addr="127.0.0.2").body == b"wildcard 127.0.0.2"
    assert get(proxy.port, "/", addr="127.0.0.3", host="any.example").body == b"wildcard 127.0.0.3"


# --------------------------------------------------------- access log escaping
LOG_CONF = """
log_format jsonlog escape=json '{"ua":"$http_user_agent","uri":"$request_uri","ref":"$http_referer"}';
log_format plain '"$http_user_agent" "$request_uri" "$http_referer"';
server {
    listen 127.0.0.1:{listen};
    location /j { access_log logs/json.log jsonlog; return 200 "j"; }
    location /p { access_log logs/plain.log plain; return 200 "p"; }
}
"""

UA = 'Mozilla "quoted" \\back\tTab caf\u00e9'


@pytest.mark.parametrize("fmt,target,expected", [
    ("json", "/j?a=%22", '{"ua":"Mozilla \\"quoted\\" \\\\back\\tTab caf\u00e9","uri":"/j?a=%22","ref":""}'),
    ("plain", "/p?a=%22", '"Mozilla \\x22quoted\\x22 \\x5Cback\\x09Tab caf\\xC3\\xA9" "/p?a=%22" "-"'),
], ids=["escape-json", "escape-default"])
def test_access_log_escaping(proxy, fmt, target, expected):
    proxy.start(LOG_CONF)
    head = "GET %s HTTP/1.1\r\nHost: front\r\nUser-Agent: %s\r\n\r\n" % (target, UA)
    assert rawhttp.exchange(proxy.port, head.encode("utf-8")).status == 200
    path = proxy.prefix / "logs" / ("%s.log" % ("json" if fmt == "json" else "plain"))
    text = wait_until(lambda: path.exists() and path.read_text(encoding="utf-8"), 10, "%s log line" % fmt)
    assert text == expected + "\n"


# ------------------------------------------------------ proxy_pass with variables
def test_proxy_pass_variable_from_map(proxy, http_backend):
    b1, b2 = http_backend("pool"), http_backend("literal")
    proxy.start("""
        upstream pool { server 127.0.0.1:{b1}; }
        map $arg_to $backend_var {
            default  pool;
            lit      127.0.0.1:{b2};
            name     nosuchhost.invalid;
        }
        server {
            listen 127.0.0.1:{listen};
            location / {
                proxy_pass http://$backend_var;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }
        }
    """, b1=b1.port, b2=b2.port)
    r = get(proxy.port, "/x/y?to=up")
    assert (r.status, r.body) == (200, b"pool GET /x/y?to=up\n")
    got = b1.last()
    assert got["request_line"] == "GET /x/y?to=up HTTP/1.1"
    assert header_values(got["headers"], "Host") == ["pool"]
    r = get(proxy.port, "/z?to=lit")
    assert (r.status, r.body) == (200, b"literal GET /z?to=lit\n")
    assert header_values(b2.last()["headers"], "Host") == ["127.0.0.1:%d" % b2.port]
    # A hostname needs a resolver: 502 and nginx's log line.
    assert get(proxy.port, "/n?to=name").status == 502
    proxy.wait_error_log(r"\[error\] .*no resolver defined to resolve nosuchhost\.invalid")
    assert len(b1.requests()) == 1 and len(b2.requests()) == 1


# -------------------------------------------- error_page for a dead WS backend
def test_error_page_502_for_dead_websocket_backend(proxy):
    """The nginx default site's `error_page 500 502 503 504 /50x.html` with
    `location = /50x.html { root html; }` (test_server_directives covers a
    plain GET; here a WebSocket handshake to a dead backend)."""
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            error_page 500 502 503 504 /50x.html;
            location = /50x.html { root html; }
            location /ws/ {
                proxy_pass http://127.0.0.1:{dead};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "upgrade";
            }
        }
    """, dead=closed_port(), files={"html/50x.html": "<h1>backend is down</h1>\n"})
    resp = rawhttp.exchange(proxy.port, upgrade_request("/ws/chat", "front"))
    assert resp.status == 502
    assert resp.body == b"<h1>backend is down</h1>\n"
    assert resp.header("Content-Type") == "text/html"
    assert resp.header("Upgrade") is None
    assert get(proxy.port, "/ws/plain").body == b"<h1>backend is down</h1>\n"
    line = wait_until(lambda: log_lines(proxy.access_log(), "GET /ws/chat "), 10, "access log line")[0]
    assert '"GET /ws/chat HTTP/1.1" 502 ' in line
    proxy.wait_error_log(r"connect\(\) failed \(111: Connection refused\) while connecting to upstream")


# ------------------------------------------------------------------- slowloris
def test_slowloris_closed_after_client_header_timeout(proxy, ws_backend):
    """A client sending its request head one byte a second is closed after
    client_header_timeout (a limit for the whole head, not per byte), with no
    response; a WebSocket tunnel open at the same time keeps working."""
    ws = ws_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            client_header_timeout 2s;
            location / { return 200 "ok"; }
            location /ws/ {
                proxy_pass http://127.0.0.1:{ws};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "upgrade";
            }
        }
    """, ws=ws.port)
    head = b"GET /slow HTTP/1.1\r\nHost: front\r\nX-Pad: " + b"p" * 20 + b"\r\n\r\n"

    def slowloris() -> dict:
        out = {"sent": 0, "received": b"", "closed_after": None}
        s = rawhttp.connect(proxy.port)
        t0 = time.monotonic()
        try:
            for i in range(len(head)):
                if time.monotonic() - t0 > 15:
                    break
                try:
                    s.send(head[i:i + 1])
                    out["sent"] += 1
                except (BrokenPipeError, ConnectionResetError):
                    out["closed_after"] = time.monotonic() - t0
                    break
                s.settimeout(1.0)
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    out["closed_after"] = time.monotonic() - t0
                    break
                out["received"] += data
        finally:
            s.close()
        return out

    async def body():
        async with connect(proxy.url("/ws/live", "ws")) as conn:
            fut = asyncio.get_running_loop().run_in_executor(None, slowloris)
            i = 0
            while not fut.done():
                await conn.send("tick %d" % i)
                assert await recv(conn) == "tick %d" % i
                i += 1
                await asyncio.sleep(0.3)
            out = await fut
            await conn.send("after")
            assert await recv(conn) == "after"
            return out, i
    out, ticks = run(body())
    assert out["closed_after"] is not None, "slowloris not closed within 15 s: %r" % out
    assert 1.5 <= out["closed_after"] <= 6, out
    assert out["sent"] < len(head)
    assert out["received"] == b"", out
    assert ticks >= 4
    assert get(proxy.port, "/").body == b"ok"
    proxy.wait_error_log(r"\[info\] .*client timed out \(110: Connection timed out\) while reading client "
                         r"request line")
