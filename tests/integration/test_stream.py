"""stream {}: TCP proxying as nginx's stream module does it — `server` with
`listen` and `proxy_pass` (an address or an upstream block), the upstream
balancers, `proxy_connect_timeout`, `proxy_timeout`, `proxy_next_upstream`,
`proxy_half_close`, the stream access log and its variables.

Every test runs on switchyard and on Debian's nginx with its stream module
(libnginx-mod-stream, loaded with `load_module`, which switchyard accepts
for the module it has built in). Peers are plain TCP servers in this process
(harness/tcp.py) and real sockets on the client side.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from harness import config as cfg
from harness.marks import only_switchyard
from harness.ports import closed_port
from harness.tcp import StalledListener, TcpBackend, recv_all, recv_to_eof
from harness.wait import wait_until

STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")

LOG_FORMAT = ("log_format basic '$remote_addr:$remote_port $protocol $status $bytes_sent $bytes_received '\n"
              "                 '\"$upstream_addr\" \"$upstream_bytes_sent\" \"$upstream_bytes_received\" "
              "\"$upstream_connect_time\" $session_time';")


# The plainest stream server: one listen, straight to one backend.
PASS = """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
    }"""


@pytest.fixture
def tcp_backend():
    started = []

    def start(mode: str = "echo", name: str = "backend") -> TcpBackend:
        b = TcpBackend(mode, name)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def start_stream(proxy, body: str, **values):
    """Starts the program with `stream { <LOG_FORMAT> <body> }` (and nginx's
    stream module loaded)."""
    if proxy.impl == "nginx" and not STREAM_MODULE.exists():
        pytest.skip("this nginx has no stream module (apt-get install libnginx-mod-stream)")
    conf = "load_module %s;\n" % STREAM_MODULE + cfg.wrap_main("stream {\n%s\n%s\n}\n" % (LOG_FORMAT, body))
    proxy.start_conf(conf, **values)


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def parse_log(line: str) -> dict:
    m = re.fullmatch(r'(\S+):(\d+) (\S+) (\d{3}) (\d+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\d+\.\d{3})',
                     line)
    assert m, line
    keys = ["remote_addr", "remote_port", "protocol", "status", "bytes_sent", "bytes_received", "upstream_addr",
            "upstream_bytes_sent", "upstream_bytes_received", "upstream_connect_time", "session_time"]
    return dict(zip(keys, m.groups()))


def session_logs(proxy, ports: list[int], name: str = "stream.log") -> list[dict]:
    """The access log entries of the sessions from these client ports (the
    harness's own readiness probe has a line too), in the order of ports."""
    path = proxy.prefix / "logs" / name

    def found():
        if not path.exists():
            return None
        entries = {int(e["remote_port"]): e for e in map(parse_log, path.read_text().splitlines())}
        return all(p in entries for p in ports) and [entries[p] for p in ports]
    return wait_until(found, 10, "log lines of client ports %s in %s" % (ports, name))


# ------------------------------------------------------------------- basics
def test_stream_echo_byte_exact_both_ways(proxy, tcp_backend):
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        access_log logs/stream.log basic;
    }""", backend=be.port)
    data = os.urandom(3 * 1024 * 1024)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        s.sendall(data)   # the echo comes back while we send: the socket buffers hold it
        got = recv_all(s, len(data))
        assert got == data
        s.shutdown(socket.SHUT_WR)
        rest, eof = recv_to_eof(s)
        assert (rest, eof) == (b"", True)
    f = session_logs(proxy, [port])[0]
    n = str(len(data))
    assert (f["remote_addr"], f["protocol"], f["status"], f["bytes_sent"], f["bytes_received"]) == \
        ("127.0.0.1", "TCP", "200", n, n), f
    assert (f["upstream_addr"], f["upstream_bytes_sent"], f["upstream_bytes_received"]) == \
        ("127.0.0.1:%d" % be.port, n, n), f
    assert re.fullmatch(r"\d+\.\d{3}", f["upstream_connect_time"]), f


def test_stream_upstream_block_and_banner_first(proxy, tcp_backend):
    """The backend speaks first (no client bytes needed to start)."""
    be = tcp_backend("banner", "b1")
    start_stream(proxy, """
    upstream app {
        server 127.0.0.1:{backend};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
    }""", backend=be.port)
    with connect(proxy.port) as s:
        assert recv_all(s, 14) == b"hello from b1\n"
        s.sendall(b"ping\n")
        assert recv_all(s, 5) == b"ping\n"


def test_stream_hash_remote_addr_consistent(proxy, tcp_backend):
    """The seeds' `hash $remote_addr consistent`: one client address, one peer."""
    b1, b2 = tcp_backend("banner", "b1"), tcp_backend("banner", "b2")
    start_stream(proxy, """
    upstream wssapp {
        hash $remote_addr consistent;
        server 127.0.0.1:{b1};
        server 127.0.0.1:{b2};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass wssapp;
    }""", b1=b1.port, b2=b2.port)
    seen = set()
    for _ in range(6):
        with connect(proxy.port) as s:
            seen.add(recv_all(s, 14))
    assert len(seen) == 1, seen


def test_stream_round_robin_weights(proxy, tcp_backend):
    b1, b2 = tcp_backend("banner", "b1"), tcp_backend("banner", "b2")
    start_stream(proxy, """
    upstream app {
        server 127.0.0.1:{b1} weight=2;
        server 127.0.0.1:{b2};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
    }""", b1=b1.port, b2=b2.port)
    got = []
    for _ in range(6):
        with connect(proxy.port) as s:
            got.append(recv_all(s, 14)[11:13].decode())
    assert sorted(got) == ["b1"] * 4 + ["b2"] * 2, got


@pytest.mark.parametrize("method", ["least_conn", "random two least_conn"])
def test_stream_least_conn_counts_open_sessions(proxy, tcp_backend, method):
    """least_conn (alone, or as random's choice between two) counts the
    sessions a peer holds open: four long sessions at once end up two on
    each backend."""
    b1, b2 = tcp_backend("banner", "b1"), tcp_backend("banner", "b2")
    start_stream(proxy, """
    upstream app {
        %s;
        server 127.0.0.1:{b1};
        server 127.0.0.1:{b2};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
    }""" % method, b1=b1.port, b2=b2.port)
    time.sleep(0.3)   # the harness's readiness probe has let go of its peer
    held = []
    try:
        for _ in range(4):
            s = connect(proxy.port)
            held.append(s)
            assert recv_all(s, 14).startswith(b"hello from b")
        for s in held:   # every session is live (the echo after the banner)
            s.sendall(b"?")
            assert recv_all(s, 1) == b"?"
        used = [sum(1 for c in b.conns if c["received"]) for b in (b1, b2)]
        assert used == [2, 2], (b1.conns, b2.conns)
    finally:
        for s in held:
            s.close()


def test_stream_max_fails_sets_a_dead_peer_aside(proxy, tcp_backend):
    """max_fails=1 fail_timeout=30s: after one refused connect the dead peer
    is skipped, so at most one session ever tries it."""
    be = tcp_backend("banner", "live")
    dead = closed_port()
    start_stream(proxy, """
    upstream app {
        server 127.0.0.1:{dead} max_fails=1 fail_timeout=30s;
        server 127.0.0.1:{backend};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
        access_log logs/stream.log basic;
    }""", dead=dead, backend=be.port)
    ports = []
    for _ in range(6):
        with connect(proxy.port) as s:
            ports.append(s.getsockname()[1])
            assert recv_all(s, 16) == b"hello from live\n"
    logs = session_logs(proxy, ports)
    assert all(f["status"] == "200" for f in logs), logs
    tried_dead = [f for f in logs if str(dead) in f["upstream_addr"]]
    assert len(tried_dead) <= 1, logs


def test_stream_listen_reuseport_backlog(proxy, tcp_backend):
    """The options reach the listening socket: another SO_REUSEPORT socket
    may bind the same address (only if the proxy's has it too), and the
    kernel reports the backlog (ss's Send-Q of a listener)."""
    import subprocess
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen} reuseport backlog=64;
        proxy_pass 127.0.0.1:{backend};
    }""", backend=be.port)
    with connect(proxy.port) as s:
        s.sendall(b"hello")
        assert recv_all(s, 5) == b"hello"
    twin = socket.socket()
    try:
        twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        twin.bind(("127.0.0.1", proxy.port))   # EADDRINUSE without reuseport on the proxy's socket
    finally:
        twin.close()
    out = subprocess.run(["ss", "-ltnH", "sport = :%d" % proxy.port], capture_output=True, text=True,
                         timeout=10).stdout
    assert [line.split()[2] for line in out.splitlines()] == ["64"], out


# ------------------------------------------------------------ failures
# The dead peer first for every session (max_fails=0: never set aside, and
# the live one a backup), whatever the harness's readiness probe did.
NEXT_UPSTREAM = """
    upstream app {
        server 127.0.0.1:{dead} max_fails=0;
        server 127.0.0.1:{backend} backup;
    }"""


def test_stream_next_upstream_after_refused_connect(proxy, tcp_backend):
    be = tcp_backend("banner", "live")
    dead = closed_port()
    start_stream(proxy, NEXT_UPSTREAM + """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
        access_log logs/stream.log basic;
    }""", dead=dead, backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        assert recv_all(s, 16) == b"hello from live\n"
        s.sendall(b"x")
        assert recv_all(s, 1) == b"x"
    f = session_logs(proxy, [port])[0]
    assert f["status"] == "200"
    assert f["upstream_addr"] == "127.0.0.1:%d, 127.0.0.1:%d" % (dead, be.port), f
    assert f["upstream_connect_time"].startswith("-, "), f
    proxy.wait_error_log(r"\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, "
                         r"client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d, upstream: \"127\.0\.0\.1:%d\"" % (proxy.port, dead))


def test_stream_no_live_peer_is_502(proxy):
    dead = closed_port()
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{dead};
        access_log logs/stream.log basic;
    }""", dead=dead)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        data, eof = recv_to_eof(s)
        assert (data, eof) == (b"", True)
    f = session_logs(proxy, [port])[0]
    assert (f["status"], f["bytes_sent"], f["upstream_addr"]) == ("502", "0", "127.0.0.1:%d" % dead), f


def test_stream_proxy_next_upstream_off(proxy, tcp_backend):
    be = tcp_backend("banner", "live")
    dead = closed_port()
    start_stream(proxy, NEXT_UPSTREAM + """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass app;
        proxy_next_upstream off;
        access_log logs/stream.log basic;
    }""", dead=dead, backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        assert recv_to_eof(s) == (b"", True)
    f = session_logs(proxy, [port])[0]
    assert (f["status"], f["upstream_addr"]) == ("502", "127.0.0.1:%d" % dead), f
    assert be.conns == [], be.conns


def test_stream_connect_timeout(proxy):
    stalled = StalledListener()
    try:
        start_stream(proxy, """
        server {
            listen 127.0.0.1:{listen};
            proxy_pass 127.0.0.1:{stalled};
            proxy_connect_timeout 1s;
            access_log logs/stream.log basic;
        }""", stalled=stalled.port)
        started = time.monotonic()
        with connect(proxy.port) as s:
            port = s.getsockname()[1]
            data, eof = recv_to_eof(s, 10)
        took = time.monotonic() - started
        assert (data, eof) == (b"", True)
        assert 0.8 < took < 5, took
        f = session_logs(proxy, [port])[0]
        assert f["status"] == "502", f
        proxy.wait_error_log(r"\[error\] .*upstream timed out \(110: Connection timed out\) while connecting to "
                             r"upstream, client: 127\.0\.0\.1")
    finally:
        stalled.stop()


def test_stream_proxy_timeout_closes_idle_session(proxy, tcp_backend):
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_timeout 1s;
        access_log logs/stream.log basic;
    }""", backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        s.sendall(b"abc")
        assert recv_all(s, 3) == b"abc"
        started = time.monotonic()
        data, eof = recv_to_eof(s, 10)
        took = time.monotonic() - started
    assert (data, eof) == (b"", True)
    assert 0.8 < took < 5, took
    f = session_logs(proxy, [port])[0]
    assert (f["status"], f["bytes_sent"], f["bytes_received"]) == ("200", "3", "3"), f


# ------------------------------------------------------------ half-close
@pytest.mark.parametrize("half_close", ["on", "off"])
def test_stream_half_close(proxy, tcp_backend, half_close):
    """nginx's stream_proxy_half_close.t: with proxy_half_close on, a client
    that shuts down its write side still gets the backend's answer; off (the
    default), the client's EOF ends the session."""
    be = tcp_backend("reply_at_eof")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_half_close %s;
    }""" % half_close, backend=be.port)
    with connect(proxy.port) as s:
        s.sendall(b"x" * 1000)
        s.shutdown(socket.SHUT_WR)
        data, eof = recv_to_eof(s, 10)
    assert eof
    assert data == (b"got 1000 bytes\n" if half_close == "on" else b""), data


# ------------------------------------------------------------ large transfers
def test_stream_large_transfer_byte_exact(proxy, tcp_backend):
    """100 MB each way at once (the echo's answer flows while the client
    still sends), checked byte for byte."""
    be = tcp_backend("echo")
    start_stream(proxy, PASS, backend=be.port)
    data = os.urandom(100 * 1024 * 1024)
    with connect(proxy.port) as s:
        sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        sender.start()
        got = recv_all(s, len(data), timeout=60)
        sender.join(30)
    assert len(got) == len(data) and got == data


def test_stream_bulk_with_a_stalled_reader_byte_exact(proxy, tcp_backend):
    """80 MB sent while the client reads nothing for a second: the echo backs
    up through the proxy (switchyard: spliced bytes wait in a pipe, the other
    direction stops reading) and holds the sender back — 80 MB is more than
    all the socket buffers on the way can hold (Linux's loopback autotuning
    grows each to 4-6 MB) — then every byte arrives in order."""
    be = tcp_backend("echo")
    start_stream(proxy, PASS, backend=be.port)
    data = os.urandom(80 * 1024 * 1024)
    with connect(proxy.port) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        sender.start()
        time.sleep(1.0)
        assert sender.is_alive()   # held back: nothing was read yet
        got = recv_all(s, len(data), timeout=60)
        sender.join(30)
    assert len(got) == len(data) and got == data


def test_stream_bulk_then_half_close(proxy, tcp_backend):
    """10 MB and then the client's FIN (proxy_half_close on): the backend reads
    every byte and then the EOF (the FIN queued behind bulk data is not lost),
    and its answer comes back on the half-closed session."""
    be = tcp_backend("reply_at_eof")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_half_close on;
    }""", backend=be.port)
    n = 10 * 1024 * 1024
    with connect(proxy.port) as s:
        s.sendall(os.urandom(n))
        s.shutdown(socket.SHUT_WR)
        data, eof = recv_to_eof(s, 30)
    assert eof and data == b"got %d bytes\n" % n, data


def test_stream_urgent_byte_mid_bulk_loses_nothing_else(proxy, tcp_backend):
    """A TCP urgent byte (MSG_OOB) in the middle of a bulk transfer: the
    proxy's reads step over it (nginx's recv() does, and so must a spliced
    direction, which the kernel stops at the urgent mark); every other byte
    reaches the backend, before the EOF."""
    be = tcp_backend("reply_at_eof")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_half_close on;
    }""", backend=be.port)
    before, after = 4 << 20, 100000
    with connect(proxy.port) as s:
        s.sendall(os.urandom(before))
        time.sleep(0.3)
        s.send(b"U", socket.MSG_OOB)
        time.sleep(0.3)
        s.sendall(os.urandom(after))
        time.sleep(0.3)
        s.shutdown(socket.SHUT_WR)
        data, eof = recv_to_eof(s, 30)
    assert eof and data == b"got %d bytes\n" % (before + after), data


def test_stream_client_reset_mid_bulk_spares_other_sessions(proxy, tcp_backend):
    """A client that resets while megabytes are in flight to it ends only its
    own session: one beside it goes on echoing, and a new one works."""
    be = tcp_backend("echo")
    start_stream(proxy, PASS, backend=be.port)
    with connect(proxy.port) as other:
        other.sendall(b"before")
        assert recv_all(other, 6, 10) == b"before"
        bulk = connect(proxy.port)
        bulk.settimeout(1.0)
        sent = 0
        chunk = os.urandom(1 << 20)
        try:
            while sent < (64 << 20):   # until the proxy stops taking bytes
                sent += bulk.send(chunk)
        except socket.timeout:
            pass
        assert sent > (1 << 20)
        bulk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        bulk.close()   # RST with the echo backed up towards it
        time.sleep(0.3)
        for i in range(3):
            other.sendall(b"after %d" % i)
            assert recv_all(other, 7, 10) == b"after %d" % i
    with connect(proxy.port) as fresh:
        fresh.sendall(b"fresh")
        assert recv_all(fresh, 5, 10) == b"fresh"
    assert proxy.running


# ------------------------------------------------------------ config errors
T_CASES = {
    "no-port": ("server {\n    listen 127.0.0.1:{listen};\n    proxy_pass 127.0.0.1;\n}",
                r'no port in upstream "127\.0\.0\.1" in {conf}:3'),
    "no-listen": ("server {\n    proxy_pass 127.0.0.1:9;\n}", r'no "listen" is defined for server in {conf}:1'),
    "no-handler": ("server {\n    listen 127.0.0.1:{listen};\n}", r'no handler for server in {conf}:1'),
    "return-duplicate": ("server {\n    listen 127.0.0.1:{listen};\n    return a;\n    return b;\n}",
                         r'"return" directive is duplicate in {conf}:4'),
    "return-two-args": ("server {\n    listen 127.0.0.1:{listen};\n    return a b;\n}",
                        r'invalid number of arguments in "return" directive in {conf}:3'),
    "http-directive": ("server {\n    listen 127.0.0.1:{listen};\n    proxy_pass 127.0.0.1:9;\n"
                       "    proxy_set_header Host x;\n}", r'"proxy_set_header" directive is not allowed here in {conf}:4'),
}


@pytest.mark.parametrize("case", list(T_CASES))
def test_stream_config_errors(proxy, case):
    if proxy.impl == "nginx" and not STREAM_MODULE.exists():
        pytest.skip("this nginx has no stream module")
    body, message = T_CASES[case]
    conf = "load_module %s;\n" % STREAM_MODULE + cfg.wrap_main("stream {\n%s\n}\n" % body)
    r = proxy.run_t(conf, wrap=False)
    assert r.returncode == 1, r.output
    text = r.conf_path.read_text()
    first = text.splitlines().index("stream {") + 1   # line numbers in the cases count from the stream block
    msg = message.replace("{conf}", re.escape(str(r.conf_path)))
    msg = re.sub(r":(\d+)$", lambda m: ":%d" % (first + int(m.group(1))), msg)
    assert re.search(r"\[emerg\] " + msg, r.stderr), r.output


# ------------------------------------------------------------ PROXY protocol
PP_FORMAT = ("log_format pp '$remote_addr $remote_port $proxy_protocol_addr $proxy_protocol_port "
             "$realip_remote_addr $status $bytes_received';")


def pp_conf(trusted: str) -> str:
    return PP_FORMAT + """
    server {
        listen 127.0.0.1:{listen} proxy_protocol;
        set_real_ip_from %s;
        proxy_pass 127.0.0.1:{backend};
        proxy_protocol_timeout 1s;
        access_log logs/pp.log pp;
    }""" % trusted


def pp_log(proxy, src_port: int) -> list[str]:
    """The pp.log line of the session whose PROXY header named this source port."""
    path = proxy.prefix / "logs" / "pp.log"
    return wait_until(lambda: path.exists() and [l.split() for l in path.read_text().splitlines()
                                                 if l.split()[3] == str(src_port)], 10, "pp.log line")[0]


def proxy_v2(src: str, dst: str, sport: int, dport: int) -> bytes:
    import ipaddress
    import struct
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.0/8"])
def test_stream_proxy_protocol_v1_received(proxy, tcp_backend, trusted):
    """$proxy_protocol_addr is the header's; $remote_addr becomes it only for
    a peer in set_real_ip_from (nginx's realip): otherwise it stays ours."""
    be = tcp_backend("echo")
    start_stream(proxy, pp_conf(trusted), backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        s.sendall(b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nhello")
        assert recv_all(s, 5) == b"hello"   # the header is not forwarded
    f = pp_log(proxy, 40000)
    if trusted == "127.0.0.1":
        assert f == ["192.0.2.7", "40000", "192.0.2.7", "40000", "127.0.0.1", "200", "5"], f
    else:
        assert f == ["127.0.0.1", str(port), "192.0.2.7", "40000", "127.0.0.1", "200", "5"], f
    assert be.wait_conns(1)[-1]["first"] == b"hello"


def test_stream_proxy_protocol_v2_ipv6_received(proxy, tcp_backend):
    be = tcp_backend("echo")
    start_stream(proxy, pp_conf("127.0.0.0/8"), backend=be.port)
    with connect(proxy.port) as s:
        s.sendall(proxy_v2("2001:db8::7", "2001:db8::1", 40001, 443) + b"v2 data")
        assert recv_all(s, 7) == b"v2 data"
    f = pp_log(proxy, 40001)
    assert f == ["2001:db8::7", "40001", "2001:db8::7", "40001", "127.0.0.1", "200", "7"], f


@pytest.mark.parametrize("header", [b"GARBAGE / HTTP/1.1\r\n\r\n", b"PROXY TCP4 192.0.2.7 198.51.100.1 99999 443\r\nx",
                                    b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12])
def test_stream_proxy_protocol_broken_header(proxy, tcp_backend, header):
    """Closed and logged; nothing reaches the backend; a second client is served."""
    be = tcp_backend("echo")
    start_stream(proxy, pp_conf("127.0.0.1"), backend=be.port)
    with connect(proxy.port) as s:
        s.sendall(header)
        assert recv_to_eof(s, 5) == (b"", True)
    proxy.wait_error_log(r"\[error\] .*(broken header|unknown PROXY protocol version)")
    with connect(proxy.port) as s:
        s.sendall(b"PROXY TCP4 192.0.2.8 198.51.100.1 40002 443\r\nok")
        assert recv_all(s, 2) == b"ok"
    assert [c["first"] for c in be.conns if c["received"]] == [b"ok"]


def test_stream_proxy_protocol_truncated_header(proxy, tcp_backend):
    """A header that stops half way: closed (switchyard after
    proxy_protocol_timeout, nginx 1.22 at once: it parses the first read
    only), never forwarded."""
    be = tcp_backend("echo")
    start_stream(proxy, pp_conf("127.0.0.1"), backend=be.port)
    started = time.monotonic()
    with connect(proxy.port) as s:
        s.sendall(b"PROXY TCP4 192.0.2.7 198.5")
        assert recv_to_eof(s, 5) == (b"", True)
    assert time.monotonic() - started < 5
    assert [c for c in be.conns if c["received"]] == []


def test_stream_proxy_protocol_sent_to_backend(proxy, tcp_backend):
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_protocol on;
    }""", backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        s.sendall(b"payload")
        header = b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (port, proxy.port)
        assert recv_all(s, len(header) + 7) == header + b"payload"   # the echo sends the header back too
    first = [c["first"] for c in be.wait_conns(1) if c["first"].startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 %d " % port)]
    assert first and first[0].startswith(header), be.conns


@only_switchyard("proxy_protocol_version is switchyard's: nginx always sends v1")
def test_stream_proxy_protocol_v2_sent_to_backend(proxy, tcp_backend):
    """proxy_protocol_version 2: the backend reads the binary header (PROXY
    over TCP/IPv4, the client's address and port, the one it reached), then
    the client's bytes."""
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_protocol on;
        proxy_protocol_version 2;
    }""", backend=be.port)
    with connect(proxy.port) as s:
        port = s.getsockname()[1]
        s.sendall(b"payload")
        got = recv_all(s, 28 + 7)
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    assert got[:12] == sig, got
    ver_cmd, fam, length = got[12], got[13], struct.unpack("!H", got[14:16])[0]
    assert (ver_cmd, fam, length) == (0x21, 0x11, 12), got[:16]
    src, dst = socket.inet_ntoa(got[16:20]), socket.inet_ntoa(got[20:24])
    sport, dport = struct.unpack("!HH", got[24:28])
    assert (src, dst, sport, dport) == ("127.0.0.1", "127.0.0.1", port, proxy.port)
    assert got[28:] == b"payload"


def test_stream_proxy_protocol_version_bad_value(proxy):
    if proxy.impl == "nginx":
        pytest.skip("proxy_protocol_version is switchyard's")
    conf = cfg.wrap_main("stream {\n    server {\n        listen 127.0.0.1:{listen};\n"
                         "        proxy_pass 127.0.0.1:9;\n        proxy_protocol_version 3;\n    }\n}\n")
    r = proxy.run_t(conf, wrap=False)
    assert r.returncode == 1, r.output
    line = r.conf_path.read_text().splitlines().index("stream {") + 5
    assert re.search(r'\[emerg\] invalid value "3" in "proxy_protocol_version" directive, it must be "1" or "2" in '
                     + re.escape(str(r.conf_path)) + ":%d" % line, r.stderr), r.output


# ------------------------------------------------------------ reload
def test_stream_session_survives_a_reload(proxy, tcp_backend):
    """A reload (SIGHUP) that points the server elsewhere: the open session
    goes on with its backend, new sessions go to the new one."""
    import signal
    b1, b2 = tcp_backend("banner", "b1"), tcp_backend("banner", "b2")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{b1};
    }""", b1=b1.port, b2=b2.port)
    with connect(proxy.port) as old:
        assert recv_all(old, 14) == b"hello from b1\n"
        conf_path = proxy.prefix / "nginx.conf"
        conf_path.write_text(conf_path.read_text().replace(":%d;" % b1.port, ":%d;" % b2.port))
        os.kill(proxy.pid, signal.SIGHUP)

        def reaches_b2():
            with connect(proxy.port) as s:
                return recv_all(s, 14, timeout=5) == b"hello from b2\n"
        wait_until(reaches_b2, 10, "a new session through the reloaded configuration")
        for i in range(3):
            old.sendall(b"still here %d\n" % i)
            assert recv_all(old, 13) == b"still here %d\n" % i


# ------------------------------------------------------------ return
def test_stream_return_text_with_variables(proxy):
    """`return VALUE;` (no proxy_pass): the text, variables evaluated, goes to
    the client and the session ends; $status 200, $bytes_sent its length."""
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        return "addr=$remote_addr port=$remote_port proto=$protocol\\n";
        access_log logs/stream.log basic;
    }""")
    ports = []
    for _ in range(3):
        with connect(proxy.port) as s:
            port = s.getsockname()[1]
            data, eof = recv_to_eof(s)
        assert eof
        assert data == b"addr=127.0.0.1 port=%d proto=TCP\n" % port, data
        ports.append(port)
    for port, e in zip(ports, session_logs(proxy, ports)):
        assert e["status"] == "200", e
        assert int(e["bytes_sent"]) == len(b"addr=127.0.0.1 port=%d proto=TCP\n" % port), e
        assert (e["bytes_received"], e["upstream_addr"]) == ("0", "-"), e


def test_stream_return_or_proxy_pass_last_one_wins(proxy, tcp_backend):
    """proxy_pass and return in one server: the later one is the handler."""
    be = tcp_backend("echo")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        return "returned\\n";
    }
    server {
        listen 127.0.0.1:{listen2};
        return "returned\\n";
        proxy_pass 127.0.0.1:{backend};
    }""", backend=be.port)
    with connect(proxy.port) as s:
        assert recv_to_eof(s) == (b"returned\n", True)
    with connect(proxy.ports["listen2"]) as s:
        s.sendall(b"echo me")
        assert recv_all(s, 7) == b"echo me"
    # (the harness's readiness probe of {listen2} connects to the backend too, sending nothing)
    assert [c["first"] for c in be.wait_conns(1) if c["received"]] == [b"echo me"]
