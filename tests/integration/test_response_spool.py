"""Buffered upstream responses (proxy_buffering on, the default) spool to a
temp file under proxy_temp_path when the client is slow: the backend's
response is read at the backend's pace and its connection released (closed,
or back to the keepalive pool) long before the client has it all; memory
stays bounded; nginx's warn line names the file; the file is unlinked and its
fd goes with the response (client done or gone). proxy_max_temp_file_size 0:
no file, backpressure holds the backend; a cap: the file stops there and the
rest still arrives. HTTP/1.1 (Content-Length and chunked) and HTTP/2 clients.
Both implementations on the same configurations.

The backend (BigBackend) writes a 20 MiB body as fast as the socket takes it
and records when its send completed; the client reads 1 MiB, then stalls
until that happens (or a bound passes), then reads the rest. Every byte is
checked (sha256). Figures (upstream released vs client done, RSS growth) are
printed (pytest -s)."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.wait import wait_until

MiB = 1024 * 1024
BODY = 20 * MiB
_BLOCK = hashlib.shake_256(b"switchyard response spool").digest(MiB)


def block(i: int) -> bytes:
    return b"%08d" % i + _BLOCK[8:]


def body_chunks(n: int):
    i = 0
    while n > 0:
        b = block(i)[:n]
        yield b
        n -= len(b)
        i += 1


def body_sha(n: int) -> str:
    h = hashlib.sha256()
    for b in body_chunks(n):
        h.update(b)
    return h.hexdigest()


# ------------------------------------------------------------------ backend
class BigBackend:
    """HTTP/1.1 keep-alive server. GET /big[?n=N]: N bytes (default 20 MiB),
    Content-Length or (path /chunked) chunked in 64 KiB chunks; anything
    else: a small 200. Records per connection the requests served and per
    big response when its last byte was handed to the kernel."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests: list[tuple[int, str]] = []   # (connection number, path)
        self.done: dict[str, float] = {}            # request tag -> monotonic time its send completed
        self.errors: list[str] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c: socket.socket, conn_no: int):
        buf = b""
        try:
            c.settimeout(60)
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                path = line.split(" ")[1]
                tag = ""
                m = re.search(r"tag=(\w+)", path)
                if m:
                    tag = m.group(1)
                with self.lock:
                    self.requests.append((conn_no, path))
                if re.match(r"(/off)?/(big|chunked)", path):
                    m = re.search(r"n=(\d+)", path)
                    n = int(m.group(1)) if m else BODY
                    chunked = "/chunked" in path
                    if chunked:
                        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                        for b in body_chunks(n):
                            for off in range(0, len(b), 65536):
                                piece = b[off:off + 65536]
                                c.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                        c.sendall(b"0\r\n\r\n")
                    else:
                        m = re.search(r"xab=(\w+)", path)
                        xab = b"X-Accel-Buffering: %s\r\n" % m.group(1).encode() if m else b""
                        c.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n" % (xab, n))
                        for b in body_chunks(n):
                            c.sendall(b)
                    with self.lock:
                        self.done[tag] = time.monotonic()
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall")
        except OSError as e:
            with self.lock:
                self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            c.close()

    def done_at(self, tag: str):
        with self.lock:
            return self.done.get(tag)

    def stop(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def backend():
    be = BigBackend()
    yield be
    be.stop()


# ------------------------------------------------------------------ client
class SlowClient:
    """An HTTP/1.1 client with a small receive buffer (http.client decodes
    Content-Length and chunked bodies). read(n): n body bytes into the hash."""

    def __init__(self, port: int, path: str):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.sock = s
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.got = 0
        self.h = hashlib.sha256()

    def read(self, n: int) -> int:
        want = n
        while want > 0:
            d = self.resp.read(min(65536, want))
            if not d:
                break
            self.got += len(d)
            self.h.update(d)
            want -= len(d)
        return n - want

    def read_all(self, pace: float = 0.0):
        """The rest of the body; pace: seconds of sleep per 256 KiB."""
        while self.read(256 * 1024):
            if pace:
                time.sleep(pace)

    def close(self):
        self.conn.close()


# ------------------------------------------------------------------ process views
def serving_pids(proxy) -> list[int]:
    if proxy.impl == "switchyard":
        return [proxy.pid]
    # the master may accept (listen) before its worker is forked
    kids = wait_until(lambda: Path("/proc/%d/task/%d/children" % (proxy.pid, proxy.pid)).read_text().split(),
                      10, "nginx's worker")
    return [int(k) for k in kids]


def rss_kib(pids) -> int:
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssSampler:
    def __init__(self, pids):
        self.pids = pids
        self.peak = rss_kib(pids)
        self.ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.ev.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pids))

    def stop(self) -> int:
        self.ev.set()
        self.t.join(5)
        return max(self.peak, rss_kib(self.pids))


def fds(pids) -> list[str]:
    out = []
    for p in pids:
        d = "/proc/%d/fd" % p
        for name in os.listdir(d):
            try:
                out.append(os.readlink(os.path.join(d, name)))
            except OSError:
                pass
    return out


def spool_files(pids, tmp: Path) -> list[tuple[str, int]]:
    """Open temp files under `tmp` (unlinked: "(deleted)") with their sizes."""
    out = []
    for p in pids:
        d = "/proc/%d/fd" % p
        for name in os.listdir(d):
            try:
                link = os.readlink(os.path.join(d, name))
                if link.startswith(str(tmp) + "/"):
                    out.append((link, os.stat(os.path.join(d, name)).st_size))
            except OSError:
                pass
    return out


def wait_spool_settled(pids, tmp: Path) -> int:
    """The backend handing its last byte to the kernel is not the proxy
    having read it: waits until the open temp file stops growing (the proxy
    read the response to its end) and returns its size."""
    last = None

    def settled():
        nonlocal last
        now = sum(size for _, size in spool_files(pids, tmp))
        ok = last is not None and now == last and now > 0
        last = now
        return ok
    wait_until(settled, 10, "the temp file to stop growing", interval=0.25)
    return last


def files_under(tmp: Path) -> list[str]:
    return [os.path.join(dp, f) for dp, _, fs in os.walk(tmp) for f in fs]


def conf(loc_extra: str = "", upstream_extra: str = "", http2: bool = False) -> str:
    return """
    upstream be {
        server 127.0.0.1:{backend};
        %s
    }
    server {
        listen 127.0.0.1:{listen}%s;
        proxy_temp_path proxy_temp;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            %s
        }
    }
    """ % (upstream_extra, " http2" if http2 else "", loc_extra)


STALL_BOUND = 20.0   # seconds the stalled client waits at most for the backend

WARN_RX = (r"\[warn\] .*an upstream response is buffered to a temporary file (\S+) while reading upstream, "
           r"client: 127\.0\.0\.1, server: , request: \"GET {path} HTTP/1\.1\", upstream: \"http://127\.0\.0\.1:\d+{path}\"")


# ============================================================ 1. slow client, the backend released early
@pytest.mark.parametrize("path", ["/big", "/chunked"])
def test_slow_client_backend_released_early(proxy, backend, path):
    """20 MiB, Content-Length and chunked: the client reads 1 MiB and stalls;
    the backend's send completes meanwhile (its bytes went to the temp
    file); the client then gets every byte; RSS grew < 30 MB; nginx's warn
    line names the file, which is unlinked (the directory holds no file)."""
    proxy.start(conf(), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    base = rss_kib(pids)
    sampler = RssSampler(pids)
    t0 = time.monotonic()
    req = "%s?tag=a" % path
    cl = SlowClient(proxy.port, req)
    assert cl.resp.status == 200
    cl.read(MiB)
    done = wait_until(lambda: backend.done_at("a"), STALL_BOUND, "the backend's send to complete while the client stalls")
    read_when_released = cl.got
    during = spool_files(pids, tmp)
    cl.read_all(pace=0.02)   # a slow client: >= 1.5 s for the rest
    t_client = time.monotonic()
    growth = sampler.stop() - base
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    # the response ended properly: the client connection is kept alive
    cl.conn.request("GET", "/small")
    r2 = cl.conn.getresponse()
    assert (r2.status, r2.read()) == (200, b"small")
    cl.close()
    # released while the client had at most a few MiB (its first MiB and what sockets hold)
    assert read_when_released < BODY // 2, read_when_released
    assert during and all(link.endswith("(deleted)") for link, _ in during), during
    line = proxy.wait_error_log(WARN_RX.format(path=re.escape(req)))
    name = re.search(r"temporary file (\S+) while", line).group(1)
    assert name.startswith(str(tmp) + "/"), (name, tmp)
    assert len(re.findall("buffered to a temporary file", proxy.error_log())) == 1
    assert files_under(tmp) == []
    assert growth < 30 * 1024, "RSS grew %d KiB" % growth
    print("\n[%s %s] upstream released after %d ms, client done after %d ms (read %d KiB by then); RSS +%d KiB" % (
        proxy.impl, path, (done - t0) * 1000, (t_client - t0) * 1000, read_when_released // 1024, growth))
    assert backend.errors == [] and [p for _, p in backend.requests] == [req, "/small"], backend.requests


def test_parallel_slow_clients_bounded(proxy, backend):
    """Four stalled clients at once: four temp files, every backend send
    completes while they stall, RSS grows < 30 MB, each client gets its
    bytes intact, and no file or fd is left."""
    proxy.start(conf(), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    base = rss_kib(pids)
    sampler = RssSampler(pids)
    clients = [SlowClient(proxy.port, "/big?tag=p%d" % i) for i in range(4)]
    for cl in clients:
        cl.read(MiB)
    for i in range(4):
        wait_until(lambda: backend.done_at("p%d" % i), STALL_BOUND, "backend send %d to complete" % i)
    assert len(spool_files(pids, tmp)) == 4
    for cl in clients:
        cl.read_all()
        cl.close()
    growth = sampler.stop() - base
    for cl in clients:
        assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    assert growth < 30 * 1024, "RSS grew %d KiB" % growth
    wait_until(lambda: spool_files(pids, tmp) == [], 10, "the temp files to be closed")
    assert files_under(tmp) == []
    assert len(re.findall("buffered to a temporary file", proxy.error_log())) == 4


def test_http10_client_chunked_upstream(proxy, backend):
    """An HTTP/1.0 client of a chunked upstream: decoded, spooled, and the
    response ends with the connection once the file is drained."""
    proxy.start(conf(), backend=backend.port)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(30)
    s.connect(("127.0.0.1", proxy.port))
    s.sendall(b"GET /chunked?tag=t HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while len(data) < MiB:
        d = s.recv(65536)
        assert d
        data += d
    wait_until(lambda: backend.done_at("t"), STALL_BOUND, "the backend's send to complete while the client stalls")
    h = hashlib.sha256()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head.lower(), head
    h.update(body)
    got = len(body)
    while True:
        d = s.recv(262144)
        if not d:
            break
        h.update(d)
        got += len(d)
    s.close()
    assert got == BODY and h.hexdigest() == body_sha(BODY)


def test_keepalive_upstream_reused_while_first_client_reads(proxy, backend):
    """upstream keepalive: once the first response is read into the file, its
    connection goes back to the pool, and the next request (another client)
    is sent on it while the first client still stalls."""
    proxy.start(conf(upstream_extra="keepalive 4;"), backend=backend.port)
    pids = serving_pids(proxy)
    cl = SlowClient(proxy.port, "/big?tag=k")
    cl.read(MiB)
    wait_until(lambda: backend.done_at("k"), STALL_BOUND, "the backend's send to complete")
    wait_spool_settled(pids, proxy.prefix / "proxy_temp")
    c2 = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    c2.request("GET", "/small")
    r2 = c2.getresponse()
    assert (r2.status, r2.read()) == (200, b"small")
    c2.close()
    assert cl.got < BODY // 2   # the first client is still reading
    cl.read_all()
    cl.close()
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    assert backend.accepted == 1, backend.requests
    assert backend.requests == [(1, "/big?tag=k"), (1, "/small")]


# ============================================================ 2. proxy_max_temp_file_size
def test_max_temp_file_size_0_backpressure(proxy, backend):
    """proxy_max_temp_file_size 0: no temp file; while the client stalls the
    backend cannot finish (backpressure, as with buffering off); all bytes
    arrive once the client reads."""
    proxy.start(conf("proxy_max_temp_file_size 0;"), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    cl = SlowClient(proxy.port, "/big?tag=z")
    cl.read(MiB)
    time.sleep(2.0)   # a stall: the backend must not be able to finish in it
    assert backend.done_at("z") is None
    assert spool_files(pids, tmp) == []
    cl.read_all()
    cl.close()
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    assert "buffered to a temporary file" not in proxy.error_log()
    wait_until(lambda: backend.done_at("z"), 10, "the backend's send to complete")


def test_max_temp_file_size_caps_file(proxy, backend):
    """proxy_max_temp_file_size 1m with 20 MiB: the file never passes 1 MiB,
    the backend is held (it cannot finish while the client stalls), and
    every byte still arrives."""
    proxy.start(conf("proxy_max_temp_file_size 1m;"), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    cl = SlowClient(proxy.port, "/big?tag=m")
    cl.read(MiB)
    seen = wait_until(lambda: spool_files(pids, tmp), 10, "a temp file")
    sizes = [s for _, s in seen]
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        sizes += [s for _, s in spool_files(pids, tmp)]
        time.sleep(0.05)
    assert max(sizes) <= MiB, sizes
    assert backend.done_at("m") is None
    cl.read_all()
    cl.close()
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    proxy.wait_error_log(WARN_RX.format(path=re.escape("/big?tag=m")))
    assert files_under(tmp) == []


# ============================================================ 3. the client goes away
def test_client_abort_deletes_file_no_fd_leak(proxy, backend):
    """The client closes mid-transfer while the response sits in the temp
    file: the file's fd is closed (no fd of the process stays), nothing is
    left in proxy_temp_path, and the next request works."""
    proxy.start(conf(), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    # one request first, so lazily opened fds (logs) are in the baseline
    c0 = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    c0.request("GET", "/small")
    assert c0.getresponse().read() == b"small"
    c0.close()
    wait_until(lambda: backend.accepted == 1 and len(backend.conns) == 1, 5, "backend accept")
    before = None

    def settled():
        nonlocal before
        now = sorted(fds(pids))
        ok = before == now
        before = now
        return ok
    wait_until(settled, 10, "the fd table to settle", interval=0.3)
    base = before
    cl = SlowClient(proxy.port, "/big?tag=x")
    cl.read(MiB)
    wait_until(lambda: backend.done_at("x"), STALL_BOUND, "the backend's send to complete")
    assert spool_files(pids, tmp), "no temp file open while the client stalls"
    cl.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    cl.close()
    wait_until(lambda: sorted(fds(pids)) == base, 10, "the fds to be back to %r (now %r)" % (base, sorted(fds(pids))))
    assert spool_files(pids, tmp) == []
    assert files_under(tmp) == []
    # $body_bytes_sent: what left for the client, not what was spooled for it
    line = wait_until(lambda: [l for l in proxy.access_log().splitlines() if "tag=x" in l], 10, "the log line")[0]
    sent = int(re.search(r'" 200 (\d+) ', line).group(1))
    assert sent < BODY // 2, line
    c1 = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    c1.request("GET", "/small")
    assert c1.getresponse().read() == b"small"
    c1.close()


# ============================================================ 4. HTTP/2
def test_http2_slow_client_gets_every_byte(proxy, backend, workdir):
    """An HTTP/2 client (curl --http2-prior-knowledge, --limit-rate) reading
    slowly: the backend finishes long before curl does (spooled), and the
    bytes arrive intact."""
    n = 12 * MiB
    proxy.start(conf(http2=True), backend=backend.port)
    out = workdir / "h2.out"
    t0 = time.monotonic()
    p = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "60", "--limit-rate", "3M",
                          "-o", str(out), "-w", "%{http_version} %{http_code}",
                          "http://127.0.0.1:%d/big?n=%d&tag=h" % (proxy.port, n)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        so, se = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    t_client = time.monotonic()
    assert so == b"2 200", (so, se)
    done = backend.done_at("h")
    assert done is not None
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for d in iter(lambda: f.read(MiB), b""):
            h.update(d)
    out.unlink()
    assert h.hexdigest() == body_sha(n)
    # curl needs ~4 s at 3 MB/s; the backend was released well before it ended
    assert t_client - done > 1.0, (done - t0, t_client - t0)
    proxy.wait_error_log(r"\[warn\] .*an upstream response is buffered to a temporary file \S+ while reading upstream")
    assert files_under(proxy.prefix / "proxy_temp") == []
    print("\n[%s h2] upstream released after %d ms, client done after %d ms" % (
        proxy.impl, (done - t0) * 1000, (t_client - t0) * 1000))


# ============================================================ 5. unchanged paths
def test_buffering_off_and_head_never_spool(proxy, backend):
    """proxy_buffering off: backpressure, no file; HEAD: no body, no file."""
    proxy.start(conf("location /off { proxy_pass http://be; proxy_buffering off; "
                     "proxy_http_version 1.1; proxy_set_header Connection \"\"; }"), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    cl = SlowClient(proxy.port, "/off/big?tag=o")
    cl.read(MiB)
    time.sleep(1.5)
    assert backend.done_at("o") is None
    assert spool_files(pids, tmp) == []
    cl.read_all()
    cl.close()
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    c.request("HEAD", "/big?n=1000&tag=hd")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b""
    c.close()
    assert "buffered to a temporary file" not in proxy.error_log()


@pytest.mark.parametrize("xab,loc", [("no", ""), ("yes", "proxy_buffering off;")])
def test_x_accel_buffering(proxy, backend, xab, loc):
    """X-Accel-Buffering from the backend overrides proxy_buffering for its
    response: `no` never spools (the backend is held while the client
    stalls), `yes` spools under proxy_buffering off."""
    proxy.start(conf(loc), backend=backend.port)
    tmp = proxy.prefix / "proxy_temp"
    pids = serving_pids(proxy)
    cl = SlowClient(proxy.port, "/big?tag=xa&xab=%s" % xab)
    cl.read(MiB)
    if xab == "no":
        time.sleep(2.0)   # a stall: the backend must not be able to finish in it
        assert backend.done_at("xa") is None
        assert spool_files(pids, tmp) == []
    else:
        wait_until(lambda: backend.done_at("xa"), STALL_BOUND, "the backend's send to complete while the client stalls")
        assert spool_files(pids, tmp)
    cl.read_all()
    cl.close()
    assert cl.got == BODY and cl.h.hexdigest() == body_sha(BODY)
    assert ("buffered to a temporary file" in proxy.error_log()) == (xab == "yes")


# ============================================================ 6. temp file errors
def test_unusable_temp_path_crit_and_cut(proxy, backend):
    """proxy_temp_path is not a directory (a file sits there): the first
    spool write fails with nginx's `[crit] open() "..." failed (20: Not a
    directory) while reading upstream`, the client's response is cut, and
    the server goes on."""
    proxy.start(conf().replace("proxy_temp_path proxy_temp;", "proxy_temp_path bad_tmp;"), backend=backend.port,
                files={"bad_tmp": "not a directory\n"})
    got = 0
    try:
        cl = SlowClient(proxy.port, "/big?tag=e")
        assert cl.resp.status == 200
        try:
            cl.read_all()
        except (http.client.IncompleteRead, OSError):
            pass
        got = cl.got
        cl.close()
    except (http.client.RemoteDisconnected, OSError):
        pass   # cut before the head left (it was queued with the first body bytes)
    assert got < BODY
    line = proxy.wait_error_log(r"\[crit\].*open\(\) \"%s/\d{10}\" failed \(20: Not a directory\) while reading upstream"
                                % re.escape(str(proxy.prefix / "bad_tmp")))
    assert 'request: "GET /big?tag=e HTTP/1.1"' in line, line
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    c.request("GET", "/small")
    assert c.getresponse().read() == b"small"
    c.close()
