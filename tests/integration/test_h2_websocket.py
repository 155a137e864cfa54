"""WebSockets over HTTP/2 (RFC 8441): switchyard advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL on an `http2` listener, takes an extended
CONNECT with `:protocol websocket`, carries it to the backend as an
HTTP/1.1 Upgrade handshake (the real ws echo backend of the harness), and
turns the stream's DATA into the tunnel's bytes both ways. The client is
Python's h2 speaking RFC 6455 frames by hand inside DATA. nginx 1.22 has no
RFC 8441, so these run on switchyard only.
"""

from __future__ import annotations

import os
import struct

import h2.errors
import h2.settings

from harness.config import ws_location
from harness.marks import only_switchyard
from harness.wait import wait_until
from test_http2 import H2Client, h2_server, pki, start, tls_port  # noqa: F401  (pki is a fixture)

pytestmark = only_switchyard("nginx 1.22 has no WebSockets over HTTP/2 (RFC 8441)")

WS_CONF = h2_server(ws_location("/ws/", "http://127.0.0.1:{backend}/"),
                    ws_location("/silent/", "http://127.0.0.1:{backend}/", "proxy_read_timeout 1s"))


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def send_flow_controlled(c: H2Client, sid: int, data: bytes) -> None:
    """Sends data as the stream's window allows, waiting for WINDOW_UPDATEs:
    the proxy gives the window back only as the backend takes the bytes."""
    while data:
        room = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
        if room <= 0:
            c.wait(lambda: c.conn.local_flow_control_window(sid) > 0, what="a WINDOW_UPDATE")
            continue
        c.conn.send_data(sid, data[:room])
        c.flush()
        data = data[room:]


def server_frame_len(payload_len: int) -> int:
    return 2 + (2 if 126 <= payload_len < 65536 else 8 if payload_len >= 65536 else 0) + payload_len


def open_ws(c: H2Client, path: str) -> int:
    sid = c.request(path, method="CONNECT", end=False,
                    headers=[(":protocol", "websocket"), ("sec-websocket-version", "13")])
    c.wait(lambda: c.streams[sid]["headers"] or c.streams[sid]["reset"] is not None, what="the CONNECT response")
    return sid


def test_settings_enable_connect_protocol(proxy, pki, ws_backend):
    be = ws_backend()
    start(proxy, pki, WS_CONF, backend=be.port)
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        assert c.remote_settings().get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1


def test_websocket_echo_over_h2(proxy, pki, ws_backend):
    be = ws_backend()
    start(proxy, pki, WS_CONF, backend=be.port)
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        sid = open_ws(c, "/ws/echo")
        headers = dict(c.streams[sid]["headers"])
        assert headers[":status"] == "200", headers
        assert "sec-websocket-accept" not in headers and "upgrade" not in headers
        # text, binary, 70 KB (more than one flow-control window) each way
        for payload, opcode in ((b"hello over h2", 1), (bytes(range(256)) * 4, 2), (b"x" * 70000, 2)):
            before = len(c.streams[sid]["body"])
            send_flow_controlled(c, sid, ws_frame(payload, opcode))
            want = before + server_frame_len(len(payload))
            c.wait(lambda: len(c.streams[sid]["body"]) >= want, what="the echo")
            assert c.streams[sid]["body"][-len(payload):] == payload
        # a second request on the same connection while the tunnel is open
        # (a plain GET on the same connection is proxied to the backend and answered)
        assert c.get("/ws/")["status"] == 200
        # close handshake: the backend answers 1000 and ends its side
        c.conn.send_data(sid, ws_frame(struct.pack("!H", 1000), 8))
        c.flush()
        c.wait(lambda: c.streams[sid]["ended"], what="END_STREAM after the close frame")
        assert c.streams[sid]["body"].endswith(b"\x88\x02\x03\xe8")
    opens = be.opens()
    assert len(opens) == 1 and opens[0]["path"] == "/echo"
    # written when the stream closes, after the client went away
    wait_until(lambda: '"GET /ws/echo HTTP/2.0" 101 ' in proxy.access_log(), 10, "the tunnel's access log line")


def test_many_tunnels_on_one_connection(proxy, pki, ws_backend):
    be = ws_backend()
    start(proxy, pki, WS_CONF, backend=be.port)
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        sids = [open_ws(c, "/ws/t%d" % i) for i in range(10)]
        assert all(dict(c.streams[s]["headers"])[":status"] == "200" for s in sids)
        for i, s in enumerate(sids):
            c.conn.send_data(s, ws_frame(b"tunnel %d" % i))
        c.flush()
        for i, s in enumerate(sids):
            msg = b"tunnel %d" % i
            c.wait(lambda s=s, msg=msg: c.streams[s]["body"].endswith(msg), what="echo on stream %d" % s)
        # one tunnel reset by the client: the others go on
        c.conn.reset_stream(sids[0], h2.errors.ErrorCodes.CANCEL)
        c.conn.send_data(sids[1], ws_frame(b"still here"))
        c.flush()
        c.wait(lambda: c.streams[sids[1]]["body"].endswith(b"still here"), what="echo after a reset")
    assert len(be.opens()) == 10


def test_unknown_protocol_is_refused(proxy, pki, ws_backend):
    be = ws_backend()
    start(proxy, pki, WS_CONF, backend=be.port)
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        sid = c.request("/ws/x", method="CONNECT", end=False, headers=[(":protocol", "chat-v2")])
        resp = c.response(sid)
        assert resp["status"] == 501, resp
        assert c.get("/ws/")["status"] == 200   # the connection goes on, to the backend
    assert be.opens() == []


def test_idle_tunnel_times_out_with_proxy_read_timeout(proxy, pki, ws_backend):
    be = ws_backend()
    start(proxy, pki, WS_CONF, backend=be.port)
    with H2Client(tls_port(proxy), ca=pki.ca.crt) as c:
        sid = open_ws(c, "/silent/idle")
        assert dict(c.streams[sid]["headers"])[":status"] == "200"
        c.wait(lambda: c.streams[sid]["reset"] is not None, timeout=6, what="the idle tunnel's reset")
        assert c.get("/ws/")["status"] == 200   # the connection survives its stream
    assert "upstream timed out (110: Connection timed out) while proxying upgraded connection" in proxy.error_log()
