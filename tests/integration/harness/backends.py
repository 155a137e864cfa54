"""Backend processes started by tests: each runs a script of backends/ with
the same Python as pytest, is ready-checked by connecting, and is stopped by
its pid (SIGTERM, then SIGKILL, bounded)."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
from pathlib import Path

from .ports import free_port
from .wait import wait_port, wait_until

BACKENDS_DIR = Path(__file__).resolve().parent.parent / "backends"


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL after `timeout`; waits for the exit either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@contextlib.contextmanager
def backend_factory(make):
    """The body of a factory fixture: yields start(...) -> make(...), and stops
    every backend it started when the test is over."""
    started = []

    def start(*args, **kw):
        b = make(*args, **kw)
        started.append(b)
        return b

    try:
        yield start
    finally:
        for b in started:
            b.stop()


class BackendProcess:
    script = ""

    def __init__(self, workdir: Path, name: str, args: list[str]):
        self.name = name
        self.port = free_port()
        self.dir = workdir / ("backend-%s-%d" % (name, self.port))
        self.dir.mkdir(parents=True)
        self.record = self.dir / "record.jsonl"
        cmd = [sys.executable, str(BACKENDS_DIR / self.script), "--port", str(self.port),
               "--record", str(self.record)] + args
        self.log = open(self.dir / "output.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or self.record.exists(), 10, "backend record file")
            wait_port(self.port, timeout=10)
        except AssertionError:
            self.stop()
            raise AssertionError("backend %s did not start:\n%s" % (name, self.output()))

    def output(self) -> str:
        try:
            return (self.dir / "output.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def records(self) -> list[dict]:
        try:
            text = self.record.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


class HttpBackend(BackendProcess):
    """backends/http_backend.py: see its docstring for the query-string API."""

    script = "http_backend.py"

    def __init__(self, workdir: Path, name: str = "backend"):
        super().__init__(workdir, name, ["--name", name])

    def requests(self) -> list[dict]:
        reqs = self.records()
        for r in reqs:
            r["body"] = base64.b64decode(r["body_b64"])
            r["raw_body"] = base64.b64decode(r["raw_body_b64"])
        return reqs

    def wait_requests(self, n: int = 1, timeout: float = 10.0) -> list[dict]:
        wait_until(lambda: len(self.records()) >= n, timeout, "%d request(s) at backend %s" % (n, self.name))
        return self.requests()

    def last(self, timeout: float = 10.0) -> dict:
        return self.wait_requests(1, timeout)[-1]

    def connections(self) -> int:
        """TCP connections that carried at least one request."""
        return len({r["conn"] for r in self.records()})

    def accepted(self) -> int:
        """Every TCP connection accepted, minus the harness's one readiness
        probe (which connects once and closes)."""
        try:
            lines = Path(str(self.record) + ".accepts").read_text().splitlines()
        except FileNotFoundError:
            return 0
        return max(0, len(lines) - 1)

    def open_gate(self, gate: str = "default") -> None:
        (self.dir / ("gate-" + gate)).write_text("open")


class WsBackend(BackendProcess):
    """backends/ws_backend.py: echo server recording handshakes and closes."""

    script = "ws_backend.py"

    def __init__(self, workdir: Path, name: str = "ws", compression: bool = True,
                 close_code: int = 0, close_reason: str = "server bye", subprotocols: list[str] | None = None):
        args = []
        if not compression:
            args.append("--no-compression")
        if close_code:
            args += ["--close-code", str(close_code), "--close-reason", close_reason]
        if subprotocols:
            args += ["--subprotocols", ",".join(subprotocols)]
        super().__init__(workdir, name, args)

    def requests(self) -> list[dict]:
        """Every HTTP request received, upgrade or not: {"path", "headers"}."""
        return [r for r in self.records() if r["event"] == "request"]

    def last_request(self, timeout: float = 10.0) -> dict:
        wait_until(lambda: self.requests(), timeout, "a request at ws backend %s" % self.name)
        return self.requests()[-1]

    def opens(self) -> list[dict]:
        return [r for r in self.records() if r["event"] == "open"]

    def closes(self) -> list[dict]:
        return [r for r in self.records() if r["event"] == "close"]

    def wait_close(self, n: int = 1, timeout: float = 10.0) -> dict:
        wait_until(lambda: len(self.closes()) >= n, timeout, "%d close(s) at ws backend %s" % (n, self.name))
        return self.closes()[n - 1]

    def last_open(self, timeout: float = 10.0) -> dict:
        wait_until(lambda: self.opens(), timeout, "a handshake at ws backend %s" % self.name)
        return self.opens()[-1]


def header_values(headers: list, name: str) -> list[str]:
    """All values of header `name` (case-insensitive) in a recorded list."""
    return [v for k, v in headers if k.lower() == name.lower()]


def header_names(headers: list) -> list[str]:
    return [k for k, _ in headers]
