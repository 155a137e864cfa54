"""stream {} with TLS: the seeds' wss:// passthrough (nothing decrypted),
`ssl_preread` routing by SNI through a `map`, TLS termination in a stream
server, and TLS to the backend (`proxy_ssl`, verified). Backends are the
harness's TLS backends (Python ssl) with certificates of the test CA; both
switchyard and nginx (with its stream module) run every test unless noted.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import time

import pytest

from harness import rawhttp
from harness.backends import backend_factory
from harness.marks import only_switchyard
from harness.tcp import TcpBackend, recv_all, recv_to_eof
from harness.tls import TlsHttpBackend, TlsWsBackend, client_context, session_pki, wss_connect
from test_stream import STREAM_MODULE, connect, session_logs, start_stream, tcp_backend  # noqa: F401


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


@pytest.fixture
def tls_backends(workdir, pki):
    """start(kind, name, dns) -> a TLS backend ("http" or "ws") whose
    certificate is for `dns`."""
    def make(kind: str, name: str, dns: str):
        crt, key = pki.leaf(dns, dns)
        cls = TlsWsBackend if kind == "ws" else TlsHttpBackend
        return cls(workdir, name, crt, key)
    with backend_factory(make) as start:
        yield start


def tls_request(port: int, sni: str, ca, path: str = "/tls-info", alpn=None) -> tuple[rawhttp.Response, dict]:
    """GET over TLS to 127.0.0.1:port with this SNI, verified for it."""
    ctx = client_context(ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        local = raw.getsockname()[1]
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, sni)).encode())
            resp = rawhttp.Reader(s, 10).response()
            return resp, {"version": s.version(), "port": local}


# ------------------------------------------------------------ passthrough
def test_stream_wss_passthrough_to_tls_websocket_backend(proxy, tls_backends, pki):
    """The seeds' question: `stream { upstream ...; server { listen ...;
    proxy_pass ...; } }` in front of a wss:// backend. The client's TLS goes
    through untouched: the backend sees its SNI, and the proxy has no
    certificate at all."""
    be = tls_backends("ws", "wss", "ws.example.test")
    start_stream(proxy, """
    upstream wssapp {
        hash $remote_addr consistent;
        server 127.0.0.1:{backend};
    }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass wssapp;
        proxy_timeout 3600s;
    }""", backend=be.port)

    async def run():
        async with wss_connect(proxy.port, "ws.example.test", "/echo", pki.ca.crt) as ws:
            for i in range(3):
                await ws.send("message %d" % i)
                assert await asyncio.wait_for(ws.recv(), 10) == "message %d" % i
            await ws.send("__tls__")
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
    info = asyncio.run(asyncio.wait_for(run(), 30))
    assert info["sni"] == "ws.example.test", info


# ------------------------------------------------------------ ssl_preread
PREREAD = """
    log_format sni '$remote_addr:$remote_port "$ssl_preread_server_name" "$ssl_preread_protocol" '
                   '"$ssl_preread_alpn_protocols" $upstream_addr $status';
    map $ssl_preread_server_name $name_upstream {
        a.example.test  site_a;
        b.example.test  site_b;
        default         site_a;
    }
    upstream site_a {
        server 127.0.0.1:{a};
    }
    upstream site_b {
        server 127.0.0.1:{b};
    }
    server {
        listen 127.0.0.1:{listen};
        ssl_preread on;
        proxy_pass $name_upstream;
        access_log logs/sni.log sni;
    }"""


def sni_logs(proxy, ports):
    path = proxy.prefix / "logs" / "sni.log"

    def found():
        if not path.exists():
            return None
        got = {}
        for line in path.read_text().splitlines():
            m = re.fullmatch(r'127\.0\.0\.1:(\d+) "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\d+)', line)
            assert m, line
            got[int(m.group(1))] = m.groups()[1:]
        return all(p in got for p in ports) and [got[p] for p in ports]
    from harness.wait import wait_until
    return wait_until(found, 10, "sni.log lines for ports %s" % ports)


def test_stream_ssl_preread_routes_by_sni(proxy, tls_backends, pki):
    a = tls_backends("http", "a", "a.example.test")
    b = tls_backends("http", "b", "b.example.test")
    start_stream(proxy, PREREAD, a=a.port, b=b.port)
    resp_a, fa = tls_request(proxy.port, "a.example.test", pki.ca.crt, alpn=["h2", "http/1.1"])
    resp_b, fb = tls_request(proxy.port, "b.example.test", pki.ca.crt)
    assert json.loads(resp_a.body)["sni"] == "a.example.test"
    assert json.loads(resp_b.body)["sni"] == "b.example.test"
    assert [h["sni"] for h in a.handshakes()] == ["a.example.test"]
    assert [h["sni"] for h in b.handshakes()] == ["b.example.test"]
    la, lb = sni_logs(proxy, [fa["port"], fb["port"]])
    assert la == ("a.example.test", "TLSv1.3", "h2,http/1.1", "127.0.0.1:%d" % a.port, "200"), la
    assert lb == ("b.example.test", "TLSv1.3", "http/1.1", "127.0.0.1:%d" % b.port, "200") or \
        lb == ("b.example.test", "TLSv1.3", "", "127.0.0.1:%d" % b.port, "200"), lb


def client_hello(sni: str) -> bytes:
    """A real ClientHello (Python's ssl on memory BIOs) for this SNI."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_stream_ssl_preread_hello_in_tiny_segments(proxy, tcp_backend):
    """A ClientHello sent 7 bytes at a time (TCP_NODELAY, a pause between
    segments) still routes by its SNI; the backend gets the hello intact."""
    a, b = tcp_backend("echo", "a"), tcp_backend("echo", "b")
    start_stream(proxy, PREREAD, a=a.port, b=b.port)
    hello = client_hello("b.example.test")
    with connect(proxy.port) as s:
        for i in range(0, len(hello), 7):
            s.sendall(hello[i:i + 7])
            time.sleep(0.002)
        assert recv_all(s, len(hello)) == hello   # b echoes it back
    conns = b.wait_conns(1)
    assert conns[0]["first"] == hello[:256]
    assert [c for c in a.conns if c["received"]] == []


def test_stream_ssl_preread_not_tls_goes_to_default(proxy, tcp_backend):
    a, b = tcp_backend("echo", "a"), tcp_backend("echo", "b")
    start_stream(proxy, PREREAD, a=a.port, b=b.port)
    with connect(proxy.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert recv_all(s, 18) == b"GET / HTTP/1.0\r\n\r\n"
        port = s.getsockname()[1]
    assert sni_logs(proxy, [port])[0][:3] == ("-", "-", "-")   # not found: the bytes were no ClientHello


@only_switchyard("nginx 1.22 ends the session with 400 'ssl preread buffer full'; switchyard goes on to the default")
def test_stream_ssl_preread_buffer_full_falls_back_to_default(proxy, tcp_backend):
    a, b = tcp_backend("echo", "a"), tcp_backend("echo", "b")
    start_stream(proxy, PREREAD.replace("ssl_preread on;", "ssl_preread on;\n        preread_buffer_size 64;"),
                 a=a.port, b=b.port)
    hello = client_hello("b.example.test")
    assert len(hello) > 64
    with connect(proxy.port) as s:
        s.sendall(hello)
        assert recv_all(s, len(hello)) == hello   # a (the default) echoes it
    a.wait_conns(1)
    assert [c for c in b.conns if c["received"]] == []
    proxy.wait_error_log(r"\[info\] .*ssl preread buffer full \(64 bytes\), going on without the ClientHello")


# ------------------------------------------------------------ termination
def test_stream_tls_termination_to_plain_echo(proxy, tcp_backend, pki):
    be = tcp_backend("echo")
    crt, key = pki.leaf("stream.example.test", "stream.example.test")
    start_stream(proxy, """
    log_format tls '$remote_addr:$remote_port $ssl_protocol $ssl_server_name $bytes_received $bytes_sent';
    server {
        listen 127.0.0.1:{listen} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{backend};
        access_log logs/tls.log tls;
    }""", backend=be.port, crt=crt, key=key)
    ctx = client_context(pki.ca.crt)
    data = b"plain on the inside\n" * 1000
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        port = raw.getsockname()[1]
        with ctx.wrap_socket(raw, server_hostname="stream.example.test") as s:
            s.sendall(data)
            assert recv_all(s, len(data)) == data
    conns = be.wait_conns(1)
    assert conns[-1]["first"] == data[:256]   # the backend reads plaintext
    from harness.wait import wait_until
    path = proxy.prefix / "logs" / "tls.log"
    line = wait_until(lambda: path.exists() and [l for l in path.read_text().splitlines()
                                                 if l.startswith("127.0.0.1:%d " % port)], 10, "tls.log line")[0]
    assert line == "127.0.0.1:%d TLSv1.3 stream.example.test %d %d" % (port, len(data), len(data)), line


# ------------------------------------------------------------ proxy_ssl
def test_stream_proxy_ssl_verified(proxy, tls_backends, pki):
    be = tls_backends("http", "tls", "backend.example.test")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_ssl on;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {ca};
        proxy_ssl_name backend.example.test;
        proxy_ssl_server_name on;
    }""", backend=be.port, ca=pki.ca.crt)
    resp = rawhttp.exchange(proxy.port, b"GET /tls-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 200, resp
    assert json.loads(resp.body)["sni"] == "backend.example.test"


def test_stream_proxy_ssl_wrong_ca_fails(proxy, tls_backends, pki):
    be = tls_backends("http", "tls", "backend.example.test")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_ssl on;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {ca};
        proxy_ssl_name backend.example.test;
    }""", backend=be.port, ca=pki.other_ca.crt)
    with connect(proxy.port) as s:
        s.sendall(b"GET /tls-info HTTP/1.1\r\nHost: x\r\n\r\n")
        assert recv_to_eof(s) == (b"", True)
    proxy.wait_error_log(r"\[error\] .*upstream SSL certificate verify error: \(\d+:[^)]+\) while SSL handshaking to "
                         r"upstream")


def test_stream_proxy_protocol_then_tls_termination(proxy, tcp_backend, pki):
    """`listen ... ssl proxy_protocol`: the PROXY header comes first, in
    clear, then the TLS handshake; $remote_addr is the header's."""
    be = tcp_backend("echo")
    crt, key = pki.leaf("stream.example.test", "stream.example.test")
    start_stream(proxy, """
    log_format pp '$remote_addr $proxy_protocol_addr $ssl_protocol';
    server {
        listen 127.0.0.1:{listen} ssl proxy_protocol;
        set_real_ip_from 127.0.0.1;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{backend};
        access_log logs/pp.log pp;
    }""", backend=be.port, crt=crt, key=key)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        raw.sendall(b"PROXY TCP4 203.0.113.77 198.51.100.1 40077 443\r\n")
        with client_context(pki.ca.crt).wrap_socket(raw, server_hostname="stream.example.test") as s:
            s.sendall(b"inside")
            assert recv_all(s, 6) == b"inside"
    from harness.wait import wait_until
    path = proxy.prefix / "logs" / "pp.log"
    lines = wait_until(lambda: path.exists() and [l for l in path.read_text().splitlines()
                                                  if l.startswith("203.0.113.77 ")], 10, "pp.log line")
    assert lines == ["203.0.113.77 203.0.113.77 TLSv1.3"], lines


# ------------------------------------------------------------ server_name (nginx 1.25.5)
@only_switchyard("server_name in stream servers is nginx 1.25.5's; Debian's 1.22 refuses it")
def test_stream_server_name_by_preread_sni(proxy, tcp_backend):
    """Servers sharing one address, told apart by the ClientHello's name
    (ssl_preread on in the default server): exact, wildcard and regex names;
    an unknown name, no name and non-TLS bytes go to the default server."""
    b1, b2, b3 = tcp_backend("banner", "b1"), tcp_backend("banner", "b2"), tcp_backend("banner", "b3")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        ssl_preread on;
        server_name a.example.test;
        proxy_pass 127.0.0.1:{b1};
    }
    server {
        listen 127.0.0.1:{listen};
        server_name *.b.example.test b.example.test;
        proxy_pass 127.0.0.1:{b2};
    }
    server {
        listen 127.0.0.1:{listen};
        server_name ~^c[0-9]+\\.example\\.test$;
        proxy_pass 127.0.0.1:{b3};
    }""", b1=b1.port, b2=b2.port, b3=b3.port)

    def banner_for(first: bytes) -> bytes:
        with connect(proxy.port) as s:
            s.sendall(first)
            return recv_all(s, 14)
    assert banner_for(client_hello("b.example.test")) == b"hello from b2\n"
    assert banner_for(client_hello("x.b.example.test")) == b"hello from b2\n"
    assert banner_for(client_hello("c42.example.test")) == b"hello from b3\n"
    assert banner_for(client_hello("A.Example.Test")) == b"hello from b1\n"
    assert banner_for(client_hello("unknown.example.test")) == b"hello from b1\n"
    assert banner_for(b"GET / HTTP/1.0\r\n\r\n") == b"hello from b1\n"


@only_switchyard("server_name in stream servers is nginx 1.25.5's; Debian's 1.22 refuses it")
def test_stream_server_name_picks_certificate_and_backend(proxy, tcp_backend, pki):
    """listen ... ssl on one address for two servers: the SNI picks each
    one's certificate (the client verifies it) and its backend; a default_server
    takes clients without SNI."""
    e1, e2 = tcp_backend("echo", "e1"), tcp_backend("banner", "e2")
    c1, k1 = pki.leaf("one.example.test", "one.example.test")
    c2, k2 = pki.leaf("two.example.test", "two.example.test")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen} ssl;
        server_name one.example.test;
        ssl_certificate {c1};
        ssl_certificate_key {k1};
        proxy_pass 127.0.0.1:{e1};
    }
    server {
        listen 127.0.0.1:{listen} ssl default_server;
        server_name two.example.test;
        ssl_certificate {c2};
        ssl_certificate_key {k2};
        proxy_pass 127.0.0.1:{e2};
    }""", e1=e1.port, e2=e2.port, c1=c1, k1=k1, c2=c2, k2=k2)
    ctx = client_context(pki.ca.crt)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="one.example.test") as s:
            s.sendall(b"to one")
            assert recv_all(s, 6) == b"to one"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="two.example.test") as s:
            assert recv_all(s, 14) == b"hello from e2\n"
    nosni = ssl.create_default_context(cafile=str(pki.ca.crt))
    nosni.check_hostname = False
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with nosni.wrap_socket(raw) as s:   # no SNI: the default server, its certificate
            assert recv_all(s, 14) == b"hello from e2\n"
            assert "two.example.test" in str(s.getpeercert()["subjectAltName"])


@pytest.mark.parametrize("case", ["two-defaults", "same-server-twice"])
def test_stream_listen_sharing_errors(proxy, case):
    if proxy.impl == "nginx":
        pytest.skip("nginx 1.22 refuses a second stream server on an address outright")
    body = {
        "two-defaults": "server {\n    listen 127.0.0.1:{listen} default_server;\n    proxy_pass 127.0.0.1:9;\n}\n"
                        "server {\n    listen 127.0.0.1:{listen} default_server;\n    proxy_pass 127.0.0.1:9;\n}",
        "same-server-twice": "server {\n    listen 127.0.0.1:{listen};\n    listen 127.0.0.1:{listen};\n"
                             "    proxy_pass 127.0.0.1:9;\n}",
    }[case]
    conf = "load_module %s;\n" % STREAM_MODULE + __import__("harness.config", fromlist=["x"]).wrap_main(
        "stream {\n%s\n}\n" % body)
    r = proxy.run_t(conf, wrap=False)
    assert r.returncode == 1, r.output
    want = r"a duplicate default server for 127\.0\.0\.1:\d+" if case == "two-defaults" else \
        r"a duplicate listen 127\.0\.0\.1:\d+"
    assert re.search(r"\[emerg\] " + want + " in " + re.escape(str(r.conf_path)) + r":\d+", r.stderr), r.output


# ------------------------------------------------------------ return
def test_stream_return_after_ssl_preread(proxy):
    """`return` after ssl_preread: the ClientHello's facts are in the text;
    not TLS at all: the variables are empty."""
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        ssl_preread on;
        return "sni=$ssl_preread_server_name proto=$ssl_preread_protocol\\n";
    }""")
    with connect(proxy.port) as s:
        s.sendall(client_hello("b.example.test"))
        assert recv_to_eof(s) == (b"sni=b.example.test proto=TLSv1.3\n", True)
    with connect(proxy.port) as s:
        s.sendall(b"PING\r\n")
        assert recv_to_eof(s) == (b"sni= proto=\n", True)


def test_stream_return_over_tls(proxy, pki):
    """`return` on a listen ... ssl server: the text comes over TLS, then
    close_notify; $status 200 and $bytes_sent (plaintext) in the log."""
    crt, key = pki.leaf("stream.example.test", "stream.example.test")
    start_stream(proxy, """
    log_format tls '$remote_addr:$remote_port $status $bytes_sent';
    server {
        listen 127.0.0.1:{listen} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        return "$ssl_protocol $ssl_server_name\\n";
        access_log logs/tls.log tls;
    }""", crt=crt, key=key)
    ctx = client_context(pki.ca.crt)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        port = raw.getsockname()[1]
        with ctx.wrap_socket(raw, server_hostname="stream.example.test") as s:
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    text = b"TLSv1.3 stream.example.test\n"
    assert got == text
    from harness.wait import wait_until
    path = proxy.prefix / "logs" / "tls.log"
    line = wait_until(lambda: path.exists() and [l for l in path.read_text().splitlines()
                                                 if l.startswith("127.0.0.1:%d " % port)], 10, "tls.log line")[0]
    assert line == "127.0.0.1:%d 200 %d" % (port, len(text)), line
