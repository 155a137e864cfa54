#include <gtest/gtest.h>

#include "config/conf.h"
#include "test_support.h"
#include "upstream/balancer.h"

namespace sy {
namespace {

conf::Config config_with(const std::vector<test::PeerSpec>& peers, const std::string& name = "u") {
    conf::Config c;
    c.http = std::make_unique<conf::Http>();
    auto u = std::make_unique<conf::Upstream>(test::make_upstream(peers));
    u->name = name;
    upstream::finish_peers(*u);
    c.http->upstreams.push_back(std::move(u));
    return c;
}

TEST(ConnCount, CopiesStartTheirOwnCounter) {
    conf::ConnCount a;
    ++a;
    conf::ConnCount b = a;
    ++b;
    EXPECT_EQ(int(a), 1);
    EXPECT_EQ(int(b), 2);
    b.share_with(a);
    ++b;
    EXPECT_EQ(int(a), 2);
    EXPECT_TRUE(a.shares(b));
}

TEST(ConnCount, ReloadSharesCountsOfTheSameUpstreamAndAddress) {
    conf::Config old_cfg = config_with({{"127.0.0.1:1"}, {"127.0.0.1:2"}});
    conf::Config other = config_with({{"127.0.0.1:1"}}, "other");
    old_cfg.http->upstreams[0]->peers[0].conns = 3;   // e.g. three open tunnels
    conf::Config new_cfg = config_with({{"127.0.0.1:2"}, {"127.0.0.1:1"}, {"127.0.0.1:3"}});
    upstream::inherit_counters(old_cfg, new_cfg);
    upstream::inherit_counters(old_cfg, other);
    const auto& np = new_cfg.http->upstreams[0]->peers;
    EXPECT_EQ(int(np[1].conns), 3);
    EXPECT_EQ(int(np[0].conns), 0);
    EXPECT_TRUE(np[0].conns.shares(old_cfg.http->upstreams[0]->peers[1].conns));
    EXPECT_FALSE(np[2].conns.shares(old_cfg.http->upstreams[0]->peers[0].conns));
    EXPECT_EQ(int(other.http->upstreams[0]->peers[0].conns), 0);   // another upstream: its own count
    --old_cfg.http->upstreams[0]->peers[0].conns;                    // a tunnel of the old config closes
    EXPECT_EQ(int(np[1].conns), 2);
}

}  // namespace
}  // namespace sy
