"""HTTP/2: `listen ... ssl http2` (h2 chosen by ALPN) and `listen ... http2`
on a plain port (h2c with prior knowledge), `http2_max_concurrent_streams`.

Requests on streams go through the same locations as HTTP/1.1: `return`,
static files, and proxy_pass to plain HTTP/1.1 backends (the upstream side
stays HTTP/1.x). Clients: curl (--http2, --http2-prior-knowledge), nghttp
and h2load (nghttp2's tools), and a small client on Python's `h2` library
(H2Client below) for what the tools cannot do: reading the server's
SETTINGS, a tiny flow-control window, DATA without content-length, frames
that break the rules.

The listen parameter is used, not `http2 on;`: Debian's nginx 1.22 does not
know that directive (nginx 1.25.1+). On 1.22 a plain `listen ... http2`
port speaks only h2c; switchyard (like nginx 1.25.1+) also takes HTTP/1.1
there, which is tested on switchyard only.

WebSockets over HTTP/2 (RFC 8441, extended CONNECT): switchyard advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL and tunnels `:protocol websocket` streams
(test_h2_websocket.py); nginx 1.22 does neither, and a plain CONNECT is
refused by both.
"""

from __future__ import annotations

import collections
import struct
import re
import socket
import subprocess
import threading
import time

import h2.config
import hpack
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame

from harness import rawhttp
from harness.backends import header_values
from harness.config import block, location
from harness.marks import only_switchyard, pending
from harness.tls import client_context, session_pki
from harness.wait import wait_until

NAME = "h2.test"
IO_TIMEOUT = 10.0
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


# ------------------------------------------------------------------ configs
def h2_server(*items: str, port: str = "listen_tls", params: str = "ssl http2", name: str = NAME) -> str:
    """A server on 127.0.0.1:{<port>} with `listen` params (TLS ones get the
    {crt}/{key} of the test CA's leaf for NAME), then items."""
    head = ["listen 127.0.0.1:{%s} %s" % (port, params), "server_name " + name]
    if "ssl" in params.split():
        head += ["ssl_certificate {crt}", "ssl_certificate_key {key}", "ssl_protocols TLSv1.2 TLSv1.3"]
    return block("server", *head, *items) + "\n"


def start(proxy, pki, conf: str, **values):
    crt, key = pki.leaf(NAME)
    proxy.start(conf, crt=crt, key=key, **values)
    return proxy


def tls_port(proxy) -> int:
    return proxy.ports["listen_tls"]


# ------------------------------------------------------------------- tools
def curl_h2(port: int, path: str, ca, *extra: str, scheme: str = "https", max_time: float = 20.0):
    """curl (HTTP/2 over TLS by default) with -w '%{http_version}' after the
    body, separated by a line of its own. Returns (CurlResult, version, body)."""
    args = ["-i", "-w", "\n@@version=%{http_version}"]
    if scheme == "https":
        args += ["--http2", "--cacert", str(ca), "--resolve", "%s:%d:127.0.0.1" % (NAME, port)]
    args += list(extra) + ["%s://%s:%d%s" % (scheme, NAME if scheme == "https" else "127.0.0.1", port, path)]
    r = rawhttp.curl(args, max_time=max_time)
    out, _, version = r.stdout.rpartition(b"\n@@version=")
    r.stdout = out
    body = out.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in out else b""
    return r, version.decode(), body


def nghttp(url: str, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """nghttp -nv (verbose frames, response bodies discarded) with a bound."""
    return subprocess.run(["nghttp", "-nv", "-t", "%ds" % timeout, *args, url], capture_output=True,
                          timeout=timeout + 10, stdin=subprocess.DEVNULL)


def nghttp_statuses(out: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"recv \(stream_id=\d+\) :status: (\d{3})", out)]


class H2Client:
    """A blocking HTTP/2 client on Python's h2, over a plain socket (h2c with
    prior knowledge) or TLS with ALPN h2. Every read is bounded.

    settings: the client's initial SETTINGS (h2.settings.SettingCodes -> value).
    auto_ack: hand DATA back to the flow-control window as it arrives; off,
    the test does it (ack()). strict=False sends header names and values as
    given (h2 would refuse uppercase names and connection headers)."""

    def __init__(self, port: int, ca=None, settings: dict | None = None, auto_ack: bool = True,
                 strict: bool = True, timeout: float = IO_TIMEOUT):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ca is not None:
            ctx = client_context(ca)
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname=NAME)
            assert self.sock.selected_alpn_protocol() == "h2"
        else:
            self.sock = raw
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.authority = "%s:%d" % (NAME, port)
        self.scheme = "https" if ca is not None else "http"
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=strict, normalize_outbound_headers=strict)
        self.conn = h2.connection.H2Connection(config=cfg)
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        self.flush()
        self.auto_ack = auto_ack
        self.events: list = []          # every event, in order
        self.streams: dict[int, dict] = {}
        self.closed = False

    # -- io
    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, timeout: float | None = None) -> list:
        """Reads once (bounded), feeds h2, returns the new events. At EOF
        sets .closed and returns []."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return []
        except ConnectionError:
            data = b""
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        for ev in events:
            self._note(ev)
        self.events += events
        self.flush()
        return events

    def _note(self, ev) -> None:
        sid = getattr(ev, "stream_id", None)
        st = self.streams.setdefault(sid, {"headers": None, "body": b"", "ended": False, "reset": None}) \
            if sid else None
        if isinstance(ev, h2.events.ResponseReceived):
            st["headers"] = ev.headers
        elif isinstance(ev, h2.events.DataReceived):
            st["body"] += ev.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            st["reset"] = ev.error_code

    def ack(self, n: int, stream_id: int) -> None:
        self.conn.acknowledge_received_data(n, stream_id)
        self.flush()

    def wait(self, pred, timeout: float = IO_TIMEOUT, what: str = "h2 events"):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1fs waiting for %s; events: %r" % (timeout, what, self.events[-10:]))
            if self.closed:
                raise AssertionError("connection closed while waiting for %s; events: %r" % (what, self.events[-10:]))
            self.pump(min(left, 1.0))

    def remote_settings(self) -> dict:
        """The server's first SETTINGS (code -> value), waiting for it."""
        ev = self.wait(lambda: next((e for e in self.events if isinstance(e, h2.events.RemoteSettingsChanged)), None),
                       what="the server's SETTINGS")
        return {code: s.new_value for code, s in ev.changed_settings.items()}

    # -- requests
    def request(self, path: str, method: str = "GET", headers=(), body: bytes | None = None,
                content_length: bool = True, end: bool = True, authority: str | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        if method == "CONNECT" and not any(n == ":protocol" for n, _ in headers):
            hdrs = [(":method", "CONNECT"), (":authority", authority or self.authority)]
        else:
            hdrs = [(":method", method), (":scheme", self.scheme), (":authority", authority or self.authority),
                    (":path", path)]
        if body is not None and content_length:
            hdrs.append(("content-length", str(len(body))))
        hdrs = [h for h in hdrs] + [h for h in headers if h[0].startswith(":")] + [h for h in headers if not h[0].startswith(":")]
        self.streams[sid] = {"headers": None, "body": b"", "ended": False, "reset": None}
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid: int, body: bytes, end: bool = True) -> None:
        """Sends body as DATA frames, waiting for window when needed."""
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.wait(lambda: self.conn.local_flow_control_window(sid) > 0 or self.streams[sid]["reset"] is not None
                          or self.streams[sid]["ended"], what="send window on stream %d" % sid)
                if self.streams[sid]["reset"] is not None or self.streams[sid]["ended"]:
                    return
                continue
            self.conn.send_data(sid, bytes(view[:window]))
            view = view[window:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def done(self, sid: int) -> bool:
        st = self.streams[sid]
        return st["ended"] or st["reset"] is not None

    def response(self, sid: int, timeout: float = IO_TIMEOUT) -> dict:
        """Waits until stream sid ended or was reset; returns its record:
        {"status", "headers" (dict), "body", "reset"}."""
        self.wait(lambda: self.done(sid), timeout, "the end of stream %d" % sid)
        st = self.streams[sid]
        hdrs = dict(st["headers"] or [])
        return {"status": int(hdrs[":status"]) if ":status" in hdrs else None, "headers": hdrs,
                "body": st["body"], "reset": st["reset"]}

    def get(self, path: str, **kw) -> dict:
        return self.response(self.request(path, **kw))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_frames_until_close(sock: socket.socket, timeout: float = IO_TIMEOUT,
                            stop_at_goaway: bool = True) -> tuple[list, bool, bytes]:
    """Every frame the server sends until it closes the connection, sends a
    GOAWAY (then up to 2 s more for the close; with stop_at_goaway=False
    the frames after it are read too), or `timeout` passes.
    Returns (frames, closed, every byte received)."""
    buf = raw = b""
    frames = []
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionError:
            closed = True
            break
        if not data:
            closed = True
            break
        buf += data
        raw += data
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9:9 + length]))
            frames.append(frame)
            buf = buf[9 + length:]
        if stop_at_goaway and any(isinstance(f, GoAwayFrame) for f in frames):
            closed = rawhttp.is_closed(sock, 2.0) or closed
            break
    return frames, closed, raw


def random_bytes(n: int, seed: int) -> bytes:
    """Reproducible incompressible-looking bytes."""
    import random
    return random.Random(seed).randbytes(n)


def log_file(proxy, name: str) -> list[str]:
    try:
        return (proxy.prefix / "logs" / name).read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_log(proxy, name: str, n: int) -> list[str]:
    """The lines of logs/<name> once it has at least n (they are written
    after the response)."""
    return wait_until(lambda: len(log_file(proxy, name)) >= n and log_file(proxy, name), 10,
                      "%d line(s) in %s" % (n, name))


# ============================================= 1. h2 over TLS (ALPN h2)
def tls_conf(*extra: str) -> str:
    """The TLS server of most tests: return, static files, two proxied
    locations (one with client_max_body_size 1k); extra directives first."""
    return h2_server(
        *extra,
        location("= /hello", None, 'return 200 "hello $scheme $https\\n"'),
        location("= /proto", None, 'return 200 "$server_protocol\\n"'),
        location("/static/", None, "root {prefix}/html"),
        location("/app/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1",
                 'proxy_set_header Connection ""', "proxy_set_header Host $http_host",
                 "proxy_set_header X-Host $host", "proxy_set_header X-Forwarded-Proto $scheme"),
        location("/small/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1",
                 'proxy_set_header Connection ""', "client_max_body_size 1k"))


TLS_CONF = tls_conf()


def test_h2_return_over_tls(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    r, version, body = curl_h2(tls_port(proxy), "/hello", pki.ca.crt)
    assert r.returncode == 0, r.stderr
    assert version == "2"
    assert r.status_line.startswith("HTTP/2 200")
    assert body == b"hello https on\n"
    # The response head is HTTP/2's: lowercase names, no connection-specific fields.
    for name in ("Connection", "Keep-Alive", "Transfer-Encoding"):
        assert r.header(name) is None, r.stdout
    assert b"\r\ncontent-length: %d\r\n" % len(body) in r.stdout
    assert b"\r\ncontent-type: text/plain\r\n" in r.stdout


def test_h2_static_file_byte_exact(proxy, pki, http_backend, workdir):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    data = random_bytes(3 * 1024 * 1024 + 12345, 1)
    proxy.write_file("html/static/big.bin", data)
    out = workdir / "big.out"
    r, version, _ = curl_h2(tls_port(proxy), "/static/big.bin", pki.ca.crt, "-o", str(out))
    assert (r.returncode, version) == (0, "2"), r.stderr
    head, _, body = out.read_bytes().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200"), head
    assert b"\r\ncontent-length: %d" % len(data) in head
    assert len(body) == len(data) and body == data
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        # HEAD: the head of the file, no DATA.
        resp = c.get("/static/big.bin", method="HEAD")
        assert (resp["status"], resp["body"]) == (200, b""), resp
        assert resp["headers"]["content-length"] == str(len(data))
        resp = c.get("/static/missing.bin")
        assert resp["status"] == 404 and b"<title>404 Not Found</title>" in resp["body"]


def test_h2_proxied_to_http11_backend(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    port = tls_port(proxy)
    r, version, body = curl_h2(port, "/app/page?x=1&h=X-From-Backend:yes", pki.ca.crt,
                               "-H", "X-Client: abc", "-H", "Cookie: a=1", "-H", "Cookie: b=2")
    assert (r.returncode, version, r.status) == (0, "2", 200), r.stderr
    assert body == b"backend GET /app/page?x=1&h=X-From-Backend:yes\n"
    assert r.header("x-from-backend") == "yes"
    req = be.last()
    # The upstream side is HTTP/1.1 whatever the client spoke.
    assert req["request_line"] == "GET /app/page?x=1&h=X-From-Backend:yes HTTP/1.1"
    assert header_values(req["headers"], "Host") == ["%s:%d" % (NAME, port)]  # $http_host: :authority
    assert header_values(req["headers"], "X-Host") == [NAME]                   # $host: without the port
    assert header_values(req["headers"], "X-Forwarded-Proto") == ["https"]
    assert header_values(req["headers"], "X-Client") == ["abc"]
    # curl sends the two cookies as two fields; they reach HTTP/1.1 as one.
    assert header_values(req["headers"], "Cookie") == ["a=1; b=2"]
    assert header_values(req["headers"], "Connection") == []

    # A large chunked upstream response comes out of a stream byte-exact,
    # without the upstream's framing.
    r, version, body = curl_h2(port, "/app/big?mode=chunked&parts=7&size=2000000", pki.ca.crt)
    assert (r.returncode, version, r.status) == (0, "2", 200), r.stderr
    assert body == rawhttp.pattern(2000000)
    assert r.header("transfer-encoding") is None
    # An upstream that closes to end the body, and an error status.
    r, version, body = curl_h2(port, "/app/c?mode=close&size=70000", pki.ca.crt)
    assert (r.returncode, version, r.status, body) == (0, "2", 200, rawhttp.pattern(70000)), r.stderr
    r, version, body = curl_h2(port, "/app/e?status=503&body=busy", pki.ca.crt)
    assert (r.returncode, version, r.status, body) == (0, "2", 503, b"busy"), r.stderr


def test_h2_bodiless_request_has_no_content_length(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, LOG_CONF + tls_conf("access_log logs/fields.log fields"), backend=be.port)
    port = tls_port(proxy)
    with H2Client(port, ca=pki.ca.crt) as c:
        resp = c.get("/app/get", headers=[("user-agent", "ua")])
        assert resp["status"] == 200
        # HEADERS with END_STREAM: no body, and none announced upstream.
        assert be.last()["headers"] == [["Host", "%s:%d" % (NAME, port)], ["X-Host", NAME],
                                         ["X-Forwarded-Proto", "https"], ["user-agent", "ua"]]
        resp = c.get("/app/post", method="POST")
        assert resp["status"] == 200
        assert be.wait_requests(2)[-1]["headers"] == [["Host", "%s:%d" % (NAME, port)], ["X-Host", NAME],
                                                      ["X-Forwarded-Proto", "https"]]
    fields = wait_log(proxy, "fields.log", 2)
    assert [line.split("|")[-1] for line in fields] == ["-", "-"], fields


# ================================================ 2. h2c (prior knowledge)
H2C_CONF = h2_server(
    location("= /hello", None, 'return 200 "hello $scheme\\n"'),
    location("= /proto", None, 'return 200 "$server_protocol\\n"'),
    location("/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1", 'proxy_set_header Connection ""'),
    port="listen", params="http2")


def test_h2c_prior_knowledge(proxy, http_backend):
    be = http_backend()
    proxy.start(H2C_CONF, backend=be.port)
    r, version, body = curl_h2(proxy.port, "/hello", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version) == (0, "2"), r.stderr
    assert body == b"hello http\n"
    r, version, body = curl_h2(proxy.port, "/p?size=100000", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version, r.status) == (0, "2", 200), r.stderr
    assert body == rawhttp.pattern(100000)
    assert be.last()["request_line"] == "GET /p?size=100000 HTTP/1.1"
    # Python's h2 on the same port, several requests on one connection.
    with H2Client(proxy.port) as c:
        for i in range(3):
            resp = c.get("/hello")
            assert (resp["status"], resp["body"]) == (200, b"hello http\n")


@only_switchyard("a plain `listen ... http2` port takes HTTP/1.1 too (nginx 1.25.1+); nginx 1.22 speaks only h2c there")
def test_h2c_port_also_takes_http11(proxy):
    proxy.start(H2C_CONF, backend=9)  # the backend is never asked
    resp = rawhttp.exchange(proxy.port, b"GET /hello HTTP/1.1\r\nHost: h2.test\r\n\r\n")
    assert (resp.version, resp.status, resp.body) == ("HTTP/1.1", 200, b"hello http\n")
    r, version, body = curl_h2(proxy.port, "/hello", None, "--http1.1", scheme="http")
    assert (r.returncode, version, body) == (0, "1.1", b"hello http\n")
    # Two keep-alive requests on one HTTP/1.1 connection.
    with rawhttp.connect(proxy.port) as s:
        reader = rawhttp.Reader(s)
        for _ in range(2):
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: h2.test\r\n\r\n")
            assert reader.response().body == b"hello http\n"
    # And h2c on the same port still.
    r, version, body = curl_h2(proxy.port, "/hello", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version, body) == (0, "2", b"hello http\n")


def test_h2c_port_http11_on_nginx_122(proxy, impl):
    """The difference above, seen from nginx 1.22: the HTTP/1.1 request is
    read as a broken preface and the connection is closed without an
    HTTP/1.1 answer (switchyard answers it: see the test above)."""
    if impl != "nginx":
        pytest.skip("nginx 1.22's behaviour; switchyard's is test_h2c_port_also_takes_http11")
    proxy.start(H2C_CONF, backend=9)
    raw = rawhttp.exchange_raw(proxy.port, b"GET /hello HTTP/1.1\r\nHost: h2.test\r\n\r\n", timeout=5)
    assert not raw.startswith(b"HTTP/1.1"), raw


def test_h2_server_protocol_variable(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, TLS_CONF + H2C_CONF, backend=be.port)
    r, version, body = curl_h2(tls_port(proxy), "/proto", pki.ca.crt)
    assert (r.returncode, version, body) == (0, "2", b"HTTP/2.0\n"), r.stderr
    r, version, body = curl_h2(tls_port(proxy), "/proto", pki.ca.crt, "--http1.1")
    assert (r.returncode, version, body) == (0, "1.1", b"HTTP/1.1\n"), r.stderr
    r, version, body = curl_h2(proxy.port, "/proto", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version, body) == (0, "2", b"HTTP/2.0\n"), r.stderr


# ================================================= 3. request bodies
def test_h2_post_bodies_to_backend(proxy, pki, http_backend, workdir):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    port = tls_port(proxy)
    small, large = b"small body \x00\xff\n", random_bytes(500 * 1024, 2)
    for i, body in enumerate((small, large)):
        f = workdir / ("body%d" % i)
        f.write_bytes(body)
        # nghttp cannot --resolve: it connects to 127.0.0.1 and gets
        # h2.test as :authority with -H.
        p = nghttp("https://127.0.0.1:%d/app/upload?n=%d" % (port, i), "-d", str(f),
                   "-H", ":authority: %s:%d" % (NAME, port))
        assert p.returncode == 0, p.stderr.decode() + p.stdout.decode()[-3000:]
        assert nghttp_statuses(p.stdout) == [200], p.stdout.decode()[-3000:]
        # nghttp -d sends content-length
        assert re.search(rb"send HEADERS frame.*\n(?:.*\n)*?.*content-length: %d\n" % len(body), p.stdout), \
            p.stdout.decode()[:3000]
        req = be.wait_requests(i + 1)[-1]
        assert req["request_line"] == "POST /app/upload?n=%d HTTP/1.1" % i
        assert req["body"] == body
        assert header_values(req["headers"], "Content-Length") == [str(len(body))]

    # Without content-length: DATA frames until END_STREAM. Request
    # buffering is on (the default): both send it on with a Content-Length.
    with H2Client(port, ca=pki.ca.crt) as c:
        body = random_bytes(300 * 1024 + 7, 3)
        resp = c.response(c.request("/app/nolength", method="POST", body=body, content_length=False))
        assert resp["status"] == 200, resp
        req = be.wait_requests(3)[-1]
        assert req["request_line"] == "POST /app/nolength HTTP/1.1"
        assert req["body"] == body and not req["chunked"]
        assert header_values(req["headers"], "Content-Length") == [str(len(body))]
        # Unbuffered (proxy_request_buffering off) is not asserted: nginx
        # 1.22 sends such a body chunked, which is HTTP/1.1 framing too.
        # A body the location does not read (return): discarded, the
        # connection goes on.
        resp = c.response(c.request("/hello", method="POST", body=b"q" * 70000, content_length=False))
        assert (resp["status"], resp["body"]) == (200, b"hello https on\n"), resp
        resp = c.get("/hello")
        assert (resp["status"], resp["body"]) == (200, b"hello https on\n"), resp


def test_h2_client_max_body_size(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    port = tls_port(proxy)
    # With content-length: refused from the head.
    r, version, _ = curl_h2(port, "/small/x", pki.ca.crt, "--data-binary", "x" * 5000)
    assert (r.returncode, version, r.status) == (0, "2", 413), r.stderr
    with H2Client(port, ca=pki.ca.crt) as c:
        # Without: refused once the DATA passes the limit.
        resp = c.response(c.request("/small/y", method="POST", body=b"y" * 5000, content_length=False))
        assert resp["status"] == 413, resp
        # Under the limit on the same connection: fine.
        resp = c.response(c.request("/small/z", method="POST", body=b"z" * 1000, content_length=False))
        assert resp["status"] == 200, resp
    proxy.wait_error_log(r"\[error\] .*client intended to send too large body")
    assert [r["target"] for r in be.requests()] == ["/small/z"]
    assert be.requests()[0]["body"] == b"z" * 1000


# ================================================ 4. many streams on one connection
MANY_CONF = ("log_format streams '$connection \"$request\" $status';\n"
             "log_format numbers '$connection $connection_requests';\n") + h2_server(
    "access_log logs/streams.log streams",
    "access_log logs/numbers.log numbers",
    location("/r/", None, 'return 200 "stream $request_uri\\n"'),
    location("/app/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1", 'proxy_set_header Connection ""'))


def test_h2_many_concurrent_streams_one_connection(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, MANY_CONF, backend=be.port)
    port = tls_port(proxy)
    p = subprocess.run(["h2load", "-n", "500", "-c", "1", "-m", "50", "https://127.0.0.1:%d/r/x" % port],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "Application protocol: h2" in out, out
    assert "requests: 500 total, 500 started, 500 done, 500 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 500 2xx, 0 3xx, 0 4xx, 0 5xx" in out, out
    lines = wait_log(proxy, "streams.log", 500)
    assert len(lines) == 500
    parsed = [re.fullmatch(r'(\d+) "GET /r/x HTTP/2\.0" 200', line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed) if not m][:5]
    assert len({m.group(1) for m in parsed}) == 1, "not one $connection: %s" % sorted({m.group(1) for m in parsed})

    # 50 proxied streams open at once on one connection (the backend holds
    # each 0.3 s), all 200. The HEADERS go out 5 ms apart: the backend's
    # listen backlog is Python's default of 5, and a burst of 50 connects
    # would wait for SYN retransmits.
    with H2Client(port, ca=pki.ca.crt) as c:
        started = time.monotonic()
        sids = []
        for i in range(50):
            sids.append(c.request("/app/m%d?delay=0.3" % i))
            time.sleep(0.005)
        resps = [c.response(s, timeout=20) for s in sids]
        elapsed = time.monotonic() - started
    assert [(r["status"], r["body"]) for r in resps] == \
        [(200, b"backend GET /app/m%d?delay=0.3\n" % i) for i in range(50)]
    assert elapsed < 50 * 0.3 / 3, "50 streams of 0.3 s took %.1f s: not served concurrently" % elapsed
    assert len(be.wait_requests(50)) == 50
    lines = wait_log(proxy, "streams.log", 550)
    conns = {line.split()[0] for line in lines[500:]}
    assert len(conns) == 1 and conns != {lines[0].split()[0]}, lines[500:505]


def test_h2_connection_requests_numbers_streams(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, MANY_CONF, backend=be.port)
    p = subprocess.run(["h2load", "-n", "200", "-c", "1", "-m", "20", "https://127.0.0.1:%d/r/x" % tls_port(proxy)],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    lines = wait_log(proxy, "numbers.log", 200)
    assert sorted(int(line.split()[1]) for line in lines) == list(range(1, 201)), lines[:20]


# =========================================== 5. http2_max_concurrent_streams
STREAMS_CONF = (
    h2_server("http2_max_concurrent_streams 5", location("/", None, 'return 200 "five\\n"'),
              location("/app/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1"),
              port="listen", params="http2")
    + h2_server(location("/", None, 'return 200 "default\\n"'), port="listen2", params="http2"))


def test_h2_max_concurrent_streams_setting(proxy, impl, http_backend):
    be = http_backend()
    proxy.start(STREAMS_CONF, backend=be.port)
    SC = h2.settings.SettingCodes
    with H2Client(proxy.port) as c:
        settings = c.remote_settings()
        assert settings.get(SC.MAX_CONCURRENT_STREAMS) == 5, settings
        # RFC 8441: switchyard advertises it, nginx 1.22 does not (absent or 0)
        assert settings.get(SC.ENABLE_CONNECT_PROTOCOL, 0) == (1 if impl == "switchyard" else 0), settings
        assert c.get("/")["body"] == b"five\n"
        # Five streams at once are served (the backend holds each 0.5 s).
        sids = [c.request("/app/s%d?delay=0.5" % i) for i in range(5)]
        assert [c.response(s)["status"] for s in sids] == [200] * 5
    with H2Client(proxy.ports["listen2"]) as c:
        settings = c.remote_settings()
        assert settings.get(SC.MAX_CONCURRENT_STREAMS) == 128, settings
        assert c.get("/")["body"] == b"default\n"


def test_h2_stream_over_the_limit_is_refused_alone(proxy, http_backend):
    be = http_backend()
    proxy.start(STREAMS_CONF, backend=be.port)
    with H2Client(proxy.port) as c:
        c.remote_settings()
        assert c.get("/")["status"] == 200  # SETTINGS exchanged and acknowledged both ways
        sids = [c.request("/app/slow%d?delay=1" % i) for i in range(5)]
        be.wait_requests(5)
        # h2 will not open a stream over the peer's limit: lift it locally.
        c.conn.remote_settings._settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = \
            collections.deque([1000])
        sixth = c.request("/app/sixth")
        resp = c.response(sixth)
        assert resp["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM, resp
        for i, sid in enumerate(sids):
            resp = c.response(sid)
            assert (resp["status"], resp["body"]) == (200, b"backend GET /app/slow%d?delay=1\n" % i), resp
        assert c.get("/")["status"] == 200
    assert "/app/sixth" not in [r["target"] for r in be.requests()]
    proxy.wait_error_log(r"\[info\].*concurrent streams exceeded 5")


# ========================================================= 6. flow control
def test_h2_flow_control_tiny_window(proxy, pki, http_backend):
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    data = random_bytes(1024 * 1024, 4)
    proxy.write_file("html/static/mb.bin", data)
    SC = h2.settings.SettingCodes
    with H2Client(tls_port(proxy), ca=pki.ca.crt, auto_ack=False,
                  settings={SC.INITIAL_WINDOW_SIZE: 1024, SC.ENABLE_PUSH: 0}) as c:
        sid = c.request("/static/mb.bin")
        # The first 1024 bytes fill the window; nothing more comes until it
        # is given back (h2 itself raises FlowControlError on excess data).
        c.wait(lambda: len(c.streams[sid]["body"]) >= 1024, what="the first window of data")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            c.pump(0.1)
        assert len(c.streams[sid]["body"]) == 1024
        acked = 0
        started = time.monotonic()
        i = 0
        while not c.done(sid):
            have = len(c.streams[sid]["body"])
            if have > acked:
                i += 1
                if i % 100 == 0:
                    time.sleep(0.05)  # a slow reader now and then
                c.ack(have - acked, sid)
                acked = have
            c.pump(1.0)
            assert not c.closed, "connection closed at %d bytes" % len(c.streams[sid]["body"])
            assert time.monotonic() - started < 60, "1 MB through a 1 KB window took over 60 s"
        resp = c.response(sid)
        assert resp["status"] == 200 and resp["reset"] is None
        assert resp["headers"]["content-length"] == str(len(data))
        assert len(resp["body"]) == len(data) and resp["body"] == data
        frames = [e for e in c.events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid]
        assert max(len(e.data) for e in frames) <= 1024
        assert len(frames) >= 1024


def stalled_huge_stream(proxy, pki, http_backend):
    """A TLS h2 client with a 1024-byte window that asked for a 20 MB proxied
    response and got its first window: (client, stream id), client open."""
    be = http_backend()
    start(proxy, pki, TLS_CONF, backend=be.port)
    SC = h2.settings.SettingCodes
    c = H2Client(tls_port(proxy), ca=pki.ca.crt, auto_ack=False, settings={SC.INITIAL_WINDOW_SIZE: 1024})
    try:
        sid = c.request("/app/huge?size=20000000")
        c.wait(lambda: len(c.streams[sid]["body"]) >= 1024, what="the first window of data")
    except BaseException:
        c.close()
        raise
    return c, sid


def test_h2_client_cancels_stream(proxy, pki, http_backend):
    """A stream reset by the client (RST_STREAM CANCEL) while a proxied
    response is stalled on its window: the rest of the connection goes on."""
    c, sid = stalled_huge_stream(proxy, pki, http_backend)
    with c:
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        c.auto_ack = True
        c.ack(1024, sid)
        resp = c.get("/hello")
        assert (resp["status"], resp["body"]) == (200, b"hello https on\n")
        resp = c.get("/app/after?size=5000")
        assert (resp["status"], resp["body"]) == (200, rawhttp.pattern(5000))
    lines = wait_until(lambda: len(proxy.access_log().splitlines()) >= 3 and proxy.access_log().splitlines(), 10,
                       "3 access log lines")
    # The head went out, so the status is the upstream's.
    assert re.search(r'"GET /app/huge\?size=20000000 HTTP/2\.0" 200 \d+ ', lines[0]), lines


def test_h2_cancelled_stream_logs_bytes_sent(proxy, pki, http_backend):
    c, sid = stalled_huge_stream(proxy, pki, http_backend)
    with c:
        time.sleep(0.3)  # let the proxy read ahead from the backend
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        received = len(c.streams[sid]["body"])
        assert received == 1024
        c.auto_ack = True
        assert c.get("/hello")["status"] == 200
    line = wait_until(lambda: proxy.access_log().splitlines() and proxy.access_log().splitlines()[0], 10, "log line")
    assert re.search(r'"GET /app/huge\?size=20000000 HTTP/2\.0" 200 1024 ', line), line


# ============================================================ 7. bad input
BAD_CONF = h2_server(location("/", None, 'return 200 "ok $request_uri\\n"'), port="listen", params="http2")


class Witness:
    """A second client, on a connection of its own, that must be served
    throughout."""

    def __init__(self, port: int):
        self.c = H2Client(port)
        self.n = 0

    def check(self):
        self.n += 1
        resp = self.c.get("/witness/%d" % self.n)
        assert (resp["status"], resp["body"]) == (200, b"ok /witness/%d\n" % self.n), resp


SETTINGS_EMPTY = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
GARBAGE = [
    # HTTP/1.1 text where the first frame (SETTINGS) must be
    ("http1-after-preface", PREFACE + b"GET / HTTP/1.1\r\nHost: h2.test\r\n\r\n"),
    # a DATA frame on stream 0
    ("data-on-stream-0", PREFACE + SETTINGS_EMPTY + b"\x00\x00\x04\x00\x00\x00\x00\x00\x00abcd"),
    # a SETTINGS frame whose length is not a multiple of 6
    ("bad-settings-length", PREFACE + b"\x00\x00\x05\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"),
    # a preface that goes wrong after its first line
    ("bad-preface", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SETTINGS_EMPTY),
]
PROTOCOL_ERROR = h2.errors.ErrorCodes.PROTOCOL_ERROR


@pytest.mark.parametrize("name,data", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_h2_garbage_is_a_connection_error(proxy, impl, name, data):
    proxy.start(BAD_CONF)
    w = Witness(proxy.port)
    w.check()
    with rawhttp.connect(proxy.port) as s:
        s.sendall(data)
        frames, closed, raw = read_frames_until_close(s, 5)
    goaways = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    if name == "http1-after-preface" and impl == "nginx":
        # nginx 1.22 does not insist on SETTINGS first: it reads "GET " as
        # the head of a 4.6 MB frame of unknown type 0x20 and waits to skip
        # it ("client sent frame with unknown type 32").
        assert not closed and goaways == [], frames
    elif name == "bad-preface" and impl == "switchyard":
        # The bytes stop matching the preface before it is complete, so
        # switchyard (whose h2c port also speaks HTTP/1.1, as nginx 1.25.1+)
        # reads them as HTTP/1.x: "PRI * HTTP/2.0" gets an HTTP error page.
        assert closed and re.match(rb"HTTP/1\.1 [45]\d\d ", raw), raw[:200]
    else:
        # switchyard does not insist on SETTINGS first either (nginx-tests'
        # client sends none); the same 4.6 MB frame head is over the 16 KiB
        # frame size limit, which it refuses at once (FRAME_SIZE_ERROR)
        frame_size = name in ("bad-settings-length", "http1-after-preface")
        expected = h2.errors.ErrorCodes.FRAME_SIZE_ERROR if frame_size else PROTOCOL_ERROR
        assert closed and goaways == [expected], frames
    w.check()
    w.c.close()


BAD_HEADERS = [
    ("uppercase-name", [("X-Upper", "1")]),
    ("connection-keep-alive", [("connection", "keep-alive")]),
    ("transfer-encoding", [("transfer-encoding", "chunked")]),
    ("te-gzip", [("te", "gzip")]),
]


@pytest.mark.parametrize("name,headers", BAD_HEADERS, ids=[b[0] for b in BAD_HEADERS])
def test_h2_malformed_headers_reset_the_stream(proxy, impl, name, headers):
    proxy.start(BAD_CONF)
    w = Witness(proxy.port)
    w.check()
    with H2Client(proxy.port, strict=False) as c:
        assert c.get("/before")["status"] == 200
        resp = c.get("/bad", headers=headers)
        if impl == "nginx" and name != "uppercase-name":
            # nginx 1.22 does not look for connection-specific fields in
            # HTTP/2 requests (RFC 9113 8.2.2 calls them malformed); it
            # answers. switchyard (nghttp2) resets the stream.
            assert resp["status"] == 200, resp
        else:
            assert resp["reset"] == PROTOCOL_ERROR and resp["status"] is None, resp
        w.check()
        # A stream error: the connection goes on.
        after = c.get("/after")
        assert (after["status"], after["body"]) == (200, b"ok /after\n")
    w.check()
    w.c.close()
    if impl == "switchyard":
        proxy.wait_error_log(r"\[info\].*client sent invalid HTTP/2 data on stream 3: reset with PROTOCOL_ERROR")


class StalledBackend:
    """A listening socket whose accept queue is full (backlog 0, one
    connection never accepted): Linux drops the SYNs of further connects, so
    a proxy's connect to it hangs and a request body sent there is never
    taken from the client."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def close(self):
        self.filler.close()
        self.sock.close()


FLOW_CONF = h2_server(location("/", None, 'return 200 "ok $request_uri\\n"'),
                      location("/stalled/", "http://127.0.0.1:{stalled}", "proxy_connect_timeout 30s",
                               "proxy_request_buffering off"),
                      port="listen", params="http2")


@only_switchyard("nginx 1.22 opens a stream's window to 2^31-1 once it reads the body: no violation to provoke")
def test_h2_flow_control_violation_resets_the_stream_alone(proxy):
    """DATA beyond what the stream's window allows (65535 bytes plus what
    switchyard took into its buffer; the backend's connect hangs, so nothing
    more is taken) is a stream error: RST_STREAM FLOW_CONTROL_ERROR (RFC 9113
    6.9.1) and a log line; the connection and a second client go on.
    nginx 1.22 cannot be driven there: as soon as it reads a request body it
    opens the stream's window to 2^31-1 (WINDOW_UPDATE 2147418111)."""
    stalled = StalledBackend()
    try:
        proxy.start(FLOW_CONF, stalled=stalled.port)
        w = Witness(proxy.port)
        w.check()
        with H2Client(proxy.port) as c:
            assert c.get("/before")["status"] == 200   # SETTINGS exchanged both ways
            sid = c.request("/stalled/upload", method="POST", end=False)
            # h2 keeps to the window itself: the frames are written by hand.
            frames = b"".join(DataFrame(sid, data=b"x" * 16384).serialize() for _ in range(10))
            c.sock.sendall(frames)   # 163840 bytes
            resp = c.response(sid)
            assert resp["reset"] == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR and resp["status"] is None, resp
            w.check()
            after = c.get("/after")
            assert (after["status"], after["body"]) == (200, b"ok /after\n"), after
        w.check()
        w.c.close()
        proxy.wait_error_log(r"\[info\].*client sent invalid HTTP/2 data on stream %d: reset with "
                             r"FLOW_CONTROL_ERROR while processing HTTP/2 connection, client: 127\.0\.0\.1" % sid)
    finally:
        stalled.close()


# ======================================================== 8. CONNECT over h2
def test_h2_connect_without_protocol_is_refused(proxy, impl):
    proxy.start(BAD_CONF)
    with H2Client(proxy.port, strict=False) as c:
        resp = c.response(c.request("", method="CONNECT", authority="example.com:443"))
        if impl == "nginx":
            # nginx 1.22 wants a :path in every request: 400 ("client sent no :path header").
            assert resp["status"] == 400, resp
        else:
            # switchyard: only an extended CONNECT is proxied: 405.
            assert resp["status"] == 405, resp
        resp = c.response(c.request("/chat", method="CONNECT", headers=[(":protocol", "websocket")]))
        if impl == "nginx":
            # :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL is malformed.
            assert resp["status"] in (400, 405) or resp["reset"] == PROTOCOL_ERROR, resp
        else:
            # a WebSocket to a location that answers without upgrading: not a 2xx
            assert resp["status"] == 501, resp
            resp = c.response(c.request("/chat", method="CONNECT", headers=[(":protocol", "chat-v2")]))
            assert resp["status"] == 501, resp   # an unknown :protocol
        after = c.get("/after")
        assert after["status"] == 200


# ================================================== keepalive_requests
def test_h2_keepalive_requests_ends_the_connection_with_goaway(proxy):
    """nginx 1.19.7+: keepalive_requests counts the streams of an HTTP/2
    connection; the last one is served, then GOAWAY NO_ERROR names it as
    the last stream, a stream after it gets no answer, and the connection
    closes. (Frames read raw: h2 refuses frames that follow a GOAWAY.)"""
    proxy.start(h2_server("keepalive_requests 3", location("/", None, 'return 200 "ok $request_uri\\n"'),
                          port="listen", params="http2"))
    with H2Client(proxy.port) as c:
        c.remote_settings()
        sids = [c.request("/r%d" % i) for i in range(4)]
        frames, closed, _ = read_frames_until_close(c.sock, 5, stop_at_goaway=False)
    answered = sorted({f.stream_id for f in frames if isinstance(f, HeadersFrame)})
    assert answered == sids[:3], frames
    assert b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sids[2]) == b"ok /r2\n"
    goaways = [(f.error_code, f.last_stream_id) for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways == [(0, sids[2])] and closed, frames


# ================================================================ 9. ALPN
ALPN_CONF = (h2_server(location("/", None, 'return 200 "h2 server\\n"'))
             + h2_server(location("/", None, 'return 200 "http1 server\\n"'), port="listen_tls2", params="ssl"))


def test_alpn_without_http2_is_http11(proxy, pki):
    start(proxy, pki, ALPN_CONF)
    r, version, body = curl_h2(proxy.ports["listen_tls2"], "/", pki.ca.crt)
    assert (r.returncode, version, body) == (0, "1.1", b"http1 server\n"), r.stderr
    r, version, body = curl_h2(tls_port(proxy), "/", pki.ca.crt)
    assert (r.returncode, version, body) == (0, "2", b"h2 server\n"), r.stderr
    # A client that offers only http/1.1 still gets it on the h2 port.
    r, version, body = curl_h2(tls_port(proxy), "/", pki.ca.crt, "--http1.1")
    assert (r.returncode, version, body) == (0, "1.1", b"h2 server\n"), r.stderr


# ===================================================== 10. access log line
LOG_CONF = ("log_format fields '$remote_addr|$request|$request_method|$request_uri|$uri|$args|$status|"
            "$body_bytes_sent|$http_host|$host|$scheme|$https|$http_user_agent|$http_x_test|"
            "$content_length';\n")


def test_h2_access_log_line(proxy, pki):
    start(proxy, pki, LOG_CONF + h2_server("access_log logs/access.log", "access_log logs/fields.log fields",
                                           location("/", None, 'return 200 "logged\\n"')))
    port = tls_port(proxy)
    r, version, body = curl_h2(port, "/logme?a=1", pki.ca.crt, "-A", "h2-test-agent", "-H", "X-Test: yes",
                               "-e", "http://ref.test/")
    assert (r.returncode, version, body) == (0, "2", b"logged\n"), r.stderr
    line = wait_until(lambda: proxy.access_log().strip(), 10, "the access log line")
    # combined, with HTTP/2.0 in the request line as nginx writes it
    assert re.fullmatch(r'127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
                        r'"GET /logme\?a=1 HTTP/2\.0" 200 7 "http://ref\.test/" "h2-test-agent"', line), line
    fields = wait_log(proxy, "fields.log", 1)[0].split("|")
    # $content_length (last) is checked in test_h2_bodiless_request_has_no_content_length
    assert fields[:-1] == [
        "127.0.0.1", "GET /logme?a=1 HTTP/2.0", "GET", "/logme?a=1", "/logme", "a=1", "200", "7",
        "%s:%d" % (NAME, port), NAME, "https", "on", "h2-test-agent", "yes"], fields


# ================================================== graceful stop
def test_h2_graceful_stop_finishes_streams_in_flight(proxy, http_backend):
    """SIGQUIT while a proxied stream waits for its backend: the response
    still arrives whole, then the program exits."""
    be = http_backend()
    proxy.start(H2C_CONF, backend=be.port)
    # curl, not H2Client: h2 4.1 refuses frames that follow a GOAWAY, and
    # the response to a stream in flight does.
    busy = subprocess.Popen(["curl", "-sS", "--max-time", "15", "--http2-prior-knowledge", "-w", "\n@%{http_code}",
                             proxy.url("/slow?delay=1")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        be.wait_requests(1)
        started = time.monotonic()
        proxy.stop()
        out, err = busy.communicate(timeout=20)
        assert out == b"backend GET /slow?delay=1\n\n@200", (out, err)
        assert time.monotonic() - started < 8
    finally:
        if busy.poll() is None:
            busy.kill()
            busy.wait(5)


def test_h2_graceful_stop_sends_goaway_to_idle_connection(proxy):
    proxy.start(H2C_CONF, backend=9)
    idle = H2Client(proxy.port)
    try:
        assert idle.get("/hello")["status"] == 200
        assert idle.get("/hello")["status"] == 200
        stopper = threading.Thread(target=proxy.stop)
        stopper.start()
        try:
            idle.wait(lambda: [e for e in idle.events if isinstance(e, h2.events.ConnectionTerminated)],
                      timeout=8, what="GOAWAY on the idle connection")
        finally:
            stopper.join(30)
        term = [e for e in idle.events if isinstance(e, h2.events.ConnectionTerminated)][0]
        assert (term.error_code, term.last_stream_id) == (h2.errors.ErrorCodes.NO_ERROR, 3)
    finally:
        idle.close()


def test_first_frame_need_not_be_settings(proxy):
    """nginx does not insist that a client's first frame be SETTINGS (its own
    test client sends a SETTINGS ACK, then HEADERS): the request is served."""
    proxy.start(BAD_CONF)
    enc = hpack.Encoder()
    block_ = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/first"), (":authority", "h")])
    headers = struct.pack(">I", len(block_))[1:] + b"\x01\x05" + struct.pack(">I", 1) + block_
    with rawhttp.connect(proxy.port) as s:
        s.sendall(PREFACE + b"\x00\x00\x00\x04\x01\x00\x00\x00\x00" + headers)
        frames, _, _ = read_frames_until_close(s, 3, stop_at_goaway=True)
    data = b"".join(f.data for f in frames if isinstance(f, DataFrame))
    assert [f for f in frames if isinstance(f, GoAwayFrame)] == [], frames
    assert data == b"ok /first\n", frames


@only_switchyard("nginx 1.22 has no `http2 on|off` (1.25.1+)")
def test_http2_on_off_per_server(proxy, pki):
    """`http2 on|off`: ALPN offers h2 when the server the TLS server name
    selects has it on; an HTTP/2 request for a server with it off is 421."""
    conf = (h2_server("http2 on", location("/", None, 'return 200 "on\\n"'), params="ssl")
            + h2_server("http2 off", location("/", None, 'return 200 "off\\n"'), params="ssl", name="off.test"))
    start(proxy, pki, conf)
    port = tls_port(proxy)
    r, version, body = curl_h2(port, "/", pki.ca.crt)
    assert (version, body) == ("2", b"on\n"), r.stderr
    r = rawhttp.curl(["-sk", "--http2", "-w", "%{http_version}", "-o", "/dev/null",
                      "--resolve", "off.test:%d:127.0.0.1" % port, "https://off.test:%d/" % port])
    assert r.stdout == b"1.1", r.stderr
    r, version, _ = curl_h2(port, "/", pki.ca.crt, "-H", "Host: off.test")
    assert version == "2" and r.status == 421, r.stdout[:200]
    assert proxy.wait_error_log("client sent HTTP/2 request to a server with http2 disabled")
