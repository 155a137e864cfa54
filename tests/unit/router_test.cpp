// Routing (src/http/router.h): location search order, server selection by
// Host, URI normalization and Host validation, against nginx's semantics.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "test_support.h"
#include "config/loader.h"
#include "http/router.h"
#include "http/variables.h"

namespace sy::http {

// Readable gtest output for Match values.
inline void PrintTo(Match m, std::ostream* os) {
    *os << (m == Match::None ? "None" : m == Match::Found ? "Found" : "Redirect");
}

namespace {

using conf::Location;

using test::TempDir;

std::shared_ptr<conf::Config> load_http(std::string_view http_body) {
    TempDir d;
    std::ofstream(d.path() + "/nginx.conf") << "events {}\nhttp {\n" << http_body << "\n}\n";
    conf::LoadOptions o;
    o.prefix = d.path();
    o.conf_file = "nginx.conf";
    auto r = conf::load(o);
    if (auto* e = std::get_if<std::string>(&r)) throw std::runtime_error("load failed: " + *e);
    return std::get<std::shared_ptr<conf::Config>>(r);
}

// Routes `uri` (already normalized) in server `s`; returns "<kind>:<modifier><name>".
struct Routed {
    Match match;
    std::string where;   // "= /x", "^~ /x", "~ re", "~* re", "/x", "@n", "fallback"
    Request r;
};

std::string describe(const conf::Server& s, const Location* l) {
    if (l == &s.fallback) return "fallback";
    switch (l->match) {
    case Location::Match::Exact: return "= " + l->name;
    case Location::Match::NoRegex: return "^~ " + l->name;
    case Location::Match::Regex: return "~ " + l->name;
    case Location::Match::RegexCaseless: return "~* " + l->name;
    default: return l->name;
    }
}

Routed route(const conf::Server& s, std::string uri) {
    Routed out;
    out.r.uri = std::move(uri);
    out.match = find_location(s, out.r);
    out.where = out.r.loc ? describe(s, out.r.loc) : "(null)";
    EXPECT_EQ(out.r.lc, out.r.loc ? &out.r.loc->conf : nullptr);
    return out;
}
std::string where(const conf::Server& s, std::string uri) {
    Routed r = route(s, std::move(uri));
    EXPECT_EQ(r.match, Match::Found) << r.where;
    return r.where;
}

// ---------------------------------------------------------------- find_location

const char* kLocations = R"(
server {
    listen 127.0.0.1:8080;
    location / { }
    location = / { }
    location /a/ { }
    location /a/b/ { }
    location = /a/exact { }
    location ^~ /static/ { }
    location ~ \.php$ { }
    location ~* \.(png|jpg)$ { }
    location ~ ^/a/b/c { }
    location /nested/ {
        location /nested/inner/ { }
        location ~ \.txt$ { }
    }
    location ~ ^/re/ {
        location ~ \.log$ { }
    }
    location /ws/ { proxy_pass http://127.0.0.1:9000; }
    location @named { }
}
)";

struct RouterLoc : ::testing::Test {
    std::shared_ptr<conf::Config> cfg = load_http(kLocations);
    const conf::Server& s = *cfg->http->servers.at(0);
};

TEST_F(RouterLoc, ExactBeatsPrefix) {
    EXPECT_EQ(where(s, "/"), "= /");
    EXPECT_EQ(where(s, "/a/exact"), "= /a/exact");
    EXPECT_EQ(where(s, "/a/exactly"), "/a/");
    EXPECT_EQ(where(s, "/a/exact/"), "/a/");
}

TEST_F(RouterLoc, LongestPrefixWins) {
    EXPECT_EQ(where(s, "/x"), "/");
    EXPECT_EQ(where(s, "/a/"), "/a/");
    EXPECT_EQ(where(s, "/a/z"), "/a/");
    EXPECT_EQ(where(s, "/a/b/z"), "/a/b/");
    EXPECT_EQ(where(s, "/a"), "/");  // "/a/" is not a prefix of "/a"
}

TEST_F(RouterLoc, RegexBeatsPrefix) {
    EXPECT_EQ(where(s, "/x.php"), "~ \\.php$");
    EXPECT_EQ(where(s, "/a/b/c"), "~ ^/a/b/c");
    EXPECT_EQ(where(s, "/a/z.php"), "~ \\.php$");
}

TEST_F(RouterLoc, NoRegexPrefixStopsRegexSearch) {
    EXPECT_EQ(where(s, "/static/x.php"), "^~ /static/");
    EXPECT_EQ(where(s, "/static/img.png"), "^~ /static/");
    EXPECT_EQ(where(s, "/static"), "/");
}

TEST_F(RouterLoc, RegexesInConfigOrder) {
    // both "\.php$" and "^/a/b/c" match; the first one written wins
    EXPECT_EQ(where(s, "/a/b/c.php"), "~ \\.php$");
}

TEST_F(RouterLoc, CaseInsensitiveRegex) {
    EXPECT_EQ(where(s, "/x.PNG"), "~* \\.(png|jpg)$");
    EXPECT_EQ(where(s, "/x.Jpg"), "~* \\.(png|jpg)$");
    // "~" is case-sensitive
    EXPECT_EQ(where(s, "/x.PHP"), "/");
}

TEST_F(RouterLoc, NestedLocations) {
    EXPECT_EQ(where(s, "/nested/x"), "/nested/");
    EXPECT_EQ(where(s, "/nested/inner/x"), "/nested/inner/");
    EXPECT_EQ(where(s, "/nested/a.txt"), "~ \\.txt$");
    EXPECT_EQ(where(s, "/nested/inner/a.txt"), "~ \\.txt$");
    // the nested regex is only searched under /nested/
    EXPECT_EQ(where(s, "/other/a.txt"), "/");
}

TEST_F(RouterLoc, NestedInsideRegexLocation) {
    EXPECT_EQ(where(s, "/re/x"), "~ ^/re/");
    EXPECT_EQ(where(s, "/re/a.log"), "~ \\.log$");
    EXPECT_EQ(where(s, "/x.log"), "/");  // the nested regex only applies inside ^/re/
}

TEST_F(RouterLoc, AutoRedirectForProxyPassLocation) {
    Routed r = route(s, "/ws");
    EXPECT_EQ(r.match, Match::Redirect);
    ASSERT_NE(r.r.loc, nullptr);
    EXPECT_EQ(r.r.loc->name, "/ws/");
    EXPECT_EQ(where(s, "/ws/"), "/ws/");
    EXPECT_EQ(where(s, "/ws/x"), "/ws/");
    EXPECT_EQ(where(s, "/wsx"), "/");
}

TEST_F(RouterLoc, NamedLocationIsNeverMatchedByUri) {
    EXPECT_EQ(where(s, "/@named"), "/");
    EXPECT_EQ(s.locations.named.count("@named"), 1u);
}

TEST_F(RouterLoc, RegexMatchSetsCaptures) {
    Routed r = route(s, "/dir/pic.JPG");
    EXPECT_EQ(r.where, "~* \\.(png|jpg)$");
    conf::Http empty;
    ConnInfo c;
    VarCtx ctx{c, r.r, empty};
    conf::VarRef one;
    one.kind = conf::Var::Capture;
    one.index = 1;
    std::string out;
    EXPECT_TRUE(get_var(one, ctx, out));
    EXPECT_EQ(out, "JPG");
}

TEST(Router, NoMatchingLocationUsesServerFallback) {
    auto cfg = load_http("server { listen 127.0.0.1:8080; location /a { } location = /b { } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    Routed r = route(s, "/zzz");
    EXPECT_EQ(r.match, Match::Found);
    EXPECT_EQ(r.r.loc, &s.fallback);
    EXPECT_EQ(r.r.lc, &s.fallback.conf);
    EXPECT_EQ(where(s, "/b/"), "fallback");
}

TEST(Router, EmptyServerRoutesToFallback) {
    auto cfg = load_http("server { listen 127.0.0.1:8080; }");
    const conf::Server& s = *cfg->http->servers.at(0);
    EXPECT_EQ(where(s, "/"), "fallback");
}

TEST(Router, ExactLocationWithProxyPassAndSlashPrefixCoexist) {
    // nginx docs: "location = /user" stops the redirect for "/user".
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location /user/ { proxy_pass http://127.0.0.1:9000; }\n"
                         "location = /user { proxy_pass http://127.0.0.1:9001; } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    EXPECT_EQ(where(s, "/user"), "= /user");
    EXPECT_EQ(where(s, "/user/"), "/user/");
}

TEST(Router, AutoRedirectInsideNestedLocation) {
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location /api/ { location /api/v1/ { proxy_pass http://127.0.0.1:9000; } } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    Routed r = route(s, "/api/v1");
    EXPECT_EQ(r.match, Match::Redirect);
    EXPECT_EQ(r.r.loc->name, "/api/v1/");
}

TEST(Router, RegexLocationIsNotAutoRedirected) {
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location / { }\nlocation ~ ^/r/ { proxy_pass http://127.0.0.1:9000; } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    EXPECT_EQ(where(s, "/r"), "/");
}

// nginx conformance (a bug found by this test, now fixed): with both `location /ws` and `location /ws/ { proxy_pass ...; }`,
// nginx routes "/ws" to `location /ws` (ngx_http_core_find_static_location
// returns the inclusive match when the URI length equals the node's;
// auto_redirect applies only when no location of that exact length exists).
// switchyard checks auto_redirect first and answers 301 -> /ws/.
// (nginx 1.22.1: 200 from `location /ws`; switchyard: 301.)
TEST(Router, PrefixLocationOfSameNameBeatsAutoRedirect) {
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location /ws { }\n"
                         "location /ws/ { proxy_pass http://127.0.0.1:9000; } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    Routed r = route(s, "/ws");
    EXPECT_EQ(r.match, Match::Found);
    EXPECT_EQ(r.where, "/ws");
}

// nginx conformance (a bug found by this test, now fixed): a `^~` prefix match stops the regex search even when a nested prefix
// location inside it matches too (nginx takes `noregex` from the outer
// static match before descending into nested locations). Input: URI
// "/static/img/a.png" with `location ^~ /static/ { location /static/img/ {} }`
// and `location ~ \.png$ {}` -> nginx: "/static/img/"; switchyard: "~ \.png$"
// (confirmed with nginx 1.22.1).
TEST(Router, NoRegexStillAppliesWhenNestedPrefixMatches) {
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location ^~ /static/ { location /static/img/ { } }\n"
                         "location ~ \\.png$ { } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    EXPECT_EQ(where(s, "/static/img/a.png"), "/static/img/");
}

TEST(Router, NoRegexWithoutNestedMatchStillStopsRegex) {
    auto cfg = load_http("server { listen 127.0.0.1:8080;\n"
                         "location ^~ /static/ { location /static/img/ { } }\n"
                         "location ~ \\.png$ { } }");
    const conf::Server& s = *cfg->http->servers.at(0);
    EXPECT_EQ(where(s, "/static/a.png"), "^~ /static/");
}

// ---------------------------------------------------------------- ServerGroup::find

const char* kServers = R"(
server { listen 127.0.0.1:8080; server_name first.example; }
server { listen 127.0.0.1:8080; server_name exact.example.com *.example.com; }
server { listen 127.0.0.1:8080; server_name *.sub.example.com; }
server { listen 127.0.0.1:8080; server_name www.example.*; }
server { listen 127.0.0.1:8080; server_name ~^(?<user>[a-z]+)\.users\.example\.net$; }
server { listen 127.0.0.1:8080; server_name ~^api\d+\.example\.net$ ~^.+\.example\.net$; }
server { listen 127.0.0.1:8080 default_server; server_name dflt.example; }
server { listen 127.0.0.1:8080; server_name .dot.example; }
server { listen 127.0.0.1:8081; server_name only.example; }
server { listen 127.0.0.1:8081; server_name second.example; }
)";

struct RouterServers : ::testing::Test {
    std::shared_ptr<conf::Config> cfg = load_http(kServers);
    std::vector<ServerGroup> groups = build_groups(*cfg->http);
    const conf::Server* srv(size_t i) { return cfg->http->servers.at(i).get(); }
    const ServerGroup& group(const std::string& addr) {
        for (auto& g : groups)
            if (g.addr.text == addr) return g;
        throw std::runtime_error("no group " + addr);
    }
    const conf::Server* find(const std::string& host, Request* r = nullptr) {
        return group("127.0.0.1:8080").find(host, r);
    }
};

TEST_F(RouterServers, GroupsByListenAddress) {
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(group("127.0.0.1:8080").exact.size(), 4u);  // first, exact, dflt, dot.example
    EXPECT_EQ(group("127.0.0.1:8081").exact.size(), 2u);
}

TEST_F(RouterServers, ExactName) {
    EXPECT_EQ(find("exact.example.com"), srv(1));
    EXPECT_EQ(find("first.example"), srv(0));
    EXPECT_EQ(find("dflt.example"), srv(6));
}

TEST_F(RouterServers, LeadingWildcardLongestWins) {
    EXPECT_EQ(find("a.example.com"), srv(1));
    EXPECT_EQ(find("a.b.example.com"), srv(1));
    EXPECT_EQ(find("x.sub.example.com"), srv(2));
    EXPECT_EQ(find("y.x.sub.example.com"), srv(2));
    // "*.sub.example.com" does not match "sub.example.com" itself; "*.example.com" does
    EXPECT_EQ(find("sub.example.com"), srv(1));
}

TEST_F(RouterServers, LeadingWildcardBeatsTrailingWildcard) {
    EXPECT_EQ(find("www.example.com"), srv(1));
}

TEST_F(RouterServers, TrailingWildcard) {
    EXPECT_EQ(find("www.example.org"), srv(3));
    EXPECT_EQ(find("www.example.co.uk"), srv(3));
}

TEST_F(RouterServers, WildcardNeedsALabel) {
    EXPECT_EQ(find("example.com"), srv(6));  // default
}

TEST_F(RouterServers, DotNameMatchesBothForms) {
    EXPECT_EQ(find("dot.example"), srv(7));
    EXPECT_EQ(find("a.dot.example"), srv(7));
}

TEST_F(RouterServers, RegexInOrderWithCaptures) {
    Request r;
    EXPECT_EQ(find("bob.users.example.net", &r), srv(4));
    EXPECT_EQ(r.cap_subject, "bob.users.example.net");
    ASSERT_NE(r.cap_regex, nullptr);
    conf::Http empty;
    ConnInfo c;
    VarCtx ctx{c, r, empty};
    conf::VarRef named;
    named.kind = conf::Var::NamedCapture;
    named.arg = "user";
    std::string out;
    EXPECT_TRUE(get_var(named, ctx, out));
    EXPECT_EQ(out, "bob");
    // api7 matches both regexes of server 5 and the generic one; config order decides
    EXPECT_EQ(find("api7.example.net"), srv(5));
    EXPECT_EQ(find("www.example.net"), srv(3));  // the trailing wildcard comes before regexes
    EXPECT_EQ(find("zzz.example.net"), srv(5));
}

TEST_F(RouterServers, UnknownOrEmptyHostGoesToDefaultServer) {
    EXPECT_EQ(find("unknown.test"), srv(6));
    EXPECT_EQ(find(""), srv(6));
    EXPECT_EQ(group("127.0.0.1:8080").default_server, srv(6));
    ASSERT_NE(group("127.0.0.1:8080").listen, nullptr);
    EXPECT_TRUE(group("127.0.0.1:8080").listen->default_server);
}

TEST_F(RouterServers, FirstServerIsDefaultWithoutDefaultServerFlag) {
    const ServerGroup& g = group("127.0.0.1:8081");
    EXPECT_EQ(g.default_server, srv(8));
    EXPECT_EQ(g.find("second.example", nullptr), srv(9));
    EXPECT_EQ(g.find("nope", nullptr), srv(8));
}

TEST(Router, WildcardListenAndSpecificListenAreSeparateGroups) {
    auto cfg = load_http("server { listen 8090; server_name a; }\nserver { listen 127.0.0.1:8090; server_name b; }");
    auto groups = build_groups(*cfg->http);
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(groups[0].addr.text, "0.0.0.0:8090");
    EXPECT_EQ(groups[1].addr.text, "127.0.0.1:8090");
}

// ---------------------------------------------------------------- normalize_uri

struct Norm {
    bool ok;
    std::string uri, args;
    bool operator==(const Norm& o) const { return ok == o.ok && uri == o.uri && args == o.args; }
};
std::ostream& operator<<(std::ostream& os, const Norm& n) {
    return os << (n.ok ? "ok " : "FAIL ") << '"' << n.uri << "\" args \"" << n.args << '"';
}
Norm norm(std::string_view target, bool merge = true) {
    Norm n;
    n.ok = normalize_uri(target, merge, n.uri, n.args);
    if (!n.ok) n.uri = n.args = "";
    return n;
}
Norm good(std::string uri, std::string args = "") { return {true, std::move(uri), std::move(args)}; }
const Norm kBad{false, "", ""};

TEST(Router, NormalizeSimple) {
    EXPECT_EQ(norm("/"), good("/"));
    EXPECT_EQ(norm("/a/b"), good("/a/b"));
    EXPECT_EQ(norm("/a/b/"), good("/a/b/"));
    EXPECT_EQ(norm("/a.b/..c/.d"), good("/a.b/..c/.d"));
}

TEST(Router, NormalizePercentDecoding) {
    EXPECT_EQ(norm("/a%20b"), good("/a b"));
    EXPECT_EQ(norm("/%41%62c"), good("/Abc"));
    EXPECT_EQ(norm("/caf%C3%A9"), good("/caf\xC3\xA9"));
    EXPECT_EQ(norm("/a%2fb"), good("/a/b"));
    // a decoded '%' is not decoded again
    EXPECT_EQ(norm("/a%2541"), good("/a%41"));
    EXPECT_EQ(norm("/a%3Fb?c"), good("/a?b", "c"));
}

TEST(Router, NormalizeBadPercentEncoding) {
    EXPECT_EQ(norm("/a%zz"), kBad);
    EXPECT_EQ(norm("/a%4"), kBad);
    EXPECT_EQ(norm("/a%"), kBad);
    EXPECT_EQ(norm("/a%00b"), kBad);
}

TEST(Router, NormalizeMergeSlashes) {
    EXPECT_EQ(norm("//a///b//"), good("/a/b/"));
    EXPECT_EQ(norm("////"), good("/"));
}

// nginx conformance (a bug found by this test, now fixed): with merge_slashes off, repeated slashes must stay where they are
// ("/a//b" -> "/a//b", as nginx keeps the URI as sent); switchyard moves
// the extra slashes to the front: "/a//b" -> "//a/b" (nginx 1.22.1 with
// merge_slashes off: $uri "/a//b").
TEST(Router, NormalizeWithoutMergeSlashesKeepsSlashesInPlace) {
    EXPECT_EQ(norm("/a//b", false), good("/a//b"));
    EXPECT_EQ(norm("/a/b//", false), good("/a/b//"));
}

TEST(Router, NormalizeWithoutMergeSlashesLeadingDouble) {
    EXPECT_EQ(norm("//a", false), good("//a"));
}

TEST(Router, NormalizeDotSegments) {
    EXPECT_EQ(norm("/a/./b"), good("/a/b"));
    EXPECT_EQ(norm("/a/../b"), good("/b"));
    EXPECT_EQ(norm("/a/b/../../c"), good("/c"));
    EXPECT_EQ(norm("/a/b/.."), good("/a/"));
    EXPECT_EQ(norm("/a/b/."), good("/a/b/"));
    EXPECT_EQ(norm("/a/.."), good("/"));
    EXPECT_EQ(norm("/."), good("/"));
    EXPECT_EQ(norm("/a/%2e%2e/b"), good("/b"));
    EXPECT_EQ(norm("/a%2F..%2Fb"), good("/b"));
}

TEST(Router, NormalizeDotDotAboveRootIsRejected) {
    EXPECT_EQ(norm("/.."), kBad);
    EXPECT_EQ(norm("/../a"), kBad);
    EXPECT_EQ(norm("/a/../.."), kBad);
    EXPECT_EQ(norm("/%2e%2e/etc/passwd"), kBad);
}

TEST(Router, NormalizeQuerySplit) {
    EXPECT_EQ(norm("/p?x=1&y=2"), good("/p", "x=1&y=2"));
    EXPECT_EQ(norm("/p?"), good("/p", ""));
    EXPECT_EQ(norm("/p?a?b"), good("/p", "a?b"));
    // the query is not decoded or normalized
    EXPECT_EQ(norm("/p?q=%20/../"), good("/p", "q=%20/../"));
    EXPECT_EQ(norm("/a/../b?x"), good("/b", "x"));
}

TEST(Router, NormalizeAbsoluteForm) {
    EXPECT_EQ(norm("http://example.com/a/b?c=d"), good("/a/b", "c=d"));
    EXPECT_EQ(norm("http://example.com"), good("/"));
    EXPECT_EQ(norm("http://example.com:8080/x/../y"), good("/y"));
}

// nginx conformance (a bug found by this test, now fixed): an absolute-form target with a query but no path loses the query:
// "http://example.com?x=1" -> nginx: uri "/", args "x=1" (empty path in
// ngx_http_parse_request_line; confirmed with nginx 1.22.1); switchyard:
// uri "/", args "".
TEST(Router, NormalizeAbsoluteFormQueryWithoutPath) {
    EXPECT_EQ(norm("http://example.com?x=1"), good("/", "x=1"));
}

TEST(Router, NormalizeInvalidTargets) {
    EXPECT_EQ(norm(""), kBad);
    EXPECT_EQ(norm("a/b"), kBad);
    EXPECT_EQ(norm("*"), kBad);
}

// ---------------------------------------------------------------- parse_host

struct Host {
    bool ok;
    std::string host;
    bool operator==(const Host& o) const { return ok == o.ok && host == o.host; }
};
std::ostream& operator<<(std::ostream& os, const Host& h) { return os << (h.ok ? "ok \"" + h.host + "\"" : "FAIL"); }
Host host(std::string_view v) {
    Host h;
    h.ok = parse_host(v, h.host);
    if (!h.ok) h.host.clear();
    return h;
}
Host hgood(std::string h) { return {true, std::move(h)}; }
const Host kBadHost{false, ""};

TEST(Router, ParseHostLowercasesAndStripsPort) {
    EXPECT_EQ(host("example.com"), hgood("example.com"));
    EXPECT_EQ(host("Example.COM"), hgood("example.com"));
    EXPECT_EQ(host("example.com:8080"), hgood("example.com"));
    EXPECT_EQ(host("EXAMPLE.com:80"), hgood("example.com"));
    EXPECT_EQ(host("127.0.0.1:8080"), hgood("127.0.0.1"));
    EXPECT_EQ(host("example.com:"), hgood("example.com"));
    EXPECT_EQ(host("localhost"), hgood("localhost"));
}

TEST(Router, ParseHostTrailingDot) {
    EXPECT_EQ(host("example.com."), hgood("example.com"));
    EXPECT_EQ(host("example.com.:80"), hgood("example.com"));
}

TEST(Router, ParseHostTrailingWhitespaceIgnored) {
    EXPECT_EQ(host("example.com \t"), hgood("example.com"));
}

TEST(Router, ParseHostIpv6Literal) {
    EXPECT_EQ(host("[::1]:80"), hgood("[::1]"));
    EXPECT_EQ(host("[::1]"), hgood("[::1]"));
    EXPECT_EQ(host("[2001:db8::1]:8443"), hgood("[2001:db8::1]"));
}

// nginx conformance (a bug found by this test, now fixed): nginx lowercases the whole host, IPv6 literals included
// (ngx_http_validate_host + ngx_strlow; nginx 1.22.1 gives $host
// "[2001:db8::1]" for "Host: [2001:DB8::1]"); switchyard keeps "[2001:DB8::1]".
TEST(Router, ParseHostLowercasesIpv6Literal) {
    EXPECT_EQ(host("[2001:DB8::1]"), hgood("[2001:db8::1]"));
}

TEST(Router, ParseHostRejectsInvalidCharacters) {
    EXPECT_EQ(host(""), kBadHost);
    EXPECT_EQ(host("exa mple.com"), kBadHost);
    EXPECT_EQ(host("a/b"), kBadHost);
    EXPECT_EQ(host("a\x01" "b"), kBadHost);
    EXPECT_EQ(host(std::string_view("a\0b", 3)), kBadHost);
    EXPECT_EQ(host("a\x7f"), kBadHost);
    EXPECT_EQ(host("a..b"), kBadHost);
    EXPECT_EQ(host(":80"), kBadHost);
    EXPECT_EQ(host("."), kBadHost);
}

// nginx 1.22.1's ngx_http_validate_host() did not look at what follows ':'
// or at the inside of "[...]"; nginx 1.29.4 (the nginx-tests referee,
// http_host.t) refuses a port that is not 0..65535 digits, an IPv6 literal
// not opened at the first byte or never closed, and anything but a port after
// it. Quotes and backslashes inside a name are still accepted, as in both.
TEST(Router, ParseHostPortAndLiteralRulesOfNginx1294) {
    EXPECT_EQ(host("a\"b"), hgood("a\"b"));
    EXPECT_EQ(host("a\\b"), hgood("a\\b"));
    EXPECT_EQ(host("example.com:"), hgood("example.com"));
    EXPECT_EQ(host("example.com:65535"), hgood("example.com"));
    EXPECT_EQ(host("example.com.:88"), hgood("example.com"));
    EXPECT_EQ(host("[::1]:80"), hgood("[::1]"));
    EXPECT_EQ(host("example.com:abc"), kBadHost);
    EXPECT_EQ(host("example.com:65536"), kBadHost);
    EXPECT_EQ(host("example.com:123456"), kBadHost);
    EXPECT_EQ(host("example.com:1.2"), kBadHost);
    EXPECT_EQ(host("1.2.3.4:9000:80"), kBadHost);
    EXPECT_EQ(host("[::1"), kBadHost);
    EXPECT_EQ(host("[::1]x"), kBadHost);
    EXPECT_EQ(host("[::1]."), kBadHost);
    EXPECT_EQ(host("x[::1]:80"), kBadHost);
    EXPECT_EQ(host("::1]"), kBadHost);
}

}  // namespace
}  // namespace sy::http
