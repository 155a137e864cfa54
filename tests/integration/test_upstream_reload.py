"""Live peer counts survive a reload: WebSocket tunnels opened before a
reload keep counting for least_conn in the new configuration (nginx starts
new workers with empty counts, so new connections pile onto the busiest
backend after every reload)."""

import asyncio
import os
import signal

from harness import rawhttp
from harness.marks import only_switchyard
from harness.wait import wait_until
from harness.wsclient import connect, recv, run

CONF = """
upstream chat {
    least_conn;
    server 127.0.0.1:{wa};
    server 127.0.0.1:{wb};
}
server {
    listen 127.0.0.1:{listen};
    location = /version { return 200 "VERSION"; }
    location /ws/ {
        proxy_pass http://chat;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""


def version(port):
    return rawhttp.exchange(port, b"GET /version HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").body


@only_switchyard("nginx's new workers start with empty peer counts")
def test_tunnels_keep_counting_across_a_reload(proxy, ws_backend):
    wa, wb = ws_backend("wa"), ws_backend("wb")
    proxy.start(CONF.replace("VERSION", "v1"), wa=wa.port, wb=wb.port)
    url = proxy.url("/ws/chat", scheme="ws")

    def opened(b, n):
        wait_until(lambda: len(b.opens()) >= n, 10, "%d handshake(s) at %s" % (n, b.name))

    async def body():
        first = await connect(url)          # all equal: least_conn starts with the first peer
        await first.send("1")
        assert await recv(first) == "1"
        opened(wa, 1)
        conf_path = proxy.prefix / "nginx.conf"
        conf_path.write_text(conf_path.read_text().replace('"v1"', '"v2"'))
        os.kill(proxy.pid, signal.SIGHUP)
        wait_until(lambda: version(proxy.port) == b"v2", 10, "the reloaded configuration")
        second = await connect(url)         # wa still holds `first`: wb
        await second.send("2")
        assert await recv(second) == "2"
        opened(wb, 1)
        assert len(wa.opens()) == 1
        await first.close()                 # the old configuration's tunnel closes...
        wa.wait_close(1)
        await asyncio.sleep(0.2)
        third = await connect(url)          # ...and its count goes: wa is the idler one again
        await third.send("3")
        assert await recv(third) == "3"
        opened(wa, 2)
        assert len(wb.opens()) == 1
        await second.close()
        await third.close()
    run(body())
