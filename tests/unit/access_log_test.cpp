// Access log line formatting (src/http/access_log.h format_log_line):
// nginx's escaping modes and "-" for variables that are not found.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <string_view>

#include "config/conf.h"
#include "config/template.h"
#include "http/access_log.h"
#include "http/router.h"
#include "http/variables.h"

namespace sy::http {
namespace {

struct Req {
    std::deque<std::string> store;
    Request r;
    ConnInfo conn;
    conf::Http http;

    std::string_view keep(std::string s) {
        store.push_back(std::move(s));
        return store.back();
    }
    void header(std::string n, std::string v) { r.head.headers.push_back({keep(std::move(n)), keep(std::move(v))}); }
    void target(std::string t) {
        r.head.target = keep(std::move(t));
        EXPECT_TRUE(normalize_uri(r.head.target, true, r.uri, r.args));
    }
    std::string line(std::string_view fmt, conf::LogFormat::Escape esc = conf::LogFormat::Escape::Default) {
        conf::LogFormat f;
        f.escape = esc;
        std::string err;
        EXPECT_TRUE(conf::compile_template(fmt, nullptr, f.fmt, err)) << err;
        VarCtx ctx{conn, r, http};
        std::string out;
        format_log_line(f, ctx, out);
        return out;
    }
};

TEST(AccessLog, LiteralsAndValues) {
    Req q;
    q.r.head.method = "GET";
    q.target("/p?x=1");
    q.r.status = 200;
    q.r.body_bytes_sent = 12;
    q.conn.remote_addr = "192.0.2.1";
    EXPECT_EQ(q.line("$remote_addr $request_method $uri?$args $status $body_bytes_sent"),
              "192.0.2.1 GET /p?x=1 200 12");
}

TEST(AccessLog, NotFoundIsDash) {
    Req q;
    EXPECT_EQ(q.line("[$http_referer][$remote_user][$upstream_addr][$sent_http_x]"), "[-][-][-][-]");
}

TEST(AccessLog, EmptyArgsIsEmptyNotDash) {
    Req q;
    q.target("/p");
    EXPECT_EQ(q.line("[$args][$query_string]"), "[][]");
}

TEST(AccessLog, DefaultEscaping) {
    Req q;
    q.header("User-Agent", std::string("a\"b\\c\x01\x7f") + "\xC3\xA9");
    // nginx's default escaping: '"', '\', controls and bytes >= 0x7f as \xXX
    EXPECT_EQ(q.line("$http_user_agent"), "a\\x22b\\x5Cc\\x01\\x7F\\xC3\\xA9");
}

TEST(AccessLog, JsonEscaping) {
    Req q;
    q.header("User-Agent", std::string("a\"b\\c\n\t\x01") + "\xC3\xA9");
    EXPECT_EQ(q.line("{\"ua\":\"$http_user_agent\",\"ref\":\"$http_referer\"}", conf::LogFormat::Escape::Json),
              "{\"ua\":\"a\\\"b\\\\c\\n\\t\\u0001\xC3\xA9\",\"ref\":\"\"}");
}

TEST(AccessLog, NoEscaping) {
    Req q;
    q.header("User-Agent", "a\"b\\c");
    EXPECT_EQ(q.line("$http_user_agent", conf::LogFormat::Escape::None), "a\"b\\c");
}

TEST(AccessLog, CombinedFormat) {
    Req q;
    q.conn.remote_addr = "203.0.113.9";
    q.r.head.request_line = "GET /x HTTP/1.1";
    q.r.status = 404;
    q.r.body_bytes_sent = 153;
    q.header("User-Agent", "curl/8.0");
    std::string l = q.line("$remote_addr - $remote_user \"$request\" $status $body_bytes_sent "
                           "\"$http_referer\" \"$http_user_agent\"");
    EXPECT_EQ(l, "203.0.113.9 - - \"GET /x HTTP/1.1\" 404 153 \"-\" \"curl/8.0\"");
}

// nginx conformance (a bug found by this test, now fixed): nginx prints "-" only for variables that are not found; a variable
// that is found but empty prints nothing. nginx 1.22.1 logs
// `[$https][$is_args][$arg_x][$cookie_c][$server_name]` for "GET /p?x="
// with "Cookie: c=" (plain http, server without a name) as "[][?][][][]";
// switchyard writes "[-][?][-][-][-]" because format_log_line turns every
// empty value into "-" (except $args, $query_string and maps).
TEST(AccessLog, FoundButEmptyValuesAreEmptyNotDash) {
    Req q;
    conf::Server s;
    q.r.server = &s;
    q.target("/p?x=");
    q.header("Cookie", "c=");
    EXPECT_EQ(q.line("[$https][$is_args][$arg_x][$cookie_c][$server_name]"), "[][?][][][]");
}

}  // namespace
}  // namespace sy::http
