"""Differential tests: the same configuration and the same requests against
nginx (the reference) and switchyard (the candidate), side by side. Compared:
status, selected response headers, body, and what the backend received
(request line, headers in order with their case, body). The only
normalization is ports: each side's own listen and backend ports are written
as {listen} and {backend}.

Every case sets proxy_http_version and proxy_set_header Connection
explicitly, so the defaults where nginx 1.22 (the reference here) and nginx
1.29.7 (what switchyard follows) differ play no part.

Needs both programs: skipped when switchyard is missing. SY_DIFF_CANDIDATE=nginx
runs nginx against itself, a self-test of this file.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from dataclasses import dataclass, field

import pytest

from harness import rawhttp
from harness.ports import closed_port
from harness.wsclient import OP_CLOSE, OP_TEXT, frame, read_frame, upgrade_request

# Known, intended differences: (case id or "*", request id or "*", what) ->
# why. `what` is a compared field ("status", "body", "upstream",
# "header:<Name>") that is then not compared, or one of the rules below.
KNOWN_DIFFERENCES = {
    # Built-in pages (errors, redirects) end with the server's signature,
    # "<hr><center>nginx/1.22.1</center>"; switchyard signs with its own name
    # and version. The rule masks the signature in both bodies and leaves the
    # Content-Length of such pages uncompared; the rest of the page still is.
    ("*", "*", "server-signature"): "built-in pages name the server that made them",
}
SIGNATURE = re.compile(rb"<hr><center>[^<]*</center>")

COMPARED_HEADERS = ["Content-Type", "Content-Length", "Location", "Transfer-Encoding", "Connection",
                    "Upgrade", "Sec-WebSocket-Accept", "X-Custom", "Set-Cookie", "Cache-Control",
                    "Last-Modified", "ETag"]


WS = "websocket handshake"  # a request that is a raw WebSocket exchange


@dataclass
class Case:
    id: str
    conf: str
    requests: list[tuple[str, bytes]]
    backend: str = "http"  # "http", "ws" or "none"
    files: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)  # placeholder -> value, or a callable giving one


def req(target: str, headers: str = "", method: str = "GET", body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    host = "" if version == "HTTP/1.0" else "Host: front\r\n"
    return ("%s %s %s\r\n%s%s\r\n" % (method, target, version, host, headers)).encode() + body


PROXY = """
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""

CASES = [
    Case("proxy-basic", PROXY, [
        ("get", req("/a/b?c=d&e=%2F")),
        ("head", req("/h", method="HEAD")),
        ("post-length", req("/p", "Content-Length: 11\r\nContent-Type: text/plain\r\n", "POST", b"hello world")),
        ("post-chunked", req("/p", "Transfer-Encoding: chunked\r\n", "POST", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")),
        ("upstream-chunked", req("/c?mode=chunked&size=5000&parts=4")),
        ("upstream-close", req("/d?mode=close&size=5000")),
        ("upstream-headers", req("/r?status=201&h=X-Custom:%20v&h=Set-Cookie:a=1&h=Cache-Control:no-cache")),
        ("upstream-404", req("/nf?status=404")),
        ("hop-by-hop", req("/hop", "Connection: keep-alive, X-Private\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
                                   "Upgrade: h2c\r\nX-Private: p\r\nUser-Agent: diff/1\r\nAccept: */*\r\n")),
        ("http10", req("/old", version="HTTP/1.0")),
        ("http10-keepalive", req("/old", "Connection: keep-alive\r\n", version="HTTP/1.0")),
        ("dup-headers", req("/dup", "X-Dup: 1\r\nx-dup: 2\r\nCookie: a=1\r\nCookie: b=2\r\n")),
        ("expect", req("/e", "Content-Length: 3\r\nExpect: 100-continue\r\n", "POST", b"abc")),
    ]),
    Case("set-headers", """
        server {
            listen 127.0.0.1:{listen};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            location / {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
                proxy_set_header X-Real-IP $remote_addr;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_set_header X-Forwarded-Proto $scheme;
                proxy_set_header X-Original-URI $request_uri;
                proxy_set_header Accept-Encoding "";
            }
            location /hostport/ {
                proxy_pass http://127.0.0.1:{backend};
                proxy_set_header Connection "";
                proxy_set_header Host $http_host;
            }
        }
    """, [
        ("plain", req("/x?y=1", "Accept-Encoding: gzip\r\nUser-Agent: diff\r\n")),
        ("xff-chain", req("/x", "X-Forwarded-For: 192.0.2.1, 192.0.2.2\r\nX-Real-IP: 1.1.1.1\r\n")),
        ("host-case", req("/x", "").replace(b"Host: front", b"Host: FRONT.example:81")),
        ("http-host", req("/hostport/a").replace(b"Host: front", b"Host: Front:99")),
    ]),
    Case("uri-mapping", """
        upstream pool { server 127.0.0.1:{backend}; }
        server {
            listen 127.0.0.1:{listen};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            location /api/ { proxy_pass http://127.0.0.1:{backend}/v1/; }
            location /keep/ { proxy_pass http://pool; }
            location /bare { proxy_pass http://127.0.0.1:{backend}/x; }
            location ~ ^/re/(.*)$ { proxy_pass http://127.0.0.1:{backend}; }
        }
    """, [
        ("api", req("/api/users/1?x=%20y")),
        ("api-no-slash", req("/api")),
        ("api-encoded", req("/api/a%2Fb/c%20d")),
        ("keep", req("/keep/a/../b/./c")),
        ("bare", req("/bare/more")),
        ("regex", req("/re/anything?q=1")),
    ]),
    Case("map-upgrade", """
        map $http_upgrade $connection_upgrade {
            default upgrade;
            '' close;
        }
        server {
            listen 127.0.0.1:{listen};
            location / {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection $connection_upgrade;
            }
        }
    """, [
        ("plain", req("/page")),
        ("upgrade", WS),
    ], backend="ws"),
    Case("websocket", """
        server {
            listen 127.0.0.1:{listen};
            location /ws/ {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection "Upgrade";
                proxy_set_header Host $host;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            }
        }
    """, [
        ("upgrade", WS),
        ("plain-get", req("/ws/page")),
    ], backend="ws"),
    Case("local-responses", """
        server {
            listen 127.0.0.1:{listen};
            root {prefix}/site;
            index index.html;
            rewrite ^/old/(.*)$ /new/$1 last;
            location = /text { return 200 "text"; }
            location /new/ { return 200 "new:$uri"; }
            location = /r301 { return 301 https://$host$request_uri; }
            location = /r302 { return 302 /elsewhere; }
        }
    """, [
        ("text", req("/text")),
        ("rewrite", req("/old/x/y?z=1")),
        ("redirect-abs", req("/r301?a=b")),
        ("redirect-rel", req("/r302")),
        ("index", req("/")),
        ("dir-redirect", req("/docs")),
        ("static", req("/file.txt")),
        ("static-head", req("/file.txt", method="HEAD")),
        ("static-range", req("/file.txt", "Range: bytes=2-5\r\n")),
        ("missing", req("/missing")),
    ], backend="none", files={"site/index.html": "<p>home</p>\n", "site/docs/index.html": "docs\n",
                              "site/file.txt": "0123456789\n"}),
    Case("errors", """
        server {
            listen 127.0.0.1:{listen};
            location / {
                proxy_pass http://127.0.0.1:{backend};
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_read_timeout 1s;
            }
            location /dead/ {
                proxy_pass http://127.0.0.1:{dead};
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }
        }
    """, [
        ("refused", req("/dead/x")),
        ("timeout", req("/slow?delay=3")),
        ("bad-upstream-header", req("/b?mode=garbage&kind=badheader")),
        ("bad-request-line", b"GET / HTTP/1.1 junk\r\nHost: front\r\n\r\n"),
        ("header-too-long", req("/", "X-Big: " + "a" * 9000 + "\r\n")),
        ("uri-too-long", req("/" + "u" * 9000)),
        ("cl-and-te", req("/", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "POST", b"0\r\n\r\n")),
        ("bad-chunk", req("/", "Transfer-Encoding: chunked\r\n", "POST", b"xyz\r\n")),
        ("no-host", b"GET / HTTP/1.1\r\n\r\n"),
    ], values={"dead": closed_port}),
]


def ws_exchange(port: int) -> dict:
    """A raw upgrade with a fixed key, one echoed frame, a clean close."""
    with rawhttp.connect(port) as s:
        s.sendall(upgrade_request("/ws/chat?room=1", "front", extra="Origin: http://front\r\n"))
        r = rawhttp.Reader(s)
        resp = r.response()
        out = {"status": resp.status, "headers": _selected(resp), "body": b""}
        if resp.status == 101:
            s.sendall(frame(OP_TEXT, b"differential"))
            out["body"] = read_frame(r)[2]
            s.sendall(frame(OP_CLOSE, b"\x03\xe8"))
            read_frame(r)
        return out


def _selected(resp: rawhttp.Response) -> dict:
    return {h: resp.header_all(h) for h in COMPARED_HEADERS if resp.header_all(h)}


def _upstream_view(records: list[dict], kind: str) -> list:
    if kind == "ws":
        return [{"path": r["path"], "headers": r["headers"]} for r in records if r["event"] == "request"]
    return [{"request_line": r["request_line"], "headers": r["headers"],
             "body": base64.b64decode(r["body_b64"]).decode("latin-1")} for r in records]


def _normalize(value, ports: dict[str, int]):
    text = json.dumps(value, default=lambda b: b.decode("latin-1"), indent=1, sort_keys=True)
    for name, port in sorted(ports.items(), key=lambda kv: -len(str(kv[1]))):
        text = text.replace(str(port), "{%s}" % name)
    return text


def observe(case: Case, proxy, backend) -> dict:
    """Sends every request of case to proxy; returns {request id: observation}."""
    seen = {}
    for rid, data in case.requests:
        before = len(backend.records()) if backend else 0
        try:
            if data == WS:
                obs = ws_exchange(proxy.port)
            else:
                resp = rawhttp.exchange(proxy.port, data, timeout=15)
                obs = {"status": resp.status, "headers": _selected(resp), "body": resp.body}
        except (OSError, EOFError, ValueError) as e:
            # No (parsable) response is an observation too: compared, not fatal.
            obs = {"status": "no response: %s: %s" % (type(e).__name__, e), "headers": {}, "body": b""}
        if _known(case.id, rid, "server-signature") and SIGNATURE.search(obs["body"]):
            obs["body"] = SIGNATURE.sub(b"<hr><center>{server signature}</center>", obs["body"])
            obs["headers"].pop("Content-Length", None)
        if backend:
            obs["upstream"] = _upstream_view(backend.records()[before:], case.backend)
        ports = {"listen": proxy.port}
        if backend:
            ports["backend"] = backend.port
        ports.update({k: v for k, v in proxy.values.items() if isinstance(v, int) and k not in ports})
        seen[rid] = {k: _normalize(v, ports) for k, v in obs.items()}
    return seen


def _known(case_id: str, rid: str, what: str) -> bool:
    return any((c, r, what) in KNOWN_DIFFERENCES for c in (case_id, "*") for r in (rid, "*"))


def _short(line: str, limit: int = 240) -> str:
    return line if len(line) <= limit else "%s... (%d chars)" % (line[:limit], len(line))


def compare(case: Case, ref: dict, cand: dict) -> list[str]:
    """Readable mismatches between two observe() results, known ones left out."""
    mismatches = []
    for rid, _ in case.requests:
        for what in ref[rid]:
            if what == "headers":
                r_h, c_h = json.loads(ref[rid][what]), json.loads(cand[rid][what])
                for h in sorted(set(r_h) | set(c_h)):
                    if r_h.get(h) != c_h.get(h) and not _known(case.id, rid, "header:" + h):
                        mismatches.append(_short("%s: header %s: nginx %r, candidate %r" % (rid, h, r_h.get(h), c_h.get(h))))
            elif ref[rid][what] != cand[rid][what] and not _known(case.id, rid, what):
                diff = "\n".join(_short(l) for l in difflib.unified_diff(
                    ref[rid][what].splitlines(), cand[rid][what].splitlines(), "nginx", "candidate", lineterm="", n=2))
                mismatches.append("%s: %s differs:\n%s" % (rid, what, diff))
    return mismatches


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_differential(both, http_backend, ws_backend, case):
    results = {}
    for side, proxy in both.items():
        backend = None
        values = {k: v() if callable(v) else v for k, v in case.values.items()}
        if case.backend == "http":
            backend = http_backend("backend")
        elif case.backend == "ws":
            backend = ws_backend("ws")
        if backend:
            values["backend"] = backend.port
        proxy.start(case.conf, files=case.files, **values)
        results[side] = observe(case, proxy, backend)
        proxy.stop()

    mismatches = compare(case, results["reference"], results["candidate"])
    assert not mismatches, "\n\n".join(mismatches)
