"""geo (http and stream): the value of the most specific network holding the
client's address, `ranges`, `default`, `delete`, a variable as the address,
`proxy` (X-Forwarded-For from a trusted peer, `proxy_recursive`), `include`.
The same config on switchyard and nginx; clients bind 127.0.0.x addresses."""

from __future__ import annotations

import socket

import pytest

from harness import rawhttp
from test_stream import start_stream

HTTP = """
geo $net {
    default       world;
    127.0.0.0/8   loopback;
    127.0.0.2     two;
    127.0.0.3/32  three;
    10.0.0.0/8    ten;
    delete        10.0.0.0/8;
    include       geo-extra.conf;
}
geo $arg_ip $range {
    ranges;
    default                  none;
    10.0.0.0-10.0.0.255      r-all;
    10.0.0.5-10.0.0.9        r-mid;
}
geo $via {
    proxy            127.0.0.4;
    proxy_recursive;
    default          direct;
    192.168.0.0/16   lan;
    127.0.0.4        proxy-itself;
}
server {
    listen 127.0.0.1:{listen};
    location / { return 200 "$net|$range|$via\\n"; }
}
"""


def get(port: int, path: str = "/", source: str = "127.0.0.1", xff: str | None = None) -> str:
    head = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % path
    if xff:
        head += "X-Forwarded-For: %s\r\n" % xff
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    with s:
        s.sendall((head + "\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = data.split(b" ", 2)[1]
    assert status == b"200", data
    return data.split(b"\r\n\r\n", 1)[1].decode().strip()


@pytest.fixture
def geo_http(proxy):
    proxy.start(HTTP, files={"geo-extra.conf": b"127.0.0.5 five;\n"})
    return proxy


def test_longest_prefix_default_delete_include(geo_http):
    p = geo_http.port
    assert get(p, source="127.0.0.1").split("|")[0] == "loopback"
    assert get(p, source="127.0.0.2").split("|")[0] == "two"
    assert get(p, source="127.0.0.3").split("|")[0] == "three"
    assert get(p, source="127.0.0.5").split("|")[0] == "five"


def test_ranges_from_a_variable_address(geo_http):
    p = geo_http.port
    assert get(p, "/?ip=10.0.0.7").split("|")[1] == "r-mid"
    assert get(p, "/?ip=10.0.0.200").split("|")[1] == "r-all"
    assert get(p, "/?ip=10.0.1.1").split("|")[1] == "none"
    assert get(p, "/?ip=not-an-address").split("|")[1] == "none"


def test_proxy_takes_x_forwarded_for_from_trusted_peers_only(geo_http):
    p = geo_http.port
    assert get(p, source="127.0.0.4", xff="192.168.7.7").split("|")[2] == "lan"
    # recursive: trusted addresses at the right are skipped
    assert get(p, source="127.0.0.4", xff="192.168.7.7, 127.0.0.4").split("|")[2] == "lan"
    assert get(p, source="127.0.0.4").split("|")[2] == "proxy-itself"
    # an untrusted peer's header is ignored
    assert get(p, source="127.0.0.1", xff="192.168.7.7").split("|")[2] == "direct"


def test_bad_geo_blocks_are_refused_with_file_line(proxy):
    r = proxy.run_t("geo $g {\n default a;\n 300.1.2.3/8 b;\n}\nserver { listen 127.0.0.1:{listen}; }\n")
    assert r.returncode != 0
    assert "invalid network \"300.1.2.3/8\"" in r.output and "nginx.conf:" in r.output, r.output
    r = proxy.run_t("geo $g {\n ranges;\n 10.0.0.9-10.0.0.1 b;\n}\nserver { listen 127.0.0.1:{listen}; }\n")
    assert r.returncode != 0 and "invalid range \"10.0.0.9-10.0.0.1\"" in r.output, r.output


def test_stream_geo(proxy):
    start_stream(proxy, """
    geo $net { default world; 127.0.0.2 two; 127.0.0.0/8 loopback; }
    server { listen 127.0.0.1:{listen}; return "$net\\n"; }
    """)
    for source, want in (("127.0.0.1", b"loopback\n"), ("127.0.0.2", b"two\n")):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10, source_address=(source, 0)) as s:
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data == want
