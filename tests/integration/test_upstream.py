"""Upstream groups: balancing methods, passive health checks, backup and
max_conns, keep-alive reuse, unix-socket peers and peers that break.

Every peer is a real process on loopback that names itself in its answer
(http peers, backends/upstream_backend.py: body "<name> GET <target>";
WebSocket peers: the record of the handshake with the tunnel's unique path),
so a test sees exactly which peer served each request.

The balancing tests that take `both` are differential: nginx (the reference)
and switchyard run the same configuration against the *same* peers (the
consistent-hash ring is built from the peers' addresses, so they must be
identical) and must pick the same peer for every request. The other tests run
on each implementation selected with --impl; where they state a sequence, it
comes from NginxRoundRobin, a model of nginx's algorithm that the nginx run
proves.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections import Counter

import pytest

from harness import rawhttp
from harness.backends import backend_factory
from harness.peers import UpstreamBackend
from harness.wait import wait_until
from harness.wsclient import OP_CLOSE, OP_TEXT, frame, read_frame, upgrade_request

REFUSED = r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"
NO_LIVE = r"\[error\] .*no live upstreams while connecting to upstream"
IP_HASH_SOURCES = ["127.0.%d.1" % i for i in range(1, 13)]  # twelve distinct /24s
HASH_KEYS = ["k%d" % i for i in range(200)]
IDLE_CLOSE = 0.3
# Pauses between requests: well past the peer's idle close, and right around it.
IDLE_GAPS = [0, 0.6, 0.6, 0.27, 0.3, 0.33, 0, 0.6, 0.29, 0.31, 0]


# ============================================================ configuration
def addr(peer) -> str:
    unix_path = getattr(peer, "unix_path", None)
    return "unix:%s" % unix_path if unix_path else "127.0.0.1:%d" % peer.port


def upstream(name: str, servers: list, *directives: str) -> str:
    """An upstream block; `servers` are peers or (peer, "params") pairs."""
    lines = []
    for s in servers:
        peer, params = s if isinstance(s, tuple) else (s, "")
        lines.append("    server %s%s;" % (addr(peer), " " + params if params else ""))
    lines += ["    %s;" % d for d in directives]
    return "upstream %s {\n%s\n}\n" % (name, "\n".join(lines))


def location(prefix: str, upstream_name: str, *directives: str, connection: str = '""') -> str:
    """A location proxying to an upstream over HTTP/1.1 (keep-alive capable:
    an empty Connection header unless told otherwise)."""
    body = ["proxy_pass http://%s;" % upstream_name, "proxy_http_version 1.1;",
            "proxy_set_header Connection %s;" % connection] + ["%s;" % d for d in directives]
    return "    location %s {\n%s\n    }" % (prefix, "\n".join("        " + line for line in body))


def ws_location(prefix: str, upstream_name: str) -> str:
    return location(prefix, upstream_name, "proxy_set_header Upgrade $http_upgrade", connection='"upgrade"')


def server(*locations: str) -> str:
    return "server {\n    listen 127.0.0.1:{listen};\n%s\n}\n" % "\n".join(locations)


# ========================================================= clients and peers
def get(port: int, target: str, source: str | None = None, timeout: float = 10.0) -> rawhttp.Response:
    """One GET on a fresh connection, optionally from a given loopback source
    address (127.0.0.0/8 is all local on Linux)."""
    src = (source, 0) if source else None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=src) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n" % target).encode())
        return rawhttp.final_response(rawhttp.Reader(s, timeout))


def served_by(resp: rawhttp.Response) -> str:
    """The name of the http peer that answered (first word of its body)."""
    assert resp.status == 200, (resp.status, resp.body[:300])
    return resp.body.split(b" ", 1)[0].decode()


def names(port: int, targets) -> list[str]:
    return [served_by(get(port, t)) for t in targets]


def timed_get(port: int, target: str) -> tuple[rawhttp.Response, float]:
    t0 = time.monotonic()
    resp = get(port, target)
    return resp, time.monotonic() - t0


class Tunnel:
    """A raw WebSocket upgrade through the proxy (unique `path` per tunnel),
    held open until close()."""

    def __init__(self, port: int, path: str):
        self.path = path
        self.sock = rawhttp.connect(port)
        self.sock.sendall(upgrade_request(path, "front"))
        self.reader = rawhttp.Reader(self.sock)
        self.response = self.reader.response()

    def echo(self, payload: bytes) -> bytes:
        self.sock.sendall(frame(OP_TEXT, payload))
        return read_frame(self.reader)[2]

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        with contextlib.suppress(OSError, EOFError, ValueError):
            if self.response.status == 101:
                self.sock.sendall(frame(OP_CLOSE, b"\x03\xe8"))
                read_frame(self.reader)
        self.sock.close()


def ws_owner(backends, path: str) -> str:
    """Name of the WebSocket peer that accepted the handshake for `path`."""
    hits = wait_until(lambda: [b.name for b in backends if any(o["path"] == path for o in b.opens())],
                      10, "a WebSocket peer to record %s" % path)
    assert len(hits) == 1, hits
    return hits[0]


# ====================================================================== logs
def wait_tunnels_ended(proxy, tunnels) -> None:
    """Waits for the access-log line of each tunnel: both implementations
    write it when the request is finalized, after the peer's connection count
    dropped."""
    wanted = ['"GET %s HTTP/1.1" 101 ' % t.path for t in tunnels]
    wait_until(lambda: all(w in proxy.access_log() for w in wanted), 10, "access-log lines of %s" % wanted)


def error_lines(proxy, pattern: str, contains: str = "") -> list[str]:
    """Lines of the error log matching the regex and holding `contains`."""
    rx = re.compile(pattern)
    return [l for l in proxy.error_log().splitlines() if rx.search(l) and contains in l]


# ======================================================= nginx as reference
class NginxRoundRobin:
    """nginx's smooth weighted round robin (ngx_http_upstream_get_peer), to
    state expected sequences: each round every usable peer's current weight
    grows by its effective weight (which regains one unit per round up to
    the configured weight), the highest current weight wins (ties: the first
    in configuration order) and drops by the round's total."""

    def __init__(self, weights: dict[str, int]):
        self.weight = dict(weights)
        self.effective = dict(weights)
        self.current = dict.fromkeys(weights, 0)

    def pick(self, usable: str | None = None) -> str:
        total, best = 0, None
        for k in self.weight:
            if usable is not None and k not in usable:
                continue
            self.current[k] += self.effective[k]
            total += self.effective[k]
            self.effective[k] = min(self.effective[k] + 1, self.weight[k])
            if best is None or self.current[k] > self.current[best]:
                best = k
        self.current[best] -= total
        return best

    def picks(self, n: int, usable: str | None = None) -> list[str]:
        return [self.pick(usable) for _ in range(n)]

    def failed(self, k: str, max_fails: int = 1) -> None:
        """ngx_http_upstream_free_round_robin_peer on a failure."""
        self.effective[k] = max(0, self.effective[k] - self.weight[k] // max_fails)


def on_both(both, conf: str, observe):
    """Runs `observe(proxy)` on nginx, then on switchyard, each started on
    `conf` (the same peers); returns (nginx's result, switchyard's)."""
    seen = {}
    for side, proxy in both.items():
        proxy.start(conf)
        seen[side] = observe(proxy)
        proxy.stop()
    return seen["reference"], seen["candidate"]


def assert_same_mapping(reference: dict, candidate: dict, what: str) -> None:
    diff = {k: (reference[k], candidate.get(k)) for k in reference if reference[k] != candidate.get(k)}
    assert not diff, "%s: %d of %d differ (key: (nginx, switchyard)): %s" % (
        what, len(diff), len(reference), dict(list(diff.items())[:20]))


# ================================================================= fixtures
@pytest.fixture
def peer(workdir):
    """Factory: peer(name, mode=..., idle_close=..., unix=...) -> UpstreamBackend."""
    with backend_factory(lambda name, **kw: UpstreamBackend(workdir, name, **kw)) as start:
        yield start


@pytest.fixture
def tunnel():
    """Factory: tunnel(port, path) -> Tunnel; every tunnel is closed at the
    end. Request it after `proxy` so tunnels close before the proxy stops
    (a graceful stop waits for open tunnels)."""
    opened = []

    def open_(port: int, path: str) -> Tunnel:
        t = Tunnel(port, path)
        opened.append(t)
        return t

    yield open_
    for t in opened:
        t.close()


# ================================================================= balancing
def test_weighted_round_robin_sequence(both, peer):
    """weights 5,1,1 over 70 requests: 50/10/10, in nginx's smooth order
    (a a b a c a a, repeated)."""
    a, b, c = peer("a"), peer("b"), peer("c")
    conf = upstream("pool", [(a, "weight=5"), b, c]) + server(location("/", "pool"))
    expected = NginxRoundRobin({"a": 5, "b": 1, "c": 1}).picks(70)
    assert expected[:7] == ["a", "a", "b", "a", "c", "a", "a"]
    ref, cand = on_both(both, conf, lambda p: names(p.port, ["/rr/%d" % i for i in range(70)]))
    assert Counter(ref) == {"a": 50, "b": 10, "c": 10}
    assert ref == expected
    assert cand == ref


def test_round_robin_after_peer_failure(proxy, peer):
    """The weight=5 peer times out once (max_fails=1 fail_timeout=1s): it gets
    nothing while failed, and after fail_timeout its share comes back the way
    nginx brings it back: its effective weight drops by weight/max_fails on
    the failure and regains one unit per selection round. (Not through
    `both`: the expected sequence is modelled, and the nginx run proves the
    model.)"""
    a, b, c = peer("a"), peer("b"), peer("c")
    proxy.start(upstream("pool", [(a, "weight=5 max_fails=1 fail_timeout=1s"), b, c]) +
                server(location("/", "pool", "proxy_read_timeout 500ms", "proxy_next_upstream off")))
    rr = NginxRoundRobin({"a": 5, "b": 1, "c": 1})
    assert rr.pick() == "a"
    assert get(proxy.port, "/fail?delay=2").status == 504
    rr.failed("a")
    assert names(proxy.port, ["/during/%d" % i for i in range(6)]) == rr.picks(6, usable="bc")
    time.sleep(2.2)  # past fail_timeout, which nginx counts in whole seconds
    after, expected = names(proxy.port, ["/after/%d" % i for i in range(21)]), rr.picks(21)
    assert after == expected, "after fail_timeout:\n  got   %s\n  nginx %s" % (" ".join(after), " ".join(expected))


def test_ip_hash_mapping(both, peer):
    """Each client /24 keeps its peer across requests, another host of the
    same /24 gets the same peer, and the client->peer map is nginx's. With a
    peer marked `down`, its clients are rehashed onto the others (nginx's
    rehash sequence) and every other client keeps its peer."""
    peers = [peer("p%d" % i) for i in range(3)]
    conf = (upstream("pool", peers, "ip_hash") + upstream("down", [peers[0], (peers[1], "down"), peers[2]], "ip_hash") +
            server(location("/pool/", "pool"), location("/down/", "down")))

    def observe(proxy):
        maps = {}
        for u in ("pool", "down"):
            maps[u] = {}
            for src in IP_HASH_SOURCES:
                got = {served_by(get(proxy.port, "/%s/?n=%d" % (u, n), source=src)) for n in range(3)}
                assert len(got) == 1, "%s moved between peers: %s" % (src, got)
                maps[u][src] = got.pop()
        for src in IP_HASH_SOURCES[:4]:
            neighbour = src.rsplit(".", 1)[0] + ".200"
            assert served_by(get(proxy.port, "/pool/", source=neighbour)) == maps["pool"][src], (src, neighbour)
        return maps

    ref, cand = on_both(both, conf, observe)
    assert len(set(ref["pool"].values())) == 3, ref["pool"]  # the addresses really spread
    assert "p1" not in ref["down"].values()
    assert all(ref["down"][s] == p for s, p in ref["pool"].items() if p != "p1")
    for u in ("pool", "down"):
        assert_same_mapping(ref[u], cand[u], "ip_hash (%s) client -> peer" % u)


def test_hash_key_mapping_and_consistent_remap(both, peer):
    """hash $arg_key: a key keeps its peer; with a peer `down` its keys are
    rehashed onto the others. hash $arg_key consistent with a fifth peer
    added: about 1/5 of the keys move, every one of them to the new peer.
    Every key->peer map is nginx's."""
    p = [peer("p%d" % i) for i in range(5)]
    with_down = [p[0], (p[1], "down"), p[2], p[3]]
    ups = {"plain": upstream("plain", p[:4], "hash $arg_key"),
           "plaindown": upstream("plaindown", with_down, "hash $arg_key"),
           "four": upstream("four", p[:4], "hash $arg_key consistent"),
           "fourdown": upstream("fourdown", with_down, "hash $arg_key consistent"),
           "five": upstream("five", p, "hash $arg_key consistent")}
    conf = "".join(ups.values()) + server(*(location("/%s/" % u, u) for u in ups))

    def observe(proxy):
        maps = {u: {k: served_by(get(proxy.port, "/%s/?key=%s" % (u, k))) for k in HASH_KEYS} for u in ups}
        for u, m in maps.items():
            for k in HASH_KEYS[:20]:
                assert served_by(get(proxy.port, "/%s/?key=%s&again=1" % (u, k))) == m[k], (u, k)
        return maps

    ref, cand = on_both(both, conf, observe)
    assert len(set(ref["plain"].values())) == 4
    for u, full in (("plaindown", "plain"), ("fourdown", "four")):
        assert "p1" not in ref[u].values()
        assert all(ref[u][k] == v for k, v in ref[full].items() if v != "p1"), u
    moved = [k for k in HASH_KEYS if ref["four"][k] != ref["five"][k]]
    assert {ref["five"][k] for k in moved} == {"p4"}, "keys moved between old peers"
    assert 0.10 <= len(moved) / len(HASH_KEYS) <= 0.35, "%d of %d keys moved" % (len(moved), len(HASH_KEYS))
    for u in ups:
        assert_same_mapping(ref[u], cand[u], "hash (%s) key -> peer" % u)


# ============================================================ connection-aware methods
def test_least_conn_spreads_websocket_tunnels(proxy, ws_backend, tunnel):
    """Six held tunnels over three peers: two each. Closing the two on one
    peer makes it the least loaded: the next two tunnels go there."""
    wss = [ws_backend(n) for n in ("w0", "w1", "w2")]
    proxy.start(upstream("ws", wss, "least_conn") + server(ws_location("/ws/", "ws")))
    held = [tunnel(proxy.port, "/ws/?t=%d" % i) for i in range(6)]
    assert [t.response.status for t in held] == [101] * 6
    owners = {t.path: ws_owner(wss, t.path) for t in held}
    assert Counter(owners.values()) == {"w0": 2, "w1": 2, "w2": 2}, owners
    for t in held:
        assert t.echo(t.path.encode()) == t.path.encode()

    freed = [t for t in held if owners[t.path] == "w1"]
    for t in freed:
        t.close()
    wait_tunnels_ended(proxy, freed)
    again = [tunnel(proxy.port, "/ws/?t=%d" % i) for i in (6, 7)]
    assert [ws_owner(wss, t.path) for t in again] == ["w1", "w1"]
    assert again[1].echo(b"still") == b"still"


def test_max_conns_with_held_tunnels(proxy, ws_backend, tunnel):
    """max_conns=1: the second tunnel goes to the other peer although round
    robin prefers the first (weight 5); a third gets 502 and `no live
    upstreams`; when a tunnel closes its peer takes the next one."""
    w0, w1 = ws_backend("w0"), ws_backend("w1")
    proxy.start(upstream("ws", [(w0, "max_conns=1 weight=5"), (w1, "max_conns=1")]) +
                server(ws_location("/ws/", "ws")))
    first, second = tunnel(proxy.port, "/ws/?t=1"), tunnel(proxy.port, "/ws/?t=2")
    assert (first.response.status, second.response.status) == (101, 101)
    assert [ws_owner([w0, w1], t.path) for t in (first, second)] == ["w0", "w1"]

    third = tunnel(proxy.port, "/ws/?t=3")
    assert third.response.status == 502
    assert b"<title>502 Bad Gateway</title>" in third.response.body
    proxy.wait_error_log(NO_LIVE)
    assert second.echo(b"unaffected") == b"unaffected"

    first.close()
    wait_tunnels_ended(proxy, [first])
    fourth = tunnel(proxy.port, "/ws/?t=4")
    assert fourth.response.status == 101
    assert ws_owner([w0, w1], fourth.path) == "w0"


# ============================================================ passive health, backup
def test_failover_skips_dead_peer_then_no_live_upstreams(proxy, peer):
    """A stopped peer costs one refused connect (the request goes on to the
    next peer, the client gets 200); then it is skipped for fail_timeout. With
    every peer gone: 502, and `no live upstreams` once every peer is marked
    failed."""
    a, b, c = peer("a"), peer("b"), peer("c")
    proxy.start(upstream("pool", [a, b, c]) + server(location("/", "pool")))
    assert Counter(names(proxy.port, ["/warm/%d" % i for i in range(6)])) == {"a": 2, "b": 2, "c": 2}

    b.stop()
    after = names(proxy.port, ["/after/%d" % i for i in range(20)])
    assert set(after) == {"a", "c"}
    proxy.wait_error_log(REFUSED + r".*127\.0\.0\.1:%d" % b.port)
    assert len(error_lines(proxy, REFUSED, ":%d/" % b.port)) == 1
    # max_fails=1 reached: nginx's warning, naming the phase
    proxy.wait_error_log(r"\[warn\] .*upstream server temporarily disabled while connecting to upstream.*127\.0\.0\.1:%d"
                         % b.port)

    a.stop()
    c.stop()
    resp = get(proxy.port, "/none")
    assert resp.status == 502 and b"<title>502 Bad Gateway</title>" in resp.body
    # a and c are tried (refused); b, still failed, is not: no peer is left
    proxy.wait_error_log(NO_LIVE + r'.*"GET /none HTTP/1\.1"')
    tried = [re.search(r'upstream: "http://([^/]+)/', l).group(1) for l in error_lines(proxy, REFUSED, "GET /none ")]
    assert sorted(tried) == sorted(addr(p) for p in (a, c))


def test_failed_peers_stay_failed_until_fail_timeout(proxy, peer):
    """Both peers down: the first request tries each (refused, 502). Until
    fail_timeout runs out every later request gets 502 and `no live
    upstreams` at once, without connecting to any peer: nginx 1.22 (like
    current nginx) has no "mark every peer live again" quick recovery."""
    a, b = peer("a"), peer("b")
    proxy.start(upstream("pool", [(a, "fail_timeout=30s"), (b, "fail_timeout=30s")]) + server(location("/", "pool")))
    a.stop()
    b.stop()
    for i in range(4):
        assert get(proxy.port, "/none/%d" % i).status == 502
    proxy.wait_error_log(NO_LIVE + r'.*"GET /none/3 HTTP/1\.1"')
    refused = error_lines(proxy, REFUSED)
    assert len(refused) == 2 and all('"GET /none/0 HTTP/1.1"' in l for l in refused), refused
    no_live = "\n".join(error_lines(proxy, NO_LIVE))
    assert all('"GET /none/%d HTTP/1.1"' % i in no_live for i in (1, 2, 3)), no_live


def test_backup_only_when_primaries_down(proxy, peer):
    """The backup peer gets nothing while a primary lives, and every request
    once both primaries are down."""
    p0, p1, bk = peer("p0"), peer("p1"), peer("backup")
    proxy.start(upstream("pool", [p0, p1, (bk, "backup")]) + server(location("/", "pool")))
    assert Counter(names(proxy.port, ["/live/%d" % i for i in range(20)])) == {"p0": 10, "p1": 10}
    assert bk.records() == [] and bk.accepted() == 0

    p0.stop()
    p1.stop()
    assert names(proxy.port, ["/down/%d" % i for i in range(10)]) == ["backup"] * 10
    assert [r["target"] for r in bk.requests()] == ["/down/%d" % i for i in range(10)]


# ============================================================ upstream connections
def test_keepalive_reuses_upstream_connections(proxy, peer):
    """keepalive 4: 50 sequential requests over two peers use one upstream
    connection per peer."""
    a, b = peer("a"), peer("b")
    proxy.start(upstream("pool", [a, b], "keepalive 4") + server(location("/", "pool")))
    assert Counter(names(proxy.port, ["/k/%d" % i for i in range(50)])) == {"a": 25, "b": 25}
    for be in (a, b):
        reqs = be.wait_requests(25)
        assert be.accepted() == 1 and be.connections() == 1, (be.name, [(r["conn"], r["seq"]) for r in reqs])
        assert [r["seq"] for r in reqs] == list(range(1, 26))


def test_keepalive_caps_idle_connections_per_upstream_block(proxy, peer):
    """`keepalive N` is the number of idle connections one upstream block
    keeps over all its peers (nginx's cache is one least-recently-used list
    per block), not per peer: with `keepalive 1` and two peers taking turns,
    each request finds only the other peer's connection cached, so nothing is
    ever reused; with `keepalive 2` both peers' connections stay."""
    a, b, c, d = peer("a"), peer("b"), peer("c"), peer("d")
    proxy.start(upstream("one", [a, b], "keepalive 1") + upstream("two", [c, d], "keepalive 2") +
                server(location("/one/", "one"), location("/two/", "two")))
    assert names(proxy.port, ["/one/%d" % i for i in range(10)]) == ["a", "b"] * 5
    assert names(proxy.port, ["/two/%d" % i for i in range(10)]) == ["c", "d"] * 5
    assert [be.accepted() for be in (a, b, c, d)] == [5, 5, 1, 1]


def test_keepalive_peer_closing_idle_connections(proxy, peer):
    """The peer closes keep-alive connections idle for 0.3 s: a request after
    any pause still gets its answer (a closed idle connection is never
    reused, or is retried on a fresh one), and every request reaches the peer
    exactly once."""
    be = peer("idle", idle_close=IDLE_CLOSE)
    proxy.start(upstream("pool", [be], "keepalive 4") + server(location("/", "pool")))
    for i, gap in enumerate(IDLE_GAPS):
        time.sleep(gap)  # the stimulus: an idle period, not a wait for a condition
        resp = get(proxy.port, "/idle/%d" % i)
        assert resp.status == 200, (i, gap, resp.status, resp.body[:200])
        assert resp.body == b"idle GET /idle/%d\n" % i
    assert [r["target"] for r in be.requests()] == ["/idle/%d" % i for i in range(len(IDLE_GAPS))]
    assert be.accepted() >= 4  # the peer did close idle connections (the 0.6 s pauses at least)


def test_unix_socket_peer(proxy, peer):
    """`server unix:PATH` mixed with a TCP peer: round robin alternates, and
    $upstream_addr names the socket."""
    sock, tcp = peer("sock", unix=True), peer("tcp")
    proxy.start(upstream("pool", [sock, tcp]) +
                server(location("/", "pool", "add_header X-Upstream $upstream_addr")))
    seen = [get(proxy.port, "/u/%d" % i) for i in range(4)]
    assert [served_by(r) for r in seen] == ["sock", "tcp", "sock", "tcp"]
    assert [r.header("X-Upstream") for r in seen[::2]] == ["unix:%s" % sock.unix_path] * 2
    assert seen[1].header("X-Upstream") == "127.0.0.1:%d" % tcp.port
    assert [r["target"] for r in sock.requests()] == ["/u/0", "/u/2"]


# ============================================================ broken peers
def test_silent_peer_times_out_and_is_marked_failed(proxy, peer):
    """A peer that accepts and never answers: with proxy_next_upstream error
    the client gets 504 after proxy_read_timeout, the peer is marked failed
    (max_fails=1) and the next requests go to the other peer at once. With
    the default (error timeout) the same request is retried on the other
    peer after the timeout."""
    hole, good = peer("hole", mode="blackhole"), peer("good")
    servers = [(hole, "max_fails=1 fail_timeout=30s"), (good, "max_fails=1 fail_timeout=30s")]
    proxy.start(upstream("strict", servers) + upstream("retry", servers) +
                server(location("/strict/", "strict", "proxy_read_timeout 1s", "proxy_next_upstream error"),
                       location("/retry/", "retry", "proxy_read_timeout 1s")))

    resp, took = timed_get(proxy.port, "/strict/first")
    assert resp.status == 504 and b"<title>504 Gateway Time-out</title>" in resp.body
    assert 0.9 <= took < 5, took
    proxy.wait_error_log(r"\[error\] .*upstream timed out \(110: Connection timed out\) while reading response "
                         r"header from upstream.*\"GET /strict/first HTTP/1\.1\"")
    for i in range(4):
        resp, took = timed_get(proxy.port, "/strict/next%d" % i)
        assert served_by(resp) == "good" and took < 0.5, (i, took)

    resp, took = timed_get(proxy.port, "/retry/first")
    assert served_by(resp) == "good" and 0.9 <= took < 5, took
    resp, took = timed_get(proxy.port, "/retry/next")
    assert served_by(resp) == "good" and took < 0.5, took
    assert [r["target"] for r in hole.requests()] == ["/strict/first", "/retry/first"]


def test_peer_reset_mid_response(proxy, peer):
    """A peer that sends its head and part of a Content-Length body, then
    resets: the client gets the head and a truncated body, then its
    connection is closed (no hang); an error is logged; other clients are
    served throughout. Unbuffered, so the head reaching the client proves the
    proxy read it before the reset (nginx's buffered mode would hold the
    head back until more body arrives)."""
    rst, good = peer("rst", mode="reset"), peer("good")
    proxy.start(upstream("broken", [rst]) + upstream("fine", [good]) +
                server(location("/rst/", "broken", "proxy_buffering off"), location("/", "fine")))
    with rawhttp.connect(proxy.port) as s:
        s.sendall(b"GET /rst/x?size=100000&partial=1000 HTTP/1.1\r\nHost: front\r\n\r\n")
        reader = rawhttp.Reader(s)
        head = reader.until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert b"\r\nContent-Length: 100000\r\n" in head, head
        assert reader.exact(1000) == rawhttp.pattern(1000)
        assert served_by(get(proxy.port, "/during")) == "good"
        rst.open_gate("reset")
        t0 = time.monotonic()
        try:
            rest = reader.rest()  # until EOF, bounded by the reader's timeout
        except ConnectionResetError:
            rest = reader.buf
        assert time.monotonic() - t0 < 5
        assert rest == b"", rest[:100]  # truncated at 1000 of 100000 bytes, then closed
    proxy.wait_error_log(r"\[error\] .*(recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely "
                         r"closed connection) while reading upstream.*\"GET /rst/x\?size=100000&partial=1000 ")
    assert served_by(get(proxy.port, "/after")) == "good"
    assert proxy.running
