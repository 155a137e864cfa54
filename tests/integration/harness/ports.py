"""Free TCP port allocation for listeners started by tests.

Ports come from a range below the kernel's ephemeral range (32768-60999 on
Linux), so that the source port of an outgoing connection never lands on a port
a test is about to listen on. Each port is handed out at most once per pytest
process, and is checked free on 127.0.0.1 (and ::1 when the host has IPv6)
before it is returned. The starting point is random so that two suites running
at the same time on one machine rarely probe the same ports.
"""

from __future__ import annotations

import random
import socket
import threading

PORT_MIN = 20000
PORT_MAX = 32000  # exclusive; below ip_local_port_range's usual 32768

_lock = threading.Lock()
_handed_out: set[int] = set()
_next = random.randrange(PORT_MIN, PORT_MAX)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = has_ipv6_loopback()


def _bindable(port: int) -> bool:
    addrs = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")]
    if HAS_IPV6:
        addrs.append((socket.AF_INET6, "::1"))
    for family, host in addrs:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port() -> int:
    """Returns a TCP port nobody listens on, never returned before in this run."""
    global _next
    with _lock:
        for _ in range(PORT_MAX - PORT_MIN):
            port = _next
            _next = PORT_MIN + (_next + 1 - PORT_MIN) % (PORT_MAX - PORT_MIN)
            if port in _handed_out:
                continue
            if _bindable(port):
                _handed_out.add(port)
                return port
    raise RuntimeError("no free TCP port in %d-%d" % (PORT_MIN, PORT_MAX))


def closed_port() -> int:
    """A port with no listener: connecting to it gets ECONNREFUSED."""
    return free_port()
