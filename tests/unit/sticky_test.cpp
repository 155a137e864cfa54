#include "upstream/sticky.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "upstream/balancer.h"

namespace sy {
namespace {

conf::Upstream sticky_upstream() {
    conf::Upstream u = test::make_upstream({{"127.0.0.1:1"}, {"127.0.0.1:2"}});
    u.sticky.on = true;
    u.sticky.name = "srv";
    upstream::finish_peers(u);
    return u;
}

TEST(Sticky, CookieValueIsTheMd5OfTheAddress) {
    conf::Upstream u = sticky_upstream();
    EXPECT_EQ(u.peers[0].sticky_id, "9b5cdbb1c3e1a06da4bf0789b25fe38a");  // md5("127.0.0.1:1"), as nginx Plus
    EXPECT_NE(u.peers[1].sticky_id, u.peers[0].sticky_id);
}

TEST(Sticky, PickFollowsAUsableUntriedPeer) {
    conf::Upstream u = sticky_upstream();
    const std::string id1 = u.peers[1].sticky_id;
    EXPECT_EQ(upstream::sticky_pick(u, id1, {}, 1000), 1);
    EXPECT_EQ(upstream::sticky_pick(u, id1, {1}, 1000), -1);          // tried already: balance instead
    EXPECT_EQ(upstream::sticky_pick(u, "nonsense", {}, 1000), -1);
    EXPECT_EQ(upstream::sticky_pick(u, "", {}, 1000), -1);
    u.peers[1].fails = 1;
    u.peers[1].checked_ms = 900;                                       // failed, within fail_timeout
    EXPECT_EQ(upstream::sticky_pick(u, id1, {}, 1000), -1);
    EXPECT_EQ(upstream::sticky_pick(u, id1, {}, 900 + 10001), 1);      // fail_timeout over
    u.peers[1].down = true;
    EXPECT_EQ(upstream::sticky_pick(u, id1, {}, 100000), -1);
}

TEST(Sticky, SetCookieAttributes) {
    conf::Upstream u = sticky_upstream();
    const conf::Peer& p = u.peers[0];
    EXPECT_EQ(upstream::sticky_set_cookie(u.sticky, p, 0), "srv=" + p.sticky_id);
    conf::StickyCookie st = u.sticky;
    st.expires = 3600000;
    st.domain = ".example.com";
    st.path = "/";
    st.httponly = st.secure = true;
    st.samesite = "Strict";
    EXPECT_EQ(upstream::sticky_set_cookie(st, p, 1700000000),
              "srv=" + p.sticky_id + "; expires=Tue, 14-Nov-23 23:13:20 GMT; max-age=3600; domain=.example.com; path=/; "
                                     "httponly; secure; samesite=Strict");
    st = u.sticky;
    st.expires = UINT64_MAX;   // expires=max
    EXPECT_EQ(upstream::sticky_set_cookie(st, p, 1700000000),
              "srv=" + p.sticky_id + "; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000");
}

}  // namespace
}  // namespace sy
