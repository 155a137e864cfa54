"""proxy_redirect and nginx's absolute Location: a backend's Location and
Refresh headers rewritten by prefix and by regex (with captures), a relative
Location that a rule rewrote sent absolute (absolute_redirect), one no rule
rewrote passed as it came, and the auto `/dir` -> `/dir/`
redirect escaped. The same config on switchyard and nginx, one assertion set."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from harness import rawhttp


def conf() -> str:
    up = "http://127.0.0.1:{backend}"
    return ("server {\n listen 127.0.0.1:{listen};\n server_name on;\n"
            f" location /pfx/ {{ proxy_pass {up}; proxy_redirect http://old.test/a/ /new/; }}\n"
            f" location /re/ {{ proxy_pass {up}; proxy_redirect ~^http://old\\.test/(\\w+)/(.*)$ /moved/$2/$1; }}\n"
            f" location /rei/ {{ proxy_pass {up}; proxy_redirect ~*^HTTP://OLD /caseless; }}\n"
            f" location /off/ {{ proxy_pass {up}; proxy_redirect off; absolute_redirect off; }}\n"
            f" location /dflt/ {{ proxy_pass {up}/back/; }}\n"
            f" location \"/auto sp/\" {{ proxy_pass {up}; }}\n"
            "}\n")


@pytest.fixture
def running(proxy, http_backend):
    be = http_backend()
    proxy.start(conf(), backend=be.port)
    return proxy, be


def headers(proxy, path: str, host: str = "on") -> tuple[int, dict]:
    resp = rawhttp.exchange(proxy.port, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                            % (path.encode(), host.encode()))
    return resp.status, {k.lower(): v for k, v in resp.headers}


def with_header(prefix: str, name: str, value: str) -> str:
    return prefix + "x?status=302&h=" + quote(name + ":" + value, safe="")


def test_prefix_rule_rewrites_location_and_refresh(running):
    proxy, _ = running
    p = proxy.port
    _, h = headers(proxy, with_header("/pfx/", "Location", "http://old.test/a/b?c=d"))
    assert h["location"] == "http://on:%d/new/b?c=d" % p
    _, h = headers(proxy, with_header("/pfx/", "Refresh", "7; url=http://old.test/a/r"))
    assert h["refresh"] == "7; url=/new/r"
    _, h = headers(proxy, with_header("/pfx/", "Location", "http://other.test/a/b"))
    assert h["location"] == "http://other.test/a/b"


def test_regex_rules_replace_the_whole_value_with_captures(running):
    proxy, _ = running
    _, h = headers(proxy, with_header("/re/", "Location", "http://old.test/one/two/three"))
    assert h["location"] == "http://on:%d/moved/two/three/one" % proxy.port
    _, h = headers(proxy, with_header("/re/", "Refresh", "1;URL=http://old.test/x/y"))
    assert h["refresh"] == "1;URL=/moved/y/x"
    _, h = headers(proxy, with_header("/rei/", "Location", "http://old.test/z"))
    assert h["location"] == "http://on:%d/caseless" % proxy.port


def test_default_rule_and_relative_location_made_absolute(running):
    proxy, _ = running
    p, bp = proxy.port, running[1].port
    _, h = headers(proxy, with_header("/dflt/", "Location", "http://127.0.0.1:%d/back/next" % bp))
    assert h["location"] == "http://on:%d/dflt/next" % p
    # a Location no rule rewrote is passed as it came, relative or not
    _, h = headers(proxy, with_header("/pfx/", "Location", "/rel/path"))
    assert h["location"] == "/rel/path"
    # no Host: the rewritten Location names the address the connection came in on
    resp = rawhttp.exchange(proxy.port, b"GET " + with_header("/pfx/", "Location", "http://old.test/a/x").encode()
                            + b" HTTP/1.0\r\n\r\n")
    assert dict((k.lower(), v) for k, v in resp.headers)["location"] == "http://127.0.0.1:%d/new/x" % p
    _, h = headers(proxy, with_header("/off/", "Location", "/kept/as/is"))
    assert h["location"] == "/kept/as/is"


def test_auto_redirect_of_a_location_name_is_escaped(running):
    proxy, _ = running
    status, h = headers(proxy, "/auto%20sp?a=b")
    assert status == 301
    assert h["location"] == "http://on:%d/auto%%20sp/?a=b" % proxy.port
