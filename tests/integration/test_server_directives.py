"""Directives that answer without an upstream: return, rewrite, static files
from root/index, error_page."""

import socket
import time

import pytest

from harness import rawhttp
from harness.ports import closed_port
from harness.wait import wait_until


def get(port, target, host="front", method="GET"):
    return rawhttp.exchange(port, ("%s %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (method, target, host)).encode())


def test_return_text(proxy):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location = /text { return 200 "text"; }
            location = /vars { return 200 "uri=$uri args=$args host=$host\\n"; }
            location = /teapot { return 418; }
            location = /typed { default_type application/json; return 200 '{"ok":true}'; }
        }
    """)
    r = get(proxy.port, "/text")
    assert (r.status, r.body, r.header("Content-Type"), r.header("Content-Length")) == (200, b"text", "text/plain", "4")
    r = get(proxy.port, "/vars?a=1", host="Example.ORG")
    assert r.body == b"uri=/vars args=a=1 host=example.org\n"
    assert get(proxy.port, "/teapot").status == 418
    r = get(proxy.port, "/typed")
    assert (r.header("Content-Type"), r.body) == ("application/json", b'{"ok":true}')


def test_return_redirects(proxy):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location = /abs { return 301 https://$host$request_uri; }
            location = /rel { return 302 /elsewhere; }
            location = /bare { return http://other.example/; }
        }
    """)
    r = get(proxy.port, "/abs?q=1")
    assert (r.status, r.header("Location")) == (301, "https://front/abs?q=1")
    r = get(proxy.port, "/rel")
    # absolute_redirect on: a relative target gets scheme, host and port.
    assert (r.status, r.header("Location")) == (302, "http://front:%d/elsewhere" % proxy.port)
    r = get(proxy.port, "/bare")
    assert (r.status, r.header("Location")) == (302, "http://other.example/")


def test_rewrite_last(proxy):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            rewrite ^/old/(.*)$ /new/$1 last;
            location /new/ { return 200 "new: $uri args=$args\\n"; }
            location /perm/ { rewrite ^/perm/(.*)$ /new/$1 permanent; }
            location /brk/ { rewrite ^/brk/(.*)$ /other/$1 break; return 200 "break: $uri\\n"; }
        }
    """)
    assert get(proxy.port, "/old/a/b?x=1").body == b"new: /new/a/b args=x=1\n"
    r = get(proxy.port, "/perm/z?y=2")
    assert (r.status, r.header("Location")) == (301, "http://front:%d/new/z?y=2" % proxy.port)
    # `break` ends the rewrite module's directives -- `return` is one of them --
    # so the rewritten URI is served as a file from the (default) root.
    assert get(proxy.port, "/brk/q").status == 404
    proxy.wait_error_log(r'open\(\) "\S+/html/other/q" failed \(2: No such file or directory\)')


def test_rewrite_to_proxy(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location /app/ {
                rewrite ^/app/(.*)$ /internal/$1 break;
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
            }
        }
    """, backend=be.port)
    assert get(proxy.port, "/app/page?x=1").status == 200
    assert be.last()["request_line"] == "GET /internal/page?x=1 HTTP/1.1"


def test_static_root_and_index(proxy):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            root {prefix}/site;
            index index.html;
        }
    """)
    proxy.write_file("site/index.html", "<p>home</p>\n")
    proxy.write_file("site/docs/index.html", "<p>docs</p>\n")
    proxy.write_file("site/file.txt", "plain file\n")
    proxy.write_file("site/img.jpg", b"\xff\xd8\xff")
    r = get(proxy.port, "/")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"<p>home</p>\n", "text/html")
    assert get(proxy.port, "/docs/").body == b"<p>docs</p>\n"
    r = get(proxy.port, "/docs")
    assert (r.status, r.header("Location")) == (301, "http://front:%d/docs/" % proxy.port)
    r = get(proxy.port, "/file.txt")
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"plain file\n", "11")
    assert r.header("Last-Modified") and r.header("ETag")
    assert get(proxy.port, "/img.jpg").header("Content-Type") == "image/jpeg"
    r = get(proxy.port, "/file.txt", method="HEAD")
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"", "11")
    r = get(proxy.port, "/nothing-here")
    assert r.status == 404 and b"<title>404 Not Found</title>" in r.body
    proxy.wait_error_log(r'\[error\] .*open\(\) "\S+/site/nothing-here" failed \(2: No such file or directory\)')


def test_client_gone_mid_file_logs_bytes_written(proxy):
    """$body_bytes_sent counts what reached the socket, not the file's size:
    a client that reads a little of a 64 MB file and goes away is logged
    with about what the kernel took (its buffers, some MB), as nginx logs it."""
    proxy.start("""
        log_format sent '$status $body_bytes_sent $bytes_sent';
        server {
            listen 127.0.0.1:{listen};
            root {prefix}/site;
            access_log logs/sent.log sent;
        }
    """)
    size = 64 * 1024 * 1024
    proxy.write_file("site/big.bin", b"\0" * size)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    s.connect(("127.0.0.1", proxy.port))
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: front\r\n\r\n")
    got = 0
    while got < 100000:
        got += len(s.recv(65536))
    time.sleep(0.5)   # the server fills the socket's buffers and waits
    s.close()         # unread data: a reset
    line = wait_until(lambda: (proxy.prefix / "logs/sent.log").exists() and
                      (proxy.prefix / "logs/sent.log").read_text().strip(), 10, "the access log line")
    status, body_sent, sent = (int(x) for x in line.split())
    assert status == 200, line
    assert got - 1000 <= body_sent < size // 4, line   # the head is in `got` too
    assert sent > body_sent, line


def test_error_page(proxy):
    port = closed_port()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            root {prefix}/site;
            error_page 404 /custom_404.html;
            error_page 502 503 504 /50x.html;
            location = /custom_404.html { internal; }
            location = /50x.html { }
            location /api/ { proxy_pass http://127.0.0.1:{dead}; }
            location = /moved { error_page 404 =200 /ok.txt; return 404; }
        }
    """, dead=port)
    proxy.write_file("site/custom_404.html", "custom not found\n")
    proxy.write_file("site/50x.html", "upstream trouble\n")
    proxy.write_file("site/ok.txt", "replaced\n")
    r = get(proxy.port, "/missing")
    assert (r.status, r.body) == (404, b"custom not found\n")
    assert get(proxy.port, "/custom_404.html").status == 404  # internal: not reachable directly
    r = get(proxy.port, "/api/x")
    assert (r.status, r.body) == (502, b"upstream trouble\n")
    r = get(proxy.port, "/moved")
    assert (r.status, r.body) == (200, b"replaced\n")


@pytest.mark.parametrize("target,expected", [
    ("/exact", "exact"),
    ("/exact/more", "prefix"),
    ("/images/a.png", "images-stop-regex"),
    ("/x/a.PNG", "regex-case-insensitive"),
    ("/prefix-longest/here", "longest"),
    ("/other", "prefix"),
])
def test_location_matching(proxy, target, expected):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location = /exact { return 200 "exact"; }
            location / { return 200 "prefix"; }
            location /prefix- { return 200 "shorter"; }
            location /prefix-longest/ { return 200 "longest"; }
            location ^~ /images/ { return 200 "images-stop-regex"; }
            location ~* \\.png$ { return 200 "regex-case-insensitive"; }
        }
    """)
    assert get(proxy.port, target).body.decode() == expected
