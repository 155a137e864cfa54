"""HTTP/2 hostile input: what one client can make the proxy do.

Each attack runs against the real program (TLS h2 by ALPN, or h2c with prior
knowledge) with raw frames written here (struct + hpack), a counting backend
(backends/count_backend.py: every TCP connect counted) and a witness: a
second client on a plain HTTP/1.1 port of the same worker, asking every
100 ms, which must be answered throughout. The outcome asserted is nginx's:
the connection is closed with a GOAWAY whose code is checked, and the
process's memory (VmHWM: the peak, so a transient blow-up counts too),
backend connects and CPU stay bounded.

  rapid reset (CVE-2023-44487)  HEADERS(END_STREAM) + RST_STREAM(CANCEL)
                                pairs on streams 1, 3, 5, ...
  HPACK bomb                    a 3.9 KB header put in the dynamic table,
                                then HEADERS frames referencing it ~16,000
                                times each (62 MB of decoded fields a frame)
  control-frame floods          SETTINGS, PING, PRIORITY, WINDOW_UPDATE and
                                empty DATA frames, megabytes of them

SY_H2_FIGURES=<file>: every test appends its measured figures (one JSON
line: RSS growth, backend connects, CPU seconds, the witness's worst
latency, bytes sent, GOAWAYs) to <file>, before its assertions run, so a
build that fails them can still be measured (the before/after figures of
docs/usage.md were taken this way).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import hpack
import pytest

from harness import rawhttp
from harness.backends import BACKENDS_DIR, stop_process
from harness.config import block, location
from harness.ports import free_port
from harness.tls import client_context, session_pki
from harness.wait import wait_port, wait_until

NAME = "h2.test"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, CANCEL, ENHANCE_YOUR_CALM = 0x0, 0x1, 0x2, 0x8, 0xb


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


# ------------------------------------------------------------------ frames
def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def rst(sid: int, code: int = CANCEL) -> bytes:
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


class Peer:
    """A hostile HTTP/2 client on raw frames, single-threaded: send() writes
    (blocking, bounded), drain() reads what the server sent and keeps count
    of its frames (GOAWAYs in full). TLS with ALPN h2 when `ca` is given,
    h2c with prior knowledge otherwise. The client preface, an empty
    SETTINGS and an ACK of the server's SETTINGS are sent at once."""

    def __init__(self, port: int, ca=None, timeout: float = 10.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ca is not None:
            ctx = client_context(ca)
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname=NAME)
            assert self.sock.selected_alpn_protocol() == "h2"
        else:
            self.sock = raw
        self.scheme = "https" if ca is not None else "http"
        self.buf = b""
        self.counts: dict[int, int] = {}
        self.goaways: list[tuple[int, int]] = []    # (error code, last stream id)
        self.rst_codes: dict[int, int] = {}
        self.received = 0
        self.sent = 0
        self.closed = False
        self.stalled = False                        # a send failed: the server stopped reading, or closed
        self.closed_at: float | None = None
        self.send(PREFACE + frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0))

    def _feed(self, data: bytes) -> None:
        self.received += len(data)
        self.buf += data
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            t = self.buf[3]
            payload = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            self.counts[t] = self.counts.get(t, 0) + 1
            if t == GOAWAY and n >= 8:
                last, code = struct.unpack(">II", payload[:8])
                self.goaways.append((code, last & 0x7fffffff))
            elif t == RST_STREAM and n == 4:
                code = struct.unpack(">I", payload)[0]
                self.rst_codes[code] = self.rst_codes.get(code, 0) + 1

    def _eof(self) -> None:
        if not self.closed:
            self.closed = True
            self.closed_at = time.monotonic()

    def drain(self, timeout: float = 0.0) -> None:
        """Reads everything available now; with timeout, waits that long
        for the first bytes."""
        if self.closed:
            return
        self.sock.settimeout(timeout if timeout > 0 else 0.0)
        first = True
        while True:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ConnectionError, ssl.SSLError, OSError):
                self._eof()
                return
            if not data:
                self._eof()
                return
            self._feed(data)
            if first:
                first = False
                self.sock.settimeout(0.0)

    def send(self, data: bytes, timeout: float = 10.0) -> bool:
        """False once the connection is closed or the server stopped reading."""
        if self.closed or self.stalled:
            return False
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            self.stalled = True
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            # closed by the server (EPIPE, ECONNRESET): what it sent before,
            # its GOAWAY, is still to be read (wait_closed)
            self.stalled = True
            return False
        self.sent += len(data)
        return True

    def flood(self, data: bytes, chunk: int = 65536) -> int:
        """Sends data chunk by chunk, reading between chunks, until it is
        all sent or the server closed / stopped reading. Returns bytes sent."""
        start = self.sent
        view = memoryview(data)
        for off in range(0, len(view), chunk):
            if not self.send(bytes(view[off:off + chunk])):
                break
            self.drain()
        return self.sent - start

    def wait_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.drain(min(0.2, max(0.01, deadline - time.monotonic())))
        return self.closed

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def request_block(enc: hpack.Encoder, scheme: str, path: str = "/", extra=()) -> bytes:
    return enc.encode([(":method", "GET"), (":scheme", scheme), (":path", path), (":authority", NAME), *extra])


def rapid_reset_pairs(scheme: str, n: int, first_sid: int = 1) -> bytes:
    """n pairs of HEADERS(END_STREAM|END_HEADERS, GET /) + RST_STREAM(CANCEL).
    The first block puts :authority in the dynamic table; every later one
    is the same four indexed fields."""
    enc = hpack.Encoder()
    first = request_block(enc, scheme)
    again = request_block(enc, scheme)
    out = bytearray()
    sid = first_sid
    for i in range(n):
        out += frame(HEADERS, END_STREAM | END_HEADERS, sid, first if i == 0 else again) + rst(sid)
        sid += 2
    return bytes(out)


# ------------------------------------------------------- process accounting
def group_pids(leader: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) == leader:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def _status_kb(pid: int, field: str) -> int:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Usage:
    """The proxy's processes (its process group: nginx's master and worker,
    or switchyard's): VmRSS, VmHWM (peak) and CPU seconds, summed."""

    def __init__(self, proxy):
        self.leader = proxy.pid

    def sample(self) -> dict:
        pids = group_pids(self.leader)
        return {"rss_kb": sum(_status_kb(p, "VmRSS") for p in pids),
                "hwm_kb": sum(_status_kb(p, "VmHWM") for p in pids),
                "cpu_s": sum(_cpu_s(p) for p in pids)}


# -------------------------------------------------------- backend, witness
class CountBackend:
    """backends/count_backend.py: counts TCP connects (and requests)."""

    def __init__(self, workdir):
        self.port = free_port()
        self.record = workdir / ("count-backend-%d.json" % self.port)
        self.log = open(workdir / ("count-backend-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen([sys.executable, str(BACKENDS_DIR / "count_backend.py"), "--port", str(self.port),
                                      "--record", str(self.record)], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or self.record.exists(), 10, "count backend record")
            wait_port(self.port, timeout=10)    # a connect: the readiness probe, subtracted below
        except AssertionError:
            self.stop()
            raise
        wait_until(lambda: self._read()["accepts"] >= 1, 10, "the probe counted")

    def _read(self) -> dict:
        try:
            return json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {"accepts": 0, "requests": 0}

    def connects(self) -> int:
        """Connects from the proxy (the readiness probe not counted); waits
        until the count stands still for 0.3 s."""
        last, since = None, time.monotonic()
        deadline = since + 10
        while time.monotonic() < deadline:
            n = self._read()["accepts"]
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 0.3:
                break
            time.sleep(0.05)
        return max(0, last - 1)

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


@pytest.fixture
def count_backend(workdir):
    b = CountBackend(workdir)
    yield b
    b.stop()


class Witness(threading.Thread):
    """Plain HTTP/1.1 GETs to the witness port every 100 ms, each on a new
    connection, while an attack runs: every answer and its latency."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.results: list[tuple[bool, float]] = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            t0 = time.monotonic()
            try:
                resp = rawhttp.exchange(self.port, b"GET /witness HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n",
                                        timeout=10)
                ok = (resp.status, resp.body) == (200, b"witness\n")
            except (OSError, EOFError, ValueError):
                ok = False
            self.results.append((ok, time.monotonic() - t0))
            self.stopping.wait(0.1)

    def finish(self) -> dict:
        self.stopping.set()
        self.join(20)
        lat = [t for _, t in self.results]
        return {"witness_requests": len(self.results), "witness_failed": sum(1 for ok, _ in self.results if not ok),
                "witness_max_s": round(max(lat), 3) if lat else None}


# ------------------------------------------------------------------ configs
def attack_conf(*items: str, tls: bool = True) -> str:
    """The attacked server (TLS h2 on {listen_tls}, or h2c on {listen_h2c})
    proxying to the counting backend, and the witness's plain server."""
    if tls:
        head = ["listen 127.0.0.1:{listen_tls} ssl http2", "server_name " + NAME, "ssl_certificate {crt}",
                "ssl_certificate_key {key}", "ssl_protocols TLSv1.2 TLSv1.3"]
    else:
        head = ["listen 127.0.0.1:{listen_h2c} http2", "server_name " + NAME]
    attacked = block("server", *head, *items,
                     location("/hold", None, 'return 200 "held\\n"'),
                     location("/", "http://127.0.0.1:{backend}"))
    witness = block("server", "listen 127.0.0.1:{listen}", location("/witness", None, 'return 200 "witness\\n"'))
    return attacked + "\n" + witness + "\n"


def start(proxy, pki, conf: str, backend) -> int:
    crt, key = pki.leaf(NAME)
    proxy.start(conf, crt=crt, key=key, backend=backend.port)
    return proxy.ports.get("listen_tls") or proxy.ports["listen_h2c"]


class Run:
    """One attack: usage before/after, the witness, the figures."""

    def __init__(self, request, proxy, backend=None):
        self.request, self.proxy, self.backend = request, proxy, backend
        self.usage = Usage(proxy)
        time.sleep(0.2)
        self.before = self.usage.sample()
        self.witness = Witness(proxy.port)
        self.witness.start()
        time.sleep(0.3)
        self.t0 = time.monotonic()

    def finish(self, peer: Peer, **extra) -> dict:
        elapsed = time.monotonic() - self.t0
        w = self.witness.finish()
        time.sleep(0.5)
        after = self.usage.sample()
        fig = {"test": self.request.node.name, "impl": self.proxy.impl,
               "rss_growth_mb": round((after["rss_kb"] - self.before["rss_kb"]) / 1024, 1),
               "hwm_growth_mb": round((after["hwm_kb"] - self.before["hwm_kb"]) / 1024, 1),
               "cpu_s": round(after["cpu_s"] - self.before["cpu_s"], 2),
               "elapsed_s": round(elapsed, 2), "sent_bytes": peer.sent, "closed": peer.closed,
               "goaways": peer.goaways, **w, **extra}
        if self.backend is not None:
            fig["backend_connects"] = self.backend.connects()
        path = os.environ.get("SY_H2_FIGURES")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(fig) + "\n")
        print(json.dumps(fig))
        return fig


def assert_bounded(fig: dict, rss_mb: float = 64, cpu_s: float | None = None) -> None:
    assert fig["hwm_growth_mb"] < rss_mb, fig
    assert fig["witness_requests"] >= 1 and fig["witness_failed"] == 0, fig
    assert fig["witness_max_s"] < 2.0, fig
    if cpu_s is not None:
        assert fig["cpu_s"] < cpu_s, fig


def assert_h2_still_served(proxy, port: int, pki, tls: bool) -> None:
    """A well-behaved client on a new connection gets its answer."""
    if tls:
        args = ["--http2", "--cacert", str(pki.ca.crt), "--resolve", "%s:%d:127.0.0.1" % (NAME, port),
                "https://%s:%d/hold" % (NAME, port)]
    else:
        args = ["--http2-prior-knowledge", "http://127.0.0.1:%d/hold" % port]
    r = rawhttp.curl(["-i"] + args, max_time=10)
    assert r.returncode == 0 and r.stdout.startswith(b"HTTP/2 200") and r.stdout.endswith(b"held\n"), r


# ========================================================= 1. rapid reset
RAPID_PAIRS = 100_000


@pytest.mark.parametrize("transport", ["tls", "h2c"])
def test_rapid_reset(request, proxy, pki, count_backend, transport):
    """100,000 HEADERS + RST_STREAM(CANCEL) pairs (1.7 MB) on one
    connection. nginx (with the per-iteration stream limit of 1.25.3,
    backported by Debian) and switchyard close the connection after a
    bounded number of streams, open a bounded number of backend
    connections, and keep serving everyone else."""
    tls = transport == "tls"
    port = start(proxy, pki, attack_conf(tls=tls), count_backend)
    peer = Peer(port, ca=pki.ca.crt if tls else None)
    run = Run(request, proxy, count_backend)
    try:
        peer.flood(rapid_reset_pairs(peer.scheme, RAPID_PAIRS), chunk=32768)
        peer.wait_closed(10)
        fig = run.finish(peer, pairs=RAPID_PAIRS, rst_received=peer.rst_codes)
    finally:
        peer.close()
    assert peer.closed, fig
    assert fig["backend_connects"] <= 600, fig
    assert_bounded(fig, cpu_s=20)
    if proxy.impl == "switchyard":
        # a GOAWAY says why before the close
        assert fig["goaways"] and fig["goaways"][-1][0] in (NO_ERROR, ENHANCE_YOUR_CALM), fig
    assert_h2_still_served(proxy, port, pki, tls)
    # nginx: 256 streams taken in the first read ("too many streams at
    # once" refuses the rest), then "client sent too many refused streams":
    # GOAWAY NO_ERROR and the close. switchyard does the same.
    assert fig["goaways"] and fig["goaways"][-1][0] == NO_ERROR, fig


SLOW_CONF = (
    block("upstream counted", "server 127.0.0.1:{backend} max_conns=4") + "\n"
    + block("server", "listen 127.0.0.1:{listen_h2c} http2", "server_name " + NAME,
            location("/", "http://counted", "proxy_read_timeout 30s")) + "\n"
    + block("server", "listen 127.0.0.1:{listen}", location("/witness", None, 'return 200 "witness\\n"')) + "\n")


def test_slow_rapid_reset_cancels_backend_connects(request, proxy, pki, count_backend):
    """The pairs sent apart (HEADERS, 10 ms, RST_STREAM), so that every
    stream starts and connects to its backend, which never answers
    (/silent); each reset must cancel that upstream connection: closed by
    the proxy (none left open at the backend), and the peer's connection
    count given back: with `max_conns=4`, a leak would leave the 5th stream
    and every later one without a peer (no more connects, a 502)."""
    proxy.start(SLOW_CONF, backend=count_backend.port)
    peer = Peer(proxy.ports["listen_h2c"])
    enc = hpack.Encoder()
    run = Run(request, proxy, count_backend)
    n = 150
    try:
        for i in range(n):
            sid = 1 + 2 * i
            block_ = request_block(enc, peer.scheme, "/silent/%d" % i)
            assert peer.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, block_))
            time.sleep(0.01)
            assert peer.send(rst(sid))
            peer.drain()
        fig = run.finish(peer, streams=n)
        assert not peer.closed and not peer.goaways, fig
    finally:
        peer.close()
    # most streams connected (a HEADERS read together with its RST_STREAM,
    # on a loaded machine, never starts); with a leak of max_conns no more
    # than 4 would have
    assert 20 <= fig["backend_connects"] <= n, fig
    wait_until(lambda: count_backend._read()["open"] == 0, 10, "every upstream connection closed")
    assert_bounded(fig)
    # the peer is usable: nothing of max_conns leaked
    r = rawhttp.curl(["--http2-prior-knowledge", "http://127.0.0.1:%d/after" % proxy.ports["listen_h2c"]], max_time=10)
    assert (r.returncode, r.stdout) == (0, b"ok\n"), r


# =========================================================== 2. HPACK bomb
BOMB_VALUE = "b" * 3900


def bomb_frames(enc: hpack.Encoder, scheme: str, first_sid: int, n: int) -> bytes:
    """n HEADERS frames (END_STREAM|END_HEADERS) of 16,384 bytes whose block
    is the request's fields, then the index of the x-bomb entry (the newest
    in the dynamic table: 62) over and over."""
    fields = request_block(enc, scheme)
    refs = bytes([0x80 | 62]) * (16384 - len(fields))
    out = bytearray()
    for i in range(n):
        out += frame(HEADERS, END_STREAM | END_HEADERS, first_sid + 2 * i, fields + refs)
    return bytes(out)


@pytest.mark.parametrize("transport", ["tls", "h2c"])
def test_hpack_bomb(request, proxy, pki, count_backend, transport):
    """A request whose x-bomb header (3.9 KB) enters the HPACK dynamic
    table, then 16 KB HEADERS frames that reference it ~16,300 times each
    (62 MB of fields decoded per frame), up to 8 MB of them. nginx answers
    the first such frame with GOAWAY ENHANCE_YOUR_CALM (the fields of a
    header block may not exceed large_client_header_buffers, 32 KB by
    default; logged as "client sent too large header"); so does
    switchyard, with little CPU spent and everyone else served."""
    tls = transport == "tls"
    port = start(proxy, pki, attack_conf(tls=tls), count_backend)
    peer = Peer(port, ca=pki.ca.crt if tls else None)
    enc = hpack.Encoder()
    # stream 1: a valid request that puts the header in the table (3.9 KB
    # is well under the limit)
    first = request_block(enc, peer.scheme, "/hold", [("x-bomb", BOMB_VALUE)])
    assert peer.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, first))
    peer.drain(1.0)
    assert not peer.closed and not peer.goaways
    run = Run(request, proxy, count_backend)
    try:
        peer.flood(bomb_frames(enc, peer.scheme, 3, 500), chunk=4 * 16393)
        peer.wait_closed(10)
        fig = run.finish(peer)
    finally:
        peer.close()
    assert peer.closed and [c for c, _ in fig["goaways"]] == [ENHANCE_YOUR_CALM], fig
    assert fig["backend_connects"] == 0, fig
    assert_bounded(fig, cpu_s=3)
    proxy.wait_error_log(r"\[info\].*client sent too large header while processing HTTP/2 connection")
    assert_h2_still_served(proxy, port, pki, tls)


def test_hpack_bomb_on_refused_stream(request, proxy, pki, count_backend):
    """The same bomb on a stream over http2_max_concurrent_streams (1 here:
    stream 1 stays open, its request body never ends): the stream is
    refused, yet its header block is decoded (HPACK state is per
    connection) and must be bounded the same way."""
    port = start(proxy, pki, attack_conf("http2_max_concurrent_streams 1", tls=False), count_backend)
    peer = Peer(port)
    enc = hpack.Encoder()
    first = request_block(enc, peer.scheme, "/hold", [("x-bomb", BOMB_VALUE)])
    assert peer.send(frame(HEADERS, END_HEADERS, 1, first))     # no END_STREAM: stream 1 stays open
    peer.drain(1.0)
    assert not peer.closed and not peer.goaways
    run = Run(request, proxy, count_backend)
    try:
        peer.flood(bomb_frames(enc, peer.scheme, 3, 500), chunk=4 * 16393)
        peer.wait_closed(10)
        fig = run.finish(peer)
    finally:
        peer.close()
    assert peer.closed and [c for c, _ in fig["goaways"]] == [ENHANCE_YOUR_CALM], fig
    assert_bounded(fig, cpu_s=3)
    proxy.wait_error_log(r"\[info\].*client sent too large header while processing HTTP/2 connection")
    if proxy.impl == "switchyard":
        proxy.wait_error_log(r"\[info\].*concurrent streams exceeded 1")


# ================================================= 3. control-frame floods
FLOOD_BYTES = 24 << 20


def flood_frames(kind: str) -> bytes:
    """FLOOD_BYTES of one kind of frame (stream 1 is open: a request whose
    body never ends)."""
    if kind == "settings":
        unit = frame(SETTINGS, 0, 0)
    elif kind == "ping":
        unit = frame(PING, 0, 0, b"12345678")
    elif kind == "priority":
        # idle streams made to depend on the root, over and over
        unit = b"".join(frame(PRIORITY, 0, sid, struct.pack(">IB", 0, 15)) for sid in (3, 5, 7, 9))
    elif kind == "window_update":
        unit = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1))
    elif kind == "empty_data":
        unit = frame(DATA, 0, 1)
    else:
        raise ValueError(kind)
    return unit * (FLOOD_BYTES // len(unit))


# kind: (nginx's GOAWAY codes, switchyard's); nginx closes a SETTINGS or
# PING flood without a GOAWAY when its queue of answers fills first, with
# GOAWAY NO_ERROR when its byte accounting fires first (a client that
# reads fast)
FLOOD_ANSWERS = {
    "settings": (([], [NO_ERROR]), [NO_ERROR]),
    "ping": (([], [NO_ERROR]), [NO_ERROR]),
    "priority": ([ENHANCE_YOUR_CALM], [ENHANCE_YOUR_CALM]),
    "window_update": ([NO_ERROR], [NO_ERROR]),
    "empty_data": ([NO_ERROR], [NO_ERROR]),
}


@pytest.mark.parametrize("kind", list(FLOOD_ANSWERS))
def test_control_frame_flood(request, proxy, pki, count_backend, kind):
    """24 MB of SETTINGS / PING / PRIORITY / WINDOW_UPDATE / empty DATA
    frames, sent by a client that also reads the answers (SETTINGS ACKs,
    PING ACKs). nginx closes each such connection long before the end:
    "http2 flood detected" (bytes received / 8 above the payload bytes +
    1 MB: after ~11 MB of WINDOW_UPDATE or empty DATA frames, GOAWAY
    NO_ERROR; sooner and without a GOAWAY for SETTINGS and PING, whose
    answers pile up), "client sent too many PRIORITY frames" (GOAWAY
    ENHANCE_YOUR_CALM after max(http2_max_concurrent_streams, 100) of
    them). switchyard: the same accounting and PRIORITY limit, and
    nghttp2's limit of 1000 queued SETTINGS/PING ACKs, "http2 flood
    detected" with GOAWAY NO_ERROR. Memory stays bounded, the witness is
    answered throughout."""
    port = start(proxy, pki, attack_conf(tls=False), count_backend)
    peer = Peer(port)
    enc = hpack.Encoder()
    assert peer.send(frame(HEADERS, END_HEADERS, 1, request_block(enc, peer.scheme, "/hold")))
    peer.drain(1.0)
    run = Run(request, proxy, count_backend)
    try:
        peer.flood(flood_frames(kind))
        peer.wait_closed(10)
        fig = run.finish(peer, kind=kind, frames_received=peer.counts)
    finally:
        peer.close()
    assert peer.closed, fig
    assert peer.sent < FLOOD_BYTES, fig
    codes = [c for c, _ in fig["goaways"]]
    if proxy.impl == "nginx" and kind in ("settings", "ping"):
        assert codes in FLOOD_ANSWERS[kind][0], fig
    else:
        assert codes == FLOOD_ANSWERS[kind][0 if proxy.impl == "nginx" else 1], fig
    why = "client sent too many PRIORITY frames" if kind == "priority" else "http2 flood detected"
    proxy.wait_error_log(r"\[info\].*%s while processing HTTP/2 connection" % why)
    assert_bounded(fig, cpu_s=20)
    assert_h2_still_served(proxy, port, pki, False)


def test_hpack_bomb_after_goaway(request, proxy, pki, count_backend):
    """The bomb on streams the server ignores: keepalive_requests 1, so the
    first request (which puts x-bomb in the table) is answered with a
    GOAWAY, and every later stream is over its last stream id. Their header
    blocks are still decoded (HPACK state is per connection): the cost must
    stay bounded all the same. nghttp2 decodes the blocks of streams it
    ignores without checking the fields (cheap: 0.2 s of CPU for 8 MB),
    and the flood detector ends the connection (GOAWAY NO_ERROR) after
    ~9 MB of such frames, which carry no payload. (nginx closes the
    connection as soon as the answered stream is done.)"""
    port = start(proxy, pki, attack_conf("keepalive_requests 1", tls=False), count_backend)
    peer = Peer(port)
    enc = hpack.Encoder()
    first = request_block(enc, peer.scheme, "/hold", [("x-bomb", BOMB_VALUE)])
    assert peer.send(frame(HEADERS, END_HEADERS, 1, first))     # stream 1 stays open: no close yet
    deadline = time.monotonic() + 5
    while not peer.goaways and not peer.closed and time.monotonic() < deadline:
        peer.drain(0.2)
    assert [c for c, _ in peer.goaways] == [NO_ERROR], peer.goaways
    if peer.closed:
        # nginx closes at once: the answered stream ends its request body
        # wait, and with the GOAWAY sent nothing is left to serve
        assert proxy.impl == "nginx"
        peer.close()
        return
    run = Run(request, proxy, count_backend)
    try:
        peer.flood(bomb_frames(enc, peer.scheme, 3, 800), chunk=4 * 16393)
        peer.wait_closed(10)
        fig = run.finish(peer)
    finally:
        peer.close()
    assert peer.closed, fig
    assert_bounded(fig, cpu_s=3)
    if proxy.impl == "nginx":
        # it closes once the answered stream is done (the race with the
        # first bomb frames decides whether that is seen before them)
        assert [c for c, _ in fig["goaways"]] in ([NO_ERROR], [NO_ERROR, NO_ERROR]), fig
        return
    assert [c for c, _ in fig["goaways"]] == [NO_ERROR, NO_ERROR], fig
    proxy.wait_error_log(r"\[info\].*http2 flood detected while processing HTTP/2 connection")


def test_continuation_flood(request, proxy, pki, count_backend):
    """HEADERS without END_HEADERS, then CONTINUATION frames that never
    end the block (CVE-2024-27316's shape): empty ones, which add no field
    to a size limit. nginx's flood detector closes the connection after
    ~11 MB of them (GOAWAY NO_ERROR); nghttp2 allows 8 CONTINUATIONs a
    block: switchyard answers the 9th with GOAWAY ENHANCE_YOUR_CALM ("client
    sent too many CONTINUATION frames"). Nothing piles up."""
    port = start(proxy, pki, attack_conf(tls=False), count_backend)
    peer = Peer(port)
    enc = hpack.Encoder()
    run = Run(request, proxy, count_backend)
    try:
        head = frame(HEADERS, 0, 1, request_block(enc, peer.scheme))
        peer.flood(head + frame(CONTINUATION, 0, 1) * ((FLOOD_BYTES - len(head)) // 9))
        peer.wait_closed(10)
        fig = run.finish(peer)
    finally:
        peer.close()
    assert peer.closed and peer.sent < FLOOD_BYTES, fig
    codes = [c for c, _ in fig["goaways"]]
    assert codes == ([NO_ERROR] if proxy.impl == "nginx" else [ENHANCE_YOUR_CALM]), fig
    assert fig["backend_connects"] == 0, fig
    assert_bounded(fig, cpu_s=10)
    if proxy.impl == "switchyard":
        proxy.wait_error_log(r"\[info\].*client sent too many CONTINUATION frames while processing HTTP/2 connection")
