#!/usr/bin/python3
"""WebSocket echo backend over TLS (wss): ws_backend.py's server (echo,
records, plain-HTTP answer and options) run with websockets.serve(...,
ssl=ctx).

Besides ws_backend.py's messages, `__tls__` answers JSON
{"sni": ..., "client_cert": CN | null, "version": ...} for the connection;
its "open" record carries the same object under "tls". Handshakes are also
appended to <record>.tls as tls_backend.py does (failures are only logged by
websockets/asyncio, not recorded).

  --cert/--key, --client-ca, --require-client-cert, --min-version,
  --max-version as tls_backend.py; the rest as ws_backend.py.

Listens on 127.0.0.1 unless --host says otherwise.
"""

import tls_backend as tb
import ws_backend as wb


def tls_facts(ws):
    sslobj = ws.transport.get_extra_info("ssl_object")
    if sslobj is None:
        return {"sni": None, "client_cert": None, "version": None}
    return {"sni": getattr(sslobj, "sni_seen", None), "client_cert": tb.client_cn(sslobj),
            "version": sslobj.version()}


def main():
    ap = wb.arg_parser(__doc__.split("\n")[0])
    tb.add_tls_args(ap)
    args = ap.parse_args()
    args.host = args.host or ["127.0.0.1"]
    log = tb.open_tls_log(args.record)

    def facts(ws):
        f = tls_facts(ws)
        log.write(dict(event="handshake", **f))
        return {"tls": f}

    wb.main(args, ssl=tb.make_context(args), facts=facts)


if __name__ == "__main__":
    main()
