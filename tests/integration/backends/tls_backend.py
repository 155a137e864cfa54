#!/usr/bin/python3
"""HTTPS backend: http_backend.py's request parser, recorder and query-string
API behind TLS (Python's ssl), for the proxy_pass https:// tests.

Every request is recorded as http_backend.py records it. Every TLS handshake,
done or failed, is appended as a JSON line to <record>.tls:

  {"event": "handshake", "sni": "backend.test" | null, "client_cert": CN | null,
   "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "reused": false,
   "peer": [...]}
  {"event": "handshake_failed", "error": "...", "probe": false, "peer": [...]}

("probe": true marks a connection that closed before sending a byte: the
harness's readiness check.)

GET <any prefix>/tls-info (any query) answers 200 with that JSON object (without
"event") for the connection the request came on; every other target is
answered as http_backend.py answers it.

  --cert/--key            the server certificate (chain) and key
  --client-ca FILE        ask for a client certificate and verify it with FILE
  --require-client-cert   ... and refuse a handshake without one
  --min-version/--max-version  TLSv1_2 | TLSv1_3 (ssl.TLSVersion names)
  the rest as http_backend.py (its server runs with this file's handler)

Listens on 127.0.0.1 unless --host says otherwise.
"""

import json
import socket
import ssl

import http_backend as hb

HANDSHAKE_TIMEOUT = 10.0
DRAIN_TIMEOUT = 5.0


def client_cn(sock):
    cert = sock.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "(no CN)"


def add_tls_args(ap):
    """The TLS options (see the docstring) on an argparse parser."""
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--require-client-cert", action="store_true")
    ap.add_argument("--min-version", choices=("TLSv1_2", "TLSv1_3"))
    ap.add_argument("--max-version", choices=("TLSv1_2", "TLSv1_3"))


def open_tls_log(record):
    """<record>.tls (emptied), for the handshake records."""
    return hb.JsonLines(record + ".tls")


def make_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.min_version:
        ctx.minimum_version = getattr(ssl.TLSVersion, args.min_version)
    if args.max_version:
        ctx.maximum_version = getattr(ssl.TLSVersion, args.max_version)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_OPTIONAL

    def sni_callback(sslobj, server_name, _ctx):
        sslobj.sni_seen = server_name  # SSLSocket / SSLObject take attributes
        return None

    ctx.sni_callback = sni_callback
    return ctx


def drain(tls):
    """After a failed handshake (our alert is sent): read and drop what the
    peer still sends until it closes (bounded), then close. Closing with
    unread data would reset the connection, and the peer might see the reset
    instead of the alert (a TLS 1.3 client sends its request before it
    reads the alert)."""
    tls.settimeout(DRAIN_TIMEOUT)
    try:
        while socket.socket.recv(tls, 65536):  # the TCP bytes, past the TLS layer
            pass
    except OSError:
        pass
    try:
        tls.close()
    except OSError:
        pass


class Handler(hb.Handler):
    def handle(self):
        srv = self.server
        raw = self.request
        peer = list(self.client_address[:2])
        raw.settimeout(HANDSHAKE_TIMEOUT)
        try:
            first = raw.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            srv.recorder.accepted(self.client_address)
            srv.tls_log.write({"event": "handshake_failed", "error": "closed before any byte", "probe": True,
                               "peer": peer})
            return
        tls = srv.ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as e:
            srv.recorder.accepted(self.client_address)
            srv.tls_log.write({"event": "handshake_failed", "error": str(e), "probe": False, "peer": peer})
            drain(tls)
            return
        self.tls_info = {"sni": getattr(tls, "sni_seen", None), "client_cert": client_cn(tls),
                         "version": tls.version(), "cipher": tls.cipher()[0], "reused": tls.session_reused,
                         "peer": peer}
        srv.tls_log.write(dict(event="handshake", **self.tls_info))
        tls.settimeout(None)
        self.request = tls
        try:
            super().handle()  # records the accept, then serves requests
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def respond(self, req):
        if req["target"].split("?", 1)[0].endswith("/tls-info"):
            body = json.dumps(self.tls_info).encode()
            close = hb.wants_close(req)
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n" % (
                len(body), "Connection: close\r\n" if close else "")
            self.request.sendall(head.encode() + body)
            return not close
        return super().respond(req)


def main():
    ap = hb.arg_parser(__doc__.split("\n")[0], "tls-backend")
    add_tls_args(ap)
    args = ap.parse_args()
    args.host = args.host or ["127.0.0.1"]
    hb.main(args, Handler, ctx=make_context(args), tls_log=open_tls_log(args.record))


if __name__ == "__main__":
    main()
