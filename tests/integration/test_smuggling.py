"""HTTP/1 parsing and request smuggling: what nginx (1.22, the reference)
refuses must be refused, with its status and log line, and must never reach
the backend; what it accepts (bare LF line ends, chunk extensions, trailers)
must be accepted. Every case runs on both implementations (SY_IMPLS) and
asserts the statuses the client gets, the error-log line, and exactly which
requests the recording backend received (so a body taken as a second request
shows up as a request too many).

The upstream side: a raw backend (in this process) sends crafted responses;
a folded header or an invalid header byte is a 502, broken chunk framing
ends the response unfinished, and a response with bare LF line ends is
passed on decoded and framed anew. Framing headers of a response follow
nginx >= 1.23 (502 for an invalid or second length, an unknown or second
Transfer-Encoding, or both): switchyard only, 1.22 lets them through."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from harness import rawhttp
from harness.marks import only_switchyard
from harness.ports import free_port

CONF = """
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: front\r\n\r\n"


def responses(port: int, data: bytes, expect: int, quiet: float = 1.0) -> tuple[list[rawhttp.Response], bool]:
    """Sends `data`, reads `expect` responses, then waits `quiet` seconds for
    anything more. Returns the responses and whether more bytes came (a
    response the case did not expect: a smuggled request answered)."""
    s = rawhttp.connect(port)
    try:
        s.sendall(data)
        reader = rawhttp.Reader(s, timeout=10)
        got = [reader.response() for _ in range(expect)]
        s.settimeout(quiet)
        extra = bool(reader.buf)
        if not extra:
            try:
                extra = bool(s.recv(65536))
            except (socket.timeout, ConnectionResetError):
                pass
        return got, extra
    finally:
        s.close()


def post(headers: str, body: bytes = b"", target: str = "/p", version: str = "HTTP/1.1") -> bytes:
    return ("POST %s %s\r\nHost: front\r\n%s\r\n" % (target, version, headers)).encode() + body


# (id, request bytes, statuses in order, log line regex or None, backend targets and bodies)
REFUSED = [
    ("cl-2^63", post("Content-Length: 9223372036854775808\r\n", SMUGGLED), [400],
     r'\[info\] .*client sent invalid "Content-Length" header while reading client request headers'),
    ("cl-2^64-1", post("Content-Length: 18446744073709551615\r\n", SMUGGLED), [400],
     r'client sent invalid "Content-Length" header'),
    ("cl-2^64", post("Content-Length: 18446744073709551616\r\n", SMUGGLED), [400],
     r'client sent invalid "Content-Length" header'),
    ("cl-sign", post("Content-Length: +5\r\n", b"hello" + SMUGGLED), [400],
     r'client sent invalid "Content-Length" header'),
    ("cl-max", post("Content-Length: 9223372036854775807\r\n", SMUGGLED), [413],
     r"client intended to send too large body: 9223372036854775807 bytes"),
    ("cl-duplicate", post("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello" + SMUGGLED), [400],
     r'client sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 5"'),
    ("te-and-cl", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED), [400],
     r'client sent "Content-Length" and "Transfer-Encoding" headers at the same time'),
    ("te-duplicate", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
     [400], r'client sent duplicate header line: "Transfer-Encoding: chunked"'),
    ("te-unknown", post("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n" + SMUGGLED), [501],
     r'client sent unknown "Transfer-Encoding": "gzip, chunked"'),
    ("te-http10", post("Transfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED, version="HTTP/1.0"), [400],
     r'client sent HTTP/1.0 request with "Transfer-Encoding" header'),
    ("te-obs-fold", post("Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n" + SMUGGLED), [400],
     r'client sent invalid header line: "\\x20\.\.\." while reading client request headers'),
    ("obs-fold-any", post("Content-Length: 0\r\nX-A: 1\r\n b\r\n", SMUGGLED), [400],
     r'client sent invalid header line: "\\x20\.\.\."'),
    ("te-space-in-name", post("Transfer-Encoding : chunked\r\n", b"0\r\n\r\n" + SMUGGLED), [400],
     r'client sent invalid header line: "Transfer-Encoding\\x20\.\.\."'),
    ("head-cr-any-byte", b"GET /a HTTP/1.1\r\nHost: front\r\n\rX" + SMUGGLED, [400],
     r'client sent invalid header line: "\\x0d\.\.\."'),
    ("cr-in-value", b"GET /a HTTP/1.1\r\nHost: front\r\nX-A: a\rb\r\n\r\n", [400],
     r'client sent invalid header line: "X-A: a\\x0d\.\.\."'),
    ("nul-in-value", b"GET /a HTTP/1.1\r\nHost: front\r\nX-A: a\x00b\r\n\r\n", [400],
     r'client sent invalid header line: "X-A: a\\x00\.\.\."'),
    ("tab-in-target", b"GET /a\tb HTTP/1.1\r\nHost: front\r\n\r\n", [400],
     r"client sent invalid request while reading client request line"),
    ("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: front\r\n\r\n", [400],
     r"client sent invalid request while reading client request line"),
    ("chunk-junk-after-data", post("Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED), [400],
     r"\[error\] .*client sent invalid chunked body"),
    ("chunk-size-overflow", post("Transfer-Encoding: chunked\r\n", b"8000000000000000\r\nhello\r\n0\r\n\r\n"),
     [400], r"client sent invalid chunked body"),
    ("chunk-size-2^64", post("Transfer-Encoding: chunked\r\n", b"10000000000000005\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
     [400], r"client sent invalid chunked body"),
    ("chunk-cr-any-byte", post("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\rX" + SMUGGLED), [400],
     r"client sent invalid chunked body"),
    ("version-2", b"GET / HTTP/2.0\r\nHost: front\r\n\r\n", [505],
     r"client sent invalid version while reading client request line"),
    ("method-lowercase", b"get / HTTP/1.1\r\nHost: front\r\n\r\n", [400],
     r"client sent invalid method while reading client request line"),
    ("trace", b"TRACE / HTTP/1.1\r\nHost: front\r\n\r\n", [405],
     r"client sent TRACE method while reading client request headers"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_and_nothing_reaches_the_backend(proxy, http_backend, case):
    _, data, statuses, log = case
    be = http_backend()
    proxy.start(CONF, backend=be.port)
    got, extra = responses(proxy.port, data, len(statuses))
    assert [r.status for r in got] == statuses
    assert not extra, "a second response: the rest was taken as a request"
    proxy.wait_error_log(log)
    time.sleep(0.3)
    assert be.requests() == [], "reached the backend: %r" % [(r["request_line"], r["body"]) for r in be.requests()]


# what nginx accepts: (id, request bytes, statuses, [(target, body)] the backend gets)
ACCEPTED = [
    ("bare-lf-get", b"GET /lf HTTP/1.0\nHost: front\n\n", [200], [("/lf", b"")]),
    ("bare-lf-headers-11", b"GET /lf HTTP/1.1\nHost: front\nX-A: 1\n\n", [200], [("/lf", b"")]),
    ("bare-lf-chunked", b"POST /lf HTTP/1.1\nHost: front\nTransfer-Encoding: chunked\n\n5\nhello\n6\n world\n0\n\n",
     [200], [("/lf", b"hello world")]),
    ("lf-after-chunk-data", post("Transfer-Encoding: chunked\r\n", b"5\r\nhello\n0\r\n\r\n"), [200], [("/p", b"hello")]),
    ("chunk-ext-trailers", post("Transfer-Encoding: chunked\r\n", b"5;a=b\r\nhello\r\n0;x\r\nT: 1\r\n\r\n"), [200],
     [("/p", b"hello")]),
    ("te-chunked-any-case", post("Transfer-Encoding: Chunked \r\n", b"3\r\nabc\r\n0\r\n\r\n"), [200], [("/p", b"abc")]),
    ("cl-trailing-space", post("Content-Length: 3 \r\n", b"abc"), [200], [("/p", b"abc")]),
    ("cr-cr-lf", b"GET /a HTTP/1.1\r\nHost: front\r\nX-A: 1\r\r\n\r\n", [200], [("/a", b"")]),
    ("leading-empty-lines", b"\r\n\nGET /a HTTP/1.1\r\nHost: front\r\n\r\n", [200], [("/a", b"")]),
    ("pipelined-after-chunked", post("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", target="/a")
     + b"GET /b HTTP/1.1\r\nHost: front\r\n\r\n", [200, 200], [("/a", b"hello"), ("/b", b"")]),
    ("pipelined-after-length", post("Content-Length: 5\r\n", b"hello", target="/a")
     + b"GET /b HTTP/1.1\r\nHost: front\r\n\r\n", [200, 200], [("/a", b"hello"), ("/b", b"")]),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_as_nginx_does(proxy, http_backend, case):
    _, data, statuses, seen = case
    be = http_backend()
    proxy.start(CONF, backend=be.port)
    got, extra = responses(proxy.port, data, len(statuses))
    assert [r.status for r in got] == statuses
    assert not extra
    reqs = be.wait_requests(len(seen))
    time.sleep(0.3)
    reqs = be.requests()
    assert [(r["target"], r["body"]) for r in reqs] == seen


# ------------------------------------------------------------- upstream side
class RawBackend:
    """Answers every request on a connection with fixed bytes, then closes;
    counts the requests. Runs in a thread of the test; bounded waits."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.port = free_port()
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        d = c.recv(65536)
                        if not d:
                            break
                        data += d
                    if data:
                        self.requests += 1
                        c.sendall(self.answer)
                        time.sleep(0.2)
                except OSError:
                    pass

    def stop(self):
        self._stop.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def raw_backend():
    started = []

    def make(answer: bytes) -> RawBackend:
        b = RawBackend(answer)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


def fetch_raw(port: int) -> bytes:
    s = rawhttp.connect(port)
    try:
        s.sendall(b"GET /r HTTP/1.1\r\nHost: front\r\n\r\n")
        s.settimeout(5)
        out = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            out += d
            if out.endswith(b"0\r\n\r\n") or (b"Content-Length: " in out and b"\r\n\r\n" in out and out.endswith(b"</html>\r\n")):
                break
        return out
    finally:
        s.close()


@pytest.mark.parametrize("answer,log", [
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n b\r\nContent-Length: 2\r\n\r\nok",
     r'\[error\] .*upstream sent invalid header: "\\x20\.\.\." while reading response header from upstream'),
    (b"HTTP/1.1 200 OK\r\nX-A: a\x00\r\nContent-Length: 2\r\n\r\nok",
     r'upstream sent invalid header: "X-A: a\\x00\.\.\."'),
    (b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
     r'upstream sent invalid header: "X-A: a\\x0d\.\.\."'),
], ids=["folded", "nul", "cr-any-byte"])
def test_upstream_invalid_header_is_502(proxy, raw_backend, answer, log):
    be = raw_backend(answer)
    proxy.start(CONF, backend=be.port)
    resp = rawhttp.exchange(proxy.port, b"GET /r HTTP/1.1\r\nHost: front\r\n\r\n")
    assert resp.status == 502
    proxy.wait_error_log(log)


@pytest.mark.parametrize("body", [b"2\r\nokXX0\r\n\r\n", b"2\r\nok\r\n0\r\n\rX", b"zz\r\nok\r\n0\r\n\r\n"],
                         ids=["junk-after-data", "cr-any-byte", "bad-size"])
def test_upstream_broken_chunks_are_not_relayed(proxy, raw_backend, body):
    be = raw_backend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    proxy.start(CONF, backend=be.port)
    out = fetch_raw(proxy.port)
    proxy.wait_error_log(r"\[error\] .*upstream sent invalid chunked response while reading upstream")
    # never a complete response: no last chunk, nothing of the upstream's framing relayed
    assert not out.endswith(b"0\r\n\r\n"), out
    assert b"XX" not in out and b"\rX" not in out.replace(b"\r\n", b"")


def test_upstream_bare_lf_response_is_decoded_and_framed_anew(proxy, raw_backend):
    be = raw_backend(b"HTTP/1.1 200 OK\nX-A: 1\nTransfer-Encoding: chunked\n\n2\nok\n4;e=1\n abc\n0\nT: 1\n\n")
    proxy.start(CONF, backend=be.port)
    resp = rawhttp.exchange(proxy.port, b"GET /r HTTP/1.1\r\nHost: front\r\n\r\n")
    assert resp.status == 200
    assert resp.header("X-A") == "1"
    assert resp.body == b"ok abc"


UPSTREAM_FRAMING = [
    ("cl-2^63", b"Content-Length: 9223372036854775808\r\n\r\nok",
     r'upstream sent invalid "Content-Length" header: "Content-Length: 9223372036854775808"'),
    ("cl-invalid", b"Content-Length: foo\r\n\r\nok", r'upstream sent invalid "Content-Length" header: "Content-Length: foo"'),
    ("cl-duplicate", b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok",
     r'upstream sent duplicate header line: "Content-Length: 3", previous value: "Content-Length: 2"'),
    ("te-unknown", b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     r'upstream sent unknown "Transfer-Encoding": "gzip, chunked"'),
    ("te-duplicate", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     r'upstream sent duplicate header line: "Transfer-Encoding: chunked"'),
    ("cl-and-te", b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     r'upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time'),
]


@only_switchyard("nginx >= 1.23 (proxy_duplicate_headers.t); 1.22 ignores an invalid length and takes any "
                 "Transfer-Encoding naming chunked")
@pytest.mark.parametrize("case", UPSTREAM_FRAMING, ids=[c[0] for c in UPSTREAM_FRAMING])
def test_upstream_framing_headers_refused(proxy, raw_backend, case):
    _, rest, log = case
    be = raw_backend(b"HTTP/1.1 200 OK\r\n" + rest)
    proxy.start(CONF, backend=be.port)
    resp = rawhttp.exchange(proxy.port, b"GET /r HTTP/1.1\r\nHost: front\r\n\r\n")
    assert resp.status == 502
    proxy.wait_error_log(r"\[error\] .*" + re.escape(log) + ".* while reading response header from upstream")
