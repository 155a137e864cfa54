"""Raw HTTP/1.x on a socket, for what http.client cannot do: malformed input,
pipelining, exact bytes. Every read has a timeout."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field

IO_TIMEOUT = 10.0


def pattern(n: int) -> bytes:
    """The body http_backend.py sends for size=n."""
    unit = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (unit * (n // len(unit) + 1))[:n]


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw_head: bytes = b""
    interim: list = field(default_factory=list)  # 1xx responses before this one

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Reader:
    """Buffered, timeout-bounded reader over a connected socket."""

    def __init__(self, sock: socket.socket, timeout: float = IO_TIMEOUT):
        self.sock = sock
        self.buf = b""
        self.eof = False
        sock.settimeout(timeout)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            raise EOFError("connection closed by peer")
        self.buf += data

    def until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        """Everything until the peer closes."""
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out

    def response(self, head_request: bool = False) -> Response:
        """Reads one response, body framed as HTTP/1.1 says."""
        head = self.until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k, v.strip()))
        resp = Response(version, int(code), reason, headers, b"", head)
        if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te and "chunked" in te.lower():
            body = b""
            while True:
                size = int(self.until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self.until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self.exact(size + 2)[:-2]
            resp.body = body
        elif cl is not None:
            resp.body = self.exact(int(cl))
        else:
            resp.body = self.rest()
        return resp


def final_response(reader: Reader, head_request: bool = False) -> Response:
    """The next non-interim response (1xx other than 101 are collected in
    .interim)."""
    interim = []
    while True:
        resp = reader.response(head_request)
        if 100 <= resp.status < 200 and resp.status != 101:
            interim.append(resp)
            continue
        resp.interim = interim
        return resp


def connect(port: int, host: str = "127.0.0.1", timeout: float = IO_TIMEOUT) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port: int, data: bytes, host: str = "127.0.0.1", timeout: float = IO_TIMEOUT) -> Response:
    """Sends data in one send() and reads one final response."""
    with connect(port, host, timeout) as s:
        s.sendall(data)
        return final_response(Reader(s, timeout), head_request=data.startswith(b"HEAD "))


def exchange_raw(port: int, data: bytes, host: str = "127.0.0.1", timeout: float = IO_TIMEOUT) -> bytes:
    """Sends data and returns every byte received until the peer closes."""
    with connect(port, host, timeout) as s:
        s.sendall(data)
        return Reader(s, timeout).rest()


def is_closed(sock: socket.socket, timeout: float) -> bool:
    """True if the peer closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except ConnectionError:
        return True
    return False


@dataclass
class CurlResult:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def status_line(self) -> str:
        return self.stdout.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def status(self) -> int:
        parts = self.status_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    def header(self, name: str) -> str | None:
        head = self.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.lower() == name.lower():
                return v.strip()
        return None


def curl(args: list[str], max_time: float = 10.0) -> CurlResult:
    """Runs curl with --max-time; curl's own exit code is returned, never raised
    (exit 28 is the expected outcome of a --max-time cut of a live tunnel)."""
    cmd = ["curl", "-sS", "--max-time", str(max_time)] + args
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=max_time + 20)
    return CurlResult(p.returncode, p.stdout, p.stderr.decode(errors="replace"))
