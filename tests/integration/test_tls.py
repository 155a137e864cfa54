"""TLS termination (`listen ... ssl`): wss:// and https:// in front of plain
backends, the $ssl_* variables, certificates chosen by SNI, RSA and ECDSA
certificates on one server, protocol versions, session resumption, plain
HTTP sent to the TLS port (400 / error_page 497), clients that never finish
a handshake, and the `-t` refusals of broken TLS configurations.

Certificates come from a throw-away CA made once per session
(harness/tls.py); clients trust only that CA and check the name, so every
handshake here is a verified one unless a test says otherwise.

Every server sets `ssl_protocols` explicitly: Debian's nginx 1.22 defaults
to `TLSv1 TLSv1.1 TLSv1.2` (no TLS 1.3), switchyard to nginx 1.29's
`TLSv1.2 TLSv1.3`. The defaults themselves are tested on switchyard only.

Wordings asserted here (error pages, error.log lines, -t messages) are
nginx's: switchyard must produce the same.
"""

import asyncio
import re
import socket
import ssl
import time

import pytest

from harness import config as cfg
from harness import rawhttp
from harness.backends import header_values
from harness.config import location, ws_location
from harness.marks import only_switchyard
from harness.tls import (cannot_load_missing, client_context, https_get, make_leaf, message_regex, s_client,
                         session_pki, ssl_server, start_tls, wss_connect)
from harness.wait import wait_until
from harness.wsclient import connect, handshake_seen, recv, run


SIGNATURE = re.compile(rb"<hr><center>[^<]*</center>")
# nginx's info line for a handshake that failed inside OpenSSL; the reason
# is OpenSSL's own text ("SSL routines::unsupported protocol").
HANDSHAKE_FAILED = (r"\[info\] .*SSL_do_handshake\(\) failed \(SSL: error:[0-9A-F]+:SSL routines::%s\) while SSL "
                    r"handshaking, client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d")


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


def tls_port(proxy) -> int:
    return proxy.ports["listen_tls"]


def line_of(conf_path, text: str) -> int:
    """1-based number of the first line of the written config containing text."""
    for i, line in enumerate(conf_path.read_text().splitlines(), 1):
        if text in line:
            return i
    raise AssertionError("%r not in %s" % (text, conf_path))


def curl_https(port: int, name: str, path: str, ca, *extra: str) -> rawhttp.CurlResult:
    """curl -i https://name:port/path, name resolved to 127.0.0.1, verified with ca."""
    return rawhttp.curl(["-i", "--cacert", str(ca), "--resolve", "%s:%d:127.0.0.1" % (name, port), *extra,
                         "https://%s:%d%s" % (name, port, path)])


def curl_body(r: rawhttp.CurlResult) -> bytes:
    return r.stdout.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in r.stdout else b""


def wss_echo(port: int, name: str, path: str, ca) -> dict:
    """Text, binary and a 200 KB message through wss; returns the handshake
    the echo backend saw."""
    big = bytes(range(256)) * 800

    async def body():
        async with wss_connect(port, name, path, ca) as ws:
            await ws.send("hello over tls")
            assert await recv(ws) == "hello over tls"
            await ws.send(b"\x00\xffbinary")
            assert await recv(ws) == b"\x00\xffbinary"
            await ws.send(big)
            assert await recv(ws) == big
            return await handshake_seen(ws)
    return run(body())


def parse_vars(body: bytes) -> dict:
    """`k=v k=v` (one line) -> dict."""
    return dict(kv.split("=", 1) for kv in body.decode().split())


VARS = ('return 200 "scheme=$scheme https=$https protocol=$ssl_protocol cipher=$ssl_cipher '
        'sni=$ssl_server_name reused=$ssl_session_reused\\n";')


# ====================================================== 1. wss -> plain ws
WSS_CONF = ssl_server(
    ws_location("/ws/", "http://127.0.0.1:{backend}", "proxy_set_header Host $host",
                "proxy_set_header X-Forwarded-Proto $scheme"),
    name="ws.test", plain=True)


def test_wss_echo_to_plain_ws_backend(proxy, ws_backend, pki):
    be = ws_backend()
    start_tls(proxy, pki, WSS_CONF, "ws.test", backend=be.port)
    seen = wss_echo(tls_port(proxy), "ws.test", "/ws/chat?room=1", pki.ca.crt)
    assert seen["path"] == "/ws/chat?room=1"
    assert header_values(seen["headers"], "X-Forwarded-Proto") == ["https"]
    assert header_values(seen["headers"], "Host") == ["ws.test"]
    assert header_values(seen["headers"], "Upgrade") == ["websocket"]
    # The backend speaks plain ws: the tunnel decrypts in both directions.
    assert be.last_open()["path"] == "/ws/chat?room=1"

    # The same server on its plain port: $scheme is per connection.
    async def plain():
        async with connect("ws://127.0.0.1:%d/ws/plain" % proxy.port) as ws:
            return await handshake_seen(ws)
    assert header_values(run(plain())["headers"], "X-Forwarded-Proto") == ["http"]


def test_wss_client_refuses_untrusted_certificate(proxy, ws_backend, pki):
    """The control for every verified handshake in this file: a client that
    trusts another CA does not get through."""
    be = ws_backend()
    start_tls(proxy, pki, WSS_CONF, "ws.test", backend=be.port)

    async def body():
        async with wss_connect(tls_port(proxy), "ws.test", "/ws/x", pki.other_ca.crt):
            pass
    with pytest.raises(ssl.SSLCertVerificationError):
        run(body())
    assert be.opens() == []


# ===================================================== 2. https -> plain http
HTTPS_CONF = ssl_server(
    location("/", "http://127.0.0.1:{backend}", "proxy_set_header X-Forwarded-Proto $scheme",
             'proxy_set_header X-TLS "$ssl_protocol $ssl_server_name"'),
    location("= /vars", None, VARS),
    name="www.test", plain=True)


def test_https_get_to_plain_http_backend(proxy, http_backend, pki):
    be = http_backend()
    start_tls(proxy, pki, HTTPS_CONF, "www.test", backend=be.port)
    r = curl_https(tls_port(proxy), "www.test", "/app/page?x=1", pki.ca.crt)
    assert r.returncode == 0, r.stderr
    assert r.status == 200
    assert curl_body(r) == b"backend GET /app/page?x=1\n"
    req = be.last()
    assert req["target"] == "/app/page?x=1"
    assert header_values(req["headers"], "Host") == ["127.0.0.1:%d" % be.port]  # $proxy_host
    assert header_values(req["headers"], "X-Forwarded-Proto") == ["https"]
    assert header_values(req["headers"], "X-TLS") == ["TLSv1.3 www.test"]

    r = curl_https(tls_port(proxy), "www.test", "/v12", pki.ca.crt, "--tlsv1.2", "--tls-max", "1.2")
    assert (r.returncode, r.status) == (0, 200), r.stderr
    assert header_values(be.last()["headers"], "X-TLS") == ["TLSv1.2 www.test"]

    # A POST body goes through the TLS layer intact.
    r = curl_https(tls_port(proxy), "www.test", "/upload", pki.ca.crt, "--data-binary", "x" * 100000)
    assert (r.returncode, r.status) == (0, 200), r.stderr
    assert be.last()["body"] == b"x" * 100000


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_ssl_variables(proxy, http_backend, pki, version):
    be = http_backend()
    start_tls(proxy, pki, HTTPS_CONF, "www.test", backend=be.port)
    ctx = client_context(pki.ca.crt)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    resp, facts = https_get(tls_port(proxy), "/vars", "www.test", pki.ca.crt, context=ctx)
    assert resp.status == 200
    v = parse_vars(resp.body)
    name = version.replace("_", ".")
    assert v == {"scheme": "https", "https": "on", "protocol": name, "cipher": facts["cipher"],
                 "sni": "www.test", "reused": "."}
    assert v["cipher"]  # the OpenSSL name, e.g. TLS_AES_256_GCM_SHA384 / ECDHE-RSA-AES256-GCM-SHA384
    assert facts["version"] == name
    # Resume the session (tickets are on by default): $ssl_session_reused "r".
    resp, facts2 = https_get(tls_port(proxy), "/vars", "www.test", pki.ca.crt, context=ctx,
                             session=facts["session"])
    assert facts2["session_reused"] is True
    assert parse_vars(resp.body)["reused"] == "r"
    # The plain port of the same server: no TLS, empty variables.
    resp = rawhttp.exchange(proxy.port, b"GET /vars HTTP/1.1\r\nHost: www.test\r\n\r\n")
    assert resp.body == b"scheme=http https= protocol= cipher= sni= reused=\n"


# ============================================================== 3. SNI
# Two servers on one port, a.test and b.test (the default server, second).
SNI_CONF = "".join(ssl_server('return 200 "server %s: host=$host sni=$ssl_server_name\\n"' % n, name=n + ".test",
                              certs=((n + "_crt", n + "_key"),), default=n == "b") for n in "ab")


@pytest.fixture
def sni_proxy(proxy, pki):
    a_crt, a_key = pki.leaf("a.test")
    b_crt, b_key = pki.leaf("b.test")
    proxy.start(SNI_CONF, a_crt=a_crt, a_key=a_key, b_crt=b_crt, b_key=b_key)
    return proxy


@pytest.mark.parametrize("sni,cn", [("a.test", "a.test"), ("b.test", "b.test"),
                                    (None, "b.test"), ("unknown.test", "b.test")],
                         ids=["a", "b", "no-sni", "unknown-sni"])
def test_sni_selects_certificate(sni_proxy, pki, sni, cn):
    """Each name gets its own certificate; no SNI, or a name no server has,
    gets the default server's (b.test is `default_server`, not first)."""
    r = s_client(tls_port(sni_proxy), servername=sni, ca=pki.ca.crt)
    assert r.handshake_ok, r.output
    assert r.subject_cn == cn, r.output
    assert r.verify_ok, r.output  # the chain verifies against the test CA


@pytest.mark.parametrize("name", ["a.test", "b.test"])
def test_sni_and_host_route_to_the_same_server(sni_proxy, pki, name):
    r = curl_https(tls_port(sni_proxy), name, "/", pki.ca.crt)
    assert (r.returncode, r.status) == (0, 200), r.stderr
    assert curl_body(r) == ("server %s: host=%s sni=%s\n" % (name[0], name, name)).encode()


def test_host_header_picks_server_after_sni(sni_proxy, pki):
    """The certificate follows SNI; the request is then routed by Host, as
    for any request (nginx re-selects the server from the Host header)."""
    resp, facts = https_get(tls_port(sni_proxy), "/", "a.test", pki.ca.crt, host_header="b.test")
    assert facts["peer_cn"] == "a.test"
    assert resp.body == b"server b: host=b.test sni=a.test\n"


# ============================================================ 4. redirect
REDIRECT_CONF = (
    cfg.server("server_name example.com", "return 301 https://$host$request_uri")
    + cfg.server("server_name example.com", "return 301 https://$host:{listen_tls}$request_uri", listen="{listen2}")
    + ssl_server(location("/", None, 'return 200 "secure $scheme $request_uri\\n"'), name="example.com"))


def test_http_to_https_redirect(proxy, pki):
    start_tls(proxy, pki, REDIRECT_CONF, "example.com")
    resp = rawhttp.exchange(proxy.port, b"GET /ws/chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert resp.status == 301
    assert resp.header("Location") == "https://example.com/ws/chat?room=1"
    assert b"<title>301 Moved Permanently</title>" in resp.body
    # Following it (port 443 mapped to the test's TLS port) reaches the TLS server.
    resp, _ = https_get(tls_port(proxy), "/ws/chat?room=1", "example.com", pki.ca.crt)
    assert resp.body == b"secure https /ws/chat?room=1\n"
    # curl -L across both servers, with an explicit port in the Location.
    plain, tls = proxy.ports["listen2"], tls_port(proxy)
    r = rawhttp.curl(["-i", "-L", "--cacert", str(pki.ca.crt),
                      "--resolve", "example.com:%d:127.0.0.1" % plain,
                      "--resolve", "example.com:%d:127.0.0.1" % tls,
                      "http://example.com:%d/a/b?c=d" % plain])
    assert r.returncode == 0, r.stderr
    assert b"Location: https://example.com:%d/a/b?c=d\r\n" % tls in r.stdout
    assert r.stdout.endswith(b"\r\n\r\nsecure https /a/b?c=d\n")


# =========================================================== 5. protocols
PROTOCOLS_CONF = (
    ssl_server('return 200 "modern $ssl_protocol\\n"')
    + ssl_server("ssl_ciphers DEFAULT@SECLEVEL=0", 'return 200 "legacy $ssl_protocol\\n"', port="listen_legacy",
                 protocols="TLSv1.1 TLSv1.2")
    + ssl_server('return 200 "tls13 $ssl_protocol\\n"', port="listen_13", protocols="TLSv1.3"))

GET = b"GET / HTTP/1.0\r\nHost: tls.test\r\n\r\n"
TLS11 = ("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")


def test_ssl_protocols(proxy, pki):
    start_tls(proxy, pki, PROTOCOLS_CONF, "tls.test")
    modern, legacy, only13 = tls_port(proxy), proxy.ports["listen_legacy"], proxy.ports["listen_13"]

    # TLS 1.1 where it is not enabled: refused with a protocol_version alert.
    r = s_client(modern, *TLS11, servername="tls.test")
    assert not r.handshake_ok, r.output
    assert "alert protocol version" in r.output, r.output
    proxy.wait_error_log(HANDSHAKE_FAILED % ("unsupported protocol", modern))
    # ... and where it is: the same client gets through (so the refusal above
    # is about the version, not about this client).
    r = s_client(legacy, *TLS11, servername="tls.test", request=GET)
    assert r.protocol == "TLSv1.1", r.output
    assert r.response().body == b"legacy TLSv1.1\n"

    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        r = s_client(modern, flag, servername="tls.test", request=GET)
        assert r.protocol == name, r.output
        assert r.response().body == ("modern %s\n" % name).encode()

    # TLS 1.3 only: a TLS 1.2 client is refused, a TLS 1.3 one served.
    r = s_client(only13, "-tls1_2", servername="tls.test")
    assert not r.handshake_ok, r.output
    assert "alert protocol version" in r.output, r.output
    proxy.wait_error_log(HANDSHAKE_FAILED % ("unsupported protocol", only13))
    r = s_client(only13, "-tls1_3", servername="tls.test", request=GET)
    assert r.response().body == b"tls13 TLSv1.3\n"


@only_switchyard("default ssl_protocols is TLSv1.2 TLSv1.3 (nginx 1.23.4+); 1.22's is TLSv1 TLSv1.1 TLSv1.2")
def test_default_ssl_protocols(proxy, pki):
    port = start_tls(proxy, pki, ssl_server('return 200 "$ssl_protocol\\n"', protocols=None), "tls.test")
    r = s_client(port, *TLS11, servername="tls.test")
    assert not r.handshake_ok, r.output
    proxy.wait_error_log(HANDSHAKE_FAILED % ("unsupported protocol", port))
    r = s_client(port, "-tls1_2", servername="tls.test", request=GET)
    assert r.response().body == b"TLSv1.2\n"
    r = s_client(port, servername="tls.test", request=GET)
    assert r.response().body == b"TLSv1.3\n"


# ================================================== 6. plain HTTP to TLS port
# The same server three times: without error_page 497, and with it (302, 301).
PLAIN_CONF = "".join(
    ssl_server(error_page, location("/", None, 'return 200 "fine\\n"'), name="plain.test", port=port)
    for port, error_page in (("listen_tls", ""),
                             ("listen_497", "error_page 497 https://$host:$server_port$request_uri"),
                             ("listen_497_301", "error_page 497 =301 https://$host:$server_port$request_uri")))

# nginx 1.22's page, byte for byte; only the signature line differs between
# implementations (switchyard signs with its own name).
PLAIN_HTTP_400 = (b"<html>\r\n"
                  b"<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
                  b"<body>\r\n"
                  b"<center><h1>400 Bad Request</h1></center>\r\n"
                  b"<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
                  b"<hr><center>{signature}</center>\r\n"
                  b"</body>\r\n"
                  b"</html>\r\n")


@pytest.fixture
def plain_proxy(proxy, pki):
    start_tls(proxy, pki, PLAIN_CONF, "plain.test")
    return proxy


def test_plain_http_to_tls_port(plain_proxy):
    port = tls_port(plain_proxy)
    with rawhttp.connect(port) as s:
        # Two pipelined requests: one answer, then the connection is closed.
        s.sendall(b"GET /x HTTP/1.1\r\nHost: plain.test\r\n\r\nGET /y HTTP/1.1\r\nHost: plain.test\r\n\r\n")
        reader = rawhttp.Reader(s)
        resp = reader.response()
        assert (resp.version, resp.status, resp.reason) == ("HTTP/1.1", 400, "Bad Request")
        assert resp.header("Content-Type") == "text/html"
        assert resp.header("Connection") == "close"
        assert int(resp.header("Content-Length")) == len(resp.body)
        assert SIGNATURE.sub(b"<hr><center>{signature}</center>", resp.body) == PLAIN_HTTP_400
        assert reader.rest() == b""  # closed, nothing for /y
    plain_proxy.wait_error_log(
        r"\[info\] .*client sent plain HTTP request to HTTPS port while reading client request headers, "
        r"client: 127\.0\.0\.1, server: plain\.test, request: \"GET /x HTTP/1\.1\", host: \"plain\.test\"")
    # The port still serves TLS.
    r = s_client(port, servername="plain.test", request=GET)
    assert r.response().body == b"fine\n"


@pytest.mark.parametrize("port_name,status,reason", [("listen_497", 302, "Moved Temporarily"),
                                                     ("listen_497_301", 301, "Moved Permanently")])
def test_error_page_497_redirects_plain_http(plain_proxy, port_name, status, reason):
    port = plain_proxy.ports[port_name]
    raw = rawhttp.exchange_raw(port, b"GET /path/x?y=1 HTTP/1.1\r\nHost: plain.test\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 %d %s" % (status, reason)
    assert "Location: https://plain.test:%d/path/x?y=1" % port in lines
    assert "Connection: close" in lines
    assert ("<title>%d %s</title>" % (status, "Found" if status == 302 else reason)).encode() in body


# ========================================== 7. garbage and stalled handshakes
def stall_conf(header_timeout: str, *directives: str) -> str:
    return ssl_server("client_header_timeout " + header_timeout, *directives,
                      ws_location("/ws/", "http://127.0.0.1:{backend}"),
                      location("/", None, 'return 200 "alive\\n"'), name="ws.test")

# The first bytes of a ClientHello: a handshake record announcing 512 bytes,
# of which only the start arrives.
HALF_CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20
# A TLS handshake record whose content is not a ClientHello.
BAD_RECORD = b"\x16\x03\x01\x00\x05hello"


def open_conn(port: int, data: bytes = b"") -> socket.socket:
    s = rawhttp.connect(port, timeout=10)
    if data:
        s.sendall(data)
    return s


def closed_after(sock: socket.socket, started: float, limit: float) -> float | None:
    """Seconds from `started` until the peer closed sock, or None if it is
    still open at started + limit."""
    remaining = started + limit - time.monotonic()
    if remaining > 0 and rawhttp.is_closed(sock, remaining):
        return time.monotonic() - started
    return None


def test_bad_clients_do_not_block_others(proxy, ws_backend, pki):
    be = ws_backend()
    port = start_tls(proxy, pki, stall_conf("2s"), "ws.test", backend=be.port)
    started = time.monotonic()
    silent = [open_conn(port) for _ in range(3)]  # connect, send nothing
    half = [open_conn(port, HALF_CLIENT_HELLO) for _ in range(3)]  # a ClientHello that stalls
    garbage = open_conn(port, BAD_RECORD)
    quitter = open_conn(port, HALF_CLIENT_HELLO)
    open_conn(port).close()  # connects, then closes without a byte
    try:
        # While they hang, other clients are served: a full wss echo, an https GET.
        wss_echo(port, "ws.test", "/ws/meanwhile", pki.ca.crt)
        resp, _ = https_get(port, "/", "ws.test", pki.ca.crt)
        assert resp.body == b"alive\n"
        assert time.monotonic() - started < 1.5, "served only after the bad clients timed out"

        # Garbage: a fatal alert at once (unexpected_message), then close.
        assert rawhttp.Reader(garbage, 5).exact(7) == b"\x15\x03\x03\x00\x02\x02\x0a"
        assert rawhttp.is_closed(garbage, 5)
        proxy.wait_error_log(HANDSHAKE_FAILED % ("unexpected message", port))
        # A client that gives up mid-handshake.
        quitter.close()
        proxy.wait_error_log(r"\[info\] .*peer closed connection in SSL handshake while SSL handshaking, "
                             r"client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d" % port)
        # One that closes before sending anything (twice: the harness's
        # readiness probe did the same).
        closed_early = (r"\[info\] .*client closed connection while SSL handshaking, client: 127\.0\.0\.1, "
                        r"server: 127\.0\.0\.1:%d$" % port)
        wait_until(lambda: len(re.findall(closed_early, proxy.error_log(), re.M)) >= 2, 10,
                   "two 'client closed connection while SSL handshaking' lines")

        # Nothing arrives: closed after client_header_timeout (2s).
        for s in silent:
            t = closed_after(s, started, 8)
            assert t is not None and 1.5 < t < 6, "silent connection closed after %s s" % t
        if proxy.impl == "nginx":
            # nginx 1.22 bounds the whole handshake with client_header_timeout
            # too; switchyard has ssl_handshake_timeout for it (next test).
            for s in half:
                t = closed_after(s, started, 8)
                assert t is not None and 1.5 < t < 6, "stalled handshake closed after %s s" % t
        proxy.wait_error_log(r"\[info\] .*client timed out \(110: Connection timed out\) while SSL handshaking, "
                             r"client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d" % port)
    finally:
        for s in silent + half + [garbage, quitter]:
            s.close()


@only_switchyard("ssl_handshake_timeout in http{} (nginx 1.25.5+); 1.22 uses client_header_timeout")
def test_ssl_handshake_timeout(proxy, ws_backend, pki):
    be = ws_backend()
    port = start_tls(proxy, pki, stall_conf("30s", "ssl_handshake_timeout 1s"), "ws.test", backend=be.port)
    started = time.monotonic()
    half = [open_conn(port, HALF_CLIENT_HELLO) for _ in range(3)]
    try:
        wss_echo(port, "ws.test", "/ws/meanwhile", pki.ca.crt)
        for s in half:
            t = closed_after(s, started, 5)
            assert t is not None and 0.7 < t < 3, "stalled handshake closed after %s s" % t
        proxy.wait_error_log(r"\[info\] .*client timed out \(110: Connection timed out\) while SSL handshaking, "
                             r"client: 127\.0\.0\.1, server: 127\.0\.0\.1:%d" % port)
        # A completed handshake is not cut by it: an idle wss tunnel outlives 1s.
        async def idle():
            async with wss_connect(port, "ws.test", "/ws/idle", pki.ca.crt) as ws:
                await ws.send("before")
                assert await recv(ws) == "before"
                await asyncio.sleep(1.5)
                await ws.send("after")
                assert await recv(ws) == "after"
        run(idle())
    finally:
        for s in half:
            s.close()


def test_plain_garbage_on_tls_port_is_a_bad_request(proxy, ws_backend, pki):
    """Bytes that are neither TLS nor HTTP: nginx treats a first byte other
    than 0x16/0x80 as plain HTTP, and answers 400."""
    be = ws_backend()
    start_tls(proxy, pki, stall_conf("2s"), "ws.test", backend=be.port)
    raw = rawhttp.exchange_raw(tls_port(proxy), b"\x00\x01garbage\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"<title>400 Bad Request</title>" in raw


# ========================================================= 8. RSA + ECDSA
# Both certificates on {listen_tls}; the RSA one alone on {listen_rsa_only}.
DUAL_CONF = "".join(ssl_server('return 200 "$ssl_protocol $ssl_cipher\\n"', name="dual.test", port=port, certs=certs)
                    for port, certs in (("listen_tls", (("rsa_crt", "rsa_key"), ("ec_crt", "ec_key"))),
                                        ("listen_rsa_only", (("rsa_crt", "rsa_key"),))))


@pytest.mark.parametrize("args,key", [
    (("-tls1_2", "-sigalgs", "ECDSA+SHA256"), "ec"),
    (("-tls1_2", "-sigalgs", "RSA+SHA256:RSA-PSS+SHA256"), "rsa"),
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"), "ec"),
    (("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"), "rsa"),
    (("-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256"), "ec"),
    (("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"), "rsa"),
], ids=["1.2-sigalgs-ecdsa", "1.2-sigalgs-rsa", "1.2-cipher-ecdsa", "1.2-cipher-rsa",
        "1.3-sigalgs-ecdsa", "1.3-sigalgs-rsa"])
def test_rsa_and_ecdsa_certificates(proxy, pki, args, key):
    rsa_crt, rsa_key = pki.leaf("dual.test")
    ec_crt, ec_key = pki.leaf("dual.test", key_type="ec")
    proxy.start(DUAL_CONF, rsa_crt=rsa_crt, rsa_key=rsa_key, ec_crt=ec_crt, ec_key=ec_key)
    r = s_client(tls_port(proxy), *args, servername="dual.test", ca=pki.ca.crt, request=GET)
    assert r.handshake_ok and r.verify_ok, r.output
    assert (r.subject_cn, r.leaf_key) == ("dual.test", key), r.output
    if "-cipher" in args:
        assert r.response().body == ("TLSv1.2 %s\n" % args[-1]).encode()
    # The control: with the RSA certificate alone, an ECDSA-only client fails.
    if key == "ec":
        r = s_client(proxy.ports["listen_rsa_only"], *args, servername="dual.test", ca=pki.ca.crt)
        assert not r.handshake_ok, r.output


# =================================================== 9. session resumption
def resume_conf(mode: str) -> str:
    return ssl_server(RESUME_MODES[mode],
                      location("/", None, 'return 200 "reused=$ssl_session_reused protocol=$ssl_protocol\\n"'),
                      name="resume.test")


RESUME_MODES = {
    "cache": "ssl_session_cache shared:SSL:1m; ssl_session_tickets off;",
    "tickets": "ssl_session_cache none; ssl_session_tickets on;",
    "both": "ssl_session_cache shared:SSL:1m; ssl_session_timeout 5m;",
    "off": "ssl_session_cache off; ssl_session_tickets off;",
}


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("mode", list(RESUME_MODES))
def test_session_resumption(proxy, pki, workdir, mode, version):
    start_tls(proxy, pki, resume_conf(mode), "resume.test")
    sess = workdir / ("session%s.pem" % version)
    name = "TLSv1.%s" % version[-1]
    r = s_client(tls_port(proxy), version, "-sess_out", str(sess), servername="resume.test", ca=pki.ca.crt,
                 request=GET)
    assert r.handshake_ok and not r.reused, r.output
    assert r.response().body == ("reused=. protocol=%s\n" % name).encode()
    if mode == "off":
        # Nothing resumable is handed out (s_client then writes no session
        # file), and a session offered anyway is not resumed.
        if sess.exists():
            r = s_client(tls_port(proxy), version, "-sess_in", str(sess), servername="resume.test",
                         ca=pki.ca.crt, request=GET)
            assert r.handshake_ok and not r.reused, r.output
            assert r.response().body == ("reused=. protocol=%s\n" % name).encode()
        return
    assert sess.exists(), r.output
    r = s_client(tls_port(proxy), version, "-sess_in", str(sess), servername="resume.test", ca=pki.ca.crt,
                 request=GET)
    assert r.handshake_ok and r.reused, r.output
    assert re.search(r"^Reused, %s," % re.escape(name), r.output, re.M), r.output
    assert r.response().body == ("reused=r protocol=%s\n" % name).encode()


# ========================================================== chains, keys
def chain_conf(*directives: str) -> str:
    return ssl_server(*directives, 'return 200 "ok\\n"', name="chain.test")


def test_certificate_chain_file(proxy, pki):
    """ssl_certificate with the leaf then the intermediate: a client that
    trusts only the root verifies the chain."""
    chain, key = pki.chain_leaf("chain.test")
    proxy.start(chain_conf(), crt=chain, key=key)
    r = s_client(tls_port(proxy), servername="chain.test", ca=pki.ca.crt, request=GET)
    assert r.verify_ok, r.output
    assert re.search(r"^ 1 s:CN ?= ?Switchyard Test CA Intermediate", r.output, re.M), r.output
    resp, facts = https_get(tls_port(proxy), "/", "chain.test", pki.ca.crt)
    assert (resp.body, facts["peer_cn"]) == (b"ok\n", "chain.test")


def test_leaf_without_intermediate_does_not_verify(proxy, pki):
    """The control for the chain test: the bare leaf is not enough."""
    chain, key = pki.chain_leaf("chain.test")
    leaf = chain.with_name("chain.test.crt")
    proxy.start(chain_conf(), crt=leaf, key=key)
    r = s_client(tls_port(proxy), servername="chain.test", ca=pki.ca.crt)
    assert not r.verify_ok
    assert "unable to get local issuer certificate" in r.output, r.output


def test_encrypted_key_with_password_file(proxy, pki, workdir):
    crt, key = make_leaf(pki.dir, pki.ca, "chain.test", encrypted_with="s3cret pass")
    pw = workdir / "passwords"
    pw.write_text("wrong one\ns3cret pass\n")  # nginx tries each line in turn
    proxy.start(chain_conf("ssl_password_file %s" % pw), crt=crt, key=key)
    resp, facts = https_get(tls_port(proxy), "/", "chain.test", pki.ca.crt)
    assert (resp.status, resp.body, facts["peer_cn"]) == (200, b"ok\n", "chain.test")


# ===================================================================== -t
def _t_values(pki, workdir):
    a_crt, a_key = pki.leaf("a.test")
    b_crt, b_key = pki.leaf("b.test")
    return {"crt": a_crt, "key": a_key, "other_key": b_key, "missing": workdir / "missing.pem"}


CERT = ("ssl_certificate {crt}", "ssl_certificate_key {key}")

T_CASES = {
    # name: (server directives, directive the message is about, nginx's [emerg] message as a regex;
    #        {crt} {key} {other_key} {missing} are the paths, {conf} the config file)
    "missing-certificate": (
        ("ssl_certificate {missing}", "ssl_certificate_key {key}"), "ssl_certificate ",
        cannot_load_missing("certificate")),
    "missing-key": (
        ("ssl_certificate {crt}", "ssl_certificate_key {missing}"), "ssl_certificate_key ",
        cannot_load_missing("certificate key")),
    "key-mismatch": (
        ("ssl_certificate {crt}", "ssl_certificate_key {other_key}"), "ssl_certificate_key ",
        r'SSL_CTX_use_PrivateKey\("{other_key}"\) failed \(SSL: error:[0-9A-F]+:x509 certificate routines::'
        r'key values mismatch\)'),
    "certificate-without-key": (
        ("ssl_certificate {crt}",), "ssl_certificate ",
        r'no "ssl_certificate_key" is defined for certificate "{crt}"'),
    "unknown-protocol": (
        CERT + ("ssl_protocols TLSv1.2 TLSv1.4",), "ssl_protocols ", r'invalid value "TLSv1\.4" in {conf}:{line}'),
    "listen-ssl-without-certificate": (
        ("server_name nocert.test",), "server {",
        r'no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive in {conf}:{line}'),
    "bad-ciphers": (
        CERT + ("ssl_ciphers NOSUCHCIPHER",), "ssl_ciphers ",
        r'SSL_CTX_set_cipher_list\("NOSUCHCIPHER"\) failed \(SSL: error:[0-9A-F]+:SSL routines::no cipher match\)'),
    "bad-session-cache": (
        CERT + ("ssl_session_cache shared:SSL",), "ssl_session_cache ",
        r'invalid session cache "shared:SSL" in {conf}:{line}'),
}
# Messages nginx itself ends with " in FILE:LINE"; for the others (errors
# found once the whole server is read) nginx names no position.
T_WITH_POSITION = {"unknown-protocol", "listen-ssl-without-certificate", "bad-session-cache"}


def _run_t_case(proxy, pki, workdir, case):
    """Runs -t on the case's server; returns (result, [emerg] regex, line
    of the directive it is about)."""
    directives, directive, message = T_CASES[case]
    values = _t_values(pki, workdir)
    r = proxy.run_t(ssl_server(*directives, certs=(), protocols=None), **values)
    assert r.returncode == 1, r.output
    line = line_of(r.conf_path, directive)
    return r, message_regex(message, values, r.conf_path, line), line


@pytest.mark.parametrize("case", list(T_CASES))
def test_config_test_refuses_broken_tls(proxy, pki, workdir, case):
    r, message, _ = _run_t_case(proxy, pki, workdir, case)
    assert re.search(r"\[emerg\] " + message, r.stderr), r.output
    assert "configuration file %s test failed" % r.conf_path in r.stderr, r.output


@only_switchyard("every -t refusal names FILE:LINE; nginx omits it for errors found after parsing")
@pytest.mark.parametrize("case", [c for c in T_CASES if c not in T_WITH_POSITION])
def test_config_test_tls_errors_name_the_directive(proxy, pki, workdir, case):
    r, message, line = _run_t_case(proxy, pki, workdir, case)
    assert re.search(r"\[emerg\] %s in %s:%d\n" % (message, re.escape(str(r.conf_path)), line), r.stderr), r.output


def test_config_test_accepts_tls_server(proxy, pki, workdir):
    """The control for the refusals: the same server, complete."""
    r = proxy.run_t(ssl_server("ssl_session_cache shared:SSL:1m", "ssl_ciphers HIGH:!aNULL:!MD5"),
                    **_t_values(pki, workdir))
    assert r.returncode == 0, r.output
    assert "test is successful" in r.stderr
