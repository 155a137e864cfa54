"""Running out of descriptors and of worker_connections, as nginx handles it.

- accept4() failing with EMFILE (too many open files): nginx
  (ngx_event_accept.c) logs `[crit] accept4() failed (24: Too many open
  files)`, stops accepting on every listener for accept_mutex_delay (500 ms)
  and leaves the pending connections in the listen backlog; it does not spin.
- worker_connections used up: nginx first closes "reusable" connections
  (idle keep-alive ones, and those that have not sent a byte yet), the oldest
  first, logging `[warn] N worker_connections are not enough, reusing
  connections` at most once a second; only when nothing is reusable is the
  new connection closed with `[alert] N worker_connections are not enough`.

Both programs run on the same configuration; the descriptor limit is set
with worker_rlimit_nofile (nginx's worker and switchyard's single process
call setrlimit with it before they accept anything).

Sanitizer builds: UBSan's vptr check misfires in a process that has no free
descriptor ("object has invalid vptr", "<memory cannot be printed>": its
memory probe needs a pipe), so the project's sanitizer build
(`-DSY_SANITIZE=ON`) leaves that one check out and runs every test here.
"""

from __future__ import annotations

import os
import re
import socket
import time

import h2.events
import pytest

from harness import config as cfg
from harness import rawhttp
from harness.tcp import TcpBackend, recv_all
from harness.wait import wait_until
from test_http2 import H2Client
from test_stream import STREAM_MODULE

TICK = os.sysconf("SC_CLK_TCK")

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def conf(worker_connections: int, main_extra: str = "") -> str:
    return """
worker_processes 1;
error_log logs/error.log info;
%s
events {
    worker_connections %d;
}
http {
    access_log off;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:{listen};
        location / { return 200 "ok\\n"; }
    }
}
""" % (main_extra, worker_connections)


def serving_pid(proxy) -> int:
    """The process that accepts: nginx's (only) worker, switchyard itself."""
    if proxy.impl != "nginx":
        return proxy.pid

    def child():
        try:
            kids = open("/proc/%d/task/%d/children" % (proxy.pid, proxy.pid)).read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    return wait_until(child, 10, "nginx worker process")


def cpu_seconds(pid: int) -> float:
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime


def get_ok(port: int, timeout: float = 5.0) -> bool:
    try:
        return rawhttp.exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout=timeout).status == 200
    except (OSError, EOFError):
        return False


def closed_now(s: socket.socket) -> bool:
    """Whether the peer has closed s (EOF or reset already received)."""
    timeout = s.gettimeout()
    s.settimeout(0.0)
    try:
        return s.recv(65536, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        s.settimeout(timeout)


def lines(proxy, pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [line for line in proxy.error_log().splitlines() if rx.search(line)]


def test_emfile_backs_off_and_recovers(proxy):
    """200 clients against a limit of 64 descriptors: the proxy serves what
    it can, does not spin on the listener (little CPU, a handful of log
    lines), and once the clients are gone serves a new one."""
    proxy.start_conf(conf(1024, "worker_rlimit_nofile 64;"))
    pid = serving_pid(proxy)
    assert get_ok(proxy.port)
    clients = []
    try:
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for _ in range(200):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", proxy.port))
            except BlockingIOError:
                pass
            clients.append(s)
        wait_until(lambda: lines(proxy, r"accept4\(\) failed \(24: "), 10, "accept4() to run out of descriptors")
        for s in clients:
            try:
                s.send(REQUEST)
            except OSError:
                pass
        time.sleep(3)
        cpu = cpu_seconds(pid) - cpu0
        elapsed = time.monotonic() - t0
        answered = 0
        for s in clients:
            try:
                answered += s.recv(4096, socket.MSG_DONTWAIT).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
        failed = lines(proxy, r"accept4\(\) failed")
        # before the fix: 100% of a core and ~50,000 alert lines a second
        assert cpu < 1.0, "%.2f s of CPU in %.1f s" % (cpu, elapsed)
        assert 1 <= len(failed) < 50, "%d accept4() lines in %.1f s" % (len(failed), elapsed)
        assert all("[crit]" in line and "accept4() failed (24: Too many open files)" in line for line in failed), failed[:3]
        assert answered >= 10, "the connections that got descriptors are served (%d)" % answered
    finally:
        for s in clients:
            s.close()
    # the backlog drains (those clients are gone) and a new client is served
    wait_until(lambda: get_ok(proxy.port, timeout=2), 15, "a new client served after the clients left")
    # idle again: no retry loop left running
    cpu0 = cpu_seconds(pid)
    time.sleep(1)
    assert cpu_seconds(pid) - cpu0 < 0.5


def test_idle_keepalive_connections_are_reused(proxy):
    """worker_connections 32 and 40 clients that each make one request and
    stay: every new client is served at once, the oldest idle connections are
    closed to make room (in order), a connection in the middle of a request
    is not, and the warning is logged at most once a second."""
    proxy.start_conf(conf(32))
    # Oldest of all, but busy: its request head is incomplete.
    busy = rawhttp.connect(proxy.port, timeout=5)
    busy.sendall(b"GET / HTTP/1.1\r\n")
    idle = []
    try:
        t0 = time.monotonic()
        for i in range(40):
            s = rawhttp.connect(proxy.port, timeout=5)
            idle.append(s)
            started = time.monotonic()
            s.sendall(REQUEST)
            r = rawhttp.Reader(s, timeout=5).response()
            assert r.status == 200, "client %d" % i
            assert time.monotonic() - started < 2.0, "client %d waited" % i
        time.sleep(0.5)   # closes by the proxy reach us
        closed = [i for i, s in enumerate(idle) if closed_now(s)]
        # nginx counts its listener and channel too: it starts reusing a
        # client or two earlier than switchyard, which counts clients only.
        assert len(closed) >= 8, closed
        assert closed == list(range(len(closed))), "the oldest idle connections go first: %s" % closed
        assert not closed_now(busy), "a connection with a request in progress is not reused"
        # ... and it still gets its answer
        busy.sendall(b"Host: t\r\n\r\n")
        assert rawhttp.Reader(busy, timeout=5).response().status == 200
        # one more client is served at once too
        started = time.monotonic()
        assert get_ok(proxy.port)
        assert time.monotonic() - started < 2.0
        elapsed = time.monotonic() - t0
        warned = lines(proxy, r"32 worker_connections are not enough, reusing connections")
        assert 1 <= len(warned) <= int(elapsed) + 2, (len(warned), elapsed)
        assert all("[warn]" in line for line in warned)
        assert not lines(proxy, r"worker_connections are not enough$"), "no connection was refused"
    finally:
        busy.close()
        for s in idle:
            s.close()


PROXY_CONF = """
worker_processes 1;
error_log logs/error.log info;
events {
    worker_connections 16;
}
http {
    access_log off;
    server {
        listen 127.0.0.1:{listen};
        location / { proxy_pass http://127.0.0.1:{backend}; }
    }
}
"""


def test_full_of_busy_connections_refuses_new_ones(proxy, http_backend):
    """Nothing reusable (every client waits for a slow backend): a new
    connection is closed with nginx's alert; the busy ones still get their
    answers, and afterwards new clients are served again."""
    b = http_backend("slow")
    proxy.allow_log(r"worker_connections are not enough")
    proxy.start_conf(PROXY_CONF, backend=b.port)
    clients, kept, refused = [], [], []
    try:
        t0 = time.monotonic()
        for i in range(24):
            s = rawhttp.connect(proxy.port, timeout=10)
            clients.append(s)
            s.sendall(b"GET /?delay=6 HTTP/1.1\r\nHost: t\r\n\r\n")
            # busy (its request reached the backend) or refused (closed)
            n = len(kept)
            state = wait_until(lambda: ("kept" if len(b.records()) > n else "refused" if closed_now(s) else None),
                               10, "client %d to be served or refused" % i)
            (kept if state == "kept" else refused).append(s)
        elapsed = time.monotonic() - t0
        # switchyard counts client connections; nginx counts its listener,
        # its channel to the master and each upstream connection too:
        # (16 - 2) / 2 = 7 clients waiting on the backend fill it.
        assert len(kept) == (7 if proxy.impl == "nginx" else 16), len(kept)
        alerts = lines(proxy, r"16 worker_connections are not enough$")
        assert all("[alert]" in line for line in alerts)
        if proxy.impl == "nginx":
            assert len(alerts) == len(refused)   # nginx: one line per refused connection
        else:
            assert 1 <= len(alerts) <= int(elapsed) + 2, (len(alerts), elapsed)   # at most once a second
        assert not lines(proxy, r"reusing connections")
        for s in kept:   # the busy ones finish
            assert rawhttp.Reader(s, timeout=20).response().status == 200
    finally:
        for s in clients:
            s.close()
    wait_until(lambda: get_ok(proxy.port, timeout=2), 10, "a new client served after the busy ones left")


H2C_CONF = """
worker_processes 1;
error_log logs/error.log info;
events {
    worker_connections 32;
}
http {
    access_log off;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:{listen} http2;
        location / { return 200 "ok\\n"; }
    }
}
"""


def h2_goaway_or_closed(c) -> bool:
    c.pump(0.05)
    return c.closed or any(isinstance(e, h2.events.ConnectionTerminated) for e in c.events)


def test_idle_http2_connections_are_reused(proxy):
    """HTTP/2 connections without an open stream are reusable too: the
    oldest get a GOAWAY and are closed when new clients need the room."""
    proxy.start_conf(H2C_CONF)
    clients = []
    try:
        for i in range(40):
            c = H2Client(proxy.port, timeout=5)
            clients.append(c)
            resp = c.get("/")
            assert (resp["status"], resp["body"]) == (200, b"ok\n"), "client %d" % i
        time.sleep(0.5)
        gone = [i for i, c in enumerate(clients) if h2_goaway_or_closed(c)]
        assert len(gone) >= 8, gone
        assert gone == list(range(len(gone))), "the oldest idle connections go first: %s" % gone
        assert all(any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code == 0 for e in clients[i].events)
                   for i in gone), "each got a GOAWAY (NO_ERROR) first"
        resp = clients[-1].get("/")   # the newest still work
        assert resp["status"] == 200
        assert lines(proxy, r"32 worker_connections are not enough, reusing connections")
    finally:
        for c in clients:
            c.close()


def test_stream_listener_waits_in_the_backlog(proxy):
    """A stream {} listener is the same Listener: while HTTP clients hold
    every descriptor, a stream client waits in the backlog without making
    the proxy spin, and is proxied once the HTTP clients are gone."""
    if proxy.impl == "nginx" and not STREAM_MODULE.exists():
        pytest.skip("this nginx has no stream module (apt-get install libnginx-mod-stream)")
    backend = TcpBackend("echo")
    # a connection accepted with the last descriptor finds none for its
    # upstream socket: both programs log that ([alert] socket() failed)
    proxy.allow_log(r"Too many open files")
    clients = []
    waiting = None
    try:
        proxy.start_conf(
            "load_module %s;\nworker_rlimit_nofile 64;\n" % STREAM_MODULE + cfg.wrap_main(
                "stream {\n    server {\n        listen 127.0.0.1:{listen_stream};\n"
                "        proxy_pass 127.0.0.1:{backend};\n    }\n}\n"
                "http {\n    access_log off;\n    server {\n        listen 127.0.0.1:{listen};\n"
                "        location / { return 200 \"ok\\n\"; }\n    }\n}\n"),
            backend=backend.port)
        pid = serving_pid(proxy)
        for _ in range(100):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", proxy.port))
            except BlockingIOError:
                pass
            clients.append(s)
        wait_until(lambda: lines(proxy, r"accept4\(\) failed \(24: "), 10, "accept4() to run out of descriptors")
        for s in clients:
            try:
                s.send(REQUEST)   # keep-alive: each holds its descriptor
            except OSError:
                pass
        time.sleep(0.5)
        cpu0 = cpu_seconds(pid)
        before = len(backend.conns)   # the harness's readiness probe went through
        waiting = socket.create_connection(("127.0.0.1", proxy.ports["listen_stream"]), timeout=10)
        waiting.sendall(b"ping\n")
        time.sleep(2)
        cpu = cpu_seconds(pid) - cpu0
        assert cpu < 1.0, "%.2f s of CPU" % cpu
        failed = lines(proxy, r"accept4\(\) failed")
        assert 1 <= len(failed) < 50, len(failed)
        assert all("[crit]" in line for line in failed), failed[:3]
        assert len(backend.conns) == before, "the stream client is not accepted while there is no descriptor"
    finally:
        for s in clients:
            s.close()
    try:
        # the HTTP clients are gone: the waiting stream client is taken from
        # the backlog and proxied
        waiting.settimeout(15)
        assert recv_all(waiting, 5, timeout=15) == b"ping\n"
    finally:
        if waiting:
            waiting.close()
        backend.stop()
