"""`add_header` is response policy, not a property of one carrier: the same
fields reach HTTP/1.1 and HTTP/2 clients (over TLS and h2c), on `return`,
static files, proxied responses and error pages, with nginx's status rule
(200, 201, 204, 206, 301, 302, 303, 304, 307, 308 — any status with
`always`) and inheritance (a level that sets none inherits the parent's).
"""

from __future__ import annotations

import pytest

from harness import rawhttp
from harness.config import block, location
from harness.tls import session_pki

from test_http2 import NAME, curl_h2


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


def conf() -> str:
    common = [
        'add_header Strict-Transport-Security "max-age=63072000" always',
        'add_header X-Policy "srv-$scheme"',
        location("= /ok", None, 'return 200 "ok\\n"'),
        location("= /missing", None, "return 404"),
        location("/static/", None, "root {prefix}/html"),
        location("/app/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1", 'proxy_set_header Connection ""'),
        location("/own/", "http://127.0.0.1:{backend}", "proxy_http_version 1.1", 'proxy_set_header Connection ""',
                 'add_header Access-Control-Allow-Origin "*"',
                 'add_header X-Err "e" always'),
    ]
    tls = block("server", "listen 127.0.0.1:{listen_tls} ssl http2", "server_name " + NAME,
                "ssl_certificate {crt}", "ssl_certificate_key {key}", *common)
    h2c = block("server", "listen 127.0.0.1:{listen_h2c} http2", "server_name " + NAME, *common)
    plain = block("server", "listen 127.0.0.1:{listen}", "server_name " + NAME, *common)
    return tls + "\n" + h2c + "\n" + plain + "\n"


@pytest.fixture
def running(proxy, pki, http_backend):
    be = http_backend()
    crt, key = pki.leaf(NAME)
    proxy.start(conf(), crt=crt, key=key, backend=be.port)
    proxy.write_file("html/static/f.txt", b"file\n")
    return proxy


def fetch(proxy, pki, carrier: str, path: str):
    """(status, {lowercased name: value}) of one GET over `carrier`."""
    if carrier == "h1":
        resp = rawhttp.exchange(proxy.port, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                % (path.encode(), NAME.encode()))
        return resp.status, {k.lower(): v for k, v in resp.headers}
    if carrier == "h2":
        r, version, _ = curl_h2(proxy.ports["listen_tls"], path, pki.ca.crt)
    else:
        r, version, _ = curl_h2(proxy.ports["listen_h2c"], path, None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version) == (0, "2"), r.stderr
    fields = {}
    for line in r.stdout.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode().partition(":")
        fields[name.strip().lower()] = value.strip()
    return r.status, fields


CARRIERS = ["h1", "h2", "h2c"]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_add_header_on_return_static_and_proxied(running, pki, carrier):
    scheme = "https" if carrier == "h2" else "http"
    for path in ("/ok", "/static/f.txt", "/app/x"):
        status, fields = fetch(running, pki, carrier, path)
        assert status == 200, (carrier, path)
        assert fields.get("strict-transport-security") == "max-age=63072000", (carrier, path, fields)
        assert fields.get("x-policy") == "srv-" + scheme, (carrier, path, fields)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_add_header_status_rule_and_always(running, pki, carrier):
    status, fields = fetch(running, pki, carrier, "/missing")
    assert status == 404
    assert fields.get("strict-transport-security") == "max-age=63072000", fields   # always
    assert "x-policy" not in fields, fields                                         # not on a 404


@pytest.mark.parametrize("carrier", CARRIERS)
def test_add_header_location_level_replaces_server_level(running, pki, carrier):
    status, fields = fetch(running, pki, carrier, "/own/x")
    assert status == 200
    assert fields.get("access-control-allow-origin") == "*", fields
    assert fields.get("x-err") == "e", fields
    # a level with its own add_header inherits none of the parent's
    assert "strict-transport-security" not in fields and "x-policy" not in fields, fields


def test_add_header_line_break_from_config_kept_from_request_dropped(proxy):
    """nginx writes an add_header value verbatim: a "\\n" written in the config
    ends the header line there (nginx's own map.t relies on it). A line break
    that a variable brings (a %0A decoded into $uri) would let the client add
    response headers: switchyard drops that field; nginx 1.22 sends it."""
    proxy.start("server {\n listen 127.0.0.1:{listen};\n"
                ' location /lit { add_header X-Lit "a:$arg_v\\n"; return 204; }\n'
                ' location /uri { add_header X-Uri "u:$uri"; return 204; }\n}\n')
    resp = rawhttp.exchange(proxy.port, b"GET /lit?v=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 204
    assert b"\r\nX-Lit: a:1\n\r\n" in resp.raw_head, resp.raw_head
    resp = rawhttp.exchange(proxy.port, b"GET /uri/a%0AX-Evil:%201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 204
    if proxy.impl == "switchyard":
        assert b"X-Uri" not in resp.raw_head and b"X-Evil" not in resp.raw_head, resp.raw_head
    else:
        assert b"\nX-Evil: 1" in resp.raw_head, resp.raw_head


def test_sent_http_reads_the_head_as_sent(proxy, http_backend):
    """$sent_http_NAME sees every filter's work: add_header on a `return`,
    several Cache-Control fields joined with ", ", and `expires epoch`
    replacing a proxied response's Cache-Control with "no-cache"."""
    from harness.wait import wait_until
    be = http_backend()
    proxy.start("log_format cc '$uri: $sent_http_cache_control';\n"
                "server {\n listen 127.0.0.1:{listen};\n access_log logs/cc.log cc;\n"
                " location /set { add_header Cache-Control max-age=3600; add_header Cache-Control private;"
                " return 200 OK; }\n"
                " location /redefine { expires epoch; proxy_pass http://127.0.0.1:{backend}; }\n"
                " location /none { return 200 OK; }\n}\n", backend=be.port)
    for path in ("/set", "/redefine?h=Cache-Control:max-age%3D9", "/none"):
        assert rawhttp.exchange(proxy.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                % path.encode()).status == 200
    log = proxy.prefix / "logs" / "cc.log"
    text = wait_until(lambda: log.exists() and log.read_text().count("\n") >= 3 and log.read_text(), 10, "3 log lines")
    assert text.splitlines() == ["/set: max-age=3600, private", "/redefine: no-cache", "/none: -"]
