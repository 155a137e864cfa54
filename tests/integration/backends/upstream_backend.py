#!/usr/bin/python3
"""HTTP backend for the upstream (balancing, failure) tests: http_backend.py's
request parser, recorder and query-string API, plus what a misbehaving or
differently reachable peer needs. Every request is recorded exactly as
http_backend.py records it (same JSON lines, same <record>.accepts file).

  --mode http        (default) answer as http_backend.py does
  --mode blackhole   read each request, never answer; hold the connection
                     (bounded) until the peer closes it
  --mode reset       answer with a head announcing Content-Length `size`
                     (query, default 100000) and the first `partial` bytes
                     (query, default 1000) of the body, wait (bounded) for the
                     gate file <record dir>/gate-reset, then reset the
                     connection (SO_LINGER 0: RST, no FIN)
  --idle-close S     close a keep-alive connection that stays idle S seconds
                     between requests (as many application servers do)
  --unix             also listen on the unix socket <record dir>/http.sock
                     (mode 0666, so nginx's `nobody` workers can connect); the
                     TCP port stays for the harness's readiness check

Listens on 127.0.0.1 only.
"""

import argparse
import os
import socket
import socketserver
import struct
from urllib.parse import parse_qs, urlsplit

import http_backend as hb

UNIX_NAME = "http.sock"


class Handler(hb.Handler):
    def setup(self):
        if not isinstance(self.client_address, tuple):
            self.client_address = ("unix", 0)  # AF_UNIX peers have no address
        if self.server.idle_close:
            self.request.settimeout(self.server.idle_close)

    def respond(self, req):
        mode = self.server.mode
        if mode == "blackhole":
            self.hold()
            return False
        if mode == "reset":
            self.reset_mid_body(req)
            return False
        return super().respond(req)

    def hold(self):
        sock = self.request
        sock.settimeout(hb.HOLD_TIMEOUT)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def reset_mid_body(self, req):
        q = parse_qs(urlsplit(req["target"]).query)
        size = int(q.get("size", ["100000"])[0])
        partial = int(q.get("partial", ["1000"])[0])
        sock = self.request
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size
                     + hb.pattern_body(partial))
        self.wait_gate("reset")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def configure(server, args, recorder):
    server.name = args.name
    server.mode = args.mode
    server.idle_close = args.idle_close
    server.gate_dir = os.path.dirname(os.path.abspath(args.record))
    server.recorder = recorder
    return server


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True, help="JSON-lines file of received requests")
    ap.add_argument("--name", default="backend", help="name used in default bodies")
    ap.add_argument("--mode", choices=("http", "blackhole", "reset"), default="http")
    ap.add_argument("--idle-close", type=float, default=0.0, help="close keep-alive connections idle this long")
    ap.add_argument("--unix", action="store_true", help="also listen on <record dir>/" + UNIX_NAME)
    args = ap.parse_args()
    recorder = hb.Recorder(args.record)
    servers = []
    if args.unix:
        path = os.path.join(os.path.dirname(os.path.abspath(args.record)), UNIX_NAME)
        servers.append(configure(UnixServer(path, Handler), args, recorder))
        os.chmod(path, 0o666)
    # Last: the harness takes an accepting TCP port as "ready".
    servers.append(configure(TcpServer(("127.0.0.1", args.port), Handler), args, recorder))
    hb.serve_all(servers)


if __name__ == "__main__":
    main()
