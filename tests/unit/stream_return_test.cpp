// stream's `return VALUE` (src/config/directives.cpp h_stream_return): what
// the loader builds and nginx's errors for it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>

#include "test_support.h"
#include "config/conf.h"
#include "config/loader.h"

namespace sy::conf {
namespace {

struct Result {
    test::TempDir dir;
    std::string conf;
    std::shared_ptr<Config> cfg;
    std::string err;   // the config path replaced by "F"
};

// `body` is one stream server's, from line 4 ("events {}", "stream {", "server {").
std::unique_ptr<Result> load_server(const std::string& body) {
    auto r = std::make_unique<Result>();
    r->conf = r->dir.write("nginx.conf", "events {}\nstream {\nserver {\n" + body + "\n}\n}\n");
    LoadOptions o;
    o.prefix = r->dir.path();
    o.conf_file = "nginx.conf";
    auto res = load(o);
    if (auto* e = std::get_if<std::string>(&res)) {
        r->err = *e;
        for (size_t p; (p = r->err.find(r->conf)) != std::string::npos;) r->err.replace(p, r->conf.size(), "F");
    } else {
        r->cfg = std::get<std::shared_ptr<Config>>(res);
    }
    return r;
}

TEST(StreamReturn, IsAHandlerWithoutProxyPass) {
    auto r = load_server("listen 127.0.0.1:1;\nreturn \"$remote_addr\\n\";");
    ASSERT_TRUE(r->err.empty()) << r->err;
    const Server& s = *r->cfg->stream->servers.at(0);
    EXPECT_TRUE(s.stream_return.has_value());
    EXPECT_FALSE(s.stream_pass.has_value());
    EXPECT_TRUE(s.stream_return_last);
}

TEST(StreamReturn, LastOfProxyPassAndReturnIsTheHandler) {
    auto a = load_server("listen 127.0.0.1:1;\nreturn x;\nproxy_pass 127.0.0.1:2;");
    ASSERT_TRUE(a->err.empty()) << a->err;
    EXPECT_FALSE(a->cfg->stream->servers.at(0)->stream_return_last);
    auto b = load_server("listen 127.0.0.1:1;\nproxy_pass 127.0.0.1:2;\nreturn x;");
    ASSERT_TRUE(b->err.empty()) << b->err;
    EXPECT_TRUE(b->cfg->stream->servers.at(0)->stream_return_last);
}

TEST(StreamReturn, Errors) {
    EXPECT_EQ(load_server("listen 127.0.0.1:1;\nreturn a;\nreturn b;")->err,
              "\"return\" directive is duplicate in F:6");
    EXPECT_EQ(load_server("listen 127.0.0.1:1;\nreturn a b;")->err,
              "invalid number of arguments in \"return\" directive in F:5");
    EXPECT_EQ(load_server("listen 127.0.0.1:1;")->err, "no handler for server in F:3");
}

}  // namespace
}  // namespace sy::conf
