"""A throw-away self-signed certificate for TLS tests (openssl CLI)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path


def make_cert(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """Writes <name>.crt and <name>.key (CN and SAN localhost / 127.0.0.1)."""
    if not shutil.which("openssl"):
        raise RuntimeError("openssl CLI not found")
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / (name + ".crt"), directory / (name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def client_context(ca: Path) -> ssl.SSLContext:
    """Verifies the server against the self-signed certificate."""
    return ssl.create_default_context(cafile=str(ca))
