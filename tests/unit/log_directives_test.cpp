// access_log if=, $upstream_response_length and lingering_close/_time/_timeout:
// parsing with nginx's messages (file:line), inheritance, and the values.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"
#include "config/template.h"
#include "http/variables.h"

namespace sy::conf {
namespace {

using test::TempDir;

struct Loaded {
    TempDir dir;
    std::string conf;
    std::shared_ptr<Config> cfg;
    std::string err;
};

std::unique_ptr<Loaded> load_text(std::string_view text) {
    auto l = std::make_unique<Loaded>();
    l->conf = l->dir.write("nginx.conf", text);
    LoadOptions o;
    o.prefix = l->dir.path();
    o.conf_file = "nginx.conf";
    auto r = load(o);
    if (auto* e = std::get_if<std::string>(&r)) l->err = *e;
    else l->cfg = std::get<std::shared_ptr<Config>>(r);
    return l;
}

std::string err(std::string_view text) {
    auto l = load_text(text);
    EXPECT_FALSE(l->err.empty()) << "expected an error for:\n" << text;
    std::string e = l->err;
    for (size_t p; (p = e.find(l->conf)) != std::string::npos;) e.replace(p, l->conf.size(), "F");
    return e;
}

std::string in_server(std::string_view body) {
    return "events {}\nhttp {\nserver {\n" + std::string(body) + "\n}\n}\n";
}
std::string in_location(std::string_view body) {
    return "events {}\nhttp {\nserver {\nlocation / {\n" + std::string(body) + "\n}\n}\n}\n";
}

TEST(LogDirectives, AccessLogIfCompiles) {
    auto l = load_text("events {}\nhttp {\nmap $arg_q $loggable { default 1; skip 0; }\n"
                       "server {\naccess_log logs/a.log combined buffer=4k if=$loggable;\n}\n}\n");
    ASSERT_TRUE(l->cfg) << l->err;
    auto& al = *l->cfg->http->servers[0]->conf.access_log;
    ASSERT_EQ(al.size(), 1u);
    EXPECT_TRUE(al[0].has_if);
    EXPECT_TRUE(al[0].if_cond.has_vars());
}

TEST(LogDirectives, AccessLogIfErrors) {
    EXPECT_EQ(err(in_server("access_log logs/a.log combined if=$nosuchvar;")), "unknown \"nosuchvar\" variable in F:4");
    EXPECT_EQ(err(in_server("access_log logs/a.log combined when=$x;")), "invalid parameter \"when=$x\" in F:4");
}

TEST(LogDirectives, LingeringParsingAndInheritance) {
    auto l = load_text("events {}\nhttp {\nlingering_close always;\nlingering_time 10s;\n"
                       "server {\nlingering_timeout 2s;\nlocation / { lingering_close off; }\n}\n}\n");
    ASSERT_TRUE(l->cfg) << l->err;
    auto& s = *l->cfg->http->servers[0];
    EXPECT_EQ(*s.conf.lingering_close, Lingering::Always);
    EXPECT_EQ(*s.conf.lingering_time, Msec(10000));
    EXPECT_EQ(*s.conf.lingering_timeout, Msec(2000));
    const Location& loc = *s.locations.all[0];
    EXPECT_EQ(*loc.conf.lingering_close, Lingering::Off);
    EXPECT_EQ(*loc.conf.lingering_time, Msec(10000));
    EXPECT_EQ(*loc.conf.lingering_timeout, Msec(2000));

    auto d = load_text(in_server("listen 127.0.0.1:8080;"));
    ASSERT_TRUE(d->cfg) << d->err;
    auto& ds = *d->cfg->http->servers[0];
    EXPECT_EQ(*ds.conf.lingering_close, Lingering::On);      // nginx's defaults
    EXPECT_EQ(*ds.conf.lingering_time, Msec(30000));
    EXPECT_EQ(*ds.conf.lingering_timeout, Msec(5000));
}

TEST(LogDirectives, LingeringErrors) {
    EXPECT_EQ(err(in_location("lingering_close sometimes;")), "invalid value \"sometimes\" in F:5");
    EXPECT_EQ(err(in_location("lingering_time 5x;")), "\"lingering_time\" directive invalid value in F:5");
    EXPECT_EQ(err(in_server("lingering_timeout;")), "invalid number of arguments in \"lingering_timeout\" directive in F:4");
    EXPECT_EQ(err(in_server("lingering_close on;\nlingering_close off;")), "\"lingering_close\" directive is duplicate in F:5");
}

}  // namespace
}  // namespace sy::conf

namespace sy::http {
namespace {

TEST(LogDirectives, UpstreamResponseLength) {
    Request r;
    ConnInfo conn;
    conf::Http http;
    VarCtx ctx{conn, r, http};
    conf::VarRef v;
    ASSERT_TRUE(conf::resolve_var("upstream_response_length", nullptr, v));
    std::string out;
    EXPECT_FALSE(get_var(v, ctx, out));   // no upstream: not found
    r.upstream.resize(2);
    r.upstream[0].response_length = 0;
    r.upstream[1].response_length = 1234;
    out.clear();
    EXPECT_TRUE(get_var(v, ctx, out));
    EXPECT_EQ(out, "0, 1234");
}

TEST(LogDirectives, ConnectionTime) {
    Request r;
    ConnInfo conn;
    conn.start_mono -= 1500;   // accepted 1.5 s ago
    conf::Http http;
    VarCtx ctx{conn, r, http};
    conf::VarRef v;
    ASSERT_TRUE(conf::resolve_var("connection_time", nullptr, v));
    std::string out;
    EXPECT_TRUE(get_var(v, ctx, out));
    ASSERT_EQ(out.size(), 5u) << out;   // "1.5xx": seconds with milliseconds
    EXPECT_EQ(out.substr(0, 3), "1.5") << out;
}

}  // namespace
}  // namespace sy::http
