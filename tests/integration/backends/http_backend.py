#!/usr/bin/python3
"""Raw-socket HTTP/1.1 backend whose behaviour the tests control.

It parses requests itself (no http.server), so it sees exactly what the proxy
sent: the request line, every header line in order with its original case, and
the body (Content-Length or chunked, decoded; the raw chunked bytes are kept
too). Each request is appended, before the response is written, as one JSON
line to the --record file:

  {"conn": 3, "seq": 1, "request_line": "GET /x HTTP/1.0", "method": "GET",
   "target": "/x", "version": "HTTP/1.0", "headers": [["Host", "b"], ...],
   "body_b64": "...", "body_len": 0, "chunked": false, "raw_body_b64": "...",
   "trailers": [], "peer": ["127.0.0.1", 41234]}

`conn` numbers the TCP connections that carried at least one request (a
readiness probe that connects and closes is not counted), `seq` numbers the
requests on one connection, so keep-alive reuse is visible. Every accepted
connection, probes included, also adds a line to <record>.accepts.

The response is chosen by the query string of the request target:

  mode=length   (default) 200 with Content-Length
  mode=chunked  Transfer-Encoding: chunked, body sent in `parts` chunks
  mode=close    no Content-Length, body, then the connection is closed
  mode=stream   chunked; the first chunk is sent at once, the rest only when
                the gate file <gate-dir>/gate-<gate> exists (bounded wait)
  mode=garbage  `kind`=text (default: a line that is not HTTP),
                badheader (valid status line, invalid header line),
                badstatus (status line with a non-numeric code), then close
  mode=drop     close the connection without sending anything
  mode=101      `HTTP/1.1 101 Switching Protocols` whatever was asked, then
                holds the connection (bounded) until the peer closes
  status=N      status code (default 200)
  delay=S       sleep S seconds before answering (for timeout tests)
  size=N        body of N bytes (a repeating pattern) instead of the default
  body=TEXT     body text instead of the default
  h=Name:Value  extra response header (repeatable)

The default body is "<name> <method> <target>\n".

tls_backend.py runs this server behind TLS: main(args, handler=...).
"""

import argparse
import base64
import json
import os
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 1 << 20
GATE_TIMEOUT = 20.0
HOLD_TIMEOUT = 10.0


class JsonLines:
    """A file of JSON lines, emptied at start, appended to under a lock."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        open(path, "w").close()

    def write(self, obj):
        line = json.dumps(obj) + "\n"
        with self.lock:
            with open(self.path, "a") as f:
                f.write(line)
                f.flush()


class Recorder(JsonLines):
    """The --record file, and <record>.accepts."""

    def __init__(self, path):
        super().__init__(path)
        self.conns = 0
        self.accepts_path = path + ".accepts"
        open(self.accepts_path, "w").close()

    def accepted(self, peer):
        with self.lock:
            with open(self.accepts_path, "a") as f:
                f.write("%s %s\n" % tuple(peer[:2]))

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns


class Conn:
    """Buffered reader over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_until(self, sep, limit=MAX_HEAD):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("head too large")
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def header(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def read_request(c):
    """Returns a dict, or None at a clean end of the connection."""
    try:
        head = c.read_until(b"\r\n\r\n")
    except EOFError:
        if c.buf:
            raise
        return None
    lines = head[:-4].split(b"\r\n")
    request_line = lines[0].decode("latin-1")
    headers = []
    for raw in lines[1:]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append([name, value.strip(" \t")])
    parts = request_line.split(" ")
    method, target, version = (parts + ["", "", ""])[:3]
    req = {
        "request_line": request_line,
        "method": method,
        "target": target,
        "version": version,
        "headers": headers,
        "chunked": False,
        "trailers": [],
    }
    expect = header(headers, "Expect")
    if expect and expect.lower() == "100-continue":
        c.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    te = header(headers, "Transfer-Encoding")
    cl = header(headers, "Content-Length")
    body = b""
    raw = b""
    if te and "chunked" in te.lower():
        req["chunked"] = True
        while True:
            size_line = c.read_until(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = c.read_until(b"\r\n")
                    raw += t
                    if t == b"\r\n":
                        break
                    req["trailers"].append(t[:-2].decode("latin-1"))
                break
            data = c.read_exact(size + 2)
            raw += data
            body += data[:-2]
    elif cl is not None:
        body = c.read_exact(int(cl))
        raw = body
    req["body_b64"] = base64.b64encode(body).decode()
    req["raw_body_b64"] = base64.b64encode(raw).decode()
    req["body_len"] = len(body)
    return req


def wants_close(req):
    conn = (header(req["headers"], "Connection") or "").lower()
    if "close" in conn:
        return True
    if req["version"] == "HTTP/1.0" and "keep-alive" not in conn:
        return True
    return False


def pattern_body(n):
    unit = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (unit * (n // len(unit) + 1))[:n]


REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        srv.recorder.accepted(self.client_address)
        c = Conn(self.request)
        conn_id = None
        seq = 0
        try:
            while True:
                req = read_request(c)
                if req is None:
                    return
                if conn_id is None:
                    conn_id = srv.recorder.next_conn()
                seq += 1
                req.update(conn=conn_id, seq=seq, peer=list(self.client_address[:2]))
                srv.recorder.write(req)
                if not self.respond(req):
                    return
        except (EOFError, ConnectionError, ValueError, socket.timeout):
            return

    def respond(self, req):
        """Writes the response; returns False when the connection must close."""
        srv = self.server
        sock = self.request
        q = parse_qs(urlsplit(req["target"]).query)
        one = lambda k, d=None: q.get(k, [d])[0]
        mode = one("mode", "length")
        status = int(one("status", "200"))
        delay = float(one("delay", "0"))
        if delay:
            time.sleep(delay)
        if one("size") is not None:
            body = pattern_body(int(one("size")))
        elif one("body") is not None:
            body = one("body").encode()
        else:
            body = ("%s %s %s\n" % (srv.name, req["method"], req["target"])).encode()
        head_only = req["method"] == "HEAD"
        close = wants_close(req)
        extra = [h.split(":", 1) for h in q.get("h", [])]
        status_line = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
        hdrs = "Content-Type: text/plain\r\n" + "".join("%s: %s\r\n" % (k, v.strip()) for k, v in extra)

        if mode == "drop":
            return False
        if mode == "garbage":
            kind = one("kind", "text")
            if kind == "badheader":
                data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header Line\x01\r\n\r\nok"
            elif kind == "badstatus":
                data = b"HTTP/1.1 abc Broken\r\nContent-Length: 2\r\n\r\nok"
            else:
                data = b"THIS IS NOT HTTP AT ALL\r\n\r\n"
            sock.sendall(data)
            return False
        if mode == "101":
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            sock.settimeout(HOLD_TIMEOUT)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
            return False
        if mode == "close":
            out = status_line + hdrs + "Connection: close\r\n\r\n"
            sock.sendall(out.encode() + (b"" if head_only else body))
            return False
        if mode in ("chunked", "stream"):
            out = status_line + hdrs + "Transfer-Encoding: chunked\r\n"
            if close:
                out += "Connection: close\r\n"
            sock.sendall((out + "\r\n").encode())
            if head_only:
                return not close
            parts = max(1, int(one("parts", "3")))
            step = max(1, -(-len(body) // parts))
            chunks = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
            for i, chunk in enumerate(chunks):
                if chunk:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if mode == "stream" and i == 0:
                    self.wait_gate(one("gate", "default"))
            sock.sendall(b"0\r\n\r\n")
            return not close
        # mode == "length"
        out = status_line + hdrs + "Content-Length: %d\r\n" % len(body)
        if close:
            out += "Connection: close\r\n"
        sock.sendall((out + "\r\n").encode() + (b"" if head_only else body))
        return not close

    def wait_gate(self, name):
        path = os.path.join(self.server.gate_dir, "gate-" + name)
        deadline = time.monotonic() + GATE_TIMEOUT
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, family, args, recorder, handler):
        self.address_family = family
        self.name = args.name
        self.gate_dir = args.gate_dir or os.path.dirname(os.path.abspath(args.record))
        self.recorder = recorder
        super().__init__(addr, handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.server_bind()
        self.server_activate()


def arg_parser(description, default_name="backend"):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", action="append", help="address to listen on (repeatable; default 127.0.0.1 and ::1)")
    ap.add_argument("--record", required=True, help="JSON-lines file of received requests")
    ap.add_argument("--name", default=default_name, help="name used in default bodies")
    ap.add_argument("--gate-dir", help="directory of gate files (default: the record file's)")
    return ap


def main(args=None, handler=Handler, **attrs):
    """Serves until stopped; args parsed from the command line by default.
    handler: the request handler class; attrs are set on every server (for
    the handler's use)."""
    args = args or arg_parser(__doc__.split("\n")[0]).parse_args()
    recorder = Recorder(args.record)
    hosts = args.host or ["127.0.0.1", "::1"]
    servers = []
    for h in hosts:
        family = socket.AF_INET6 if ":" in h else socket.AF_INET
        try:
            servers.append(Server((h, args.port), family, args, recorder, handler))
        except OSError as e:
            if h == "::1" and not args.host:
                continue  # no IPv6 loopback on this host
            print("cannot listen on %s:%d: %s" % (h, args.port, e), file=sys.stderr)
            sys.exit(1)
    for srv in servers:
        vars(srv).update(attrs)
    serve_all(servers)


def serve_all(servers):
    """Runs every server on a thread of its own until the process is stopped."""
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
