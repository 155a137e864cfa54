"""Plain TCP peers for the stream {} tests: a threaded server on 127.0.0.1
with a few behaviours, recording each connection (peer address, bytes read).
Every socket has a timeout and every thread ends by itself (stop() closes
the listener and joins them, bounded).

  echo          echo everything back; at the client's EOF, finish and close
  reply_at_eof  read to EOF, then send b"got N bytes\\n" and close (half-close)
  banner        send b"hello from <name>\\n" first, then echo
"""

from __future__ import annotations

import socket
import threading
import time

IO_TIMEOUT = 30.0


class TcpBackend:
    def __init__(self, mode: str = "echo", name: str = "backend"):
        self.mode = mode
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns: list[dict] = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                c, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rec = {"peer": addr, "received": 0, "first": b"", "eof": False}
            with self.lock:
                self.conns.append(rec)
            t = threading.Thread(target=self._serve, args=(c, rec), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c: socket.socket, rec: dict) -> None:
        c.settimeout(IO_TIMEOUT)
        try:
            if self.mode == "banner":
                c.sendall(b"hello from %s\n" % self.name.encode())
            while not self.stopping:
                data = c.recv(65536)
                if not data:
                    rec["eof"] = True
                    break
                if len(rec["first"]) < 256:
                    rec["first"] += data[:256 - len(rec["first"])]
                rec["received"] += len(data)
                if self.mode in ("echo", "banner"):
                    c.sendall(data)
            if self.mode == "reply_at_eof" and rec["eof"]:
                c.sendall(b"got %d bytes\n" % rec["received"])
        except OSError:
            pass
        finally:
            c.close()

    def wait_conns(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.conns) >= n:
                    return list(self.conns)
            time.sleep(0.02)
        raise AssertionError("%s: %d connections, expected %d" % (self.name, len(self.conns), n))

    def stop(self) -> None:
        self.stopping = True
        self.sock.close()
        self.acceptor.join(5)
        for t in self.threads:
            t.join(5)


class StalledListener:
    """A listening socket whose accept queue is full (backlog 0, one
    connection never accepted): Linux drops the SYNs of further connects, so
    a connect to it hangs until the connector's own timeout."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def stop(self) -> None:
        self.filler.close()
        self.sock.close()


def recv_all(s: socket.socket, n: int, timeout: float = IO_TIMEOUT) -> bytes:
    """Reads exactly n bytes (or until EOF), bounded by timeout overall."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n and time.monotonic() < deadline:
        chunk = s.recv(min(1 << 20, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def recv_to_eof(s: socket.socket, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Everything until EOF; (data, True) on EOF, (data, False) on timeout."""
    s.settimeout(0.2)
    deadline = time.monotonic() + timeout
    out = bytearray()
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return bytes(out), True
        if not chunk:
            return bytes(out), True
        out += chunk
    return bytes(out), False
