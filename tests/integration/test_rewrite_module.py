"""nginx's rewrite module beyond `rewrite`/`return`: `set` (user variables
wherever variables are read), `if` with every condition nginx has (a
variable alone, =, !=, ~, ~*, !~, !~*, -f, -d, -e, -x and their negations),
captures inside the block, `break`, `rewrite_log`, the uninitialized
variable warning, nginx's "if is evil" (an `if` block is a pseudo-location:
the last true one's settings serve the request), the URI-change cycle
limit, and the messages of bad conditions. Every test runs against
switchyard and Debian's nginx on the same configuration (SY_IMPLS)."""

from __future__ import annotations

import os
import re

import pytest

from harness import rawhttp
from harness.wait import wait_until


def get(port: int, target: str, host: str = "rw"):
    return rawhttp.exchange(port, ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                   % (target, host)).encode())


def body(port: int, target: str) -> tuple[int, str]:
    r = get(port, target)
    return r.status, r.body.decode()


# ------------------------------------------------------------------- set
SET_CONF = r"""
log_format rw "set:$who|$pick";
map $who $pick { default other; alice "picked-$who"; }

server {
    listen 127.0.0.1:{listen};
    server_name rw;
    access_log logs/rw.log rw;
    set $who $arg_who;

    location /ret { set $greeting "hi $who"; return 200 "$greeting|$pick"; }
    location /hdr { set $h "v-$who"; add_header X-Who $h; return 204; }
    location /up {
        set $tag "t-$who";
        proxy_pass http://127.0.0.1:{backend};
        proxy_set_header X-Tag $tag;
    }
    location /args { set $args "a=1&who=$who"; return 200 "$args|$arg_a"; }
    location /override { set $pick forced; return 200 "$pick"; }
    location /uninit { return 200 "[$never_set]"; }
    location /quiet { uninitialized_variable_warn off; return 200 "[$never_set_q]"; }
    location /never { set $never_set 1; set $never_set_q 1; return 404; }
}
"""


def test_set_variables_everywhere(proxy, http_backend):
    be = http_backend()
    proxy.start(SET_CONF, backend=be.port)
    assert body(proxy.port, "/ret?who=alice") == (200, "hi alice|picked-alice")
    assert body(proxy.port, "/ret?who=bob") == (200, "hi bob|other")
    r = get(proxy.port, "/hdr?who=carol")
    assert (r.status, r.header("X-Who")) == (204, "v-carol")
    r = get(proxy.port, "/up/x?who=dave")
    assert r.status == 200
    req = be.last()
    assert [v for k, v in req["headers"] if k.lower() == "x-tag"] == ["t-dave"]
    assert body(proxy.port, "/args?who=eve") == (200, "a=1&who=eve|1")
    assert body(proxy.port, "/override?who=alice") == (200, "forced")
    lines = (proxy.prefix / "logs" / "rw.log").read_text().splitlines()
    assert "set:alice|picked-alice" in lines and "set:dave|other" in lines, lines


def test_uninitialized_variable_warning(proxy, http_backend):
    be = http_backend()
    proxy.start(SET_CONF, backend=be.port)
    assert body(proxy.port, "/uninit") == (200, "[]")
    proxy.wait_error_log(r'\[warn\] .*using uninitialized "never_set" variable, client: 127\.0\.0\.1, '
                         r'server: rw, request: "GET /uninit HTTP/1\.1", host: "rw"')
    assert body(proxy.port, "/quiet") == (200, "[]")
    assert body(proxy.port, "/uninit") == (200, "[]")
    # the second request warns again (once per request), the quiet location never
    wait_until(lambda: len(re.findall(r'"never_set" variable', proxy.error_log())) == 2, 10, "a second warning")
    assert "never_set_q" not in proxy.error_log()


# -------------------------------------------------------------------- if
IF_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    root {prefix}/html;

    if ($http_x_block) { return 403 "blocked by server if"; }

    location /var { if ($arg_v) { return 200 "true"; } return 200 "false"; }
    location /eq {
        if ($arg_v = "yes") { return 200 "eq"; }
        if ($arg_v != "no") { return 200 "ne"; }
        return 200 "no";
    }
    location /empty { if ($arg_v = "") { return 200 "empty"; } return 200 "set"; }
    location /re {
        if ($uri ~ ^/re/(?<kind>[a-z]+)/(\d+)$) { return 200 "match $kind $2"; }
        if ($uri ~* ^/RE/UP) { return 200 "caseless $uri"; }
        if ($uri !~ ^/re/keep) { return 200 "notmatch"; }
        if ($uri !~* ^/RE/KEEP/X) { return 200 "notmatch-ci"; }
        return 200 "fell through";
    }
    location /file {
        if (-f $request_filename) { return 200 "-f"; }
        if (-d $request_filename) { return 200 "-d"; }
        return 200 "neither";
    }
    location /notf { if (!-f {prefix}/html/file/a.txt) { return 200 "missing"; } return 200 "present"; }
    location /nof { if (!-f {prefix}/html/none.txt) { return 200 "missing"; } return 200 "present"; }
    location /ex {
        if (-e {prefix}/html/$arg_p) { return 200 "exists"; }
        if (!-e {prefix}/html/$arg_p) { return 200 "absent"; }
    }
    location /x {
        if (-x {prefix}/html/$arg_p) { return 200 "exec"; }
        if (!-x {prefix}/html/$arg_p) { return 200 "noexec"; }
    }
    location /nd { if (!-d {prefix}/html/$arg_p) { return 200 "not a dir"; } return 200 "dir"; }
    location /inside {
        if ($arg_go = last) { rewrite ^ /target/last last; }
        if ($arg_go = set) { set $v "from-if"; }
        if ($arg_go = redirect) { rewrite ^ /target/r redirect; }
        return 200 "after [$v]";
    }
    location /target/ { return 200 "target $uri"; }
    location /brk {
        if ($arg_b) { set $x "1"; break; }
        set $x "2";
        return 200 "not broken";
    }
}
"""


@pytest.fixture
def if_server(proxy):
    proxy.start(IF_CONF, files={"html/file/a.txt": "a\n", "html/file/dir/index.html": "d\n",
                                "html/tool.sh": "#!/bin/sh\n", "html/brk": "static brk\n"})
    os.chmod(proxy.prefix / "html" / "tool.sh", 0o755)
    return proxy


def test_if_variable_alone(if_server):
    p = if_server.port
    assert body(p, "/var?v=1") == (200, "true")
    assert body(p, "/var?v=abc") == (200, "true")
    assert body(p, "/var?v=00") == (200, "true")
    assert body(p, "/var?v=0") == (200, "false")
    assert body(p, "/var?v=") == (200, "false")
    assert body(p, "/var") == (200, "false")


def test_if_equal_and_not_equal(if_server):
    p = if_server.port
    assert body(p, "/eq?v=yes") == (200, "eq")
    assert body(p, "/eq?v=YES") == (200, "ne")   # case-sensitive
    assert body(p, "/eq?v=no") == (200, "no")
    assert body(p, "/empty") == (200, "empty")
    assert body(p, "/empty?v=1") == (200, "set")


def test_if_regex_operators_and_captures(if_server):
    p = if_server.port
    assert body(p, "/re/abc/42") == (200, "match abc 42")
    assert body(p, "/re/UP/x") == (200, "caseless /re/UP/x")   # ~* ignores case
    assert body(p, "/re/abc/4x") == (200, "notmatch")          # ~ did not match: no captures, next ifs
    assert body(p, "/re/keep") == (200, "notmatch-ci")
    assert body(p, "/re/keep/x") == (200, "fell through")


def test_if_file_operators(if_server):
    p = if_server.port
    assert body(p, "/file/a.txt") == (200, "-f")
    assert body(p, "/file/dir") == (200, "-d")
    assert body(p, "/file/none") == (200, "neither")
    assert body(p, "/notf") == (200, "present")
    assert body(p, "/nof") == (200, "missing")
    assert body(p, "/ex?p=file/a.txt") == (200, "exists")
    assert body(p, "/ex?p=file/dir") == (200, "exists")
    assert body(p, "/ex?p=nothing") == (200, "absent")
    assert body(p, "/x?p=tool.sh") == (200, "exec")
    assert body(p, "/x?p=file/a.txt") == (200, "noexec")
    assert body(p, "/nd?p=file/a.txt") == (200, "not a dir")
    assert body(p, "/nd?p=file/dir") == (200, "dir")


def test_server_level_if(if_server):
    r = rawhttp.exchange(if_server.port, b"GET /var?v=1 HTTP/1.1\r\nHost: rw\r\nX-Block: 1\r\nConnection: close\r\n\r\n")
    assert (r.status, r.body) == (403, b"blocked by server if")
    assert body(if_server.port, "/var?v=1") == (200, "true")


def test_directives_inside_if(if_server):
    p = if_server.port
    assert body(p, "/inside?go=last") == (200, "target /target/last")
    assert body(p, "/inside?go=set") == (200, "after [from-if]")
    r = get(p, "/inside?go=redirect")
    assert r.status == 302
    assert re.fullmatch(r"http://rw:%d/target/r\?go=redirect" % p, r.header("Location")), r.header("Location")
    assert body(p, "/inside") == (200, "after []")


def test_break_inside_if(if_server):
    # break ends the rewrite phase: the static file "brk" is served
    assert body(if_server.port, "/brk?b=1") == (200, "static brk\n")
    assert body(if_server.port, "/brk") == (200, "not broken")


# --------------------------------------------------------- "if is evil"
EVIL_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;

    location /two-ifs {
        set $t 1;
        if ($t) { add_header X-First 1; }
        if ($t) { add_header X-Second 2; }
        return 200 "two";
    }
    location /outer-header {
        add_header X-Outer 1;
        if ($arg_x) { add_header X-Inner 1; }
        return 200 "outer";
    }
    location /pp {
        proxy_pass http://127.0.0.1:{backend};
        if ($arg_other) { proxy_pass http://127.0.0.1:{backend2}; }
        if ($arg_hdr) { add_header X-In-If yes; }
    }
    location /root {
        root {prefix}/a;
        if ($arg_b) { root {prefix}/b; }
    }
}
"""


def test_if_is_evil(proxy, http_backend):
    be, be2 = http_backend("one"), http_backend("two")
    proxy.start(EVIL_CONF, backend=be.port, backend2=be2.port,
                files={"a/root/f.txt": "from a\n", "b/root/f.txt": "from b\n"})
    p = proxy.port
    r = get(p, "/two-ifs")
    assert (r.status, r.header("X-First"), r.header("X-Second")) == (200, None, "2")
    r = get(p, "/outer-header")
    assert (r.header("X-Outer"), r.header("X-Inner")) == ("1", None)
    r = get(p, "/outer-header?x=1")   # the if's add_header replaces the location's, as nginx inherits
    assert (r.header("X-Outer"), r.header("X-Inner")) == (None, "1")
    assert get(p, "/pp/a").body == b"one GET /pp/a\n"
    assert get(p, "/pp/b?other=1").body == b"two GET /pp/b?other=1\n"
    r = get(p, "/pp/c?hdr=1")   # the if block inherits the location's proxy_pass
    assert (r.status, r.body, r.header("X-In-If")) == (200, b"one GET /pp/c?hdr=1\n", "yes")
    assert len(be.requests()) == 2 and len(be2.requests()) == 1
    assert body(p, "/root/f.txt") == (200, "from a\n")
    assert body(p, "/root/f.txt?b=1") == (200, "from b\n")


# ------------------------------------------------- cycles, rewrite_log
LOOP_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location /loop { rewrite ^/loop(.*)$ /loop/x$1 last; }
    location /ten { if ($uri ~ "^/ten(/x){9}$") { return 200 "ten $uri"; } rewrite ^/ten(.*)$ /ten/x$1; }
    location /rl { rewrite_log on; rewrite ^/rl/(.*)$ /dest/$1; }
    location /rlif { rewrite_log on; if ($uri ~ ^/rlif/(y)$) { return 200 "rlif $1"; } return 200 "no"; }
    location /dest/ { return 200 "dest $uri $args"; }
}
"""


def test_rewrite_cycle_is_500_after_ten_changes(proxy):
    proxy.start(LOOP_CONF)
    assert get(proxy.port, "/loop").status == 500
    # the 11th change is the cycle: the URI it names carries 11 "/x"
    proxy.wait_error_log(r'\[error\] .*rewrite or internal redirection cycle while processing "/loop(/x){11}", '
                         r'client: 127\.0\.0\.1, server: rw, request: "GET /loop HTTP/1\.1"')
    # ten changes (flagless rewrites search the locations again) are still fine
    assert body(proxy.port, "/ten") == (200, "ten /ten" + "/x" * 9)


def test_rewrite_log(proxy):
    proxy.start(LOOP_CONF)
    assert body(proxy.port, "/rl/a?q=1") == (200, "dest /dest/a q=1")
    proxy.wait_error_log(r'\[notice\] .*"\^/rl/\(\.\*\)\$" matches "/rl/a", client: 127\.0\.0\.1, server: rw, '
                         r'request: "GET /rl/a\?q=1 HTTP/1\.1"')
    proxy.wait_error_log(r'\[notice\] .*rewritten data: "/dest/a", args: "q=1", client')
    assert body(proxy.port, "/rlif/y") == (200, "rlif y")
    proxy.wait_error_log(r'\[notice\] .*"\^/rlif/\(y\)\$" matches "/rlif/y", client')
    assert body(proxy.port, "/rlif/z") == (200, "no")
    proxy.wait_error_log(r'\[notice\] .*"\^/rlif/\(y\)\$" does not match "/rlif/z", client')
    assert body(proxy.port, "/ten/x" * 0 + "/dest/q") == (200, "dest /dest/q ")
    assert "/dest/q\"" not in proxy.error_log()   # rewrite_log is off there


# ------------------------------------------------------------- bad input
BAD = [
    ('location / {\n if ($uri ~ "(a") { return 200; }\n}',
     r'pcre2_compile\(\) failed: missing (closing parenthesis|\))[^\n]* in "\(a"[^\n]* in \S+nginx\.conf:\d+'),
    ('location / {\n if ($uri == a) { return 200; }\n}', r'unexpected "==" in condition in \S+nginx\.conf:\d+'),
    ('location / {\n if ($uri = a { return 200; }\n}', r'invalid condition "a" in \S+nginx\.conf:\d+'),
    ('location / {\n if $uri) { return 200; }\n}', r'invalid condition "\$uri\)" in \S+nginx\.conf:\d+'),
    ('location / {\n if (-q /x) { return 200; }\n}', r'invalid condition "-q" in \S+nginx\.conf:\d+'),
    ('location / {\n if ($uri) { if ($uri) { } }\n}', r'"if" directive is not allowed here in \S+nginx\.conf:\d+'),
    ('location / {\n set uri 1;\n}', r'invalid variable name "uri" in \S+nginx\.conf:\d+'),
    ('location / {\n set $uri 1;\n}', r'the duplicate "uri" variable in \S+nginx\.conf:\d+'),
    ('if ($uri) { root /x; }', r'"root" directive is not allowed here in \S+nginx\.conf:\d+'),
]


@pytest.mark.parametrize("snippet,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_conditions_fail_t(proxy, snippet, message):
    conf = "server {\n listen 127.0.0.1:{listen};\n%s\n}\n" % snippet
    run = proxy.run_t(conf)
    assert run.returncode != 0
    out = run.output
    assert re.search(r"\[emerg\] " + message, out), out
    # the line is the directive's: the `if`/`set` line of the snippet
    line = int(re.search(r"nginx\.conf:(\d+)", out).group(1))
    text = run.conf_path.read_text().splitlines()[line - 1]
    assert re.search(r"\b(if|set)\b", text), (line, text)


NAMED_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location /np { error_page 404 = @fallback; return 404; }
    location @fallback {
        set $via "named";
        if ($arg_r) { rewrite ^ /dest/from-named; }
        if ($arg_l) { rewrite ^ /dest/last last; }
        return 200 "$via $uri";
    }
    location /dest/ { return 200 "dest $uri"; }
}
"""


def test_named_location_runs_its_rewrite_directives(proxy):
    proxy.start(NAMED_CONF)
    assert body(proxy.port, "/np") == (200, "named /np")
    assert body(proxy.port, "/np?r=1") == (200, "named /dest/from-named")   # no flag: the return still runs
    assert body(proxy.port, "/np?l=1") == (200, "dest /dest/last")


H2C_CONF = r"""
server {
    listen 127.0.0.1:{listen} http2;
    server_name rw;
    location /h2 {
        set $proto "p-$server_protocol";
        if ($arg_a ~ ^(\d+)$) { add_header X-Num $1; return 200 "num $proto"; }
        return 200 "other $proto";
    }
}
"""


def test_set_and_if_over_h2c(proxy):
    from test_http2 import curl_h2
    proxy.start(H2C_CONF)
    r, version, out = curl_h2(proxy.port, "/h2?a=42", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version, out) == (0, "2", b"num p-HTTP/2.0")
    assert b"\r\nx-num: 42\r\n" in r.stdout.lower()
    r, version, out = curl_h2(proxy.port, "/h2?a=x", None, "--http2-prior-knowledge", scheme="http")
    assert (r.returncode, version, out) == (0, "2", b"other p-HTTP/2.0")


COMMON_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    if ($request_method !~ ^(GET|HEAD|POST)$ ) { return 444; }
    if ($host !~* ^(rw|www\.rw)$) { return 421; }
    if ($http_x_forwarded_proto = "http") { return 301 https://$host$request_uri; }
    location / { return 200 "served $host"; }
}
"""


def test_common_server_level_guards(proxy):
    proxy.start(COMMON_CONF)
    p = proxy.port
    assert body(p, "/a?b=c") == (200, "served rw")
    assert get(p, "/", host="WWW.RW").status == 200
    assert get(p, "/", host="other").status == 421
    r = rawhttp.exchange(p, b"GET /a?b=c HTTP/1.1\r\nHost: rw\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n")
    assert (r.status, r.header("Location")) == (301, "https://rw/a?b=c")
    # 444: the connection closes without a response
    import socket
    with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
        s.sendall(b"DELETE / HTTP/1.1\r\nHost: rw\r\n\r\n")
        assert s.recv(100) == b""


ARGS_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location /add { rewrite ^ http://example.com/?c=d redirect; }
    location /drop { rewrite ^ http://example.com/?c=d? redirect; }
    location /capdup { rewrite ^(.*) $1?c=$1; return 200 "uri:$uri args:$args"; }
    location /e405 { error_page 405 /r204; return 405; }
    location /e405t { error_page 405 /r200t; return 405; }
    location /r204 { return 204; }
    location /r200t { return 200 "text"; }
}
"""


def test_rewrite_arguments_and_error_page_status(proxy):
    proxy.start(ARGS_CONF)
    p = proxy.port
    assert get(p, "/add?a=b").header("Location") == "http://example.com/?c=d&a=b"
    assert get(p, "/add").header("Location") == "http://example.com/?c=d"
    assert get(p, "/drop?a=b").header("Location") == "http://example.com/?c=d"
    # a capture copied into the arguments of an escaped URI stays escaped
    assert body(p, "/capdup/%25?a=b") == (200, "uri:/capdup/% args:c=/capdup/%25&a=b")
    assert body(p, "/capdup/x?a=b") == (200, "uri:/capdup/x args:c=/capdup/x&a=b")
    # `return` in an error_page target keeps the error's status
    r = get(p, "/e405")
    assert (r.status, r.header("Content-Length")) == (405, "0")
    assert body(p, "/e405t") == (405, "text")


VARPASS_CONF = r"""
upstream pool_b { server 127.0.0.1:{backend2}; }
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location / {
        set $target "127.0.0.1:{backend}";
        if ($arg_pool) { set $target pool_b; }
        proxy_pass http://$target;
    }
}
"""


def test_proxy_pass_to_a_set_variable(proxy, http_backend):
    be, be2 = http_backend("one"), http_backend("two")
    proxy.start(VARPASS_CONF, backend=be.port, backend2=be2.port)
    assert get(proxy.port, "/a").body == b"one GET /a\n"
    assert get(proxy.port, "/b?pool=1").body == b"two GET /b?pool=1\n"
    assert (len(be.requests()), len(be2.requests())) == (1, 1)


KEPT_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location /e302 { error_page 302 /r200t; return 302 "text"; }
    location /plain302 { return 302 "text"; }
    location /r200t { return 200 "text"; }
}
"""


def test_return_redirect_to_an_error_page_keeps_location(proxy):
    proxy.start(KEPT_CONF)
    r = get(proxy.port, "/e302")
    assert (r.status, r.header("Location"), r.body) == (302, "text", b"text")
    r = get(proxy.port, "/plain302")
    assert (r.status, r.header("Location")) == (302, "text")
    assert b"<title>302 Found</title>" in r.body


CAPS_CONF = r"""
server {
    listen 127.0.0.1:{listen};
    server_name rw;
    location ~ ^/nc/(?<word>[a-z]+)/(\d+) {
        if ($arg_f) { rewrite ^/never /x; }
        if ($arg_i ~ ^(z)$) { return 200 "if-matched $1 $word"; }
        return 200 "w=$word n=$1";
    }
    location ~ ^/nd/(?<word>[a-z]+)/(\d+) { if ($arg_f) { return 200 "f $word $2"; } return 200 "w=$word n=$2"; }
}
"""


def test_failed_regex_clears_numbered_captures_only(proxy):
    proxy.start(CAPS_CONF)
    assert body(proxy.port, "/nd/abc/7") == (200, "w=abc n=7")
    assert body(proxy.port, "/nd/abc/7?f=1") == (200, "f abc 7")           # a variable condition keeps them
    assert body(proxy.port, "/nc/abc/7") == (200, "w=abc n=")              # the failed if regex cleared $1
    assert body(proxy.port, "/nc/abc/7?f=1") == (200, "w=abc n=")          # a failed rewrite regex too
    assert body(proxy.port, "/nc/abc/7?i=z") == (200, "if-matched z abc")
