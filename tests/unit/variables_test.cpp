// Runtime variables (src/http/variables.h): get_var / eval / map_value over a
// hand-built Request, ConnInfo and Http.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/loader.h"
#include "config/regex.h"
#include "config/template.h"
#include "http/request.h"
#include "http/router.h"
#include "http/variables.h"

namespace sy::http {
namespace {

// A request whose string_views point into storage the fixture owns.
struct Req {
    std::deque<std::string> store;
    Request r;
    ConnInfo conn;
    conf::Http http;
    const conf::Http* hp = &http;

    std::string_view keep(std::string s) {
        store.push_back(std::move(s));
        return store.back();
    }
    void header(std::string name, std::string value) { r.head.headers.push_back({keep(std::move(name)), keep(std::move(value))}); }
    void target(std::string t) {
        r.head.target = keep(t);
        EXPECT_TRUE(normalize_uri(r.head.target, true, r.uri, r.args)) << t;
    }

    std::string eval_text(std::string_view tpl) {
        conf::Template t;
        std::string err;
        EXPECT_TRUE(conf::compile_template(tpl, nullptr, t, err)) << err;
        VarCtx ctx{conn, r, *hp};
        return eval(t, ctx);
    }
    // {found, value}
    std::pair<bool, std::string> var(std::string_view name) {
        conf::VarRef ref;
        EXPECT_TRUE(conf::resolve_var(name, nullptr, ref)) << name;
        VarCtx ctx{conn, r, *hp};
        std::string out;
        bool f = get_var(ref, ctx, out);
        return {f, out};
    }
};

using Found = std::pair<bool, std::string>;
Found yes(std::string v) { return {true, std::move(v)}; }
Found no() { return {false, ""}; }

// ---------------------------------------------------------------- $host

TEST(Variables, HostFromParsedHostHeader) {
    Req q;
    ASSERT_TRUE(parse_host("Example.COM:8080", q.r.host));
    EXPECT_EQ(q.var("host"), yes("example.com"));
}

TEST(Variables, HostFallsBackToServerName) {
    Req q;
    conf::Server s;
    s.first_name = "srv.example";
    q.r.server = &s;
    EXPECT_EQ(q.var("host"), yes("srv.example"));
    EXPECT_EQ(q.var("server_name"), yes("srv.example"));
    q.r.host = "h.example";
    EXPECT_EQ(q.var("host"), yes("h.example"));
    EXPECT_EQ(q.var("server_name"), yes("srv.example"));
}

TEST(Variables, HostEmptyWithoutHostOrServer) {
    Req q;
    EXPECT_EQ(q.var("host"), yes(""));
}

// ---------------------------------------------------------------- $http_*

TEST(Variables, HttpHeaderCaseInsensitive) {
    Req q;
    q.header("User-Agent", "curl/8.0");
    q.header("X-REAL-IP", "10.1.1.1");
    EXPECT_EQ(q.var("http_user_agent"), yes("curl/8.0"));
    EXPECT_EQ(q.var("http_x_real_ip"), yes("10.1.1.1"));
    EXPECT_EQ(q.var("http_referer"), no());
    EXPECT_EQ(q.eval_text("[$http_referer]"), "[]");
}

TEST(Variables, HttpHeaderDuplicatesJoinedWithComma) {
    Req q;
    q.header("X-Forwarded-For", "1.1.1.1");
    q.header("Host", "h");
    q.header("x-forwarded-for", "2.2.2.2, 3.3.3.3");
    EXPECT_EQ(q.var("http_x_forwarded_for"), yes("1.1.1.1, 2.2.2.2, 3.3.3.3"));
}

TEST(Variables, HttpCookieDuplicatesJoinedWithSemicolon) {
    Req q;
    q.header("Cookie", "a=1");
    q.header("Cookie", "b=2");
    EXPECT_EQ(q.var("http_cookie"), yes("a=1; b=2"));
}

TEST(Variables, ContentTypeAndLength) {
    Req q;
    EXPECT_EQ(q.var("content_length"), no());
    EXPECT_EQ(q.var("content_type"), no());
    q.r.head.content_length = 42;
    q.header("Content-Type", "text/plain");
    EXPECT_EQ(q.var("content_length"), yes("42"));
    EXPECT_EQ(q.var("content_type"), yes("text/plain"));
    q.r.head.content_length = 0;
    EXPECT_EQ(q.var("content_length"), yes("0"));
}

// ---------------------------------------------------------------- $arg_*

TEST(Variables, ArgLookup) {
    Req q;
    q.target("/p?a=1&name=x%20y&empty=&b=2");
    EXPECT_EQ(q.var("arg_a"), yes("1"));
    EXPECT_EQ(q.var("arg_name"), yes("x%20y"));  // not decoded, like nginx
    EXPECT_EQ(q.var("arg_b"), yes("2"));
    EXPECT_EQ(q.var("arg_empty"), yes(""));
    EXPECT_EQ(q.var("arg_missing"), no());
}

TEST(Variables, ArgMatchesWholeNameOnly) {
    Req q;
    q.target("/p?ab=1&xb=2&bb=3");
    EXPECT_EQ(q.var("arg_b"), no());
    EXPECT_EQ(q.var("arg_bb"), yes("3"));
}

TEST(Variables, ArgFirstOccurrenceAndCaseInsensitiveName) {
    Req q;
    q.target("/p?Key=first&key=second");
    EXPECT_EQ(q.var("arg_key"), yes("first"));
    EXPECT_EQ(q.var("arg_KEY"), yes("first"));
}

TEST(Variables, ArgWithoutQuery) {
    Req q;
    q.target("/p");
    EXPECT_EQ(q.var("arg_a"), no());
}

// nginx conformance (a bug found by this test, now fixed): nginx's ngx_http_arg() requires "name=" — "?flag&x=1" has no $arg_flag
// (not found, "-" in the access log); switchyard reports it found with "".
TEST(Variables, ArgWithoutEqualsIsNotFound) {
    Req q;
    q.target("/p?flag&x=1");
    EXPECT_EQ(q.var("arg_flag"), no());
    EXPECT_EQ(q.var("arg_x"), yes("1"));
}

// ---------------------------------------------------------------- $cookie_*

TEST(Variables, CookieLookup) {
    Req q;
    q.header("Cookie", "a=1; session=xyz;b=2");
    EXPECT_EQ(q.var("cookie_session"), yes("xyz"));
    EXPECT_EQ(q.var("cookie_a"), yes("1"));
    EXPECT_EQ(q.var("cookie_b"), yes("2"));
    EXPECT_EQ(q.var("cookie_sess"), no());
    EXPECT_EQ(q.var("cookie_missing"), no());
}

TEST(Variables, CookieAcrossSeveralHeaders) {
    Req q;
    q.header("Cookie", "a=1");
    q.header("cookie", "theme=dark; lang=en");
    EXPECT_EQ(q.var("cookie_lang"), yes("en"));
    EXPECT_EQ(q.var("cookie_a"), yes("1"));
}

TEST(Variables, CookieWithoutCookieHeader) {
    Req q;
    q.header("Set-Cookie", "a=1");
    EXPECT_EQ(q.var("cookie_a"), no());
}

// ---------------------------------------------------------------- request line

TEST(Variables, RequestUriUriArgsIsArgs) {
    Req q;
    q.r.head.method = "GET";
    q.target("/a%20b/../c/./d%2Fe?x=1&y=%41");
    q.r.head.request_line = q.keep("GET /a%20b/../c/./d%2Fe?x=1&y=%41 HTTP/1.1");
    EXPECT_EQ(q.var("request_uri"), yes("/a%20b/../c/./d%2Fe?x=1&y=%41"));
    EXPECT_EQ(q.var("uri"), yes("/c/d/e"));
    EXPECT_EQ(q.var("document_uri"), yes("/c/d/e"));
    EXPECT_EQ(q.var("args"), yes("x=1&y=%41"));
    EXPECT_EQ(q.var("query_string"), yes("x=1&y=%41"));
    EXPECT_EQ(q.var("is_args"), yes("?"));
    EXPECT_EQ(q.var("request_method"), yes("GET"));
    EXPECT_EQ(q.var("request"), yes("GET /a%20b/../c/./d%2Fe?x=1&y=%41 HTTP/1.1"));
}

TEST(Variables, IsArgsEmptyWithoutQuery) {
    Req q;
    q.target("/plain");
    EXPECT_EQ(q.var("is_args"), yes(""));
    EXPECT_EQ(q.var("args"), yes(""));
    EXPECT_EQ(q.eval_text("$uri$is_args$args"), "/plain");
    q.target("/q?z=9");
    EXPECT_EQ(q.eval_text("$uri$is_args$args"), "/q?z=9");
}

TEST(Variables, ServerProtocol) {
    Req q;
    q.r.head.version = 11;
    EXPECT_EQ(q.var("server_protocol"), yes("HTTP/1.1"));
    q.r.head.version = 10;
    EXPECT_EQ(q.var("server_protocol"), yes("HTTP/1.0"));
}

// ---------------------------------------------------------------- connection

TEST(Variables, ConnectionFacts) {
    Req q;
    q.conn.remote_addr = "192.0.2.7";
    q.conn.remote_port = 54321;
    q.conn.server_addr = "127.0.0.1";
    q.conn.server_port = 8080;
    q.conn.number = 17;
    q.conn.requests = 3;
    EXPECT_EQ(q.var("remote_addr"), yes("192.0.2.7"));
    EXPECT_EQ(q.var("remote_port"), yes("54321"));
    EXPECT_EQ(q.var("server_addr"), yes("127.0.0.1"));
    EXPECT_EQ(q.var("server_port"), yes("8080"));
    EXPECT_EQ(q.var("connection"), yes("17"));
    EXPECT_EQ(q.var("connection_requests"), yes("3"));
    EXPECT_EQ(q.var("scheme"), yes("http"));
    EXPECT_EQ(q.var("https"), yes(""));
    q.conn.ssl = true;
    EXPECT_EQ(q.var("scheme"), yes("https"));
    EXPECT_EQ(q.var("https"), yes("on"));
}

TEST(Variables, ProxyAddXForwardedForWithoutIncomingHeader) {
    Req q;
    q.conn.remote_addr = "10.0.0.1";
    EXPECT_EQ(q.var("proxy_add_x_forwarded_for"), yes("10.0.0.1"));
}

TEST(Variables, ProxyAddXForwardedForAppendsToIncoming) {
    Req q;
    q.conn.remote_addr = "10.0.0.1";
    q.header("X-Forwarded-For", "1.1.1.1");
    EXPECT_EQ(q.var("proxy_add_x_forwarded_for"), yes("1.1.1.1, 10.0.0.1"));
    q.header("X-Forwarded-For", "2.2.2.2");
    EXPECT_EQ(q.var("proxy_add_x_forwarded_for"), yes("1.1.1.1, 2.2.2.2, 10.0.0.1"));
}

// ---------------------------------------------------------------- response / upstream

TEST(Variables, StatusFormatting) {
    Req q;
    EXPECT_EQ(q.var("status"), yes("000"));
    q.r.status = 101;
    EXPECT_EQ(q.var("status"), yes("101"));
    q.r.status = 502;
    EXPECT_EQ(q.var("status"), yes("502"));
}

TEST(Variables, BytesSent) {
    Req q;
    q.r.bytes_sent = 1234;
    q.r.body_bytes_sent = 1000;
    q.r.request_length = 77;
    EXPECT_EQ(q.var("bytes_sent"), yes("1234"));
    EXPECT_EQ(q.var("body_bytes_sent"), yes("1000"));
    EXPECT_EQ(q.var("request_length"), yes("77"));
}

TEST(Variables, UpstreamListForSeveralTries) {
    Req q;
    EXPECT_EQ(q.var("upstream_addr"), no());
    EXPECT_EQ(q.var("upstream_status"), no());
    UpstreamTry a;
    a.addr = "127.0.0.1:9001";
    a.status = 502;
    a.response_ms = 5;
    UpstreamTry b;
    b.addr = "127.0.0.1:9002";
    b.status = 200;
    b.connected = true;
    b.connect_ms = 1;
    b.got_header = true;
    b.header_ms = 2;
    b.response_ms = 1250;
    b.bytes_received = 300;
    b.bytes_sent = 120;
    q.r.upstream = {a, b};
    EXPECT_EQ(q.var("upstream_addr"), yes("127.0.0.1:9001, 127.0.0.1:9002"));
    EXPECT_EQ(q.var("upstream_status"), yes("502, 200"));
    EXPECT_EQ(q.var("upstream_response_time"), yes("0.005, 1.250"));
    EXPECT_EQ(q.var("upstream_connect_time"), yes("-, 0.001"));
    EXPECT_EQ(q.var("upstream_header_time"), yes("-, 0.002"));
    EXPECT_EQ(q.var("upstream_bytes_received"), yes("0, 300"));
    EXPECT_EQ(q.var("upstream_bytes_sent"), yes("0, 120"));
}

TEST(Variables, UpstreamStatusDashForNoResponse) {
    Req q;
    UpstreamTry t;
    t.addr = "u";
    q.r.upstream = {t};
    EXPECT_EQ(q.var("upstream_status"), yes("-"));
    EXPECT_EQ(q.var("upstream_addr"), yes("u"));
}

TEST(Variables, SentAndUpstreamHeaders) {
    Req q;
    q.r.sent_headers = {{"Content-Type", "text/html"}, {"X-A", "1"}};
    q.r.upstream_headers = {{"X-Cache", "HIT"}};
    EXPECT_EQ(q.var("sent_http_content_type"), yes("text/html"));
    EXPECT_EQ(q.var("sent_http_x_a"), yes("1"));
    EXPECT_EQ(q.var("sent_http_x_b"), no());
    EXPECT_EQ(q.var("upstream_http_x_cache"), yes("HIT"));
    EXPECT_EQ(q.var("upstream_http_x_a"), no());
}

TEST(Variables, ProxyHostAndPort) {
    Req q;
    q.r.proxy_host = "backend";
    q.r.proxy_port = "8080";
    EXPECT_EQ(q.eval_text("$proxy_host:$proxy_port"), "backend:8080");
}

TEST(Variables, ConstantsAndClocks) {
    Req q;
    EXPECT_EQ(q.var("nginx_version"), yes("1.29.7"));
    EXPECT_EQ(q.var("pid"), yes(std::to_string(getpid())));
    EXPECT_EQ(q.var("pipe"), yes("."));
    auto msec = q.var("msec");
    EXPECT_TRUE(msec.first);
    EXPECT_TRUE(std::regex_match(msec.second, std::regex(R"(\d{10,}\.\d{3})"))) << msec.second;
    auto tl = q.var("time_local");
    EXPECT_TRUE(std::regex_match(tl.second, std::regex(R"(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})")))
        << tl.second;
    auto iso = q.var("time_iso8601");
    EXPECT_TRUE(std::regex_match(iso.second, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")))
        << iso.second;
    EXPECT_EQ(q.var("request_body"), no());
    EXPECT_EQ(q.var("remote_user"), no());
}

TEST(Variables, FormatMsec) {
    EXPECT_EQ(format_msec(0), "0.000");
    EXPECT_EQ(format_msec(5), "0.005");
    EXPECT_EQ(format_msec(1234), "1.234");
    EXPECT_EQ(format_msec(60000), "60.000");
}

TEST(Variables, DocumentRootAndRequestFilename) {
    Req q;
    conf::LocConf lc;
    conf::Template root;
    std::string err;
    ASSERT_TRUE(conf::compile_template("/srv/www", nullptr, root, err));
    lc.root = root;
    q.r.lc = &lc;
    q.target("/a/b.html");
    EXPECT_EQ(q.var("document_root"), yes("/srv/www"));
    EXPECT_EQ(q.var("request_filename"), yes("/srv/www/a/b.html"));
}

// ---------------------------------------------------------------- captures

TEST(Variables, PositionalAndNamedCaptures) {
    Req q;
    std::string err;
    auto re = conf::Regex::compile(R"(^/img/(?<name>[^/.]+)\.(png|jpg)$)", false, err);
    ASSERT_NE(re, nullptr) << err;
    std::vector<int> caps;
    std::string subject = "/img/cat.png";
    ASSERT_TRUE(re->match(subject, caps));
    set_captures(q.r, *re, subject, caps);
    subject = "overwritten";  // the request keeps its own copy
    EXPECT_EQ(q.eval_text("$1|$2|[$3]"), "cat|png|[]");
    conf::VarRef named;
    named.kind = conf::Var::NamedCapture;
    named.arg = "name";
    VarCtx ctx{q.conn, q.r, q.http};
    std::string out;
    EXPECT_TRUE(get_var(named, ctx, out));
    EXPECT_EQ(out, "cat");
    named.arg = "other";
    out.clear();
    EXPECT_FALSE(get_var(named, ctx, out));
}

TEST(Variables, CapturesWithoutMatchAreEmpty) {
    Req q;
    EXPECT_EQ(q.eval_text("[$1]"), "[]");
}

// ---------------------------------------------------------------- map

using test::TempDir;

std::shared_ptr<conf::Config> load_http(std::string_view http_body) {
    TempDir d;
    std::ofstream(d.path() + "/nginx.conf") << "events {}\nhttp {\n" << http_body << "\nserver { listen 127.0.0.1:8080; }\n}\n";
    conf::LoadOptions o;
    o.prefix = d.path();
    o.conf_file = "nginx.conf";
    auto r = conf::load(o);
    if (auto* e = std::get_if<std::string>(&r)) throw std::runtime_error("load failed: " + *e);
    return std::get<std::shared_ptr<conf::Config>>(r);
}

const char* kMaps = R"(
map $http_x_key $m_exact {
    default   dflt;
    alpha     A;
    ""        was-empty;
    \default  literal-default;
}
map $uri $m_regex {
    /exact            exact-wins;
    ~^/img/([a-z]+)\.png$  img-$1;
    ~^/v(\d+)/        version-$1;
    ~*^/CASE/         caseless;
    ~^/img/           second-regex;
    default           none;
}
map $http_host $m_host {
    hostnames;
    *.example.com     head;
    *.a.example.com   longer-head;
    www.example.*     tail;
    .example.org      dot-org;
    example.net       exact-net;
    default           other;
}
map $arg_x $m_nodefault {
    a 1;
}
map $uri:$arg_v $m_multi {
    /p:2  both;
    default no;
}
map $m_exact $m_chain {
    A  chained-A;
    default chained-other;
}
map $http_x_ci $m_ci {
    Foo  upper;
    bar  lower;
    default none;
}
)";

struct VariablesMap : ::testing::Test {
    std::shared_ptr<conf::Config> cfg = load_http(kMaps);
    Req q;
    VariablesMap() { q.hp = cfg->http.get(); }
    uint32_t id(const std::string& name) { return uint32_t(cfg->http->map_index.at(name)); }
    std::string map(const std::string& name) {
        VarCtx ctx{q.conn, q.r, *cfg->http};
        return map_value(id(name), ctx);
    }
    // A fresh request (maps are cached per request).
    void fresh() {
        q.r = Request{};
        q.store.clear();
    }
};

TEST_F(VariablesMap, ExactAndDefault) {
    q.header("X-Key", "alpha");
    EXPECT_EQ(map("m_exact"), "A");
    fresh();
    q.header("X-Key", "beta");
    EXPECT_EQ(map("m_exact"), "dflt");
    fresh();
    EXPECT_EQ(map("m_exact"), "was-empty");  // missing header evaluates to ""
    fresh();
    q.header("X-Key", "default");
    EXPECT_EQ(map("m_exact"), "literal-default");
}

TEST_F(VariablesMap, RegexWithCaptures) {
    q.target("/img/cat.png");
    EXPECT_EQ(map("m_regex"), "img-cat");
    fresh();
    q.target("/v42/x");
    EXPECT_EQ(map("m_regex"), "version-42");
    fresh();
    q.target("/case/x");
    EXPECT_EQ(map("m_regex"), "caseless");
    fresh();
    q.target("/img/Cat.png");  // first regex is case-sensitive: the next one matches
    EXPECT_EQ(map("m_regex"), "second-regex");
    fresh();
    q.target("/exact");
    EXPECT_EQ(map("m_regex"), "exact-wins");
    fresh();
    q.target("/nothing");
    EXPECT_EQ(map("m_regex"), "none");
}

TEST_F(VariablesMap, HostnamesWildcards) {
    auto host = [&](const char* h) {
        fresh();
        q.header("Host", h);
        return map("m_host");
    };
    EXPECT_EQ(host("www.example.com"), "head");  // prefix mask beats suffix mask
    EXPECT_EQ(host("x.y.example.com"), "head");
    EXPECT_EQ(host("b.a.example.com"), "longer-head");
    EXPECT_EQ(host("www.example.net"), "tail");
    EXPECT_EQ(host("example.org"), "dot-org");
    EXPECT_EQ(host("mail.example.org"), "dot-org");
    EXPECT_EQ(host("example.net"), "exact-net");
    EXPECT_EQ(host("example.com"), "other");  // *.example.com needs a label
    EXPECT_EQ(host("EXAMPLE.NET."), "exact-net");  // lowercased, trailing dot dropped
}

TEST_F(VariablesMap, NoDefaultGivesEmptyString) {
    q.target("/?x=a");
    EXPECT_EQ(map("m_nodefault"), "1");
    fresh();
    q.target("/?x=b");
    EXPECT_EQ(map("m_nodefault"), "");
}

TEST_F(VariablesMap, SourceWithSeveralVariables) {
    q.target("/p?v=2");
    EXPECT_EQ(map("m_multi"), "both");
    fresh();
    q.target("/p?v=3");
    EXPECT_EQ(map("m_multi"), "no");
}

TEST_F(VariablesMap, MapOfMap) {
    q.header("X-Key", "alpha");
    EXPECT_EQ(map("m_chain"), "chained-A");
    fresh();
    EXPECT_EQ(map("m_chain"), "chained-other");
}

TEST_F(VariablesMap, ResultCachedPerRequest) {
    q.target("/v1/x");
    const std::string& first = map("m_regex");
    EXPECT_EQ(first, "version-1");
    // The source changes, but this request already has its value.
    q.target("/v2/x");
    EXPECT_EQ(map("m_regex"), "version-1");
    VarCtx ctx{q.conn, q.r, *cfg->http};
    EXPECT_EQ(&map_value(id("m_regex"), ctx), &map_value(id("m_regex"), ctx));
    // A new request computes afresh.
    fresh();
    q.target("/v2/x");
    EXPECT_EQ(map("m_regex"), "version-2");
}

TEST_F(VariablesMap, MapViaGetVarAndTemplate) {
    q.header("X-Key", "alpha");
    conf::VarRef ref;
    ref.kind = conf::Var::Map;
    ref.index = id("m_exact");
    VarCtx ctx{q.conn, q.r, *cfg->http};
    std::string out = "<";
    EXPECT_TRUE(get_var(ref, ctx, out));
    EXPECT_EQ(out, "<A");
}

// Named captures of a map's regex key are usable in the map's value (nginx:
// "A regular expression can contain named and positional captures that can
// later be used in other directives along with the resulting variable").
// This failed to load at commit 3183f0b with `unknown "file" variable`; the
// map-regex prescan in loader.cpp fixes it.
TEST(Variables, NamedCapturesInMapRegex) {
    std::shared_ptr<conf::Config> cfg;
    try {
        cfg = load_http("map $uri $m_named {\n  ~^/img/(?<file>[a-z]+)\\.png$ img-$file;\n  default none;\n}\n");
    } catch (const std::exception& e) {
        FAIL() << e.what();
    }
    Req q;
    q.hp = cfg->http.get();
    q.target("/img/dog.png");
    VarCtx ctx{q.conn, q.r, *cfg->http};
    EXPECT_EQ(map_value(uint32_t(cfg->http->map_index.at("m_named")), ctx), "img-dog");
}

// nginx conformance (a bug found by this test, now fixed): nginx map "Strings are matched ignoring the case"
// (nginx.org/en/docs/http/ngx_http_map_module.html); switchyard's exact keys
// are case-sensitive unless `hostnames` is set. With `Foo upper;` and
// "X-Ci: foo" nginx gives "upper", switchyard "none"; likewise key `bar`
// with "X-Ci: BAR" (nginx 1.22.1: "upper", "lower").
TEST_F(VariablesMap, StringKeysMatchIgnoringCase) {
    q.header("X-Ci", "foo");
    EXPECT_EQ(map("m_ci"), "upper");
    fresh();
    q.header("X-Ci", "BAR");
    EXPECT_EQ(map("m_ci"), "lower");
}

TEST_F(VariablesMap, StringKeysExactCase) {
    q.header("X-Ci", "Foo");
    EXPECT_EQ(map("m_ci"), "upper");
    fresh();
    q.header("X-Ci", "bar");
    EXPECT_EQ(map("m_ci"), "lower");
}

}  // namespace
}  // namespace sy::http
