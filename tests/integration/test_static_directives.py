"""Static files and response headers as nginx: try_files, alias, etag and
conditional requests, expires, charset/charset_types, chunked_transfer_encoding,
server_name_in_redirect, recursive_error_pages, and the -t errors of these
directives. Every test runs against switchyard and Debian's nginx on the same
configuration."""

from __future__ import annotations

import calendar
import email.utils
import time

import pytest

from harness import rawhttp
from harness.proxy import FILE_MTIME

LM = "Tue, 14 Nov 2023 22:13:20 GMT"   # FILE_MTIME as an HTTP date

FILES = {
    "html/secret.txt": "secret\n",
    "html/data/a.txt": "hello\n",
    "html/data/i.html": "<p>x</p>\n",
    "html/data/s.css": "p{}\n",
    "html/data/sub/index.html": "idx\n",
    "html/tf/a.txt": "tfa\n",
    "html/tf/dir/index.html": "d\n",
    "html/tf/fallback.html": "fb\n",
    "html/err/404.html": "custom 404\n",
}


def get(port, target, host="localhost", method="GET", headers=()):
    extra = "".join("%s: %s\r\n" % h for h in headers)
    return rawhttp.exchange(port, ("%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                                   % (method, target, host, extra)).encode())


def etag_of(size: int) -> str:
    return '"%x-%x"' % (FILE_MTIME, size)


STATIC_CONF = """
    server {
        listen 127.0.0.1:{listen};
        server_name localhost;
        root {prefix}/html;
        types { text/html html; text/plain txt; text/css css; }
        location /tf/ { try_files $uri $uri/ /tf/fallback.html; }
        location /code/ { try_files $uri =403; }
        location /noargs/ { try_files $uri /echo; }
        location /withargs/ { try_files $uri /echo?x=1&$args; }
        location = /echo { return 200 "echo $uri [$args]\\n"; }
        location /named/ { try_files $uri @fb; }
        location @fb { return 200 "named $uri [$args]\\n"; }
        location /loop/ { try_files $uri /loop/x; }
        location /nonamed/ { try_files $uri @missing; }
        location /static/ { alias {prefix}/html/data/; }
        location /st { alias {prefix}/html/data/; }
        location ~ ^/re/(.+)$ { alias {prefix}/html/data/$1; }
        location ~ ^/retf/(.+)$ { alias {prefix}/html/data/$1; try_files $uri =404; }
        location /atf/ { alias {prefix}/html/data/; try_files $uri $uri/ =404; }
        location /atfv/ { alias {prefix}/html/data/; try_files /atfv/$arg_f =404; }
        location /noetag/ { alias {prefix}/html/data/; etag off; }
        location /cs/ { alias {prefix}/html/data/; charset utf-8; }
        location /cst/ { alias {prefix}/html/data/; charset koi8-r; charset_types text/css; }
        location /csoff/ { alias {prefix}/html/data/; charset off; }
        location /e/ { alias {prefix}/html/data/; expires 1h; }
        location /em/ { alias {prefix}/html/data/; expires modified 1h; }
        location /en/ { alias {prefix}/html/data/; expires -1; }
        location /ee/ { alias {prefix}/html/data/; expires epoch; }
        location /ex/ { alias {prefix}/html/data/; expires max; }
        location /ez/ { alias {prefix}/html/data/; expires 0; }
        location /ed/ { alias {prefix}/html/data/; expires @15h30m; }
        location /eoff/ { alias {prefix}/html/data/; expires off; }
        location /snir/ { alias {prefix}/html/data/; server_name_in_redirect on; }
        location /err/ { error_page 404 /err/404.html; recursive_error_pages on; }
        location /rec/ { error_page 404 /rec2/x; recursive_error_pages on; }
        location /rec2/ { error_page 404 =200 /tf/a.txt; }
        location /norec/ { error_page 404 /norec2/x; }
        location /norec2/ { error_page 404 =200 /tf/a.txt; }
        location /v/ { alias {prefix}/html/$arg_d/; }
        location = /exact { alias {prefix}/html/data/a.txt; }
        location /tfd/ { try_files /tf/ =404; }
        location /tuning/ { alias {prefix}/html/data/; sendfile_max_chunk 512k; aio threads; }
    }
"""


@pytest.fixture
def static(proxy):
    proxy.start(STATIC_CONF, files=FILES)
    return proxy


def test_try_files_file_dir_and_fallback_uri(static):
    r = get(static.port, "/tf/a.txt")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"tfa\n", "text/plain")
    # "$uri/" matches a directory: the URI stays /tf/dir, which redirects to the slash form
    r = get(static.port, "/tf/dir")
    assert (r.status, r.header("Location")) == (301, "http://localhost:%d/tf/dir/" % static.port)
    r = get(static.port, "/tf/dir/")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"d\n", "text/html")
    r = get(static.port, "/tf/nope")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"fb\n", "text/html")


def test_try_files_code_named_and_args(static):
    assert get(static.port, "/code/missing").status == 403
    # an internal redirect without "?" drops the arguments, with "?" replaces them
    assert get(static.port, "/noargs/x?a=b").body == b"echo /echo []\n"
    assert get(static.port, "/withargs/x?a=b").body == b"echo /echo [x=1&a=b]\n"
    # a named location keeps the URI and the arguments
    assert get(static.port, "/named/x?q=1").body == b"named /named/x [q=1]\n"


def test_try_files_redirection_cycle_is_500(static):
    r = get(static.port, "/loop/a")
    assert r.status == 500
    static.wait_error_log(r'rewrite or internal redirection cycle while internally redirecting to "/loop/x"')
    r = get(static.port, "/nonamed/a")
    assert r.status == 500
    static.wait_error_log(r'could not find named location "@missing"')
    static.allow_log(r'\[crit\].*could not find named location')


def test_alias_prefix_regex_and_traversal(static):
    r = get(static.port, "/static/a.txt")
    assert (r.status, r.body) == (200, b"hello\n")
    r = get(static.port, "/static/sub/")
    assert (r.status, r.body) == (200, b"idx\n")
    r = get(static.port, "/static/sub")
    assert (r.status, r.header("Location")) == (301, "http://localhost:%d/static/sub/" % static.port)
    # a regex location's alias (with captures) is the whole path
    r = get(static.port, "/re/a.txt")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"hello\n", "text/plain")
    assert get(static.port, "/re/sub/").body == b"idx\n"
    # nginx's well-known alias misconfiguration: "/st" + alias ".../data/" maps
    # "/st../secret.txt" to ".../data/../secret.txt", outside the alias. Matched as is.
    r = get(static.port, "/st../secret.txt")
    assert (r.status, r.body) == (200, b"secret\n")


def test_alias_with_variables_and_exact(static):
    # a prefix location's alias with variables still gets the rest of the URI (nginx 1.22)
    assert get(static.port, "/v/a.txt?d=data").body == b"hello\n"
    assert get(static.port, "/v/?d=data/sub").body == b"idx\n"
    assert get(static.port, "/exact").body == b"hello\n"
    # a literal "DIR/" that exists becomes the URI without its slash: the directory redirect
    r = get(static.port, "/tfd/zzz")
    assert (r.status, r.header("Location")) == (301, "http://localhost:%d/tf/" % static.port)


def test_alias_with_try_files(static):
    assert get(static.port, "/atf/a.txt").body == b"hello\n"
    assert get(static.port, "/atf/sub/").body == b"idx\n"
    assert get(static.port, "/atf/none").status == 404
    # a variable name with the location's prefix: the prefix is taken off
    r = get(static.port, "/atfv/x?f=a.txt")
    assert (r.status, r.body) == (200, b"hello\n")
    # nginx appends $uri to a regex location's alias in try_files: not found
    assert get(static.port, "/retf/a.txt").status == 404


def test_etag_and_conditional_requests(static):
    r = get(static.port, "/static/a.txt")
    assert (r.header("ETag"), r.header("Last-Modified")) == (etag_of(6), LM)
    r = get(static.port, "/static/a.txt", headers=[("If-None-Match", etag_of(6))])
    assert (r.status, r.body, r.header("ETag"), r.header("Content-Type"), r.header("Content-Length")) == \
        (304, b"", etag_of(6), None, None)
    r = get(static.port, "/static/a.txt", headers=[("If-None-Match", 'W/%s, "other"' % etag_of(6))])
    assert r.status == 304
    r = get(static.port, "/static/a.txt", headers=[("If-None-Match", '"other"')])
    assert (r.status, r.body) == (200, b"hello\n")
    r = get(static.port, "/static/a.txt", headers=[("If-Modified-Since", LM)])
    assert r.status == 304
    r = get(static.port, "/static/a.txt", headers=[("If-Modified-Since", "Wed, 15 Nov 2023 22:13:20 GMT")])
    assert r.status == 200   # if_modified_since exact
    r = get(static.port, "/static/a.txt", headers=[("If-Match", '"other"')])
    assert r.status == 412
    r = get(static.port, "/static/a.txt", headers=[("If-Match", etag_of(6))])
    assert (r.status, r.body) == (200, b"hello\n")
    r = get(static.port, "/static/a.txt", headers=[("If-Unmodified-Since", "Mon, 13 Nov 2023 22:13:20 GMT")])
    assert r.status == 412
    # etag off: no ETag, If-Match can never match, Last-Modified still serves If-Modified-Since
    r = get(static.port, "/noetag/a.txt")
    assert (r.status, r.header("ETag"), r.header("Last-Modified")) == (200, None, LM)
    assert get(static.port, "/noetag/a.txt", headers=[("If-Match", '"x"')]).status == 412
    assert get(static.port, "/noetag/a.txt", headers=[("If-Match", "*")]).status == 200
    assert get(static.port, "/noetag/a.txt", headers=[("If-Modified-Since", LM)]).status == 304


def http_date(s: str) -> int:
    return calendar.timegm(email.utils.parsedate(s))


def test_expires(static):
    now = time.time()
    r = get(static.port, "/e/a.txt")
    assert r.header("Cache-Control") == "max-age=3600"
    assert abs(http_date(r.header("Expires")) - (now + 3600)) < 60
    # modified: from Last-Modified (in the past: max-age < 0 -> no-cache)
    r = get(static.port, "/em/a.txt")
    assert (r.header("Expires"), r.header("Cache-Control")) == ("Tue, 14 Nov 2023 23:13:20 GMT", "no-cache")
    r = get(static.port, "/en/a.txt")
    assert r.header("Cache-Control") == "no-cache"
    assert abs(http_date(r.header("Expires")) - (now - 1)) < 60
    r = get(static.port, "/ee/a.txt")
    assert (r.header("Expires"), r.header("Cache-Control")) == ("Thu, 01 Jan 1970 00:00:01 GMT", "no-cache")
    r = get(static.port, "/ex/a.txt")
    assert (r.header("Expires"), r.header("Cache-Control")) == ("Thu, 31 Dec 2037 23:55:55 GMT", "max-age=315360000")
    r = get(static.port, "/ez/a.txt")
    assert r.header("Cache-Control") == "max-age=0"
    # @15h30m: the next 15:30 local time (the server's time zone is this process's)
    r = get(static.port, "/ed/a.txt")
    exp = http_date(r.header("Expires"))
    lt = time.localtime(exp)
    assert (lt.tm_hour, lt.tm_min, lt.tm_sec) == (15, 30, 0), r.header("Expires")
    assert 0 < exp - now <= 24 * 3600 + 60
    assert abs(int(r.header("Cache-Control").split("=")[1]) - (exp - now)) < 60
    r = get(static.port, "/eoff/a.txt")
    assert (r.header("Expires"), r.header("Cache-Control")) == (None, None)
    # not on a 404; on a 304
    r = get(static.port, "/e/none")
    assert (r.status, r.header("Expires"), r.header("Cache-Control")) == (404, None, None)
    r = get(static.port, "/e/a.txt", headers=[("If-None-Match", etag_of(6))])
    assert (r.status, r.header("Cache-Control")) == (304, "max-age=3600")


def test_charset(static):
    assert get(static.port, "/cs/i.html").header("Content-Type") == "text/html; charset=utf-8"
    assert get(static.port, "/cs/a.txt").header("Content-Type") == "text/plain; charset=utf-8"
    assert get(static.port, "/cs/s.css").header("Content-Type") == "text/css"
    # error pages are text/html too
    assert get(static.port, "/cs/none").header("Content-Type") == "text/html; charset=utf-8"
    # charset_types replaces the list (text/html always stays)
    assert get(static.port, "/cst/s.css").header("Content-Type") == "text/css; charset=koi8-r"
    assert get(static.port, "/cst/a.txt").header("Content-Type") == "text/plain"
    assert get(static.port, "/cst/i.html").header("Content-Type") == "text/html; charset=koi8-r"
    assert get(static.port, "/csoff/i.html").header("Content-Type") == "text/html"


def test_server_name_in_redirect(static):
    r = get(static.port, "/snir/sub", host="other.example")
    assert (r.status, r.header("Location")) == (301, "http://localhost:%d/snir/sub/" % static.port)
    r = get(static.port, "/static/sub", host="other.example")
    assert (r.status, r.header("Location")) == (301, "http://other.example:%d/static/sub/" % static.port)


def test_recursive_error_pages(static):
    r = get(static.port, "/err/none")
    assert (r.status, r.body) == (404, b"custom 404\n")
    # on: the error page's own 404 follows /rec2/'s error_page
    r = get(static.port, "/rec/none")
    assert (r.status, r.body) == (200, b"tfa\n")
    # off (default): the second 404 is nginx's own page
    r = get(static.port, "/norec/none")
    assert r.status == 404 and b"<title>404 Not Found</title>" in r.body


def test_sendfile_max_chunk_and_aio_accepted(static):
    r = get(static.port, "/tuning/a.txt")
    assert (r.status, r.body) == (200, b"hello\n")


def test_chunked_transfer_encoding_off(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location /on/ { proxy_pass http://127.0.0.1:{backend}; }
            location /off/ { proxy_pass http://127.0.0.1:{backend}; chunked_transfer_encoding off; }
        }
    """, backend=be.port)
    req = "GET %s?mode=chunked&parts=3&size=300 HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = rawhttp.exchange_raw(proxy.port, (req % "/off/a").encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head, head
    assert b"Connection: close" in head
    assert len(body) == 300
    r = rawhttp.exchange(proxy.port, (req % "/on/a").encode())
    assert (r.status, r.header("Transfer-Encoding"), len(r.body)) == (200, "chunked", 300)


def test_expires_and_charset_on_proxied_responses(proxy, http_backend):
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location /p/ { proxy_pass http://127.0.0.1:{backend}; expires 2h; charset utf-8; charset_types *; }
            location /q/ { proxy_pass http://127.0.0.1:{backend}; expires 2h; }
        }
    """, backend=be.port)
    r = get(proxy.port, "/p/a")
    assert (r.status, r.header("Cache-Control")) == (200, "max-age=7200")
    assert len(r.header_all("Cache-Control")) == 1 and len(r.header_all("Expires")) == 1
    ct = r.header("Content-Type")
    assert ct.endswith("; charset=utf-8") and ct.count("charset") == 1, ct
    # not on an error status
    r = get(proxy.port, "/q/a?status=404")
    assert (r.status, r.header("Cache-Control"), r.header("Expires")) == (404, None, None)


@pytest.mark.parametrize("conf,message", [
    ("location / { root /a; alias /b/; }", '"alias" directive is duplicate, "root" directive was specified earlier'),
    ("location / { alias /b/; root /a; }", '"root" directive is duplicate, "alias" directive was specified earlier'),
    ("location / { alias /b/; alias /c/; }", '"alias" directive is duplicate'),
    ("location @n { alias /b/; }", 'the "alias" directive cannot be used inside the named location'),
    ("alias /b/;", '"alias" directive is not allowed here'),
    ("location / { try_files $uri =4x4; }", 'invalid code "=4x4"'),
    ("location / { try_files $uri; }", 'invalid number of arguments in "try_files" directive'),
    ("location / { try_files $uri =404; try_files $uri =403; }", '"try_files" directive is duplicate'),
    ("location / { expires 1x; }", '"expires" directive invalid value'),
    ("location / { expires modified @10h; }", '"expires" directive daily time cannot be used with "modified" parameter'),
    ("location / { expires @25h; }", '"expires" directive daily time value must be less than 24 hours'),
    ("location / { expires sometimes 1h; }", '"expires" directive invalid value'),
    ("location / { etag maybe; }", 'invalid value "maybe" in "etag" directive, it must be "on" or "off"'),
    ("location / { aio sometimes; }", '"aio" directive invalid value'),
])
def test_bad_config(proxy, conf, message):
    run = proxy.run_t("server { listen 127.0.0.1:{listen}; %s }" % conf)
    assert run.returncode != 0
    assert message in run.output, run.output
    assert "nginx.conf:" in run.output


def test_charset_conversion_refused(proxy):
    run = proxy.run_t("server { listen 127.0.0.1:{listen}; charset utf-8; source_charset koi8-r; }")
    assert run.returncode != 0
    assert 'no "charset_map" between the charsets "koi8-r" and "utf-8"' in run.output, run.output
    ok = proxy.run_t("server { listen 127.0.0.1:{listen}; charset utf-8; source_charset utf-8; }")
    assert ok.returncode == 0, ok.output


def test_http2_conditional_expires_charset(proxy):
    """The header policy is the carrier's business only in framing: the same
    304, Expires/Cache-Control and charset reach an HTTP/2 (h2c) client."""
    from test_http2 import curl_h2
    proxy.start("""
        server {
            listen 127.0.0.1:{listen} http2;
            types { text/html html; text/plain txt; }
            location /s/ { alias {prefix}/html/data/; expires 1h; charset utf-8; try_files $uri =404; }
        }
    """, files=FILES)

    def fetch(path, *extra):
        r, version, body = curl_h2(proxy.port, path, None, "--http2-prior-knowledge", *extra, scheme="http")
        assert (r.returncode, version) == (0, "2"), r.stderr
        fields = {}
        for line in r.stdout.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _, value = line.decode().partition(":")
            fields[name.strip().lower()] = value.strip()
        return r.status, fields, body

    status, fields, body = fetch("/s/a.txt")
    assert (status, body) == (200, b"hello\n")
    assert (fields.get("content-type"), fields.get("cache-control"), fields.get("etag")) == \
        ("text/plain; charset=utf-8", "max-age=3600", etag_of(6))
    status, fields, body = fetch("/s/a.txt", "-H", "If-None-Match: " + etag_of(6))
    assert (status, body, fields.get("cache-control"), fields.get("content-type")) == (304, b"", "max-age=3600", None)
    status, _, _ = fetch("/s/a.txt", "-H", 'If-Match: "nope"')
    assert status == 412
    status, _, _ = fetch("/s/missing")
    assert status == 404


def test_root_trailing_slash_is_dropped(proxy):
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            location / { root {prefix}/html/; }
        }
    """, files=FILES)
    assert get(proxy.port, "/secret.txt").body == b"secret\n"
    assert get(proxy.port, "/nope.txt").status == 404
    proxy.wait_error_log(r'open\(\) "%s/html/nope.txt" failed \(2: No such file or directory\)' % proxy.prefix)


def test_front_controller_configs(proxy, http_backend):
    """The two try_files lines most configurations have: a single-page app
    (`$uri $uri/ /index.html`) and files-else-application (`$uri @app`)."""
    be = http_backend()
    proxy.start("""
        server {
            listen 127.0.0.1:{listen};
            root {prefix}/html;
            location /spa/ { try_files $uri $uri/ /spa/index.html; }
            location /site/ { try_files $uri @app; }
            location @app { proxy_pass http://127.0.0.1:{backend}; }
        }
    """, files={"html/spa/index.html": "app shell\n", "html/spa/main.js": "js\n",
                "html/site/logo.txt": "logo\n"}, backend=be.port)
    assert get(proxy.port, "/spa/main.js").body == b"js\n"
    assert get(proxy.port, "/spa/users/42").body == b"app shell\n"
    assert get(proxy.port, "/spa/").body == b"app shell\n"
    assert get(proxy.port, "/site/logo.txt").body == b"logo\n"
    r = get(proxy.port, "/site/page?id=7")
    assert r.status == 200
    assert get(proxy.port, "/site/a%2fb%20c?x=%41").status == 200
    reqs = be.requests()
    # only the misses went to the application, with the request's own URI
    assert [q["target"] for q in reqs] == ["/site/page?id=7", "/site/a%2fb%20c?x=%41"]
