#!/usr/bin/python3
"""Tiny UDP DNS server for tests of run-time name resolution (stdlib only).

Answers A (and AAAA) questions from a JSON file that it re-reads on every
query, so a test changes what a name resolves to by rewriting the file
(write a temporary file and rename it over, so a query never sees half a
file):

  {"backend.test": ["127.0.0.2"],             A records (IPv6 strings: AAAA)
   "two.test": ["127.0.0.2", "127.0.0.3"],
   "v6.test": ["::1"],
   "slow.test": {"addrs": ["127.0.0.4"], "ttl": 30},   per-name TTL
   "broken.test": "servfail",                 SERVFAIL
   "silent.test": "drop"}                     no answer at all (a timeout)

A name that is not in the file gets NXDOMAIN; a name without an address of
the type asked gets an empty NOERROR answer. A missing or unparsable file
answers SERVFAIL. Names are matched case-insensitively.

    dns_server.py --port 0 --records FILE [--ttl 1] [--host 127.0.0.1] [--log FILE]

prints the bound port on stdout (one line) once it is ready, then serves
until killed. --log appends one JSON line per question: {"name", "type",
"answer"} ("answer" is the list of addresses sent, or "NXDOMAIN",
"SERVFAIL", "DROP").
"""

import argparse
import ipaddress
import json
import socket
import struct
import sys

TYPE_A = 1
TYPE_AAAA = 28
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3


def parse_question(data):
    """(id, flags, name, qtype, end of question) or None."""
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount != 1:
        return None
    pos = 12
    labels = []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        pos += 1
        if n == 0:
            break
        if n > 63 or pos + n > len(data):
            return None
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(data):
        return None
    qtype = struct.unpack("!H", data[pos:pos + 2])[0]
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def load(path):
    try:
        with open(path) as f:
            table = json.load(f)
        return {str(k).lower().rstrip("."): v for k, v in table.items()}
    except (OSError, ValueError, AttributeError):
        return None


def lookup(table, name, qtype, default_ttl):
    """(rcode, [(type, packed address)], ttl), or None to drop the query."""
    if table is None:
        return RCODE_SERVFAIL, [], 0
    if name not in table:
        return RCODE_NXDOMAIN, [], 0
    entry = table[name]
    if entry == "drop":
        return None
    if entry == "servfail":
        return RCODE_SERVFAIL, [], 0
    ttl = default_ttl
    if isinstance(entry, dict):
        ttl = int(entry.get("ttl", default_ttl))
        entry = entry.get("addrs", [])
    if isinstance(entry, str):
        entry = [entry]
    records = []
    for text in entry:
        ip = ipaddress.ip_address(text)
        rtype = TYPE_A if ip.version == 4 else TYPE_AAAA
        if rtype == qtype:
            records.append((rtype, ip.packed, str(ip)))
    return 0, records, ttl


def answer(data, table, default_ttl):
    """(response bytes or None, what was answered) for one query."""
    q = parse_question(data)
    if q is None:
        return None, None
    qid, flags, name, qtype, qend = q
    found = lookup(table, name, qtype, default_ttl)
    if found is None:
        return None, {"name": name, "type": qtype, "answer": "DROP"}
    rcode, records, ttl = found
    # QR, AA, RD copied from the query, RA
    out_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    out = struct.pack("!HHHHHH", qid, out_flags, 1, len(records), 0, 0) + data[12:qend]
    for rtype, packed, _ in records:
        # name: a pointer to the question's (offset 12)
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(packed)) + packed
    what = {RCODE_SERVFAIL: "SERVFAIL", RCODE_NXDOMAIN: "NXDOMAIN"}.get(rcode) or [r[2] for r in records]
    return out, {"name": name, "type": qtype, "answer": what}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    ap.add_argument("--records", required=True, help="JSON file of names, re-read on every query")
    ap.add_argument("--ttl", type=int, default=1, help="TTL of the answers (seconds, default 1)")
    ap.add_argument("--log", help="JSON-lines file of the questions received")
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    print(sock.getsockname()[1], flush=True)
    log = open(args.log, "a") if args.log else None
    while True:
        data, peer = sock.recvfrom(4096)
        out, what = answer(data, load(args.records), args.ttl)
        if log and what:
            log.write(json.dumps(what) + "\n")
            log.flush()
        if out is not None:
            sock.sendto(out, peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
