"""SSI (ngx_http_ssi_module) and subrequests as nginx: include virtual= of a
static file, of a proxied location and of a `return`, include set= + echo,
echo encodings, if/elif/else, config errmsg, errors (logged, errmsg or
silent), nested includes, stub blocks, HTTP/1.0 and 1.1 framing, HTTP/2.
Every test runs against switchyard and Debian's nginx on the same config."""

from __future__ import annotations

import socket

import pytest

from harness import rawhttp

FILES = {
    "html/plain.html": "<p>static</p>",
    "html/inc/a.html": "A-part",
    "html/inc/nested.html": "[N <!--#include virtual=\"/inc/a.html\" --> N]",
    "html/t/static.html": "x<!--#include virtual=\"/inc/a.html\" -->y",
    "html/t/relative.html": "x<!--#include virtual=\"part.html\" -->y<!--#include virtual=\"../inc/a.html\" -->",
    "html/t/part.html": "P",
    "html/t/proxied.html": "x<!--#include virtual=\"/up/p?body=UP\" -->y",
    "html/t/ret.html": "1<!--#include virtual=\"/ret?a=b\" -->2<!--#include virtual=\"/inc/a.html\" -->3",
    "html/t/set.html": "<!--#include virtual=\"/up/p?body=VAL\" set=\"v\" -->[<!--#echo var=\"v\" -->]"
                       "<!--#include virtual=\"/ret\" set=\"r\" -->(<!--#echo var=\"r\" -->)",
    "html/t/echo.html": "<!--#set var=\"x\" value=\"a <b>&'\\\" c?#%\" -->"
                        "[<!--#echo var=\"x\" -->]"
                        "[<!--#echo var=\"x\" encoding=\"none\" -->]"
                        "[<!--#echo var=\"x\" encoding=\"url\" -->]"
                        "[<!--#echo var=\"x\" -->]"
                        "[<!--#echo var=\"nope\" -->]"
                        "[<!--#echo var=\"nope\" default=\"dflt\" -->]"
                        "[<!--#echo var=\"uri\" -->]"
                        "[<!--#echo var=\"arg_q\" -->]"
                        "[<!--#set var=\"y\" value=\"$uri-${arg_q}x\" --><!--#echo var=\"y\" -->]",
    "html/t/if.html": "<!--#if expr=\"$arg_a = one\" -->ONE"
                      "<!--#elif expr=\"$arg_a != two\" -->NOTTWO"
                      "<!--#else -->TWO<!--#endif -->"
                      "|<!--#if expr=\"$arg_a\" -->SET<!--#else -->UNSET<!--#endif -->"
                      "|<!--#if expr=\"$arg_a = /^o(n)e\\$/\" -->RE<!--#echo var=\"1\" --><!--#endif -->",
    "html/t/missing.html": "a<!--#include virtual=\"/nosuch.html\" -->b",
    "html/t/errors.html": "a<!--#foo -->b<!--#echo -->c<!--#include virtual=\"/x\" file=\"/y\" -->d"
                          "<!--#config errmsg=\"OOPS\" --><!--#bad! -->e",
    "html/t/nested.html": "<<!--#include virtual=\"/inc/nested.html\" -->>",
    "html/t/stub.html": "<!--#block name=\"one\" -->STUB<!--#endblock -->"
                        "[<!--#include virtual=\"/empty\" stub=\"one\" -->]"
                        "[<!--#include virtual=\"/inc/a.html\" stub=\"one\" -->]",
    "html/t/big.html": "<!--#include virtual=\"/up/p?size=10000\" set=\"b\" -->[<!--#echo var=\"b\" encoding=\"none\" -->]",
    "html/t/leak.html": "<!--#echo var=\"v\" -->",
    "html/t/self.html": "S<!--#include virtual=\"/t/self.html\" -->",
    "html/t/slow.html": "a<!--#include virtual=\"/up/s?delay=1&body=S\" -->b<!--#include virtual=\"/inc/a.html\" -->",
    "html/t/rewritten.html": "<!--#include virtual=\"/old/a.html\" -->",
    "html/t/huge.html": "<!--#include virtual=\"/up/h?size=16777216\" -->END",
    "html/t/plain.txt": "<!--#echo var=\"uri\" -->",
}

SSI_CONF = """
    server {
        listen 127.0.0.1:{listen};
        listen 127.0.0.1:{listen_h2} http2;
        server_name localhost;
        root {prefix}/html;
        types { text/html html; text/plain txt; }
        rewrite ^/old/(.*)$ /inc/$1 last;
        location /t/ { ssi on; }
        location /silent/ { ssi on; ssi_silent_errors on; alias {prefix}/html/t/; }
        location /lm/ { ssi on; ssi_last_modified on; alias {prefix}/html/t/; }
        location /types/ { ssi on; ssi_types text/plain; alias {prefix}/html/t/; }
        location /inc/ { ssi on; }
        location /up/ { proxy_pass http://127.0.0.1:{backend}; }
        location = /ret { return 200 "RET[$args]"; }
        location = /empty { return 204; }
        location = /rssi { ssi on; default_type text/html; return 200 '<!--#echo var="uri" -->+<!--#include virtual="/inc/a.html" -->'; }
    }
"""


def get(port, target, method="GET", version="1.1", extra=""):
    req = "%s %s HTTP/%s\r\nHost: localhost\r\n%sConnection: close\r\n\r\n" % (method, target, version, extra)
    return rawhttp.exchange(port, req.encode())


def raw(port, target, version="1.1"):
    req = "GET %s HTTP/%s\r\nHost: localhost\r\nConnection: close\r\n\r\n" % (target, version)
    return rawhttp.exchange_raw(port, req.encode())


@pytest.fixture
def ssi(proxy, http_backend):
    be = http_backend()
    proxy.start(SSI_CONF, files=FILES, backend=be.port)
    proxy.backend = be
    return proxy


def test_include_static_file_and_framing(ssi):
    r = get(ssi.port, "/t/static.html")
    assert (r.status, r.body) == (200, b"xA-party")
    assert r.header("Content-Length") is None
    assert r.header("Transfer-Encoding") == "chunked"
    assert r.header("Last-Modified") is None and r.header("ETag") is None
    assert r.header("Accept-Ranges") is None
    assert r.header("Content-Type") == "text/html"
    # HTTP/1.0: no chunked framing, the end of the body is the end of the connection
    data = raw(ssi.port, "/t/static.html", version="1.0")
    head, _, body = data.partition(b"\r\n\r\n")
    assert body == b"xA-party"
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert b"Connection: close" in head
    # a relative URI is taken from the directory of the document; ".." is refused
    assert get(ssi.port, "/t/relative.html").body == b"xPy[an error occurred while processing the directive]"
    ssi.wait_error_log(r'\[error\].*unsafe URI "/t/\.\./inc/a\.html" was detected')


def test_not_processed_without_ssi_or_type(ssi):
    r = get(ssi.port, "/t/plain.txt")
    assert (r.status, r.body) == (200, b'<!--#echo var="uri" -->')
    assert r.header("Content-Length") == str(len(FILES["html/t/plain.txt"]))
    # ssi_types adds text/plain (text/html stays)
    assert get(ssi.port, "/types/plain.txt").body == b"/types/plain.txt"
    assert get(ssi.port, "/types/static.html").body == b"xA-party"
    r = get(ssi.port, "/inc/a.html")
    assert r.header("Content-Length") is None and r.body == b"A-part"


def test_include_proxied_and_return(ssi):
    r = get(ssi.port, "/t/proxied.html")
    assert (r.status, r.body) == (200, b"xUPy")
    req = ssi.backend.last()
    assert req["method"] == "GET" and req["target"] == "/up/p?body=UP"
    r = get(ssi.port, "/t/ret.html")
    assert r.body == b"1RET[a=b]2A-part3"


def test_return_text_through_ssi(ssi):
    r = get(ssi.port, "/rssi")
    assert (r.status, r.body) == (200, b"/rssi+A-part")
    assert r.header("Content-Length") is None


def test_include_runs_server_rewrites(ssi):
    assert get(ssi.port, "/t/rewritten.html").body == b"A-part"


def test_include_set_and_echo(ssi):
    r = get(ssi.port, "/t/set.html")
    assert (r.status, r.body) == (200, b"[VAL](RET[])")


def test_set_beyond_subrequest_output_buffer(ssi):
    # nginx: the subrequest fails and the main request is terminated
    data = raw(ssi.port, "/t/big.html")
    assert b"0\r\n\r\n" not in data and b"]" not in data
    ssi.wait_error_log(r'\[error\].*too big subrequest response: \d+ while sending to client, .*'
                       r'request: "GET /t/big.html HTTP/1.1", subrequest: "/up/p", ')


def test_echo_encodings_and_variables(ssi):
    r = get(ssi.port, "/t/echo.html?q=Z")
    parts = r.body.decode().split("][")
    # set's value: a backslash escapes a quote
    assert parts[0] == "[a &lt;b&gt;&amp;'&quot; c?#%"
    assert parts[1] == "a <b>&'\" c?#%"
    assert parts[2] == "a%20%3Cb%3E&%27%22%20c?%23%25"
    # the last encoding stays for later echoes
    assert parts[3] == "a%20%3Cb%3E&%27%22%20c?%23%25"
    assert parts[4] == "(none)"
    assert parts[5] == "dflt"
    assert parts[6] == "/t/echo.html"
    assert parts[7] == "Z"
    assert parts[8] == "/t/echo.html-Zx]"


@pytest.mark.parametrize("arg,want", [("one", b"ONE|SET|REn"), ("two", b"TWO|SET|"),
                                      ("three", b"NOTTWO|SET|"), ("", b"NOTTWO|UNSET|")])
def test_if_elif_else(ssi, arg, want):
    assert get(ssi.port, "/t/if.html?a=" + arg).body == want


def test_missing_include_is_the_404_page(ssi):
    r = get(ssi.port, "/t/missing.html")
    assert r.status == 200
    assert r.body.startswith(b"a<html>") and b"404 Not Found" in r.body and r.body.endswith(b"b")
    ssi.wait_error_log(r'open\(\) ".*/nosuch.html" failed')


def test_errors_errmsg_and_silent(ssi):
    msg = b"[an error occurred while processing the directive]"
    r = get(ssi.port, "/t/errors.html")
    assert r.body == b"a" + msg + b"b" + msg + b"c" + msg + b"dOOPSe"
    ssi.wait_error_log(r'\[error\].*invalid SSI command: "foo"')
    ssi.wait_error_log(r'\[error\].*mandatory "var" parameter is absent in "echo" SSI command')
    ssi.wait_error_log(r'\[error\].*inclusion may be either virtual="/x" or file="/y"')
    r = get(ssi.port, "/silent/errors.html")
    assert r.body == b"abcde"


def test_nested_include_and_stub(ssi):
    assert get(ssi.port, "/t/nested.html").body == b"<[N A-part N]>"
    assert get(ssi.port, "/t/stub.html").body == b"[STUB][A-part]"


def test_include_cycle_is_bounded(ssi):
    r = get(ssi.port, "/t/self.html")
    assert r.status == 200
    # the main request and 51 levels of subrequests (nginx: NGX_HTTP_MAX_SUBREQUESTS + 1)
    assert r.body == b"S" * 52 + b"[an error occurred while processing the directive]"
    ssi.wait_error_log(r'\[error\].*subrequests cycle while processing "/t/self.html"')


def test_variables_do_not_leak_between_requests(ssi):
    # two requests on one connection: the second does not see the first's SSI variables
    s = rawhttp.connect(ssi.port)
    try:
        req = b"GET /t/set.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
        reader = rawhttp.Reader(s)
        s.sendall(req)
        assert reader.response().body == b"[VAL](RET[])"
        s.sendall(b"GET /t/leak.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert reader.response().body == b"(none)"
    finally:
        s.close()


def test_client_gone_during_an_include(ssi):
    # the client leaves while a proxied include is in flight: nothing breaks,
    # the next client is served
    s = rawhttp.connect(ssi.port)
    s.sendall(b"GET /t/slow.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.recv(1)
    s.close()
    import time
    time.sleep(1.5)   # the include may or may not have reached the backend: either is fine
    assert get(ssi.port, "/t/slow.html").body == b"aSbA-part"


def rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_large_proxied_include_is_paced_by_the_client(ssi, impl):
    # a 16 MiB proxied include to a client that reads nothing for a while:
    # the upstream is read as the client takes the bytes, so memory stays low
    pids = [ssi.pid] + [int(p) for p in open("/proc/%d/task/%d/children" % (ssi.pid, ssi.pid)).read().split()]
    before = sum(rss_kb(p) for p in pids)
    s = rawhttp.connect(ssi.port)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /t/huge.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        import time
        time.sleep(2.0)
        grown = sum(rss_kb(p) for p in pids) - before
        r = rawhttp.final_response(rawhttp.Reader(s, timeout=30))
    finally:
        s.close()
    assert r.status == 200 and len(r.body) == 16777216 + 3 and r.body.endswith(b"END")
    print("rss growth %s: %d KiB" % (impl, grown))
    assert grown < 8 * 1024, grown


def test_last_modified_and_head(ssi):
    r = get(ssi.port, "/lm/static.html")
    assert r.body == b"xA-party"
    assert r.header("Last-Modified") is not None
    assert (r.header("ETag") or "").startswith('W/"')
    r = get(ssi.port, "/t/static.html", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Length") is None


def test_access_log_has_only_the_main_request(ssi):
    get(ssi.port, "/t/ret.html")
    get(ssi.port, "/t/nested.html")
    import time
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline:
        lines = [l for l in ssi.access_log().splitlines() if l.strip()]
        if len(lines) >= 2:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    lines = [l for l in ssi.access_log().splitlines() if l.strip()]
    assert len(lines) == 2
    assert '"GET /t/ret.html HTTP/1.1" 200' in lines[0]
    assert '"GET /t/nested.html HTTP/1.1" 200' in lines[1]


def test_http2_client(ssi):
    h2 = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events
    s = socket.create_connection(("127.0.0.1", ssi.ports["listen_h2"]), timeout=5)
    try:
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        c.send_headers(1, [(":method", "GET"), (":path", "/t/ret.html"), (":scheme", "http"),
                           (":authority", "localhost")], end_stream=True)
        s.sendall(c.data_to_send())
        body, status, done = b"", None, False
        while not done:
            data = s.recv(65536)
            if not data:
                break
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers)[b":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    done = True
            s.sendall(c.data_to_send())
        assert (status, body) == (b"200", b"1RET[a=b]2A-part3")
    finally:
        s.close()
