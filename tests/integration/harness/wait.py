"""Bounded waiting. Every wait in the suite goes through here: no bare sleeps
that a slow machine could outrun, no wait without an upper bound."""

from __future__ import annotations

import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_until(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls pred() until it returns something truthy; returns that value.
    Raises WaitTimeout (an AssertionError) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: port_accepts(port, host), timeout, "%s:%d to accept connections" % (host, port))
