"""The demo page in a real browser: headless Chromium loads html/index.html
through the program under test, with the bundled configuration's shape
(conf/switchyard.conf: static root, `map $http_upgrade`, `upstream
chat_backend`, `location /ws/` with a trailing-slash proxy_pass) in front of
examples/chat_backend.py. The page opens /ws/echo and /ws/chat on its own
host and sends one echo as soon as the echo socket is open; the test waits
(through the DevTools protocol) until that echo is on the page, saves a
screenshot to tests/integration/artifacts/browser-demo.png (on nginx:
browser-demo-nginx.png), and checks the access log's 101 for /ws/echo; a
second test times the page's clean close (1000) through the tunnel. A third
serves the page on https:// with `listen ... ssl http2` and shows where the
sockets went: on switchyard inside the page's HTTP/2 connection (RFC 8441;
DevTools' handshake answer 200, the access log's $connection, and
Chromium's net log, whose HTTP/2 session sent the extended CONNECTs;
screenshot browser-demo-h2.png), on nginx 1.22 over HTTP/1.1 beside it.

Skips when no Chromium binary is found (`apt-get install -y chromium`;
SY_CHROMIUM=path overrides).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
import websockets

from harness import config as cfg
from harness.backends import stop_process
from harness.ports import free_port
from harness.proxy import REPO
from harness.tls import session_pki
from harness.wait import wait_port, wait_until

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BUDGET = 30.0  # the whole browser part, start to screenshot

BROWSER_CONF = """
http {
    include       mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" rt=$request_time';
    access_log  logs/access.log  main;

    map $http_upgrade $connection_upgrade {
        default  upgrade;
        ''       close;
    }

    upstream chat_backend {
        server 127.0.0.1:{backend};
    }

    server {
        listen  127.0.0.1:{listen};

        location / {
            root   {html};
            index  index.html;
        }

        location /ws/ {
            proxy_pass          http://chat_backend/;
            proxy_http_version  1.1;
            proxy_set_header    Upgrade            $http_upgrade;
            proxy_set_header    Connection         $connection_upgrade;
            proxy_set_header    Host               $host;
            proxy_set_header    X-Real-IP          $remote_addr;
            proxy_set_header    X-Forwarded-For    $proxy_add_x_forwarded_for;
            proxy_read_timeout  3600s;
            proxy_send_timeout  3600s;
        }
    }
}
"""


def chromium_binary() -> str | None:
    env = os.environ.get("SY_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Process:
    """A child process in a session of its own, stopped by its pid (and its
    group, for Chromium's helpers), every wait bounded."""

    def __init__(self, cmd: list[str], log: Path, **kw):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, **kw)

    def stop(self) -> None:
        stop_process(self.proc)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # helpers left in the group
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


@pytest.fixture
def chat_backend(workdir):
    port = free_port()
    p = Process([sys.executable, str(REPO / "examples" / "chat_backend.py"), str(port)],
                workdir / "chat_backend.log")
    try:
        wait_port(port, timeout=10)
    except AssertionError:
        p.stop()
        raise AssertionError("chat_backend did not start:\n" + (workdir / "chat_backend.log").read_text())
    p.port = port
    yield p
    p.stop()


@pytest.fixture
def chromium(workdir):
    binary = chromium_binary()
    if not binary:
        pytest.skip("no Chromium binary (apt-get install -y chromium, or set SY_CHROMIUM)")
    # Outside workdir: a failed test's workdir is copied to artifacts/, and
    # the profile holds a socket that cannot be copied.
    profile = Path(tempfile.mkdtemp(prefix="sy-chromium-"))
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-proxy-server", "--no-default-browser-check", "--mute-audio", "--window-size=1200,900",
           "--user-data-dir=%s" % profile, "--log-net-log=%s" % (workdir / "netlog.json"),
           "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"]
    p = Process(cmd, workdir / "chromium.log")
    active = profile / "DevToolsActivePort"
    try:
        wait_until(lambda: p.proc.poll() is not None or (active.exists() and len(active.read_text().split()) >= 2),
                   20, "Chromium's DevToolsActivePort")
        assert p.proc.poll() is None, "chromium exited:\n" + (workdir / "chromium.log").read_text()[-4000:]
    except AssertionError:
        p.stop()
        shutil.rmtree(profile, ignore_errors=True)
        raise
    p.devtools_port = int(active.read_text().split()[0])
    p.netlog = workdir / "netlog.json"
    yield p
    p.stop()
    shutil.rmtree(profile, ignore_errors=True)


def close_browser(chromium) -> None:
    """Browser.close through DevTools, then waits (bounded) for the exit:
    Chromium finishes its net log file only on a clean exit."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://127.0.0.1:%d/json/version" % chromium.devtools_port, timeout=5) as r:
        url = json.loads(r.read())["webSocketDebuggerUrl"]

    async def close():
        async with websockets.connect(url, max_size=None, ping_interval=None, open_timeout=10) as ws:
            await ws.send(json.dumps({"id": 1, "method": "Browser.close"}))
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                pass
    asyncio.run(close())
    chromium.proc.wait(timeout=15)


def http2_sessions(netlog: Path) -> dict[int, list[list[str]]]:
    """From Chromium's net log: the request headers each HTTP/2 session
    (by source id) sent, one list of "name: value" per stream."""
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    sessions: dict[int, list[list[str]]] = {}
    for e in log["events"]:
        if names.get(e["type"]) == "HTTP2_SESSION_SEND_HEADERS":
            sessions.setdefault(e["source"]["id"], []).append(e["params"]["headers"])
    return sessions


def page_ws_url(devtools_port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an environment proxy
    with opener.open("http://127.0.0.1:%d/json/list" % devtools_port, timeout=5) as r:
        targets = json.loads(r.read())
    pages = [t for t in targets if t.get("type") == "page"]
    assert pages, targets
    return pages[0]["webSocketDebuggerUrl"]


class Cdp:
    """A minimal DevTools protocol client: call(); the events that arrive
    meanwhile are kept in .events (method, params)."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[tuple[str, dict]] = []

    async def call(self, method: str, timeout: float = 10.0, **params):
        self.next_id += 1
        my = self.next_id
        await self.ws.send(json.dumps({"id": my, "method": method, "params": params}))

        async def answer():
            while True:
                m = json.loads(await self.ws.recv())
                if "method" in m:
                    self.events.append((m["method"], m.get("params", {})))
                if m.get("id") == my:
                    if "error" in m:
                        raise AssertionError("%s failed: %r" % (method, m["error"]))
                    return m.get("result", {})
        return await asyncio.wait_for(answer(), timeout)

    async def eval(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")


PAGE_STATE = """JSON.stringify({
  echoState: document.querySelector('#st-echo .label').textContent,
  chatState: document.querySelector('#st-chat .label').textContent,
  echo: document.getElementById('echo-list').innerText,
  chat: document.getElementById('chat-list').innerText,
  log: document.getElementById('log').innerText,
})"""


# The same server on https:// with HTTP/2 (the seeds' `listen 443 ssl http2`).
TLS_LISTEN = """listen  127.0.0.1:{listen_tls} ssl http2;
        ssl_certificate      {crt};
        ssl_certificate_key  {key};"""


def run_demo(proxy, chat_backend, chromium, screenshot: Path | None, pki=None) -> dict:
    """Starts the proxy, loads the demo page, waits (bounded) for the echo
    and the chat greeting, optionally saves a screenshot, then presses
    "Disconnect (1000)" and waits for both sockets to close. Returns what the
    page showed, plus how long the close took, and the DevTools network
    events of the page's WebSockets ("ws_events"). With pki the page is
    served on https:// over HTTP/2 (certificate of the test CA, which the
    browser is told to accept through DevTools)."""
    mime = (REPO / "conf" / "mime.types").read_text()
    conf, values = BROWSER_CONF, {}
    if pki is not None:
        conf = conf.replace("listen  127.0.0.1:{listen};", TLS_LISTEN)
        conf = conf.replace("rt=$request_time'", "rt=$request_time c=$connection'")
        values["crt"], values["key"] = pki.leaf("localhost", "localhost")
    proxy.start_conf(cfg.wrap_main(conf), backend=chat_backend.port, html=REPO / "html",
                     files={"mime.types": mime}, **values)
    page_url = proxy.url("/") if pki is None else proxy.url("/", scheme="https", port=proxy.ports["listen_tls"])

    async def drive():
        async with websockets.connect(page_ws_url(chromium.devtools_port), max_size=None, ping_interval=None,
                                      open_timeout=10, close_timeout=5) as ws:
            cdp = Cdp(ws)
            await cdp.call("Page.enable")
            await cdp.call("Runtime.enable")
            await cdp.call("Network.enable")
            if pki is not None:
                await cdp.call("Security.setIgnoreCertificateErrors", ignore=True)
            await cdp.call("Page.navigate", url=page_url)
            state = {"url": page_url}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while loop.time() < deadline:
                raw = await cdp.eval("document.readyState === 'complete' && document.getElementById('echo-list') "
                                     "? " + PAGE_STATE + " : null")
                if raw:
                    state.update(json.loads(raw))
                    if re.search(r"hello from Chrome/\d+", state["echo"]) and "joined" in state["chat"]:
                        break
                await asyncio.sleep(0.1)
            if screenshot is not None:
                shot = await cdp.call("Page.captureScreenshot", format="png")
                screenshot.parent.mkdir(exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            # "Disconnect (1000)" closes both sockets cleanly; the tunnels'
            # access log lines are written when they end.
            clicked = loop.time()
            await cdp.eval("document.getElementById('btn-close') && document.getElementById('btn-close').click()")
            closed = ""
            while loop.time() < clicked + 8:
                closed = await cdp.eval("document.getElementById('log') ? document.getElementById('log').innerText "
                                        ": ''")
                if "echo: closed" in closed and "chat: closed" in closed:
                    break
                await asyncio.sleep(0.02)
            state["after_close"] = closed
            state["close_seconds"] = round(loop.time() - clicked, 3)
            state["ws_events"] = [(m, p) for m, p in cdp.events if m.startswith("Network.webSocket")
                                  and not m.startswith("Network.webSocketFrame")]
            state["page_protocol"] = [p["response"].get("protocol") for m, p in cdp.events
                                      if m == "Network.responseReceived" and p.get("type") == "Document"]
            return state

    state = asyncio.run(asyncio.wait_for(drive(), BUDGET))
    print("page state: %s" % json.dumps(state, indent=1))
    return state


def test_demo_page_echo_in_chromium(proxy, chat_backend, chromium):
    name = "browser-demo.png" if proxy.impl == "switchyard" else "browser-demo-%s.png" % proxy.impl
    state = run_demo(proxy, chat_backend, chromium, ARTIFACTS / name)
    assert "echo" in state, "the demo page never loaded from %s" % state["url"]
    assert state["echoState"] == "connected", state
    assert re.search(r"hello from Chrome/\d+", state["echo"]), state
    assert re.search(r"\d+\.\d ms", state["echo"]), state  # the round-trip time next to the echo
    assert state["chatState"] == "connected", state
    assert re.search(r"user-\d+ joined \(1 online\)", state["chat"]), state
    assert "echo: open" in state["log"] and "closed" not in state["log"], state
    # A clean close through the tunnel: the browser got the backend's 1000.
    assert re.search(r'echo: closed "user disconnect".*1000 normal', state["after_close"]), state["after_close"]
    access = wait_until(lambda: [l for l in proxy.access_log().splitlines() if '"GET /ws/echo HTTP/1.1" 101 ' in l],
                        10, "access log line with 101 for /ws/echo")
    assert re.search(r'"GET /ws/echo HTTP/1\.1" 101 \d+ "[^"]*" "[^"]*HeadlessChrome/[\d.]+[^"]*" rt=\d+\.\d{3}$',
                     access[0]), access[0]
    assert re.search(r'"GET / HTTP/1\.1" 200 14722 ', proxy.access_log()), proxy.access_log()
    assert re.search(r'"GET /ws/chat\?name=user-\d+ HTTP/1\.1" 101 ', proxy.access_log()), proxy.access_log()


def test_demo_page_close_is_prompt(proxy, chat_backend, chromium):
    """After the page's close(1000) the backend answers with its close frame
    and closes TCP; the proxy must pass that FIN on at once. When it does
    not, Chromium waits for the server's TCP close and gives up after its
    2-second closing-handshake timeout, so every user disconnect (and every
    reconnect cycle) takes 2 s. nginx passes it on within milliseconds."""
    state = run_demo(proxy, chat_backend, chromium, None)
    assert "1000 normal" in state.get("after_close", ""), state
    assert state["close_seconds"] < 1.0, (
        "closing both sockets took %.2f s after the click (Chromium saw no TCP close from the proxy and "
        "timed out)" % state["close_seconds"])


@pytest.fixture(scope="session")
def pki(workroot):
    return session_pki(workroot / "pki")


def test_demo_page_over_https_h2_in_chromium(proxy, chat_backend, chromium, pki):
    """The seeds' `listen 443 ssl http2` with the demo page: on switchyard
    Chromium finds SETTINGS_ENABLE_CONNECT_PROTOCOL and opens both
    WebSockets inside the page's HTTP/2 connection (RFC 8441: the handshake
    answer is 200, not 101, and the access log shows HTTP/2.0 101); nginx
    1.22 does not offer it, so there they go over separate HTTP/1.1
    connections."""
    name = "browser-demo-h2.png" if proxy.impl == "switchyard" else "browser-demo-h2-%s.png" % proxy.impl
    state = run_demo(proxy, chat_backend, chromium, ARTIFACTS / name, pki=pki)
    assert state["page_protocol"] == ["h2"], state
    assert state["echoState"] == "connected", state
    assert re.search(r"hello from Chrome/\d+", state["echo"]), state
    assert re.search(r"user-\d+ joined \(1 online\)", state["chat"]), state
    assert re.search(r'echo: closed "user disconnect".*1000 normal', state["after_close"]), state["after_close"]
    assert state["close_seconds"] < 1.0, state  # the backend's FIN became END_STREAM at once
    # DevTools: each socket's handshake answer (RFC 8441's 200 on an HTTP/2
    # stream; HTTP/1.1's 101 with Sec-WebSocket-Accept).
    answers = {p["requestId"]: p["response"] for m, p in state["ws_events"]
               if m == "Network.webSocketHandshakeResponseReceived"}
    assert len(answers) == 2, state["ws_events"]
    h2_ws = proxy.impl == "switchyard"
    for a in answers.values():
        assert a["status"] == (200 if h2_ws else 101), a
        assert ("sec-websocket-accept" in {k.lower() for k in a["headers"]}) == (not h2_ws), a
    # The access log: the page and both sockets on one connection, over HTTP/2.
    lines = wait_until(lambda: [l for l in proxy.access_log().splitlines() if " 101 " in l] if
                       len([l for l in proxy.access_log().splitlines() if " 101 " in l]) == 2 else None,
                       10, "the two tunnels' access log lines")
    page = re.search(r'"GET / HTTP/2\.0" 200 14722 .* c=(\d+)$', proxy.access_log(), re.M)
    assert page, proxy.access_log()
    proto = "HTTP/2.0" if h2_ws else "HTTP/1.1"
    for path in ("/ws/echo", "/ws/chat"):
        line = [l for l in lines if '"GET %s' % path in l]
        assert line and re.search(r'"GET %s\S* %s" 101 ' % (re.escape(path), re.escape(proto)), line[0]), lines
        same = re.search(r" c=(\d+)$", line[0]).group(1) == page.group(1)
        assert same == h2_ws, (page.group(0), line[0])
    # Chromium's own net log: the extended CONNECTs went out on the HTTP/2
    # session that fetched the page.
    close_browser(chromium)
    sessions = http2_sessions(chromium.netlog)
    page_session = [sid for sid, streams in sessions.items()
                    if any(":path: /" in h and ":method: GET" in h for h in streams)]
    assert len(page_session) == 1, sessions
    connects = [h for h in sessions[page_session[0]] if ":method: CONNECT" in h]
    print("h2 session %d: %r" % (page_session[0], connects))
    if h2_ws:
        assert sorted(next(x for x in h if x.startswith(":path: ")) for h in connects) == \
            [":path: /ws/chat?name=" + re.search(r"user-\d+", state["chat"]).group(0), ":path: /ws/echo"], connects
        assert all(":protocol: websocket" in h for h in connects), connects
    else:
        assert connects == [], connects
