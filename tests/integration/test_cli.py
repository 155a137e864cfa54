"""nginx's command line, run the way an operator runs it.

Unlike the `proxy` fixture (which passes `pid` with -g), these tests put
`pid logs/nginx.pid;` in the configuration file and start the program with

    <bin> -p <prefix>/ -c <conf> -e <prefix>/logs/error.log -g "daemon off;"

from a working directory that is NOT the prefix, so that the signal commands
can be run exactly as nginx documents them:

    <bin> -p <prefix>/ -c <conf> -s reload|reopen|quit|stop

(the signalling process reads the configuration to find the pid file, then
signals the pid written there). Everything asserted here is nginx's own
behaviour and runs on both implementations unless marked.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import _finish_proxies
from harness import config as cfg
from harness import rawhttp
from harness.ports import free_port
from harness.proxy import Proxy, missing_reason
from harness.wait import port_accepts, wait_until
from harness.wsclient import connect, recv, run

CMD_TIMEOUT = 20.0  # any one short-lived command (-v, -t, -s ...)


class Operator(Proxy):
    """A Proxy started with the operator's command line (pid in the file,
    -g "daemon off;" only, cwd outside the prefix, config path chosen by the
    test) so that `-s` can find the pid file the way nginx does."""

    conf_path: Path | None = None
    cwd: Path | None = None
    e_arg: str | None = None

    def command(self, prefix: Path, test: bool = False) -> list[str]:
        cmd = [str(self.binary)]
        if test:
            cmd.append("-t")
        conf = self.conf_path or prefix / "nginx.conf"
        cmd += ["-p", "%s/" % prefix, "-c", str(conf),
                "-e", self.e_arg or "%s/logs/error.log" % prefix,
                "-g", "daemon off;"]
        return cmd

    def prepare(self, conf: str, *, conf_rel: str = "nginx.conf", files: dict | None = None,
                tag: str = "run", **values) -> Path:
        """Writes conf (a complete configuration with placeholders) and files
        into a fresh prefix; returns the prefix. Does not start anything."""
        prefix = self._new_prefix(tag)
        self.prefix = prefix
        self.values = self._values_for(conf, prefix, values)
        self.ports = {k: int(v) for k, v in self.values.items() if k.startswith("listen")}
        self.conf_text = cfg.fill(conf, self.values)  # included files: fill(text, self.values)
        self.conf_path = prefix / conf_rel
        self.write_file(conf_rel, self.conf_text, prefix)
        for rel, content in (files or {}).items():
            self.write_file(rel, content, prefix)
        self.cwd = self.workdir / ("cwd-%s" % prefix.name)
        self.cwd.mkdir()
        os.chmod(self.cwd, 0o755)
        return prefix

    def spawn(self) -> subprocess.Popen:
        assert self.proc is None and self.prefix is not None
        self._outputs = [open(self.prefix / "logs" / "stdout.log", "wb"),
                         open(self.prefix / "logs" / "stderr.log", "wb")]
        self.proc = subprocess.Popen(self.command(self.prefix), stdin=subprocess.DEVNULL,
                                     stdout=self._outputs[0], stderr=self._outputs[1],
                                     start_new_session=True, cwd=str(self.cwd))
        return self.proc

    def launch(self, conf: str, **kw) -> "Operator":
        self.prepare(conf, **kw)
        self.spawn()
        self._wait_ready()
        return self

    def pid_file(self) -> Path:
        return self.prefix / "logs" / "nginx.pid"

    def signal(self, name: str) -> subprocess.CompletedProcess:
        """`<bin> -p P -c C -s name`, as an operator types it."""
        return run_cmd([str(self.binary), "-p", "%s/" % self.prefix, "-c", str(self.conf_path), "-s", name],
                       cwd=self.cwd)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s still running %.0fs after the signal" % (self.impl, timeout))


def run_cmd(cmd: list[str], cwd: Path | None = None, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       cwd=str(cwd) if cwd else None)
    p.stdout, p.stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    return p


@pytest.fixture
def op(request, impl, workdir):
    reason = missing_reason(impl)
    if reason:
        pytest.skip(reason)
    p = Operator(impl, workdir)
    yield p
    _finish_proxies(request, [p])


def conf(http: str) -> str:
    """The harness's full configuration plus `pid` in the file."""
    return cfg.wrap_http(http, main_extra="pid logs/nginx.pid;")


def get(port: int, target: str = "/", host: str = "front", addr: str = "127.0.0.1") -> rawhttp.Response:
    return rawhttp.exchange(port, ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host)).encode(), host=addr)


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in the config" % needle)


RETURN_CONF = """
server {
    listen 127.0.0.1:{listen};
    location / { return 200 "v1"; }
}
"""


# --------------------------------------------------------------- -v and -V
def test_version(op):
    p = run_cmd([str(op.binary), "-v"])
    assert p.returncode == 0, p
    out = p.stdout + p.stderr
    assert re.match(r"nginx version: nginx/\d+\.\d+\.\d+", p.stderr), out  # nginx prints it on stderr
    if op.impl == "switchyard":
        assert re.match(r"nginx version: nginx/\d+\.\d+\.\d+ \(switchyard/[^)\s]+\)\n", p.stderr), out
    assert "configure arguments:" not in out


def test_version_and_configure(op):
    p = run_cmd([str(op.binary), "-V"])
    assert p.returncode == 0, p
    lines = p.stderr.splitlines()
    assert re.match(r"nginx version: nginx/\d+\.\d+\.\d+", lines[0]), p.stderr
    assert any(l.startswith("built with OpenSSL ") for l in lines), p.stderr
    conf_lines = [l for l in lines if l.startswith("configure arguments:")]
    assert len(conf_lines) == 1, p.stderr
    if op.impl == "switchyard":
        assert "(switchyard/" in lines[0], p.stderr
        assert "switchyard" in conf_lines[0], p.stderr


# What a module's presence looks like to -t: a config (main context, after
# events {}) that only a binary with the module accepts.
def _loc(d: str) -> str:
    return "http { server { listen 127.0.0.1:{listen}; location / { %s } } }" % d


def _http(d: str) -> str:
    return "http { %s server { listen 127.0.0.1:{listen}; } }" % d


def _stream(d: str) -> str:
    return "stream { server { listen 127.0.0.1:{listen}; %s proxy_pass 127.0.0.1:9; } }" % d


MODULE_PROBES = {
    "http_ssl_module": _http("ssl_protocols TLSv1.2;"),
    "http_v2_module": _http("http2_max_concurrent_streams 10;"),
    "http_realip_module": _loc("set_real_ip_from 127.0.0.1;"),
    "stream": "stream { server { listen 127.0.0.1:{listen}; proxy_pass 127.0.0.1:9; } }",
    "stream_ssl_module": _stream("proxy_ssl on;"),
    "stream_ssl_preread_module": _stream("ssl_preread on;"),
    "stream_realip_module": _stream("set_real_ip_from 127.0.0.1;"),
    "http_gzip_module": _loc("gzip on;"),
    "http_userid_module": _loc("userid on;"),
    "http_access_module": _loc("allow all;"),
    "http_auth_basic_module": _loc("auth_basic x;"),
    "http_mirror_module": _loc("mirror /m;"),
    "http_autoindex_module": _loc("autoindex on;"),
    "http_split_clients_module": _http("split_clients $a $b { * x; }"),
    "http_referer_module": _loc("valid_referers none;"),
    "http_fastcgi_module": _loc("fastcgi_pass 127.0.0.1:9;"),
    "http_uwsgi_module": _loc("uwsgi_pass 127.0.0.1:9;"),
    "http_scgi_module": _loc("scgi_pass 127.0.0.1:9;"),
    "http_grpc_module": _loc("grpc_pass 127.0.0.1:9;"),
    "http_memcached_module": _loc("memcached_pass 127.0.0.1:9;"),
    "http_limit_conn_module": _http("limit_conn_zone $a zone=z:1m;"),
    "http_limit_req_module": _http("limit_req_zone $a zone=z:1m rate=1r/s;"),
    "http_empty_gif_module": _loc("empty_gif;"),
    "http_browser_module": _loc("ancient_browser x;"),
    "http-cache": _http("proxy_cache_path {prefix}/cache keys_zone=c:1m;"),
    "stream_access_module": _stream("allow all;"),
    "stream_limit_conn_module": "stream { limit_conn_zone $a zone=z:1m; }",
    "stream_set_module": _stream("set $a 1;"),
    "stream_split_clients_module": "stream { split_clients $a $b { * x; } }",
}

STREAM_RETURN_PROBE = "stream { server { listen 127.0.0.1:{listen}; return x; } }"

# default modules switchyard has: nginx names them only to say --without-
DEFAULT_MODULE_PROBES = {
    "http_geo_module": _http("geo $a { default 1; }"),
    "stream_geo_module": "stream { geo $a { default 1; } }",
}


def configure_arguments(binary) -> list[str]:
    p = run_cmd([str(binary), "-V"])
    assert p.returncode == 0, p
    line = [l for l in p.stderr.splitlines() if l.startswith("configure arguments:")][0]
    return line.split()[2:]


def test_version_claims_match_what_t_accepts(op):
    """`-V` tells tools (nginx's test suite among them) what is built in:
    every module it claims with --with-... is accepted by -t, every module
    it declares --without-... is refused, and everything switchyard does is
    claimed. The same checks hold for Debian's nginx and its own -V."""
    args = configure_arguments(op.binary)
    claims = {}
    for a in args:
        for prefix, present in (("--with-", True), ("--without-", False)):
            if a.startswith(prefix):
                claims[a[len(prefix):].split("=")[0]] = present
    if op.impl == "switchyard":
        for needed in ("http_ssl_module", "http_v2_module", "http_realip_module", "stream", "stream_ssl_module",
                       "stream_ssl_preread_module"):
            assert claims.get(needed) is True, (needed, args)
        for absent in ("http_fastcgi_module", "http_uwsgi_module", "http_scgi_module", "http_gzip_module"):
            assert claims.get(absent) is False, (absent, args)
        # default modules switchyard has are not named (as nginx): charset
        assert "http_charset_module" not in claims, args
        assert op.run_t(cfg.wrap_main(_loc("charset utf-8;")), wrap=False, listen=free_port()).returncode == 0
        # nor ssi (issue 13)
        assert "http_ssi_module" not in claims, args
        assert op.run_t(cfg.wrap_main(_loc("ssi on;")), wrap=False, listen=free_port()).returncode == 0
        # and stream_return (a default module in nginx: not named either)
        assert "stream_return_module" not in claims, args
        r = op.run_t(cfg.wrap_main(STREAM_RETURN_PROBE), wrap=False, listen=free_port())
        assert r.returncode == 0, r.output
        for module, probe in DEFAULT_MODULE_PROBES.items():
            assert module not in claims, (module, args)
            r = op.run_t(cfg.wrap_main(probe), wrap=False, listen=free_port())
            assert r.returncode == 0, (module, r.output)
    checked = 0
    for module, present in claims.items():
        probe = MODULE_PROBES.get(module)
        if probe is None:
            continue
        text = cfg.wrap_main(probe)
        if module.startswith("stream") and "--with-stream=dynamic" in args:
            text = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n" + text   # Debian's nginx
        r = op.run_t(text, wrap=False, listen=free_port())
        if present:
            assert r.returncode == 0, (module, r.output)
        else:
            assert r.returncode != 0, (module, "declared --without- but -t accepts it")
        checked += 1
    if op.impl == "switchyard":
        assert checked == len(MODULE_PROBES), (checked, sorted(set(MODULE_PROBES) - set(claims)))


# ---------------------------------------------------------- -t, -q -t, -T
INCLUDED = """\
server {
    listen 127.0.0.1:{listen};
    location / { return 200 "included"; }
}
"""


def prepare_with_include(op) -> Path:
    """conf/nginx.conf that includes conf/conf.d/site.conf (relative to the
    configuration file's directory)."""
    prefix = op.prepare(conf("include conf.d/site.conf;"), conf_rel="conf/nginx.conf", tag="check",
                        listen=free_port())
    op.write_file("conf/conf.d/site.conf", cfg.fill(INCLUDED, op.values), prefix)
    return prefix


def test_t_good_config(op):
    prepare_with_include(op)
    p = run_cmd(op.command(op.prefix, test=True), cwd=op.cwd)
    assert p.returncode == 0, p
    assert re.search(r"the configuration file %s syntax is ok" % re.escape(str(op.conf_path)), p.stderr), p.stderr
    assert re.search(r"configuration file %s test is successful" % re.escape(str(op.conf_path)), p.stderr), p.stderr


def test_q_t_is_silent(op):
    prepare_with_include(op)
    cmd = op.command(op.prefix, test=True)
    cmd.insert(1, "-q")
    p = run_cmd(cmd, cwd=op.cwd)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", ""), p


def test_T_dumps_config_and_includes(op):
    prepare_with_include(op)
    cmd = op.command(op.prefix)
    cmd.insert(1, "-T")
    p = run_cmd(cmd, cwd=op.cwd)
    assert p.returncode == 0, p
    assert "test is successful" in p.stderr
    main_text = op.conf_path.read_text()
    inc_path = op.prefix / "conf" / "conf.d" / "site.conf"
    inc_text = inc_path.read_text()
    assert "# configuration file %s:\n%s\n" % (op.conf_path, main_text) in p.stdout, p.stdout
    assert "# configuration file %s:\n%s\n" % (inc_path, inc_text) in p.stdout, p.stdout
    assert p.stdout.index(str(op.conf_path) + ":") < p.stdout.index(str(inc_path) + ":")


# ------------------------------------------------------ failures to start
def test_config_error_exits_1_without_pid_file(op):
    text = conf("server {\n    listen 127.0.0.1:{listen};\n    bogus_directive on;\n}\n")
    op.prepare(text, tag="test")  # "-test" prefixes are exempt from the emerg check
    line = line_of(op.conf_text, "bogus_directive on;")
    p = run_cmd(op.command(op.prefix), cwd=op.cwd)
    assert p.returncode == 1, p
    expected = 'unknown directive "bogus_directive" in %s:%d' % (op.conf_path, line)
    assert "[emerg] " + expected in p.stderr, p.stderr
    assert expected in (op.prefix / "logs" / "error.log").read_text()
    assert not op.pid_file().exists()
    assert not port_accepts(op.ports["listen"])


def test_bind_failure_exits_1_without_pid_file(op):
    op.prepare(conf(RETURN_CONF), tag="test")
    port = op.ports["listen"]
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        t0 = time.monotonic()
        p = run_cmd(op.command(op.prefix), cwd=op.cwd)  # nginx retries bind() 5 times, 0.5 s apart
        elapsed = time.monotonic() - t0
    finally:
        holder.close()
    assert p.returncode == 1, p
    assert "bind() to 127.0.0.1:%d failed (98: Address already in use)" % port in p.stderr, p.stderr
    assert not op.pid_file().exists()
    assert elapsed < CMD_TIMEOUT


def test_pid_file_written_once_listeners_accept(op):
    """Polls as fast as it can: whenever the pid file has content, the
    listener already accepts, and the content is the running process's pid."""
    op.prepare(conf(RETURN_CONF))
    proc = op.spawn()
    pid_file = op.pid_file()
    deadline = time.monotonic() + 10
    content = ""
    while time.monotonic() < deadline:
        assert proc.poll() is None, "exited during startup:\n" + op.diagnostics()
        try:
            content = pid_file.read_text()
        except FileNotFoundError:
            content = ""
        if content.strip():
            assert port_accepts(op.ports["listen"]), "pid file written before 127.0.0.1:%d accepts" % op.port
            break
        time.sleep(0.002)
    assert content, "no pid file after 10 s"
    assert content == "%d\n" % proc.pid
    assert get(op.port).body == b"v1"


# ----------------------------------------------------------- relative paths
def test_relative_paths(op):
    """`include` resolves against the configuration file's directory;
    `access_log`, `root`, `error_log`, `pid` against -p; nothing against the
    working directory."""
    http = """
        include conf.d/site.conf;
    """
    site = """\
server {
    listen 127.0.0.1:{listen};
    access_log logs/x.log;
    root html;
}
"""
    prefix = op.prepare(conf(http), conf_rel="conf/nginx.conf",
                        files={"html/index.html": "prefix html\n"}, listen=free_port())
    op.write_file("conf/conf.d/site.conf", cfg.fill(site, op.values), prefix)
    # Decoys where a wrong base would look.
    op.write_file("conf/html/index.html", "conf-dir html\n", prefix)
    (op.cwd / "html").mkdir()
    (op.cwd / "html" / "index.html").write_text("cwd html\n")
    (op.cwd / "logs").mkdir()
    op.spawn()
    op._wait_ready()
    r = get(op.port, "/")
    assert (r.status, r.body) == (200, b"prefix html\n")
    x_log = prefix / "logs" / "x.log"
    wait_until(lambda: x_log.exists() and '"GET / HTTP/1.1" 200' in x_log.read_text(), 10, "logs/x.log line")
    assert not (op.cwd / "logs" / "x.log").exists()
    assert not (prefix / "conf" / "logs").exists()
    assert "GET / HTTP/1.1" not in op.access_log()  # the server's own access_log replaces http's


def test_e_sets_early_error_log(op):
    """-e is where errors go before the configuration's own error_log is in
    force: a configuration error lands there; once running, the config's
    error_log gets the runtime lines."""
    op.e_arg = "logs/early.log"  # relative to -p
    bad = conf("server {\n    listen 127.0.0.1:{listen};\n    bogus_directive on;\n}\n")
    prefix = op.prepare(bad, tag="test")
    line = line_of(op.conf_text, "bogus_directive on;")
    p = run_cmd(op.command(prefix), cwd=op.cwd)
    assert p.returncode == 1, p
    early = prefix / "logs" / "early.log"
    assert early.exists(), "the -e file was not created relative to the prefix"
    assert re.search(r'\[emerg\] .*unknown directive "bogus_directive" in %s:%d'
                     % (re.escape(str(op.conf_path)), line), early.read_text()), early.read_text()
    assert not (op.cwd / "logs").exists()

    # A good configuration: runtime errors go to its own error_log.
    prefix2 = op.prepare(conf("server {\n    listen 127.0.0.1:{listen};\n    root html;\n}\n"))
    op.spawn()
    op._wait_ready()
    assert get(op.port, "/missing.txt").status == 404
    op.wait_error_log(r'\[error\] .*open\(\) "\S+/html/missing\.txt" failed')
    early2 = prefix2 / "logs" / "early.log"
    assert "missing.txt" not in (early2.read_text() if early2.exists() else "")


# ------------------------------------------------------------------ -s reload
WS_RELOAD_CONF = """
server {
    listen 127.0.0.1:{listen};
    location / { return 200 "%(answer)s"; }
    location /ws/ {
        proxy_pass http://127.0.0.1:{ws};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""


def rewrite_conf(op, text: str) -> None:
    op.conf_text = cfg.fill(text, op.values)
    op.conf_path.write_text(op.conf_text)


def test_reload_new_config_and_old_tunnel(op, ws_backend):
    be = ws_backend()
    op.launch(conf(WS_RELOAD_CONF % {"answer": "v1"}), ws=be.port)
    pid_before = op.pid_file().read_text()
    assert get(op.port).body == b"v1"

    async def body():
        async with connect(op.url("/ws/reload", "ws")) as ws:
            await ws.send("before")
            assert await recv(ws) == "before"
            rewrite_conf(op, conf(WS_RELOAD_CONF % {"answer": "v2"}))
            p = await asyncio.get_running_loop().run_in_executor(None, op.signal, "reload")
            assert p.returncode == 0, p
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_until(lambda: get(op.port).body == b"v2", 10, "v2 after reload"))
            # The tunnel opened under the old configuration still works.
            for i in range(3):
                await ws.send("after %d" % i)
                assert await recv(ws) == "after %d" % i
    run(body())
    assert op.running
    assert op.pid_file().read_text() == pid_before  # same master
    # A tunnel opened after the reload works too.

    async def fresh():
        async with connect(op.url("/ws/new", "ws")) as ws:
            await ws.send("new")
            assert await recv(ws) == "new"
    run(fresh())


def test_reload_broken_config_keeps_serving(op):
    op.launch(conf(RETURN_CONF))
    assert get(op.port).body == b"v1"
    broken = conf(RETURN_CONF.replace('return 200 "v1";', 'return 200 "v2"; bogus_directive on;'))
    rewrite_conf(op, broken)
    line = line_of(op.conf_text, "bogus_directive on;")
    where = r'unknown directive "bogus_directive" in %s:%d' % (re.escape(str(op.conf_path)), line)
    op.allow_log(r'\[emerg\] .*unknown directive "bogus_directive"')
    p = op.signal("reload")
    # nginx's `-s reload` parses the configuration first (to find the pid
    # file): with a broken file it says so and exits 1 without signalling.
    assert p.returncode == 1, p
    assert re.search(r"\[emerg\] .*" + where, p.stderr), p.stderr
    # The running process is asked anyway (what `kill -HUP $MAINPID` does).
    os.kill(int(op.pid_file().read_text()), signal.SIGHUP)
    op.wait_error_log(r"\[emerg\] .*" + where)
    time.sleep(0.5)
    assert op.running
    assert get(op.port).body == b"v1"
    # Fixed again, a reload takes.
    rewrite_conf(op, conf(RETURN_CONF.replace('"v1"', '"v3"')))
    assert op.signal("reload").returncode == 0
    wait_until(lambda: get(op.port).body == b"v3", 10, "v3 after the fixed reload")


# ------------------------------------------------------------------ -s reopen
def test_reopen_access_log(op):
    op.launch(conf(RETURN_CONF))
    logs = op.prefix / "logs"
    get(op.port, "/before-rotate")
    wait_until(lambda: "/before-rotate" in op.access_log(), 10, "access log line")
    os.rename(logs / "access.log", logs / "access.log.1")
    os.rename(logs / "error.log", logs / "error.log.1")
    get(op.port, "/while-renamed")  # still written to the renamed file
    p = op.signal("reopen")
    assert p.returncode == 0, p
    # Reopening is asynchronous: request until a line lands in a new file.
    n = [0]

    def landed():
        n[0] += 1
        get(op.port, "/after-reopen-%d" % n[0])
        return (logs / "access.log").exists() and "/after-reopen-" in (logs / "access.log").read_text()
    wait_until(landed, 10, "a request logged to a new access.log after -s reopen", interval=0.2)
    old = (logs / "access.log.1").read_text()
    assert "/before-rotate" in old and "/while-renamed" in old
    assert "/before-rotate" not in (logs / "access.log").read_text()
    assert (logs / "error.log").exists(), "error.log was not reopened"


def proxy_pids(op) -> list[int]:
    """The process the pid file names and its children (nginx's workers)."""
    master = int(op.pid_file().read_text())
    pids = [master]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(d))
    return pids


def open_files(op) -> list[str]:
    """Where every descriptor of the proxy's processes points."""
    out = []
    for pid in proxy_pids(op):
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
            except OSError:
                pass
    return out


def test_reopen_after_reload_lets_rotated_logs_go(op):
    """A rotated log is let go by every configuration generation: after a
    reload and `mv access.log access.log.1; -s reopen` nothing holds
    access.log.1 open (the first generation was once pinned for life)."""
    op.launch(conf(RETURN_CONF))
    logs = op.prefix / "logs"
    get(op.port, "/gen1")
    rewrite_conf(op, conf(RETURN_CONF.replace('"v1"', '"v2"')))
    assert op.signal("reload").returncode == 0
    wait_until(lambda: get(op.port).body == b"v2", 10, "v2 after the reload")
    os.rename(logs / "access.log", logs / "access.log.1")
    assert op.signal("reopen").returncode == 0
    n = [0]

    def landed():
        n[0] += 1
        get(op.port, "/after-reopen-%d" % n[0])
        return (logs / "access.log").exists() and "/after-reopen-" in (logs / "access.log").read_text()
    wait_until(landed, 10, "a request logged to a new access.log after -s reopen", interval=0.2)
    wait_until(lambda: not [f for f in open_files(op) if f.endswith("access.log.1") or "access.log.1 " in f],
               10, "no descriptor on the rotated access.log.1")


def test_old_generation_closes_its_logs_with_its_last_connection(op):
    """A reload to another access_log path: the old file stays open while a
    keep-alive connection of the old configuration lives, and is closed
    when that connection ends."""
    http = RETURN_CONF.replace("server {", "server {\n    access_log logs/%s;")
    op.launch(conf(http % "old.log"))
    logs = op.prefix / "logs"
    held = rawhttp.connect(op.port)   # a request under way (nginx closes idle keep-alive ones on reload)
    held.sendall(b"GET /held HTTP/1.1\r\nHost: front\r\n")
    wait_until(lambda: "/held" not in op.access_log() and any(f.endswith("/old.log") for f in open_files(op)),
               10, "old.log open")
    rewrite_conf(op, conf(http.replace('"v1"', '"v2"') % "new.log"))
    assert op.signal("reload").returncode == 0
    wait_until(lambda: get(op.port).body == b"v2", 10, "v2 after the reload")
    assert any(f.endswith("/old.log") for f in open_files(op)), "old.log closed while its connection lives"
    held.sendall(b"\r\n")   # finished under the old configuration, logged to its file
    resp = rawhttp.final_response(rawhttp.Reader(held))
    assert (resp.status, resp.body) == (200, b"v1")
    held.close()
    wait_until(lambda: "/held" in (logs / "old.log").read_text(), 10, "/held logged to old.log")
    wait_until(lambda: not any(f.endswith("/old.log") for f in open_files(op)), 10,
               "old.log closed once the old configuration's last connection ended")
    assert (logs / "new.log").exists()


# ----------------------------------------------------------- -s quit / stop
PROXY_CONF = """
server {
    listen 127.0.0.1:{listen};
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""


def in_flight(op, target: str) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go():
        try:
            out["resp"] = get(op.port, target)
            out["alive_at_response"] = op.proc.poll() is None
        except Exception as e:  # noqa: BLE001 - recorded for the assertion
            out["error"] = e
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def test_quit_is_graceful(op, http_backend):
    be = http_backend()
    op.launch(conf(PROXY_CONF), backend=be.port)
    t, out = in_flight(op, "/slow?delay=3&body=finished")
    be.wait_requests(1)  # the request is at the backend, its answer 3 s away
    p = op.signal("quit")
    assert p.returncode == 0, p
    # Listeners close at once; the in-flight request still completes.
    wait_until(lambda: not port_accepts(op.port), 5, "listener closed after -s quit")
    assert op.running, "exited with a request in flight"
    t.join(15)
    assert "resp" in out, out
    assert (out["resp"].status, out["resp"].body) == (200, b"finished")
    # (whether the process is still alive the instant the client reads the
    # response is a race: both implementations exit right after sending it)
    op.wait_exit(10)  # then it exits by itself
    assert not op.pid_file().exists()


def test_stop_is_fast(op, http_backend):
    be = http_backend()
    op.launch(conf(PROXY_CONF), backend=be.port)
    t, out = in_flight(op, "/slow?delay=8")
    be.wait_requests(1)
    t0 = time.monotonic()
    p = op.signal("stop")
    assert p.returncode == 0, p
    op.wait_exit(5)
    assert time.monotonic() - t0 < 5
    t.join(10)
    assert "resp" not in out, "the in-flight request was answered: %r" % out
    assert not op.pid_file().exists()


def test_signal_without_running_process(op):
    prefix = op.prepare(conf(RETURN_CONF), tag="test")
    p = op.signal("reload")
    assert p.returncode == 1, p
    assert 'open() "%s/logs/nginx.pid" failed (2: No such file or directory)' % prefix in p.stderr, p.stderr
