"""stream proxy_ssl_session_reuse towards TLS backends, TLS 1.2 and 1.3.

With TLS 1.3 the backend's session tickets come after the handshake, so the
proxy reads them only while it already relays the session (in switchyard:
once the Tunnel owns the upstream SSL). The session must still be kept for
the next connection to that peer, as nginx keeps it. Regression: the
new-session callback took the SSL's owner for the upstream connection
object; under a Tunnel it read a Tunnel as one (sessions silently lost, or
the worker crashed, depending on the Tunnel's layout: a TLS client, whose $ssl_protocol the bytes read
happened to include, made it a crash). Both implementations
run every test.
"""

from __future__ import annotations

import json

import pytest

from harness import rawhttp
from test_stream import STREAM_MODULE, start_stream  # noqa: F401
from test_stream_tls import pki, tls_backends, tls_request  # noqa: F401


def tls_info(port: int) -> dict:
    resp = rawhttp.exchange(port, b"GET /tls-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 200, resp
    return json.loads(resp.body)


@pytest.mark.parametrize("protocol", ["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("reuse", ["on", "off"])
def test_stream_proxy_ssl_session_reuse(proxy, tls_backends, pki, protocol, reuse):  # noqa: F811
    be = tls_backends("http", "tls", "backend.example.test")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        proxy_ssl on;
        proxy_ssl_protocols %s;
        proxy_ssl_session_reuse %s;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {ca};
        proxy_ssl_name backend.example.test;
        proxy_ssl_server_name on;
    }""" % (protocol, reuse), backend=be.port, ca=pki.ca.crt)
    # the harness's readiness probe may already have left a session: the
    # first connection may or may not resume; the ones after it must (on)
    infos = [tls_info(proxy.port) for _ in range(3)]
    assert [i["version"] for i in infos] == [protocol] * 3
    assert [i["sni"] for i in infos] == ["backend.example.test"] * 3
    if reuse == "on":
        assert [i["reused"] for i in infos[1:]] == [True, True], infos
    else:
        assert [i["reused"] for i in infos] == [False, False, False], infos


def test_stream_tls_termination_and_proxy_ssl_tls13_reuse(proxy, tls_backends, pki):  # noqa: F811
    """TLS from the client (listen ssl) and TLS 1.3 to the backend: every
    session is relayed (the proxy lives on) and later ones resume."""
    be = tls_backends("http", "tls", "backend.example.test")
    crt, key = pki.leaf("front.example.test", "front.example.test")
    start_stream(proxy, """
    server {
        listen 127.0.0.1:{listen} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{backend};
        proxy_ssl on;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {ca};
        proxy_ssl_name backend.example.test;
        proxy_ssl_server_name on;
    }""", backend=be.port, ca=pki.ca.crt, crt=crt, key=key)
    infos = []
    for _ in range(3):
        resp, front = tls_request(proxy.port, "front.example.test", pki.ca.crt)
        assert resp.status == 200, resp
        assert front["version"] == "TLSv1.3"
        infos.append(json.loads(resp.body))
    assert [i["version"] for i in infos] == ["TLSv1.3"] * 3
    assert [i["reused"] for i in infos[1:]] == [True, True], infos
