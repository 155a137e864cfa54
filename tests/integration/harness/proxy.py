"""Runs the program under test -- switchyard, or nginx as the reference --
on a configuration written by a test.

Both programs get the same command line:

    <bin> -p <prefix>/ -c <prefix>/nginx.conf -e <prefix>/logs/error.log \
          -g "daemon off; pid <prefix>/logs/nginx.pid;"

The process runs in the foreground, in a session (process group) of its own so
that the workers of a master that had to be killed can be killed too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import config as cfg
from .ports import free_port
from .wait import port_accepts

# Files written under a prefix get this mtime, so Last-Modified and ETag do
# not depend on when a test ran (the differential tests compare them).
FILE_MTIME = 1700000000  # 2023-11-14T22:13:20Z

START_TIMEOUT = float(os.environ.get("SY_START_TIMEOUT", "10"))
STOP_TIMEOUT = float(os.environ.get("SY_STOP_TIMEOUT", "10"))

# Lines that must never appear in a log of a run that a test did not mean to
# fail: nginx's two most severe levels, and sanitizer reports.
BAD_LOG_LINE = re.compile(r"\[alert\]|\[emerg\]|AddressSanitizer|LeakSanitizer|runtime error:")

REPO = Path(__file__).resolve().parents[3]

IMPLS = ("switchyard", "nginx")


def impl_binary(impl: str) -> Path:
    if impl == "switchyard":
        return Path(os.environ.get("SY_BINARY", str(REPO / "build" / "switchyard")))
    if impl == "nginx":
        return Path(os.environ.get("SY_NGINX", "/usr/sbin/nginx"))
    raise ValueError("unknown implementation %r (known: %s)" % (impl, ", ".join(IMPLS)))


def missing_reason(impl: str) -> str | None:
    """Why impl cannot run here, or None when it can."""
    b = impl_binary(impl)
    if not (b.is_file() and os.access(b, os.X_OK)):
        hint = "build it, or set SY_BINARY" if impl == "switchyard" else "install nginx, or set SY_NGINX"
        return "%s binary not found at %s (%s)" % (impl, b, hint)
    return None


_prepared: set[str] = set()


def prepare_impl(impl: str) -> None:
    """One-time host preparation an implementation needs before it can start.

    Debian's nginx has absolute temp paths compiled in (--http-*-temp-path=
    /var/lib/nginx/...) and creates only their last component at startup; the
    parent can vanish (a package purge, a tmpfiles clean-up), and nginx then
    dies with `mkdir() "/var/lib/nginx/body" failed`. Recreating the parents
    keeps the configuration the same for both implementations (no
    *_temp_path directives that switchyard would have to know)."""
    if impl in _prepared:
        return
    _prepared.add(impl)
    if impl != "nginx":
        return
    try:
        out = subprocess.run([str(impl_binary(impl)), "-V"], capture_output=True, timeout=10).stderr.decode()
    except (OSError, subprocess.TimeoutExpired):
        return
    for m in re.finditer(r"--http-[a-z]+-temp-path=(\S+)", out):
        try:
            Path(m.group(1)).parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # not root: nginx's own error will say what is missing


class ProxyStartError(AssertionError):
    pass


@dataclass
class TestRun:
    """Result of a `-t` run."""

    returncode: int
    stdout: str
    stderr: str
    error_log: str
    conf_path: Path

    @property
    def output(self) -> str:
        """Everything the program said: stdout, stderr and the error log."""
        return self.stdout + self.stderr + self.error_log


class Proxy:
    """One program under test. start() it with a config; the fixture stops it.

    Placeholders in a config: `{listen}`, `{listen2}`, any `{listen_*}` get a
    free port each (the runner waits until each accepts connections);
    `{prefix}` is the prefix directory; every other name must be passed to
    start() as a keyword argument (backend ports, paths).
    """

    def __init__(self, impl: str, workdir: Path, name: str | None = None):
        self.impl = impl
        self.name = name or impl  # names the prefix directories
        self.binary = impl_binary(impl)
        prepare_impl(impl)
        self.workdir = workdir
        self.prefix: Path | None = None
        self.ports: dict[str, int] = {}
        self.values: dict[str, object] = {}
        self.conf_text = ""
        self.proc: subprocess.Popen | None = None
        self._outputs: list = []
        self._runs = 0
        self._allowed_bad: list[re.Pattern] = []

    # ----------------------------------------------------------------- setup
    def _new_prefix(self, tag: str) -> Path:
        self._runs += 1
        prefix = self.workdir / ("%s-%s%d" % (self.name, tag, self._runs))
        (prefix / "logs").mkdir(parents=True)
        (prefix / "html").mkdir()
        # nginx started as root runs its workers as `nobody`: they must be able
        # to reach files under the prefix (static roots, index files).
        for d in (self.workdir, prefix, prefix / "html"):
            os.chmod(d, 0o755)
        return prefix

    def _values_for(self, template: str, prefix: Path, given: dict) -> dict:
        values = {"prefix": str(prefix)}
        for name in cfg.placeholders(template):
            if name in given:
                continue
            if name == "listen" or name.startswith("listen"):
                values[name] = self.ports.get(name) or free_port()
        values.update(given)
        return values

    def command(self, prefix: Path, test: bool = False) -> list[str]:
        cmd = [str(self.binary)]
        if test:
            cmd.append("-t")
        cmd += [
            "-p", "%s/" % prefix,
            "-c", "%s/nginx.conf" % prefix,
            "-e", "%s/logs/error.log" % prefix,
            "-g", "daemon off; pid %s/logs/nginx.pid;" % prefix,
        ]
        return cmd

    def write_file(self, relpath: str, content: str | bytes, prefix: Path | None = None) -> Path:
        """Writes a file under the prefix (e.g. html/index.html), readable by all."""
        base = prefix or self.prefix
        assert base is not None, "start() the proxy first, or pass prefix"
        path = base / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        for d in [path.parent, *path.parent.parents]:
            if d == base or base not in d.parents:
                break
            os.chmod(d, 0o755)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(path, 0o644)
        os.utime(path, (FILE_MTIME, FILE_MTIME))
        return path

    # ----------------------------------------------------------------- start
    def start(self, http: str, *, main_extra: str = "", files: dict | None = None, **values) -> "Proxy":
        """Starts with `http` wrapped into the harness's full configuration."""
        return self.start_conf(cfg.wrap_http(http, main_extra=main_extra), files=files, **values)

    def start_conf(self, conf: str, *, files: dict | None = None, **values) -> "Proxy":
        """Starts with a complete configuration (main context and all)."""
        assert self.proc is None, "this Proxy is already running"
        prefix = self._new_prefix("run")
        self.prefix = prefix
        self.values = self._values_for(conf, prefix, values)
        self.ports = {k: int(v) for k, v in self.values.items() if k.startswith("listen")}
        self.conf_text = cfg.fill(conf, self.values)
        (prefix / "nginx.conf").write_text(self.conf_text)
        for rel, content in (files or {}).items():
            self.write_file(rel, content)
        self._outputs = [open(prefix / "logs" / "stdout.log", "wb"), open(prefix / "logs" / "stderr.log", "wb")]
        self.proc = subprocess.Popen(
            self.command(prefix),
            stdin=subprocess.DEVNULL,
            stdout=self._outputs[0],
            stderr=self._outputs[1],
            start_new_session=True,
            cwd=str(prefix),
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        pid_file = self.prefix / "logs" / "nginx.pid"
        deadline = time.monotonic() + START_TIMEOUT
        pending = set(self.ports.values())
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.stop()  # reaps whatever the dead master left behind
                raise ProxyStartError("%s exited with code %s during startup\n%s" % (
                    self.impl, rc, self.diagnostics()))
            if pid_file.exists() and pid_file.read_text().strip():
                pending = {p for p in pending if not port_accepts(p)}
                if not pending:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise ProxyStartError("%s not ready after %.0fs (pid file %s, ports not accepting: %s)\n%s" % (
                    self.impl, START_TIMEOUT, "present" if pid_file.exists() else "missing",
                    sorted(pending), self.diagnostics()))
            time.sleep(0.05)

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGTERM, then SIGKILL to the whole group,
        each wait bounded."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the group id is the leader's pid
        for sig, wait in ((signal.SIGQUIT, STOP_TIMEOUT), (signal.SIGTERM, 5.0)):
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            _killpg(pgid)
            proc.wait(timeout=10)
        for f in self._outputs:
            f.close()
        self._outputs = []
        # Workers left behind by a master that died would keep ports open.
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid):
            _killpg(pgid)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # ------------------------------------------------------------------ logs
    def _read(self, name: str, prefix: Path | None = None) -> str:
        path = (prefix or self.prefix) / "logs" / name
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def error_log(self) -> str:
        return self._read("error.log")

    def access_log(self) -> str:
        return self._read("access.log")

    def stderr(self) -> str:
        return self._read("stderr.log")

    def wait_error_log(self, pattern: str, timeout: float = 10.0) -> str:
        """Waits until a line of error.log matches the regex; returns the line.
        Log lines are written after the response is sent, so a test that just
        got its response must wait for the line rather than read at once."""
        rx = re.compile(pattern)
        from .wait import wait_until

        def find():
            for line in self.error_log().splitlines():
                if rx.search(line):
                    return line
            return None

        return wait_until(find, timeout, "error.log line matching %r" % pattern)

    def allow_log(self, pattern: str) -> None:
        """Lets a test that provokes an [alert]/[emerg] on purpose say so."""
        self._allowed_bad.append(re.compile(pattern))

    def log_problems(self) -> list[str]:
        """[alert]/[emerg]/sanitizer lines in every log of every run."""
        bad = []
        for prefix in sorted(self.workdir.glob("%s-*" % self.name)) if self.workdir.exists() else []:
            if prefix.name.startswith(self.name + "-test"):
                continue  # -t runs of bad configs emerg on purpose
            for name in ("error.log", "stderr.log"):
                for line in self._read(name, prefix).splitlines():
                    if BAD_LOG_LINE.search(line) and not any(a.search(line) for a in self._allowed_bad):
                        bad.append("%s/%s: %s" % (prefix.name, name, line))
        return bad

    def diagnostics(self) -> str:
        parts = []
        for name in ("error.log", "stderr.log", "stdout.log"):
            text = self._read(name)
            if text.strip():
                parts.append("--- %s %s ---\n%s" % (self.name, name, text[-6000:]))
        parts.append("--- %s nginx.conf ---\n%s" % (self.name, self.conf_text))
        return "\n".join(parts)

    # ------------------------------------------------------------------- -t
    def run_t(self, conf: str, *, wrap: bool = True, timeout: float = 20.0, **values) -> TestRun:
        """Runs `<bin> -t` (same options as a real start) on conf; does not
        start anything. With wrap=True conf is an http{} snippet."""
        text = cfg.wrap_http(conf) if wrap else conf
        prefix = self._new_prefix("test")
        filled = cfg.fill(text, self._values_for(text, prefix, values))
        conf_path = prefix / "nginx.conf"
        conf_path.write_text(filled)
        p = subprocess.run(self.command(prefix, test=True), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, cwd=str(prefix))
        return TestRun(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
                       self._read("error.log", prefix), conf_path)

    # ----------------------------------------------------------------- utils
    @property
    def port(self) -> int:
        return self.ports["listen"]

    def url(self, path: str = "/", scheme: str = "http", port: int | None = None, host: str = "127.0.0.1") -> str:
        return "%s://%s:%d%s" % (scheme, host, port or self.port, path)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
