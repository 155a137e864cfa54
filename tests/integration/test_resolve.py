"""`server NAME resolve` in an upstream with a `zone` (nginx 1.27.3): the name
is looked up with the `resolver` while running, and requests follow it when
its address changes, without a reload. DNS is backends/dns_server.py,
answering from a JSON file the test rewrites; the backends listen on
127.0.0.2 and 127.0.0.3 with the same port, as two containers behind one
name would."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from harness import rawhttp
from harness.marks import only_switchyard
from harness.backends import backend_factory, stop_process
from harness.ports import free_port
from harness.wait import port_accepts, wait_until

pytestmark = only_switchyard("`server ... resolve` needs nginx 1.27.3; Debian's nginx 1.22 refuses it")

BACKENDS = Path(__file__).resolve().parent / "backends"

CONF = """
resolver 127.0.0.1:{dns} valid=1s;
resolver_timeout 1s;
upstream u {
    zone u 64k;
    server backend.test:{port} resolve;
}
server {
    listen 127.0.0.1:{listen};
    location / { proxy_pass http://u; }
}
"""


class Dns:
    """backends/dns_server.py on 127.0.0.1, a free UDP port."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "dns"
        self.dir.mkdir()
        self.records = self.dir / "records.json"
        self.queries_log = self.dir / "queries.jsonl"
        self.set({})
        self.stderr = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKENDS / "dns_server.py"), "--port", "0", "--records", str(self.records),
             "--ttl", "1", "--log", str(self.queries_log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.stop()
            raise AssertionError("dns_server.py did not start: %r %s" % (line, (self.dir / "stderr.log").read_text()))
        self.port = int(line)

    def set(self, table: dict) -> None:
        """What names resolve to from now on (written whole, then renamed in)."""
        tmp = self.records.with_suffix(".tmp")
        tmp.write_text(json.dumps(table))
        os.replace(tmp, self.records)

    def queries(self, name: str) -> list[dict]:
        try:
            lines = self.queries_log.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [q for q in map(json.loads, lines) if q["name"] == name]

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc.stdout.close()
        self.stderr.close()


class AddrBackend:
    """backends/http_backend.py on one given address and port."""

    def __init__(self, workdir: Path, name: str, host: str, port: int):
        self.name, self.host, self.port = name, host, port
        self.dir = workdir / ("backend-%s-%s-%d" % (name, host, port))
        self.dir.mkdir()
        self.log = open(self.dir / "output.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKENDS / "http_backend.py"), "--host", host, "--port", str(port),
             "--record", str(self.dir / "record.jsonl"), "--name", name],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or port_accepts(port, host), 10,
                       "%s:%d to accept connections" % (host, port))
            assert self.proc.poll() is None
        except AssertionError:
            self.stop()
            raise AssertionError("backend %s did not start:\n%s" % (name, (self.dir / "output.log").read_text()))

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


@pytest.fixture
def dns(workdir):
    d = Dns(workdir)
    yield d
    d.stop()


@pytest.fixture
def addr_backend(workdir):
    """Factory: addr_backend(name, host, port) -> AddrBackend."""
    with backend_factory(lambda name, host, port: AddrBackend(workdir, name, host, port)) as start:
        yield start


def get(port: int) -> rawhttp.Response:
    return rawhttp.exchange(port, b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")


def served_by(port: int, name: str) -> bool:
    r = get(port)
    return r.status == 200 and r.body.startswith(name.encode() + b" ")


def test_follows_a_new_address_without_reload(proxy, dns, addr_backend):
    port = free_port()
    addr_backend("a", "127.0.0.2", port)
    addr_backend("b", "127.0.0.3", port)
    dns.set({"backend.test": ["127.0.0.2"]})
    proxy.start(CONF, dns=dns.port, port=port)
    wait_until(lambda: served_by(proxy.port, "a"), 10, "a 200 from 127.0.0.2", interval=0.1)
    proxy.wait_error_log(r'upstream "u" server "backend.test:%d": added 127\.0\.0\.2:%d' % (port, port))

    dns.set({"backend.test": ["127.0.0.3"]})
    wait_until(lambda: served_by(proxy.port, "b"), 10, "requests to follow backend.test to 127.0.0.3", interval=0.1)
    for _ in range(5):
        assert served_by(proxy.port, "b")
    proxy.wait_error_log(r'upstream "u" server "backend.test:%d": added 127\.0\.0\.3:%d; gone 127\.0\.0\.2:%d'
                         % (port, port, port))
    assert "reconfiguring" not in proxy.error_log()


def test_a_name_that_resolves_later(proxy, dns, addr_backend):
    port = free_port()
    addr_backend("a", "127.0.0.2", port)
    proxy.start(CONF, dns=dns.port, port=port)  # backend.test: NXDOMAIN
    wait_until(lambda: dns.queries("backend.test"), 10, "the first lookup of backend.test")
    r = get(proxy.port)
    assert r.status == 502
    proxy.wait_error_log(r"\[error\] .*no live upstreams while connecting to upstream")
    proxy.wait_error_log(r"\[error\] .*backend\.test could not be resolved \(3: Host not found\)")

    dns.set({"backend.test": ["127.0.0.2"]})
    wait_until(lambda: served_by(proxy.port, "a"), 10, "a 200 once backend.test resolves", interval=0.1)


def test_a_lookup_without_answer_keeps_the_last_address(proxy, dns, addr_backend):
    port = free_port()
    addr_backend("a", "127.0.0.2", port)
    dns.set({"backend.test": ["127.0.0.2"]})
    proxy.start(CONF, dns=dns.port, port=port)
    wait_until(lambda: served_by(proxy.port, "a"), 10, "a 200 from 127.0.0.2", interval=0.1)

    dns.set({"backend.test": "drop"})  # the DNS server stops answering for it
    proxy.wait_error_log(r"backend\.test could not be resolved \(110: Operation timed out\)")
    for _ in range(3):
        assert served_by(proxy.port, "a")
