"""proxy_next_upstream, proxy_next_upstream_tries, proxy_next_upstream_timeout
and the $upstream_* lists they produce, on nginx and switchyard alike.

Each upstream has one primary peer and one `backup`: the primary is always
tried first, so which peer answered is deterministic and the access log's
$upstream_addr / $upstream_status show every try in order."""

from __future__ import annotations

import socket
import threading

import pytest

from harness import rawhttp
from harness.backends import backend_factory
from harness.ports import closed_port
from harness.wait import wait_until
from harness.wsclient import connect, recv, run


class FixedBackend:
    """A real TCP server answering every request with one fixed status (its
    body names the backend), or never answering (`status=None`)."""

    def __init__(self, name: str, status: int | None):
        self.name, self.status = name, status
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        c.settimeout(10)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(buf) < length:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                self.requests.append(head)
                if self.status is None:
                    self.stopping.wait(10)
                    return
                body = ("%s %d\n" % (self.name, self.status)).encode()
                c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (self.status, len(body), body))
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def fixed():
    """Factory: fixed(name, status) -> FixedBackend."""
    with backend_factory(FixedBackend) as start:
        yield start


CONF = """
log_format tries '$request_uri|$status|$upstream_addr|$upstream_status';
access_log logs/tries.log tries;

upstream bad   { server 127.0.0.1:{bad} max_fails=0;  server 127.0.0.1:{good} backup; }
upstream dead  { server 127.0.0.1:{dead} max_fails=0; server 127.0.0.1:{good} backup; }
upstream slow  { server 127.0.0.1:{slow} max_fails=0; server 127.0.0.1:{good} backup; }
upstream three { server 127.0.0.1:{bad} max_fails=0;  server 127.0.0.1:{bad2} max_fails=0;
                 server 127.0.0.1:{good} backup; }
upstream wsdead { server 127.0.0.1:{dead} max_fails=0; server 127.0.0.1:{ws} backup; }

server {
    listen 127.0.0.1:{listen};
    proxy_read_timeout 1s;

    location /default/  { proxy_pass http://bad; }
    location /h502/     { proxy_pass http://bad;  proxy_next_upstream error timeout http_502; }
    location /h502nonid/ { proxy_pass http://bad; proxy_next_upstream error http_502 non_idempotent; }
    location /tries2/   { proxy_pass http://three; proxy_next_upstream http_502; proxy_next_upstream_tries 2; }
    location /alltries/ { proxy_pass http://three; proxy_next_upstream http_502; }
    location /dead/     { proxy_pass http://dead; }
    location /deadoff/  { proxy_pass http://dead; proxy_next_upstream off; }
    location /deadtries/ { proxy_pass http://dead; proxy_next_upstream_tries 1; }
    location /slow/     { proxy_pass http://slow; }
    location /slowlimit/ { proxy_pass http://slow; proxy_next_upstream_timeout 300ms; }
    location /ws/ {
        proxy_pass http://wsdead;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""


@pytest.fixture
def setup(proxy, fixed, ws_backend):
    b = {"bad": fixed("bad", 502), "bad2": fixed("bad2", 502), "good": fixed("good", 200), "slow": fixed("slow", None)}
    ws = ws_backend("ws")
    dead = closed_port()
    proxy.start(CONF, bad=b["bad"].port, bad2=b["bad2"].port, good=b["good"].port, slow=b["slow"].port,
                dead=dead, ws=ws.port)
    addr = {k: "127.0.0.1:%d" % v.port for k, v in b.items()}
    addr["dead"] = "127.0.0.1:%d" % dead
    return proxy, b, addr


def request(port: int, method: str, target: str) -> rawhttp.Response:
    body = "x=1" if method == "POST" else ""
    extra = "Content-Length: %d\r\n" % len(body) if method == "POST" else ""
    return rawhttp.exchange(port, ("%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n%s"
                                   % (method, target, extra, body)).encode())


def log_entry(proxy, uri: str) -> tuple[str, str, str]:
    """(status, $upstream_addr, $upstream_status) logged for `uri`."""
    found = []

    def find():
        for line in reversed(proxy._read("tries.log").splitlines()):
            u, status, addrs, statuses = line.split("|")
            if u == uri:
                found.append((status, addrs, statuses))
                return True
        return False
    wait_until(find, 5, "an access log line for " + uri)
    return found[0]


def test_default_does_not_retry_a_502_response(setup):
    proxy, b, a = setup
    r = request(proxy.port, "GET", "/default/x")
    assert r.status == 502 and r.body == b"bad 502\n"  # the backend's own 502, passed on
    assert log_entry(proxy, "/default/x") == ("502", a["bad"], "502")


def test_http_502_listed_moves_to_the_next_peer(setup):
    proxy, b, a = setup
    r = request(proxy.port, "GET", "/h502/x")
    assert r.status == 200 and r.body == b"good 200\n"
    assert log_entry(proxy, "/h502/x") == ("200", "%s, %s" % (a["bad"], a["good"]), "502, 200")


def test_post_is_retried_only_with_non_idempotent(setup):
    proxy, b, a = setup
    r = request(proxy.port, "POST", "/h502/p")
    assert r.status == 502 and r.body == b"bad 502\n"
    assert log_entry(proxy, "/h502/p") == ("502", a["bad"], "502")
    r = request(proxy.port, "POST", "/h502nonid/p")
    assert r.status == 200
    assert log_entry(proxy, "/h502nonid/p") == ("200", "%s, %s" % (a["bad"], a["good"]), "502, 200")
    assert len(b["good"].requests) == 1 and len(b["bad"].requests) == 2


def test_tries_limit_and_every_try_listed(setup):
    proxy, b, a = setup
    r = request(proxy.port, "GET", "/tries2/x")
    assert r.status == 502 and r.body == b"bad2 502\n"  # the last try's response is passed on
    assert log_entry(proxy, "/tries2/x") == ("502", "%s, %s" % (a["bad"], a["bad2"]), "502, 502")
    # round robin moved on: this time bad2 comes first, then bad, then the backup
    r = request(proxy.port, "GET", "/alltries/x")
    assert r.status == 200
    assert log_entry(proxy, "/alltries/x") == (
        "200", "%s, %s, %s" % (a["bad2"], a["bad"], a["good"]), "502, 502, 200")


def test_connect_error_retried_unless_off_or_out_of_tries(setup):
    proxy, b, a = setup
    r = request(proxy.port, "GET", "/dead/x")
    assert r.status == 200 and r.body == b"good 200\n"
    assert log_entry(proxy, "/dead/x") == ("200", "%s, %s" % (a["dead"], a["good"]), "502, 200")
    for loc in ("/deadoff/x", "/deadtries/x"):
        r = request(proxy.port, "GET", loc)
        assert r.status == 502, loc
        assert log_entry(proxy, loc) == ("502", a["dead"], "502"), loc
    assert "connect() failed (111: Connection refused) while connecting to upstream" in proxy.error_log()


def test_read_timeout_retried_within_next_upstream_timeout(setup):
    proxy, b, a = setup
    r = request(proxy.port, "GET", "/slow/x")
    assert r.status == 200 and r.body == b"good 200\n"
    assert log_entry(proxy, "/slow/x") == ("200", "%s, %s" % (a["slow"], a["good"]), "504, 200")
    # the 1 s read timeout is past the 300 ms budget: no second try, 504
    r = request(proxy.port, "GET", "/slowlimit/x")
    assert r.status == 504
    assert log_entry(proxy, "/slowlimit/x") == ("504", a["slow"], "504")
    assert "upstream timed out (110: Connection timed out) while reading response header from upstream" in proxy.error_log()


def test_upgrade_request_retried_after_a_connect_error(setup):
    proxy, b, a = setup

    async def body():
        async with connect(proxy.url("/ws/echo", scheme="ws")) as ws:
            await ws.send("after a retry")
            assert await recv(ws) == "after a retry"
    run(body())
