"""access_log's if= parameter (a line only when the condition is neither
empty nor "0"), $upstream_response_length in a log format, and
lingering_close off|on|always with lingering_time/lingering_timeout. Every
test runs against switchyard and Debian's nginx on the same configuration
(SY_IMPLS); if= also in stream {}."""

from __future__ import annotations

import re
import socket
from pathlib import Path
import time

import pytest

from harness import config as cfg
from harness import rawhttp
from harness.ports import closed_port
from harness.tcp import TcpBackend, recv_all
from harness.wait import wait_until


def get(port: int, target: str):
    return rawhttp.exchange(port, ("GET %s HTTP/1.1\r\nHost: lg\r\nConnection: close\r\n\r\n" % target).encode())


LOG_CONF = r"""
log_format ifl "if:$request_uri:$status";
log_format url "url:$uri:$upstream_status:$upstream_response_length";
map $arg_log $loggable { default 1; no 0; empty ""; }
upstream dead { server 127.0.0.1:{dead} max_fails=0; server 127.0.0.1:{backend} backup; }

server {
    listen 127.0.0.1:{listen};
    server_name lg;
    access_log logs/if.log ifl if=$loggable;
    access_log logs/all.log ifl;
    lingering_close off;
    lingering_time 10s;
    lingering_timeout 2s;

    location /r { return 200 "ok\n"; }
    location /ct { add_header X-CT $connection_time always; return 200 "$connection_requests\n"; }
    location /up {
        access_log logs/url.log url;
        proxy_pass http://127.0.0.1:{backend};
    }
    location /nb {
        access_log logs/url.log url;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:{backend};
    }
    location /dead {
        access_log logs/url.log url;
        proxy_pass http://dead;
    }
    location /ret { access_log logs/url.log url; return 204; }
}
"""


def _lines(proxy, name: str, n: int) -> list[str]:
    path = proxy.prefix / "logs" / name
    wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= n, 5, name)
    return path.read_text().splitlines()


def test_access_log_if(proxy, http_backend):
    be = http_backend()
    proxy.start(LOG_CONF, backend=be.port, dead=closed_port())
    for q in ("a", "log=no", "log=empty", "log=yes", "log=0x", "log=", "b"):
        assert get(proxy.port, "/r/%s?%s" % (q, q)).status == 200
    everything = _lines(proxy, "all.log", 7)
    assert len(everything) == 7, everything
    time.sleep(0.3)  # nothing else may show up in if.log
    lines = (proxy.prefix / "logs" / "if.log").read_text().splitlines()
    # "0" and "" skip the line; "0x", "yes" and the default (also for an empty $arg_log) log it
    assert lines == ["if:/r/a?a:200", "if:/r/log=yes?log=yes:200", "if:/r/log=0x?log=0x:200",
                     "if:/r/log=?log=:200", "if:/r/b?b:200"], lines


def test_upstream_response_length(proxy, http_backend):
    be = http_backend()
    proxy.start(LOG_CONF, backend=be.port, dead=closed_port())
    r = get(proxy.port, "/up/len?size=1000")
    assert r.status == 200 and r.body == rawhttp.pattern(1000)
    r = get(proxy.port, "/up/ch?mode=chunked&size=300&parts=3")
    assert r.status == 200 and r.body == rawhttp.pattern(300)
    r = get(proxy.port, "/nb/len?size=777")
    assert r.status == 200 and r.body == rawhttp.pattern(777)
    r = get(proxy.port, "/up/empty?size=0")
    assert r.status == 200 and r.body == b""
    assert get(proxy.port, "/ret").status == 204
    r = get(proxy.port, "/dead/x?size=55")
    assert r.status == 200 and r.body == rawhttp.pattern(55)
    lines = _lines(proxy, "url.log", 6)
    # chunked: the upstream's body as read, framing included: 3 x "64\r\n" + 100 + "\r\n", then "0\r\n\r\n"
    assert lines == ["url:/up/len:200:1000", "url:/up/ch:200:323", "url:/nb/len:200:777",
                     "url:/up/empty:200:0", "url:/ret:-:-",
                     "url:/dead/x:502, 200:0, 55"], lines  # one value per try, as $upstream_status


def test_connection_time(proxy, http_backend):
    be = http_backend()
    proxy.start(LOG_CONF, backend=be.port, dead=closed_port())
    s = rawhttp.connect(proxy.port)
    try:
        s.sendall(b"GET /ct HTTP/1.1\r\nHost: lg\r\n\r\n")
        reader = rawhttp.Reader(s)
        first = rawhttp.final_response(reader)
        time.sleep(1.2)
        s.sendall(b"GET /ct HTTP/1.1\r\nHost: lg\r\nConnection: close\r\n\r\n")
        second = rawhttp.final_response(reader)
    finally:
        s.close()
    assert (first.status, first.body, second.status, second.body) == (200, b"1\n", 200, b"2\n")
    t1, t2 = first.header("X-CT"), second.header("X-CT")
    assert re.fullmatch(r"\d+\.\d{3}", t1) and re.fullmatch(r"\d+\.\d{3}", t2), (t1, t2)
    # seconds since the connection was accepted, with milliseconds: generous bounds
    assert float(t1) < 5 and 1.0 <= float(t2) - float(t1) < 10, (t1, t2)


def _after_response(port: int, target: str) -> str:
    """Reads a Connection: close response to its end, then keeps sending:
    "reset" when the server had closed (lingering off), "eof" when it drained
    what came after the response (lingering)."""
    s = rawhttp.connect(port)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: lg\r\nConnection: close\r\n\r\n" % target).encode())
        s.settimeout(10)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data
        try:
            for _ in range(3):
                time.sleep(0.3)
                s.sendall(b"x" * 100)
            time.sleep(0.3)
            return "eof" if s.recv(100) == b"" else "data"
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
    finally:
        s.close()


LINGER_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name lg;
    lingering_timeout 5s;
    location /off { lingering_close off; return 200 "off\n"; }
    location /always { lingering_close always; return 200 "always\n"; }
    location /on { return 200 "on\n"; }
}
"""


def test_lingering_close(proxy):
    proxy.start(LINGER_CONF)
    assert _after_response(proxy.port, "/always") == "eof"
    assert _after_response(proxy.port, "/off") == "reset"
    # "on" lingers only when the client may still send: nothing was pending here
    assert _after_response(proxy.port, "/on") == "reset"


def test_lingering_time_bounds_the_drain(proxy):
    proxy.start(LINGER_CONF.replace("lingering_timeout 5s;", "lingering_timeout 1s;"))
    s = rawhttp.connect(proxy.port)
    try:
        s.sendall(b"GET /always HTTP/1.1\r\nHost: lg\r\nConnection: close\r\n\r\n")
        s.settimeout(10)
        while s.recv(65536):
            pass
        start = time.monotonic()
        # quiet for longer than lingering_timeout: the server closes, our next bytes are reset
        time.sleep(3)
        with_reset = False
        try:
            for _ in range(3):
                s.sendall(b"y" * 100)
                time.sleep(0.3)
            s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            with_reset = True
        assert with_reset, "still lingering %.1fs after the response (lingering_timeout 1s)" % (time.monotonic() - start)
    finally:
        s.close()


def test_lingering_directive_errors(proxy):
    r = proxy.run_t("server { listen 127.0.0.1:{listen}; location / { lingering_close sometimes; } }")
    assert r.returncode != 0
    assert 'invalid value "sometimes"' in r.stderr + r.error_log
    r = proxy.run_t("server { listen 127.0.0.1:{listen}; lingering_time 5x; }")
    assert r.returncode != 0
    assert '"lingering_time" directive invalid value' in r.stderr + r.error_log
    r = proxy.run_t("server { listen 127.0.0.1:{listen}; access_log logs/a.log combined if=$nosuch; }")
    assert r.returncode != 0
    assert 'unknown "nosuch" variable' in r.stderr + r.error_log


STREAM_CONF = r"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
{main}
stream {
    log_format sl "s:$bytes_received";
    map $bytes_received $talked { 0 0; default 1; }
    server {
        listen 127.0.0.1:{listen};
        proxy_pass 127.0.0.1:{backend};
        access_log logs/stream-if.log sl if=$talked;
        access_log logs/stream-all.log sl;
    }
}
"""


def test_stream_access_log_if(proxy):
    if proxy.impl == "nginx" and not Path("/usr/lib/nginx/modules/ngx_stream_module.so").exists():
        pytest.skip("this nginx has no stream module")
    be = TcpBackend("echo", "backend")
    try:
        head, _, tail = STREAM_CONF.partition("{main}\n")
        conf = head + cfg.wrap_main(tail)
        proxy.start_conf(conf, backend=be.port)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"hello")
            assert recv_all(s, 5) == b"hello"
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10):
            pass                                   # a silent session: $talked is "0"
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"abc")
            assert recv_all(s, 3) == b"abc"
        path = proxy.prefix / "logs" / "stream-all.log"
        # every session is in the plain log: ours and the harness's silent readiness probe
        wait_until(lambda: path.exists() and {"s:5", "s:3"} <= set(path.read_text().splitlines())
                   and path.read_text().splitlines().count("s:0") >= 2, 10, "stream-all.log lines")
        time.sleep(0.3)
        assert (proxy.prefix / "logs" / "stream-if.log").read_text().splitlines() == ["s:5", "s:3"]
    finally:
        be.stop()
