"""Upstream peers for the balancing and failure tests: backends/upstream_backend.py
(http_backend.py's records and query-string API, plus misbehaving modes, an
idle-close timer and a unix socket)."""

from __future__ import annotations

from pathlib import Path

from .backends import BackendProcess, HttpBackend


class UpstreamBackend(HttpBackend):
    """mode: "http" | "blackhole" | "reset" (see the script's docstring);
    idle_close: seconds after which an idle keep-alive connection is closed;
    unix: also listen on `unix_path`."""

    script = "upstream_backend.py"

    def __init__(self, workdir: Path, name: str = "peer", mode: str = "http", idle_close: float = 0.0,
                 unix: bool = False):
        args = ["--name", name, "--mode", mode]
        if idle_close:
            args += ["--idle-close", str(idle_close)]
        if unix:
            args.append("--unix")
        BackendProcess.__init__(self, workdir, name, args)
        self.unix_path = self.dir / "http.sock" if unix else None
