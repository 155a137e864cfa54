#!/usr/bin/python3
"""WebSocket echo backend over TLS (wss): ws_backend.py's echo, records and
plain-HTTP answer, served by websockets.serve(..., ssl=ctx).

Besides ws_backend.py's messages, `__tls__` answers JSON
{"sni": ..., "client_cert": CN | null, "version": ...} for the connection.
Handshakes are also appended to <record>.tls as tls_backend.py does
(failures are only logged by websockets/asyncio, not recorded).

  --cert/--key, --client-ca, --require-client-cert, --min-version,
  --max-version as tls_backend.py; --no-compression as ws_backend.py.

Listens on 127.0.0.1 only.
"""

import argparse
import asyncio
import json
import sys

import websockets

import tls_backend as tb
import ws_backend as wb


def tls_facts(ws):
    sslobj = ws.transport.get_extra_info("ssl_object")
    if sslobj is None:
        return {"sni": None, "client_cert": None, "version": None}
    return {"sni": getattr(sslobj, "sni_seen", None), "client_cert": tb.client_cn(sslobj),
            "version": sslobj.version()}


def make_handler(args, rec):
    async def handler(ws):
        rec.conns += 1
        conn = rec.conns
        headers = [[k, v] for k, v in ws.request_headers.raw_items()]
        facts = tls_facts(ws)
        with open(args.record + ".tls", "a") as f:
            f.write(json.dumps(dict(event="handshake", **facts)) + "\n")
        rec.write({"event": "open", "conn": conn, "path": ws.path, "headers": headers,
                   "extensions": [e.name for e in ws.extensions], "subprotocol": ws.subprotocol,
                   "tls": facts})
        try:
            async for msg in ws:
                if msg == "__handshake__":
                    await ws.send(json.dumps({"path": ws.path, "headers": headers}))
                elif msg == "__tls__":
                    await ws.send(json.dumps(facts))
                else:
                    await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        rec.write({"event": "close", "conn": conn, "code": ws.close_code, "reason": ws.close_reason})

    return handler


async def serve(args):
    rec = wb.Recorder(args.record)
    open(args.record + ".tls", "w").close()
    async with websockets.serve(
        make_handler(args, rec),
        "127.0.0.1",
        args.port,
        ssl=tb.make_context(args),
        process_request=wb.make_process_request(rec),
        compression=None if args.no_compression else "deflate",
        max_size=None,
        ping_interval=None,
        close_timeout=5,
    ):
        await asyncio.Future()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True, help="JSON-lines file of connections")
    ap.add_argument("--no-compression", action="store_true")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--require-client-cert", action="store_true")
    ap.add_argument("--min-version", choices=("TLSv1_2", "TLSv1_3"))
    ap.add_argument("--max-version", choices=("TLSv1_2", "TLSv1_3"))
    args = ap.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
