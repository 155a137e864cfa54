// Upstream balancing directives: parsing, validation, and the ring built at load.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>

#include "config/loader.h"
#include "test_support.h"

namespace sy::conf {
namespace {

using test::TempDir;

std::variant<std::shared_ptr<Config>, std::string> load_upstream(const std::string& body) {
    TempDir d;
    d.write("nginx.conf", "events {}\nhttp {\nupstream u {\n" + body + "\n}\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://u; } }\n}\n");
    LoadOptions o;
    o.prefix = d.path();
    o.conf_file = "nginx.conf";
    return load(o);
}

const Upstream& upstream_u(const Config& c) {
    for (auto& u : c.http->upstreams)
        if (u->name == "u") return *u;
    throw std::runtime_error("no upstream u");
}

std::string error_of(const std::string& body) {
    auto r = load_upstream(body);
    auto* e = std::get_if<std::string>(&r);
    return e ? e->substr(0, e->rfind(" in ")) : std::string("(loaded)");
}

TEST(BalanceConfig, DefaultIsRoundRobin) {
    auto r = load_upstream("server 127.0.0.1:1; server 127.0.0.1:2;");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Config>>(r)) << std::get<std::string>(r);
    EXPECT_EQ(upstream_u(*std::get<0>(r)).balance, Balance::RoundRobin);
}

TEST(BalanceConfig, Methods) {
    struct Case { const char* text; Balance b; } cases[] = {
        {"ip_hash;", Balance::IpHash},
        {"hash $remote_addr;", Balance::Hash},
        {"hash $remote_addr consistent;", Balance::HashConsistent},
        {"least_conn;", Balance::LeastConn},
        {"random;", Balance::Random},
        {"random two;", Balance::RandomTwo},
        {"random two least_conn;", Balance::RandomTwoLeastConn},
    };
    for (auto& c : cases) {
        auto r = load_upstream(std::string(c.text) + "\nserver 127.0.0.1:1; server 127.0.0.1:2;");
        ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Config>>(r)) << c.text << ": " << std::get<std::string>(r);
        EXPECT_EQ(upstream_u(*std::get<0>(r)).balance, c.b) << c.text;
    }
}

TEST(BalanceConfig, HashKeyIsATemplate) {
    auto r = load_upstream("hash $request_uri$arg_id;\nserver 127.0.0.1:1;");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Config>>(r));
    const Upstream& u = upstream_u(*std::get<0>(r));
    ASSERT_EQ(u.hash_key.segs.size(), 2u);
    EXPECT_EQ(u.hash_key.segs[0].var.kind, Var::RequestUri);
    EXPECT_EQ(u.hash_key.segs[1].var.kind, Var::Arg);
}

TEST(BalanceConfig, ConsistentRingHas160PointsPerWeight) {
    auto r = load_upstream("hash $uri consistent;\nserver 127.0.0.1:1 weight=2; server 127.0.0.1:2;");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Config>>(r));
    const Upstream& u = upstream_u(*std::get<0>(r));
    EXPECT_EQ(u.ring.size(), 160u * 3);
    for (size_t i = 1; i < u.ring.size(); ++i) EXPECT_LE(u.ring[i - 1].first, u.ring[i].first);
}

TEST(BalanceConfig, BackupIsRefusedWithHashMethods) {
    EXPECT_EQ(error_of("ip_hash;\nserver 127.0.0.1:1; server 127.0.0.1:2 backup;"),
              "balancing method does not support parameter \"backup\"");
    EXPECT_EQ(error_of("server 127.0.0.1:1; server 127.0.0.1:2 backup;\nhash $uri;"),
              "balancing method does not support parameter \"backup\"");
    EXPECT_EQ(error_of("least_conn;\nserver 127.0.0.1:1; server 127.0.0.1:2 backup;"), "(loaded)");
}

TEST(BalanceConfig, BadParameters) {
    EXPECT_EQ(error_of("hash $uri sometimes;\nserver 127.0.0.1:1;"), "invalid parameter \"sometimes\"");
    EXPECT_EQ(error_of("random three;\nserver 127.0.0.1:1;"), "invalid parameter \"three\"");
    EXPECT_EQ(error_of("random two most_conn;\nserver 127.0.0.1:1;"), "invalid parameter \"most_conn\"");
    EXPECT_EQ(error_of("ip_hash on;\nserver 127.0.0.1:1;"), "invalid number of arguments in \"ip_hash\" directive");
    EXPECT_EQ(error_of("server 127.0.0.1:1 weight=0;"), "invalid parameter \"weight=0\"");
}

}  // namespace
}  // namespace sy::conf
