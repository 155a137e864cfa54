"""Upstream keep-alive after a response without a body (HEAD, Content-Length:
0, 304): the connection goes back to the pool as nginx's does (nginx-tests
proxy_keepalive.t "head 2", "empty 2", "304 2"). Both implementations."""

from __future__ import annotations

from harness import rawhttp

CONF = """
    upstream u {
        server 127.0.0.1:{backend};
        keepalive 4;
    }
    server {
        listen 127.0.0.1:{listen};
        location / {
            proxy_pass http://u;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
"""


def req(port, method, target):
    return rawhttp.exchange(port, ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                   % (method, target)).encode())


def test_no_body_responses_keep_the_upstream_connection(proxy, http_backend):
    be = http_backend()
    proxy.start(CONF, backend=be.port)
    assert req(proxy.port, "GET", "/a").status == 200
    r = req(proxy.port, "HEAD", "/b")
    assert r.status == 200 and r.body == b""
    r = req(proxy.port, "GET", "/c?size=0")
    assert r.status == 200 and r.body == b""
    assert req(proxy.port, "GET", "/d?status=304").status == 304
    assert req(proxy.port, "GET", "/e").status == 200
    recs = be.wait_requests(5)
    # /a, the HEAD, the empty body and the 304 share one connection; the test
    # backend writes a body after its 304 head, so that connection is not reused after it
    assert [x["conn"] for x in recs] == [1, 1, 1, 1, 2], [(x["target"], x["conn"]) for x in recs]
