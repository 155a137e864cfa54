"""Upstream keep-alive limits: keepalive_time closes a connection after the
request that finds it too old (nginx's semantics); keepalive_requests caps
the requests one connection carries."""

import time

from harness import rawhttp

CONF = """
upstream ka {
    server 127.0.0.1:{backend};
    keepalive 4;
    keepalive_time 1s;
    keepalive_requests 3;
}
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://ka;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""


def get(port, path):
    r = rawhttp.exchange(port, ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode())
    assert r.status == 200
    return r


def test_keepalive_time_and_requests(proxy, http_backend):
    b = http_backend("b")
    proxy.start(CONF, backend=b.port)
    for i in range(5):
        get(proxy.port, "/r%d" % i)
    reqs = b.wait_requests(5)
    # keepalive_requests 3: the third request on a connection is its last
    assert [r["conn"] for r in reqs] == [1, 1, 1, 2, 2]
    assert [r["seq"] for r in reqs] == [1, 2, 3, 1, 2]
    time.sleep(1.3)
    get(proxy.port, "/late")   # served on the old connection, which then closes
    get(proxy.port, "/fresh")
    reqs = b.wait_requests(7)
    assert [r["conn"] for r in reqs[5:]] == [2, 3]
