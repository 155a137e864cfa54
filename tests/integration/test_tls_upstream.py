"""TLS to upstreams (`proxy_pass https://`): certificate verification
(proxy_ssl_verify, proxy_ssl_trusted_certificate, proxy_ssl_name), SNI
(proxy_ssl_server_name), client certificates (proxy_ssl_certificate),
protocol versions (proxy_ssl_protocols), session reuse and keep-alive over
TLS, wss -> proxy -> wss, and the `-t` refusals.

The peers are real TLS servers (backends/tls_backend.py: HTTPS, and
backends/tls_ws_backend.py: wss echo) that record every handshake: the SNI
they saw, the client certificate they got, the version, whether the session
was resumed, or why the handshake failed.

Every test starts its own backends: nginx keeps one TLS session per upstream
peer (proxy_ssl_session_reuse) and would resume it from another location,
skipping the verification and client certificate a test is about.

The upstream protocol version is set wherever it matters: Debian's nginx
1.22 defaults proxy_ssl_protocols to TLSv1 TLSv1.1 TLSv1.2, switchyard (as
nginx 1.29) to TLSv1.2 TLSv1.3.
"""

import json
import re

import pytest

from harness import rawhttp
from harness.backends import backend_factory, header_values
from harness.config import location, server, ws_location
from harness.marks import only_switchyard
from harness.tls import (NO_SUCH_FILE, TlsHttpBackend, TlsWsBackend, cannot_load_missing, make_leaf, message_regex,
                         session_pki, ssl_server, start_tls, wss_connect)
from harness.wsclient import handshake_seen, recv, run


# nginx 1.22 (OpenSSL 3.0) logs 21, "unable to verify the first certificate":
# its verify callback lets the handshake go on, and the last error of the
# chain is kept; 20 ("unable to get local issuer certificate") is the same
# failure seen one step earlier.
VERIFY_ERROR = (r"upstream SSL certificate verify error: \((?:21:unable to verify the first certificate|"
                r"20:unable to get local issuer certificate)\) while SSL handshaking to upstream")
UPSTREAM_LOG = (r", client: 127\.0\.0\.1, server: , request: \"GET %s HTTP/1\.1\", "
                r"upstream: \"https://127\.0\.0\.1:%d%s\", host: \"front\"")


def alert_log(alert: str, number: int) -> str:
    """nginx's [error] line for a TLS alert from the upstream during the handshake."""
    return (r"\[error\] .*SSL_do_handshake\(\) failed \(SSL: error:[0-9A-F]+:SSL routines::%s:SSL alert number %d\) "
            r"while SSL handshaking to upstream" % (alert, number))


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


def tls_backend_fixture(backend_class, default_name: str):
    """A factory fixture: start(name=default_name, cert=(crt, key) of
    backend.test, **options) -> backend_class."""
    @pytest.fixture
    def factory(workdir, pki):
        def make(name=default_name, cert=None, **kw):
            crt, key = cert or pki.leaf("backend.test")
            return backend_class(workdir, name, crt, key, **kw)
        with backend_factory(make) as start:
            yield start
    return factory


tls_backend = tls_backend_fixture(TlsHttpBackend, "tls")
tls_ws_backend = tls_backend_fixture(TlsWsBackend, "wss")


def get(port: int, target: str, host: str = "front") -> rawhttp.Response:
    return rawhttp.exchange(port, ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host)).encode())


def tls_info(port: int, prefix: str = "/", host: str = "front") -> dict:
    """What the TLS backend saw of the connection that carried this request."""
    resp = get(port, prefix + "tls-info", host)
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def be_url(be) -> str:
    return "https://127.0.0.1:%d" % be.port


def verify(name: str = "backend.test") -> tuple[str, ...]:
    """Directives: verify the upstream's certificate against {ca}, for `name`."""
    return ("proxy_ssl_verify on", "proxy_ssl_trusted_certificate {ca}", "proxy_ssl_name " + name)


VERIFY = verify()


# ============================================================ verification
def test_verify_with_the_right_ca(proxy, tls_backend, pki):
    be = tls_backend()
    proxy.start(server(location("/", be_url(be), *VERIFY, "proxy_ssl_protocols TLSv1.2 TLSv1.3")),
                ca=pki.ca.crt)
    resp = get(proxy.port, "/app?x=1")
    assert (resp.status, resp.body) == (200, b"tls GET /app?x=1\n")
    info = tls_info(proxy.port)
    assert info["version"] == "TLSv1.3"
    assert info["client_cert"] is None
    assert be.failed_handshakes() == []
    assert header_values(be.requests()[0]["headers"], "Host") == ["127.0.0.1:%d" % be.port]


def test_verify_with_the_wrong_ca(proxy, tls_backend, pki):
    be = tls_backend()
    proxy.start(server(location("/", be_url(be), *VERIFY)), ca=pki.other_ca.crt)
    resp = get(proxy.port, "/x")
    assert resp.status == 502
    assert b"<title>502 Bad Gateway</title>" in resp.body
    proxy.wait_error_log(r"\[error\] .*" + VERIFY_ERROR + UPSTREAM_LOG % ("/x", be.port, "/x"))
    assert be.requests() == []  # the request never went out


def test_verify_name_mismatch(proxy, tls_backend, pki):
    be = tls_backend()
    proxy.start(server(location("/", be_url(be), *verify("other.test"))), ca=pki.ca.crt)
    assert get(proxy.port, "/x").status == 502
    proxy.wait_error_log(r'\[error\] .*upstream SSL certificate does not match "other\.test" while SSL handshaking '
                         r'to upstream' + UPSTREAM_LOG % ("/x", be.port, "/x"))
    assert be.requests() == []


def test_no_verification_by_default(proxy, tls_backend, pki):
    """proxy_ssl_verify is off by default: a certificate nobody trusts (and
    whose name is not the upstream's) is accepted."""
    stranger = make_leaf(pki.dir, pki.other_ca, "stranger.test", ip_names=())
    be = tls_backend(cert=stranger)
    proxy.start(server(location("/", be_url(be))))
    resp = get(proxy.port, "/plain")
    assert (resp.status, resp.body) == (200, b"tls GET /plain\n")


# ===================================================================== SNI
@pytest.mark.parametrize("directives,upstream_name,expected", [
    (("proxy_ssl_server_name on", "proxy_ssl_name sni.test"), None, "sni.test"),
    (("proxy_ssl_server_name on",), "backend.test", "backend.test"),
    (("proxy_ssl_server_name on",), None, None),
    (("proxy_ssl_server_name on", "proxy_ssl_name $host"), None, "front.test"),
    (("proxy_ssl_name sni.test",), None, None),
    ((), "backend.test", None),
], ids=["on-name", "on-upstream-name", "on-ip-literal", "on-host-variable", "off-name", "default"])
def test_sni_sent_to_upstream(proxy, tls_backend, directives, upstream_name, expected):
    """proxy_ssl_server_name on sends proxy_ssl_name, by default the host of
    proxy_pass (never an IP address: RFC 6066); off (the default) sends none."""
    be = tls_backend()
    conf = ""
    target = be_url(be)
    if upstream_name:
        conf = "upstream %s {\n    server 127.0.0.1:%d;\n}\n" % (upstream_name, be.port)
        target = "https://" + upstream_name
    proxy.start(conf + server(location("/", target, *directives)))
    info = tls_info(proxy.port, host="front.test")
    assert info["sni"] == expected
    if upstream_name:
        assert header_values(be.requests()[-1]["headers"], "Host") == [upstream_name]


# ====================================================== client certificates
# What nginx logs when the backend wants a certificate and gets none. TLS 1.2:
# the backend's alert ends the handshake. TLS 1.3: the client's side of the
# handshake is complete before the backend checks, the alert comes with the
# first read (nginx logs that at [crit]).
NO_CLIENT_CERT_LOG = {
    "TLSv1.2": alert_log("sslv3 alert handshake failure", 40),
    "TLSv1.3": r"\[crit\] .*SSL_read\(\) failed \(SSL: error:[0-9A-F]+:SSL routines::tlsv13 alert certificate "
               r"required:SSL alert number 116\) while reading response header from upstream",
}


@pytest.mark.parametrize("protocol", ["TLSv1.2", "TLSv1.3"])
def test_client_certificate(proxy, tls_backend, pki, protocol):
    ccrt, ckey = pki.client("client.test")
    with_cert = tls_backend("with-cert", client_ca=pki.ca.crt, require_client_cert=True)
    without = tls_backend("without-cert", client_ca=pki.ca.crt, require_client_cert=True)
    proxy.start(server(
        location("/with/", be_url(with_cert), "proxy_ssl_certificate {ccrt}", "proxy_ssl_certificate_key {ckey}",
                 "proxy_ssl_protocols " + protocol),
        location("/without/", be_url(without), "proxy_ssl_protocols " + protocol)), ccrt=ccrt, ckey=ckey)

    info = tls_info(proxy.port, "/with/")
    assert (info["client_cert"], info["version"]) == ("client.test", protocol)

    resp = get(proxy.port, "/without/x")
    assert resp.status == 502
    failed = without.wait_failed_handshake()
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in failed["error"], failed
    assert without.requests() == []
    proxy.wait_error_log(NO_CLIENT_CERT_LOG[protocol] + UPSTREAM_LOG % ("/without/x", without.port, "/without/x"))


def test_client_certificate_from_another_ca_is_refused(proxy, tls_backend, pki):
    stranger_crt, stranger_key = make_leaf(pki.dir, pki.other_ca, "stranger.client", (), ip_names=(), client=True)
    be = tls_backend(client_ca=pki.ca.crt, require_client_cert=True)
    proxy.start(server(location("/", be_url(be), "proxy_ssl_certificate {ccrt}", "proxy_ssl_certificate_key {ckey}",
                                "proxy_ssl_protocols TLSv1.2")), ccrt=stranger_crt, ckey=stranger_key)
    assert get(proxy.port, "/x").status == 502
    assert "CERTIFICATE_VERIFY_FAILED" in be.wait_failed_handshake()["error"]
    proxy.wait_error_log(alert_log("tlsv1 alert unknown ca", 48) + UPSTREAM_LOG % ("/x", be.port, "/x"))


# ================================================================ versions
def test_proxy_ssl_protocols(proxy, tls_backend):
    old = tls_backend("tls12-only", max_version="TLSv1_2")
    old2 = tls_backend("tls12-only-2", max_version="TLSv1_2")
    new = tls_backend("tls13")
    proxy.start(server(location("/13-to-old/", be_url(old), "proxy_ssl_protocols TLSv1.3"),
                       location("/any-to-old/", be_url(old2), "proxy_ssl_protocols TLSv1.2 TLSv1.3"),
                       location("/13-to-new/", be_url(new), "proxy_ssl_protocols TLSv1.3")))
    resp = get(proxy.port, "/13-to-old/x")
    assert resp.status == 502
    assert "UNSUPPORTED_PROTOCOL" in old.wait_failed_handshake()["error"]
    proxy.wait_error_log(alert_log("tlsv1 alert protocol version", 70)
                         + UPSTREAM_LOG % ("/13-to-old/x", old.port, "/13-to-old/x"))
    assert tls_info(proxy.port, "/any-to-old/")["version"] == "TLSv1.2"
    assert tls_info(proxy.port, "/13-to-new/")["version"] == "TLSv1.3"


@only_switchyard("proxy_ssl_protocols defaults to TLSv1.2 TLSv1.3 (nginx 1.23.4+); 1.22's is TLSv1 TLSv1.1 TLSv1.2")
def test_default_proxy_ssl_protocols(proxy, tls_backend):
    be = tls_backend()
    proxy.start(server(location("/", be_url(be))))
    assert tls_info(proxy.port)["version"] == "TLSv1.3"


# ============================================== session reuse and keep-alive
@pytest.mark.parametrize("reuse", ["on", "off"])
def test_proxy_ssl_session_reuse(proxy, tls_backend, reuse):
    be = tls_backend()
    # Connection: close makes the backend close after each response, so every
    # request needs a new TLS connection (switchyard keeps upstream
    # connections alive by default, nginx 1.22 does not).
    proxy.start(server(location("/", be_url(be), "proxy_ssl_session_reuse " + reuse,
                                "proxy_ssl_protocols TLSv1.2", "proxy_set_header Connection close")))
    first, second = tls_info(proxy.port), tls_info(proxy.port)
    assert len(be.handshakes()) == 2
    assert first["reused"] is False
    assert second["reused"] is (reuse == "on")


def test_keepalive_over_tls(proxy, tls_backend, pki):
    be = tls_backend()
    proxy.start("upstream secure {\n    server 127.0.0.1:%d;\n    keepalive 4;\n}\n" % be.port
                + server(location("/", "https://secure", "proxy_http_version 1.1", 'proxy_set_header Connection ""',
                                  *VERIFY, "proxy_ssl_protocols TLSv1.2 TLSv1.3")), ca=pki.ca.crt)
    for i in range(4):
        resp = get(proxy.port, "/r%d" % i)
        assert (resp.status, resp.body) == (200, ("tls GET /r%d\n" % i).encode())
    reqs = be.wait_requests(4)
    assert [(r["conn"], r["seq"]) for r in reqs] == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert len(be.handshakes()) == 1


# ============================================================ wss -> wss
WSS_TO_WSS = ssl_server(
    ws_location("/ws/", "https://127.0.0.1:{backend}", "proxy_set_header Host $host",
                "proxy_set_header X-Forwarded-Proto $scheme", *VERIFY, "proxy_ssl_server_name on",
                "proxy_ssl_protocols TLSv1.2 TLSv1.3"),
    name="ws.test")


def test_wss_to_wss_backend(proxy, tls_ws_backend, pki):
    be = tls_ws_backend()
    port = start_tls(proxy, pki, WSS_TO_WSS, "ws.test", backend=be.port, ca=pki.ca.crt)
    big = bytes(range(256)) * 1000

    async def body():
        async with wss_connect(port, "ws.test", "/ws/secure?id=7", pki.ca.crt) as ws:
            for msg in ["hello", "ünïcödé", b"\x00\x01\xff", big]:
                await ws.send(msg)
                assert await recv(ws) == msg
            await ws.send("__tls__")
            facts = json.loads(await recv(ws))
            return facts, await handshake_seen(ws)
    facts, seen = run(body())
    assert facts == {"sni": "backend.test", "client_cert": None, "version": "TLSv1.3"}
    assert seen["path"] == "/ws/secure?id=7"
    assert header_values(seen["headers"], "Host") == ["ws.test"]
    assert header_values(seen["headers"], "X-Forwarded-Proto") == ["https"]
    closed = be.wait_close()
    assert closed["code"] == 1000


def test_wss_backend_with_wrong_ca_is_502(proxy, tls_ws_backend, pki):
    be = tls_ws_backend()
    port = start_tls(proxy, pki, WSS_TO_WSS, "ws.test", backend=be.port, ca=pki.other_ca.crt)

    async def body():
        import websockets
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with wss_connect(port, "ws.test", "/ws/x", pki.ca.crt):
                pass
        return e.value.status_code
    assert run(body()) == 502
    proxy.wait_error_log(r"\[error\] .*" + VERIFY_ERROR + r", client: 127\.0\.0\.1, server: ws\.test, "
                         r"request: \"GET /ws/x HTTP/1\.1\"")
    assert be.opens() == []


# ===================================================================== -t
T_CASES = {
    "verify-without-trusted": (
        ("proxy_ssl_verify on",), r"no proxy_ssl_trusted_certificate for proxy_ssl_verify"),
    "certificate-without-key": (
        ("proxy_ssl_certificate {crt}",), r'no "proxy_ssl_certificate_key" is defined for certificate "{crt}"'),
    "missing-trusted-file": (
        ("proxy_ssl_verify on", "proxy_ssl_trusted_certificate {missing}"),
        r'SSL_CTX_load_verify_locations\("{missing}"\) failed \(SSL: ' + NO_SUCH_FILE
        + r' error:[0-9A-F]+:x509 certificate routines::system lib\)'),
    "missing-certificate": (
        ("proxy_ssl_certificate {missing}", "proxy_ssl_certificate_key {key}"), cannot_load_missing("certificate")),
    "unknown-protocol": (
        ("proxy_ssl_protocols TLSv1.2 TLSv2",), r'invalid value "TLSv2" in {conf}:{line}'),
}


@pytest.mark.parametrize("case", list(T_CASES))
def test_config_test_refuses_broken_upstream_tls(proxy, pki, workdir, case):
    directives, message = T_CASES[case]
    crt, key = pki.leaf("client.test")
    values = {"crt": crt, "key": key, "missing": workdir / "missing.pem"}
    r = proxy.run_t(server(location("/", "https://127.0.0.1:1", *directives)), **values)
    assert r.returncode == 1, r.output
    assert re.search(r"\[emerg\] " + message_regex(message, values, r.conf_path), r.stderr), r.output
    assert "test failed" in r.stderr


def test_config_test_accepts_upstream_tls(proxy, pki):
    crt, key = pki.client("client.test")
    r = proxy.run_t(server(location("/", "https://127.0.0.1:1", *VERIFY, "proxy_ssl_server_name on",
                                    "proxy_ssl_certificate {crt}", "proxy_ssl_certificate_key {key}",
                                    "proxy_ssl_protocols TLSv1.2 TLSv1.3", "proxy_ssl_session_reuse off")),
                    ca=pki.ca.crt, crt=crt, key=key)
    assert r.returncode == 0, r.output
    assert "test is successful" in r.stderr
