"""The nginx configurations users copy from the articles in shared/seeds/,
run as written. Only ports and paths are substituted: `listen 80` becomes
`listen {listen}`, backend ports `{backend}`, certificate paths `{cert}` /
`{key}`; backend host names that cannot resolve here (backend1.example.com,
the Docker service `app`, `your_backend`) become 127.0.0.1 or localhost; a
server without `listen` (nginx would take port 80) gets `listen {listen};`.

Seeds:
  000  "Nginx Proxy WebSocket: The Ultimate Guide" (M Blog)
  001  nginx 1.3.13 WebSocket post (Martin Fjordvald) and its comments
  002  "Fix: Nginx WebSocket Proxy Not Working (101 Switching Protocols Failed)"
  003  "WebSocket proxying in Nginx - Step-by-Step Execution"

Also here: `-t` (configuration test) on every seed and on broken configs.
"""

import http.client
import re
from pathlib import Path

import pytest

from harness import config as cfg
from harness import rawhttp
from harness.backends import header_values
from harness.tls import client_context, make_cert
from harness.wsclient import connect, handshake_seen, recv, run

# ----------------------------------------------------------------- seed 000
S000_BASIC = """
upstream websocket_backend {
    server 127.0.0.1:{backend};
    keepalive 32;
}

server {
    listen {listen};
    server_name yourdomain.com;

    location /ws/ {
        proxy_pass http://websocket_backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    # Other locations for regular HTTP traffic
    location / {
        # ... your regular proxy settings ...
    }
}
"""

S000_TLS = """
server {
    listen {listen_tls} ssl http2;
    server_name ws.yourdomain.com;

    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    # ... other SSL settings ...

    location /ws/ {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}

# Optional: Redirect HTTP to HTTPS
server {
    listen {listen};
    server_name ws.yourdomain.com;
    return 301 https://$host$request_uri;
}
"""

S000_REDIRECT = """
server {
    listen {listen};
    server_name ws.yourdomain.com;
    return 301 https://$host$request_uri;
}
"""

S000_IP_HASH = """
upstream websocket_servers {
    ip_hash;
    server 127.0.0.1:{b1};
    server 127.0.0.1:{b2};
    server 127.0.0.1:{b3};
}

server {
    listen {listen};
    server_name yourdomain.com;

    location /ws/ {
        proxy_pass http://websocket_servers;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        # ... other headers ...
    }
}
"""

S000_MAP = """
map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}

server {
    listen {listen};
    server_name yourdomain.com;

    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade; # Use the mapped variable
        # ... other headers ...
    }
}
"""

# ----------------------------------------------------------------- seed 001
# The post's snippets are cut short (no closing braces); the upstream named
# `backend` and the server around them are the minimum that makes them run.
S001_DOCS = """
upstream backend {
    server 127.0.0.1:{backend};
}

server {
    listen {listen};

    location /chat/ {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "Upgrade";
    }
}
"""

S001_UPGRADE_REQUESTED = """
map $http_connection $upgrade_requested {
    default upgrade;
    ''      close;
}

server {
    listen {listen};

    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $upgrade_requested;
    }
}
"""

# Comment by Phaitour: backends that compare the header case-sensitively.
S001_CASE = """
server {
    listen {listen};

    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade "WebSocket";
        proxy_set_header Connection "Upgrade";
    }
}
"""

# Comment by Steven Wang: TCP pass-through with the stream module (the
# comment's blocks are truncated; the upstreams get one server each).
S001_STREAM = """
stream {

    upstream web_server {
        server 127.0.0.1:{backend};
    }

    server {

        listen {listen};
        proxy_pass web_server;
    }

    upstream wssapp {

        #hash $remote_addr consistent;
        server 127.0.0.1:{backend};
    }

    server {
        listen {listen2};
        proxy_pass wssapp;
    }
}
"""

# ----------------------------------------------------------------- seed 002
S002_FIX1 = """
server {
    listen {listen};
    server_name example.com;

    location /socket/ {
        proxy_pass http://localhost:{backend};
        proxy_http_version 1.1;

        # Required for WebSocket handshake
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";

        # Standard proxy headers
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
"""

S002_PROTIP_MAP = """
map $http_upgrade $connection_upgrade { default upgrade; '' close; } server { listen {listen}; location / { proxy_pass http://localhost:{backend}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; } }
"""

S002_FIX2 = """
server {
    listen {listen};

    location /socket/ {
        proxy_pass http://localhost:{backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";

        # Increase timeouts for long-lived WebSocket connections
        proxy_read_timeout 3600s;   # 1 hour
        proxy_send_timeout 3600s;   # 1 hour
        proxy_connect_timeout 10s;  # Connection establishment timeout (keep short)

        # Disable buffering for real-time data
        proxy_buffering off;
        proxy_cache off;
    }
}
"""

S002_FIX3_TLS = """
server {
    listen {listen_tls} ssl;
    server_name example.com;

    ssl_certificate {cert};
    ssl_certificate_key {key};

    location /socket/ {
        proxy_pass http://localhost:{backend};  # Backend uses plain ws://
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;  # Tell backend the original protocol
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    }
}

# Redirect HTTP to HTTPS
server {
    listen {listen};
    server_name example.com;
    return 301 https://$host$request_uri;
}
"""

S002_FIX4 = """
# Backend: HTTP on port 3000, WebSocket on port 3001
server {
    listen {listen};
    server_name example.com;

    # Regular HTTP requests
    location / {
        proxy_pass http://localhost:{backend};
    }

    # WebSocket connections to a different backend port
    location /ws/ {
        proxy_pass http://localhost:{backend2};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 3600s;
    }
}
"""

S002_FIX4_REWRITE = """
server {
    listen {listen};

    location /socket/ {
        # Strip /socket/ prefix before passing to backend
        proxy_pass http://localhost:{backend}/;  # Trailing slash rewrites the path
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""

S002_FIX5_IP_HASH = """
upstream websocket_backends {
    ip_hash;  # Sticky sessions based on client IP
    server 127.0.0.1:{b1};
    server 127.0.0.1:{b2};
    server 127.0.0.1:{b3};
}

server {
    listen {listen};

    location /socket/ {
        proxy_pass http://websocket_backends;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 3600s;
    }
}
"""

S002_FIX7_DOCKER = """
# nginx.conf inside Docker
upstream websocket_backend {
    server localhost:{backend};  # 'app' is the Docker service name
}

server {
    listen {listen};

    location /socket/ {
        proxy_pass http://websocket_backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 3600s;
    }
}
"""

# ----------------------------------------------------------------- seed 003
S003 = """
upstream backend_ws {
    server 127.0.0.1:{backend};
}

server {
    listen {listen};

    location /ws/ {
        proxy_pass http://backend_ws;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "Upgrade";
    }
}
"""

TLS_SEEDS = {"000-tls": S000_TLS, "002-fix3-tls": S002_FIX3_TLS}
IP_HASH_SEEDS = {"000-ip-hash": S000_IP_HASH, "002-fix5-ip-hash": S002_FIX5_IP_HASH}
HTTP_SEEDS = {
    "000-basic": S000_BASIC, "000-redirect": S000_REDIRECT, "000-map": S000_MAP,
    "001-docs": S001_DOCS, "001-upgrade-requested": S001_UPGRADE_REQUESTED, "001-case": S001_CASE,
    "002-fix1": S002_FIX1, "002-protip-map": S002_PROTIP_MAP, "002-fix2": S002_FIX2, "002-fix4": S002_FIX4,
    "002-fix4-rewrite": S002_FIX4_REWRITE, "002-fix7-docker": S002_FIX7_DOCKER, "003": S003,
    **TLS_SEEDS, **IP_HASH_SEEDS,
}

NGINX_STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def ws_echo(url, **kw):
    """Opens a WebSocket, checks an echo, returns the handshake the backend saw."""
    async def body():
        async with connect(url, **kw) as ws:
            await ws.send("seed says hi")
            assert await recv(ws) == "seed says hi"
            await ws.send(b"\x00binary\xff")
            assert await recv(ws) == b"\x00binary\xff"
            return await handshake_seen(ws)
    return run(body())


def plain_get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


# ------------------------------------------------------------------ seed 000
def test_000_basic(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S000_BASIC, backend=be.port, files={"html/index.html": "<h1>regular site</h1>\n"})
    seen = ws_echo(proxy.url("/ws/app", "ws"))
    h = seen["headers"]
    assert seen["path"] == "/ws/app"
    assert header_values(h, "Host") == ["127.0.0.1"]
    assert header_values(h, "Upgrade") == ["websocket"]
    assert header_values(h, "Connection") == ["upgrade"]
    assert header_values(h, "X-Real-IP") == ["127.0.0.1"]
    assert header_values(h, "X-Forwarded-For") == ["127.0.0.1"]
    # `location / { }`: static files from the default root (<prefix>/html).
    status, headers, body = plain_get(proxy.port, "/")
    assert (status, body) == (200, b"<h1>regular site</h1>\n")
    assert headers["Content-Type"] == "text/html"
    assert plain_get(proxy.port, "/missing.html")[0] == 404


def test_000_redirect_to_https(proxy):
    proxy.start(S000_REDIRECT)
    resp = rawhttp.exchange(proxy.port, b"GET /ws/chat?room=1 HTTP/1.1\r\nHost: ws.yourdomain.com\r\n\r\n")
    assert resp.status == 301
    assert resp.header("Location") == "https://ws.yourdomain.com/ws/chat?room=1"
    assert b"<title>301 Moved Permanently</title>" in resp.body
    # $host is the Host header without its port, lowercased.
    resp = rawhttp.exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: WS.YourDomain.com:8080\r\n\r\n")
    assert resp.header("Location") == "https://ws.yourdomain.com/"


def test_000_tls_termination(proxy, ws_backend, workdir):
    be = ws_backend()
    cert, key = make_cert(workdir / "tls")
    proxy.start(S000_TLS, backend=be.port, cert=cert, key=key)
    seen = ws_echo(proxy.url("/ws/secure", "wss", port=proxy.ports["listen_tls"], host="localhost"),
                   ssl=client_context(cert))
    assert seen["path"] == "/ws/secure"
    assert header_values(seen["headers"], "Host") == ["localhost"]
    resp = rawhttp.exchange(proxy.port, b"GET /ws/ HTTP/1.1\r\nHost: ws.yourdomain.com\r\n\r\n")
    assert (resp.status, resp.header("Location")) == (301, "https://ws.yourdomain.com/ws/")


def test_000_ip_hash_sticky(proxy, ws_backend):
    backends = [ws_backend("ws%d" % i) for i in (1, 2, 3)]
    proxy.start(S000_IP_HASH, b1=backends[0].port, b2=backends[1].port, b3=backends[2].port)
    for i in range(6):
        ws_echo(proxy.url("/ws/%d" % i, "ws"))
    counts = sorted(len(b.opens()) for b in backends)
    assert counts == [0, 0, 6], "one client address must stick to one backend: %s" % counts


def test_000_map_connection_upgrade(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S000_MAP, backend=be.port)
    status, _, body = plain_get(proxy.port, "/page")
    assert (status, body) == (200, b"plain http\n")
    plain = be.last_request()["headers"]
    assert header_values(plain, "Connection") == ["close"]
    assert header_values(plain, "Upgrade") == []
    seen = ws_echo(proxy.url("/live", "ws"))
    assert header_values(seen["headers"], "Connection") == ["upgrade"]
    assert header_values(seen["headers"], "Upgrade") == ["websocket"]


# ------------------------------------------------------------------ seed 001
def test_001_docs_connection_case_preserved(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S001_DOCS, backend=be.port)
    seen = ws_echo(proxy.url("/chat/room", "ws"))
    assert header_values(seen["headers"], "Connection") == ["Upgrade"]  # exactly as configured
    assert header_values(seen["headers"], "Host") == ["backend"]  # $proxy_host: the upstream's name


def test_001_map_http_connection(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S001_UPGRADE_REQUESTED, backend=be.port)
    # No Connection header from the client: $upgrade_requested is "close".
    resp = rawhttp.exchange(proxy.port, b"GET /a HTTP/1.1\r\nHost: front\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"plain http\n")
    assert header_values(be.last_request()["headers"], "Connection") == ["close"]
    # Any Connection header (even keep-alive) maps to "upgrade" -- the post's
    # map keys on $http_connection, not $http_upgrade. No Upgrade goes with it.
    resp = rawhttp.exchange(proxy.port, b"GET /b HTTP/1.1\r\nHost: front\r\nConnection: keep-alive\r\n\r\n")
    assert resp.status == 200
    req = be.last_request()
    assert req["path"] == "/b"
    assert header_values(req["headers"], "Connection") == ["upgrade"]
    assert header_values(req["headers"], "Upgrade") == []
    seen = ws_echo(proxy.url("/ws", "ws"))
    assert header_values(seen["headers"], "Connection") == ["upgrade"]


def test_001_case_sensitive_backend_headers(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S001_CASE, backend=be.port)
    seen = ws_echo(proxy.url("/x", "ws"))
    assert header_values(seen["headers"], "Upgrade") == ["WebSocket"]
    assert header_values(seen["headers"], "Connection") == ["Upgrade"]


def test_001_stream_pass_through(proxy, ws_backend):
    if proxy.impl == "nginx" and not NGINX_STREAM_MODULE.exists():
        pytest.skip("this nginx has no stream module (%s; apt-get install libnginx-mod-stream)"
                    % NGINX_STREAM_MODULE)
    be = ws_backend()
    conf = cfg.wrap_main(S001_STREAM)
    if proxy.impl == "nginx":  # Debian builds it as a dynamic module
        conf = "load_module %s;\n" % NGINX_STREAM_MODULE + conf
    proxy.start_conf(conf, backend=be.port)
    for port in (proxy.ports["listen"], proxy.ports["listen2"]):
        seen = ws_echo("ws://127.0.0.1:%d/raw" % port)
        # Bytes pass untouched: the backend sees the client's own handshake.
        assert header_values(seen["headers"], "Connection") == ["Upgrade"]
        assert header_values(seen["headers"], "Host") == ["127.0.0.1:%d" % port]


# ------------------------------------------------------------------ seed 002
def test_002_fix1_and_curl_check(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S002_FIX1, backend=be.port)
    seen = ws_echo(proxy.url("/socket/chat", "ws"))
    h = seen["headers"]
    assert seen["path"] == "/socket/chat"  # no URI in proxy_pass: passed unchanged
    assert header_values(h, "X-Forwarded-Proto") == ["http"]
    assert header_values(h, "Host") == ["127.0.0.1"]
    # "Test with curl to see the response headers" (Fix 6).
    r = rawhttp.curl(["-i", "-N",
                      "-H", "Connection: Upgrade",
                      "-H", "Upgrade: websocket",
                      "-H", "Sec-WebSocket-Version: 13",
                      "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                      proxy.url("/socket/")], max_time=3)
    assert r.returncode in (0, 28), r.stderr
    assert r.status_line == "HTTP/1.1 101 Switching Protocols"
    assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_002_protip_map_one_line(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S002_PROTIP_MAP, backend=be.port)
    assert plain_get(proxy.port, "/")[2] == b"plain http\n"
    assert header_values(be.last_request()["headers"], "Connection") == ["close"]
    seen = ws_echo(proxy.url("/", "ws"))
    assert header_values(seen["headers"], "Connection") == ["upgrade"]


def test_002_fix2_timeouts_and_unbuffered(proxy, ws_backend):
    wsb = ws_backend()
    proxy.start(S002_FIX2, backend=wsb.port)
    ws_echo(proxy.url("/socket/", "ws"))
    assert plain_get(proxy.port, "/socket/page")[2] == b"plain http\n"


def test_002_fix4_http_and_ws_backends(proxy, ws_backend, http_backend):
    web, wsb = http_backend("web"), ws_backend("wsb")
    proxy.start(S002_FIX4, backend=web.port, backend2=wsb.port)
    status, _, body = plain_get(proxy.port, "/index?x=1")
    assert (status, body) == (200, b"web GET /index?x=1\n")
    seen = ws_echo(proxy.url("/ws/feed", "ws"))
    assert seen["path"] == "/ws/feed"
    assert len(wsb.opens()) == 1 and web.connections() == 1


def test_002_fix4_trailing_slash_strips_prefix(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S002_FIX4_REWRITE, backend=be.port)
    seen = ws_echo(proxy.url("/socket/chat", "ws"))
    assert seen["path"] == "/chat"
    seen = ws_echo(proxy.url("/socket/deep/er?token=a%2Fb", "ws"))
    assert seen["path"] == "/deep/er?token=a%2Fb"
    plain_get(proxy.port, "/socket/x/y?z=1")
    assert be.last_request()["path"] == "/x/y?z=1"


def test_002_without_trailing_slash_keeps_prefix(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S002_FIX1, backend=be.port)
    plain_get(proxy.port, "/socket/x/y?z=1")
    assert be.last_request()["path"] == "/socket/x/y?z=1"


def test_002_fix3_wss(proxy, ws_backend, workdir):
    be = ws_backend()
    cert, key = make_cert(workdir / "tls")
    proxy.start(S002_FIX3_TLS, backend=be.port, cert=cert, key=key)
    seen = ws_echo(proxy.url("/socket/", "wss", port=proxy.ports["listen_tls"], host="localhost"),
                   ssl=client_context(cert))
    assert header_values(seen["headers"], "X-Forwarded-Proto") == ["https"]
    resp = rawhttp.exchange(proxy.port, b"GET /socket/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (resp.status, resp.header("Location")) == (301, "https://example.com/socket/")


def test_002_fix5_ip_hash(proxy, ws_backend):
    backends = [ws_backend("ws%d" % i) for i in (1, 2, 3)]
    proxy.start(S002_FIX5_IP_HASH, b1=backends[0].port, b2=backends[1].port, b3=backends[2].port)
    for i in range(6):
        ws_echo(proxy.url("/socket/%d" % i, "ws"))
    assert sorted(len(b.opens()) for b in backends) == [0, 0, 6]


def test_002_fix7_docker_upstream_hostname(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S002_FIX7_DOCKER, backend=be.port)
    seen = ws_echo(proxy.url("/socket/", "ws"))
    assert header_values(seen["headers"], "Host") == ["websocket_backend"]


# ------------------------------------------------------------------ seed 003
def test_003_step_by_step(proxy, ws_backend):
    be = ws_backend()
    proxy.start(S003, backend=be.port)

    async def body():
        async with connect(proxy.url("/ws/", "ws")) as ws:
            msgs = ["m%d" % i for i in range(50)]
            for m in msgs:
                await ws.send(m)
            got = [await recv(ws) for _ in msgs]
            assert got == msgs
            return await handshake_seen(ws)
    seen = run(body())
    assert header_values(seen["headers"], "Connection") == ["Upgrade"]
    assert header_values(seen["headers"], "Upgrade") == ["websocket"]


# ------------------------------------------------------------------- -t
def _seed_values(name, workdir):
    values = {"backend": 1, "backend2": 2, "b1": 3, "b2": 4, "b3": 5}  # -t never connects
    if name in TLS_SEEDS:
        values["cert"], values["key"] = make_cert(workdir / "tls")
    return values


@pytest.mark.parametrize("name", [n for n in HTTP_SEEDS if n not in TLS_SEEDS and n not in IP_HASH_SEEDS])
def test_seed_passes_config_test(proxy, workdir, name):
    r = proxy.run_t(HTTP_SEEDS[name], **_seed_values(name, workdir))
    assert r.returncode == 0, r.output
    assert re.search(r"the configuration file \S+nginx\.conf syntax is ok", r.stderr), r.output
    assert re.search(r"configuration file \S+nginx\.conf test is successful", r.stderr), r.output


@pytest.mark.parametrize("name", list(TLS_SEEDS))
def test_tls_seed_passes_config_test(proxy, workdir, name):
    r = proxy.run_t(HTTP_SEEDS[name], **_seed_values(name, workdir))
    assert r.returncode == 0, r.output
    assert "test is successful" in r.stderr


@pytest.mark.parametrize("name", list(IP_HASH_SEEDS))
def test_ip_hash_seed_passes_config_test(proxy, workdir, name):
    r = proxy.run_t(HTTP_SEEDS[name], **_seed_values(name, workdir))
    assert r.returncode == 0, r.output
    assert "test is successful" in r.stderr


def test_config_test_unknown_directive(proxy):
    r = proxy.run_t("server {\n    listen {listen};\n    foo bar;\n}\n")
    assert r.returncode == 1
    text = r.conf_path.read_text()
    line = text.splitlines().index("        foo bar;") + 1
    expected = 'unknown directive "foo" in %s:%d' % (r.conf_path, line)
    assert "[emerg] " + expected in r.stderr, r.output
    assert "configuration file %s test failed" % r.conf_path in r.stderr
    assert expected in r.error_log


@pytest.mark.parametrize("snippet,message", [
    ("server {\n    listen {listen};\n    location / {\n        proxy_pass http://127.0.0.1:1;\n    }\n",
     r'unexpected end of file, expecting "}" in \S+nginx\.conf:\d+'),
    ("server {\n    listen {listen};\n    proxy_pass http://127.0.0.1:1;\n}\n",
     r'"proxy_pass" directive is not allowed here in \S+nginx\.conf:\d+'),
    ("server {\n    listen {listen};\n    location / {\n        proxy_http_version 1.2;\n    }\n}\n",
     r'invalid value "1\.2" in \S+nginx\.conf:\d+'),
    ("server {\n    listen {listen};\n    location / {\n        proxy_pass http://nosuchupstream;\n    }\n}\n",
     r'host not found in upstream "nosuchupstream" in \S+nginx\.conf:\d+'),
], ids=["unexpected-eof", "not-allowed-here", "invalid-value", "host-not-found"])
def test_config_test_errors(proxy, snippet, message):
    r = proxy.run_t(snippet)
    assert r.returncode == 1, r.output
    assert re.search(r"\[emerg\] " + message, r.stderr), r.output


def test_unknown_directive_refuses_to_start(proxy):
    from harness.proxy import ProxyStartError
    with pytest.raises(ProxyStartError) as e:
        proxy.start("server { listen {listen}; bogus_directive on; }")
    assert 'unknown directive "bogus_directive"' in str(e.value)
    proxy.allow_log(r'\[emerg\] .*unknown directive "bogus_directive"')
