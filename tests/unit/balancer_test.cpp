// Hash-based, least_conn and random balancers (src/upstream/balancer.h),
// following nginx's ip_hash, hash, least_conn and random modules.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "test_support.h"
#include "config/conf.h"
#include "upstream/balancer.h"

namespace sy::upstream {
namespace {

constexpr uint64_t kNow = 1000000;

using test::PeerSpec;

conf::Upstream make(const std::vector<PeerSpec>& specs) { return test::make_upstream(specs); }

conf::Upstream three() { return make({{"127.0.0.1:8081"}, {"127.0.0.1:8082"}, {"127.0.0.1:8083"}}); }

std::string v4(int a, int b, int c, int d) { return {char(a), char(b), char(c), char(d)}; }

int ip_pick(const conf::Upstream& u, const std::string& addr) {
    PickState st;
    return pick_ip_hash(u, {}, kNow, addr, st);
}

int hash_pick(const conf::Upstream& u, const std::string& key) {
    PickState st;
    return pick_hash(u, {}, kNow, key, st);
}

int chash_pick(const conf::Upstream& u, const std::string& key) {
    PickState st;
    return pick_hash_consistent(u, {}, kNow, key, st);
}

// ---- crc32

TEST(Crc32, KnownValues) {
    EXPECT_EQ(crc32(""), 0u);
    EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
    EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

TEST(Crc32, UpdateChainsLikeOneCall) {
    uint32_t c = crc32_update(0xffffffffu, "12345");
    c = crc32_update(c, "6789");
    EXPECT_EQ(c ^ 0xffffffffu, 0xCBF43926u);
}

// ---- ip_hash

TEST(IpHash, SameSlash24SamePeer) {
    auto u = three();
    for (int net = 0; net < 50; ++net) {
        int first = ip_pick(u, v4(10, 1, net, 1));
        ASSERT_GE(first, 0);
        for (int host = 2; host < 255; host += 17) {
            EXPECT_EQ(ip_pick(u, v4(10, 1, net, host)), first) << net;
        }
    }
}

TEST(IpHash, KnownValueFromNginxFormula) {
    // 89 -> (89*113+192)%6271 -> ... over 192.168.1 ; w = hash % 3
    uint32_t h = 89;
    for (int b : {192, 168, 1}) h = (h * 113 + uint32_t(b)) % 6271;
    auto u = three();
    EXPECT_EQ(ip_pick(u, v4(192, 168, 1, 77)), int(h % 3));
}

TEST(IpHash, DifferentNetworksSpread) {
    auto u = three();
    std::map<int, int> count;
    for (int net = 0; net < 256; ++net) count[ip_pick(u, v4(10, net, 7, 1))]++;
    ASSERT_EQ(count.size(), 3u);
    for (auto& [i, n] : count) {
        EXPECT_GE(i, 0);
        EXPECT_GT(n, 40) << i;
    }
}

TEST(IpHash, DownPeerMovesOnlyItsClients) {
    auto u = three();
    std::vector<int> before;
    for (int net = 0; net < 200; ++net) before.push_back(ip_pick(u, v4(172, 16, net, 9)));
    u.peers[1].down = true;
    int moved = 0;
    for (int net = 0; net < 200; ++net) {
        int now = ip_pick(u, v4(172, 16, net, 9));
        EXPECT_NE(now, 1);
        EXPECT_GE(now, 0);
        if (before[size_t(net)] != 1) {
            EXPECT_EQ(now, before[size_t(net)]) << net;
        } else {
            ++moved;
        }
    }
    EXPECT_GT(moved, 0);
}

TEST(IpHash, Ipv6UsesAllSixteenBytes) {
    auto u = three();
    std::string base(16, '\0');
    base[0] = char(0x20);
    base[1] = char(0x01);
    std::set<int> seen;
    for (int last = 0; last < 64; ++last) {
        std::string a = base;
        a[15] = char(last);
        seen.insert(ip_pick(u, a));
    }
    EXPECT_GT(seen.size(), 1u);  // the last byte matters (unlike IPv4's fourth)
    // and the exact formula over all 16 bytes
    std::string a = base;
    a[15] = char(5);
    uint32_t h = 89;
    for (unsigned char b : a) h = (h * 113 + b) % 6271;
    EXPECT_EQ(ip_pick(u, a), int(h % 3));
}

TEST(IpHash, RetryAfterFailurePicksAnotherPeer) {
    auto u = three();
    for (int net = 0; net < 30; ++net) {
        PickState st;
        std::vector<size_t> tried;
        std::string addr = v4(192, 0, net, 1);
        int a = pick_ip_hash(u, tried, kNow, addr, st);
        ASSERT_GE(a, 0);
        tried.push_back(size_t(a));
        int b = pick_ip_hash(u, tried, kNow, addr, st);
        ASSERT_GE(b, 0);
        EXPECT_NE(a, b);
        tried.push_back(size_t(b));
        int c = pick_ip_hash(u, tried, kNow, addr, st);
        ASSERT_GE(c, 0);
        EXPECT_NE(c, a);
        EXPECT_NE(c, b);
        tried.push_back(size_t(c));
        EXPECT_EQ(pick_ip_hash(u, tried, kNow, addr, st), -1);
    }
}

TEST(IpHash, FailedPeerSkippedUntilTimeout) {
    auto u = three();
    std::string addr = v4(10, 9, 8, 7);
    int a = ip_pick(u, addr);
    u.peers[size_t(a)].fails = 1;
    u.peers[size_t(a)].checked_ms = kNow;
    EXPECT_NE(ip_pick(u, addr), a);
    PickState st;
    EXPECT_EQ(pick_ip_hash(u, {}, kNow + 20000, addr, st), a);  // fail_timeout (10 s) over
}

TEST(IpHash, WeightsAndSinglePeer) {
    auto u = make({{"a", 3}, {"b", 1}});
    std::map<int, int> count;
    for (int net = 0; net < 256; ++net)
        for (int n2 = 0; n2 < 8; ++n2) count[ip_pick(u, v4(10, n2, net, 1))]++;
    EXPECT_GT(count[0], count[1] * 2);
    auto one = make({{"only"}});
    EXPECT_EQ(ip_pick(one, v4(1, 2, 3, 4)), 0);
    one.peers[0].down = true;
    EXPECT_EQ(ip_pick(one, v4(1, 2, 3, 4)), -1);
}

TEST(IpHash, UnixClientHashesPseudoAddress) {
    // nginx hashes three zero bytes for non-IP clients: stable choice
    auto u = three();
    uint32_t h = 89;
    for (int k = 0; k < 3; ++k) h = (h * 113) % 6271;
    EXPECT_EQ(ip_pick(u, ""), int(h % 3));
    EXPECT_EQ(ip_pick(u, ""), ip_pick(u, v4(0, 0, 0, 200)));
}

// ---- hash

TEST(Hash, SameKeySamePeer) {
    auto u = three();
    for (int k = 0; k < 200; ++k) {
        std::string key = "/item/" + std::to_string(k);
        int first = hash_pick(u, key);
        ASSERT_GE(first, 0);
        EXPECT_EQ(hash_pick(u, key), first);
        EXPECT_EQ(hash_pick(u, key), first);
    }
}

TEST(Hash, MatchesMemcachedFormula) {
    auto u = three();
    std::string key = "/index.html";
    uint32_t h = (crc32(key) >> 16) & 0x7fff;
    EXPECT_EQ(hash_pick(u, key), int(h % 3));
}

TEST(Hash, KeysSpread) {
    auto u = three();
    std::map<int, int> count;
    for (int k = 0; k < 3000; ++k) count[hash_pick(u, "key" + std::to_string(k))]++;
    ASSERT_EQ(count.size(), 3u);
    for (auto& [i, n] : count) EXPECT_GT(n, 700) << i;
}

TEST(Hash, UnusablePeerRehashesAndRetryDiffers) {
    auto u = three();
    std::string key = "abc";
    int a = hash_pick(u, key);
    u.peers[size_t(a)].down = true;
    int b = hash_pick(u, key);
    EXPECT_GE(b, 0);
    EXPECT_NE(a, b);
    // second step of the rehash: crc32("1" key)
    uint32_t h0 = (crc32(key) >> 16) & 0x7fff;
    uint32_t h1 = (crc32("1" + key) >> 16) & 0x7fff;
    if (int((h0 + h1) % 3) != a) {
        EXPECT_EQ(b, int((h0 + h1) % 3));
    }
    u.peers[size_t(a)].down = false;

    PickState st;
    std::vector<size_t> tried;
    int x = pick_hash(u, tried, kNow, key, st);
    tried.push_back(size_t(x));
    int y = pick_hash(u, tried, kNow, key, st);
    EXPECT_GE(y, 0);
    EXPECT_NE(x, y);
}

// ---- hash consistent

conf::Upstream ring_of(int n) {
    std::vector<PeerSpec> specs;
    for (int i = 0; i < n; ++i) specs.push_back({"10.0.0." + std::to_string(i + 1) + ":80"});
    auto u = make(specs);
    build_ring(u);
    return u;
}

TEST(HashConsistent, RingHas160PointsPerWeight) {
    auto u = make({{"10.0.0.1:80", 2}, {"10.0.0.2:80", 1}});
    build_ring(u);
    EXPECT_GE(u.ring.size(), 479u);  // 480 less any duplicate hash
    EXPECT_LE(u.ring.size(), 480u);
    for (size_t i = 1; i < u.ring.size(); ++i) EXPECT_LT(u.ring[i - 1].first, u.ring[i].first);
}

TEST(HashConsistent, FirstPointMatchesKetamaFormula) {
    auto u = make({{"127.0.0.1:8080"}, {"unix:/tmp/s.sock"}});
    build_ring(u);
    // crc32("127.0.0.1" "\0" "8080" + 4 zero bytes)
    std::string s = std::string("127.0.0.1") + '\0' + "8080" + std::string(4, '\0');
    std::string t = std::string("/tmp/s.sock") + '\0' + std::string(4, '\0');
    bool found_a = false, found_b = false;
    for (auto& [h, i] : u.ring) {
        if (h == crc32(s) && i == 0) found_a = true;
        if (h == crc32(t) && i == 1) found_b = true;
    }
    EXPECT_TRUE(found_a);
    EXPECT_TRUE(found_b);
}

TEST(HashConsistent, SameKeySamePeer) {
    auto u = ring_of(3);
    for (int k = 0; k < 300; ++k) {
        std::string key = "user" + std::to_string(k);
        int a = chash_pick(u, key);
        ASSERT_GE(a, 0);
        EXPECT_EQ(chash_pick(u, key), a);
    }
}

TEST(HashConsistent, AddingAPeerMovesAboutAQuarter) {
    auto u3 = ring_of(3);
    auto u4 = ring_of(4);
    int moved = 0;
    const int n = 10000;
    for (int k = 0; k < n; ++k) {
        std::string key = "/obj/" + std::to_string(k);
        int a = chash_pick(u3, key), b = chash_pick(u4, key);
        if (a != b) {
            ++moved;
            EXPECT_EQ(b, 3);  // keys only move to the new peer
        }
    }
    EXPECT_GT(moved, n * 15 / 100);
    EXPECT_LT(moved, n * 35 / 100);
}

TEST(HashConsistent, RemovingAPeerMovesOnlyItsKeys) {
    auto u = ring_of(4);
    std::vector<int> before;
    for (int k = 0; k < 5000; ++k) before.push_back(chash_pick(u, "k" + std::to_string(k)));
    // removed from the configuration: ring of the other three, same names
    auto v = make({{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.4:80"}});
    build_ring(v);
    const std::map<int, int> remap{{0, 0}, {1, 1}, {3, 2}};
    for (int k = 0; k < 5000; ++k) {
        int after = chash_pick(v, "k" + std::to_string(k));
        if (before[size_t(k)] != 2) {
            EXPECT_EQ(after, remap.at(before[size_t(k)])) << k;
        }
    }
    // marked down: same property, and retries walk the ring
    u.peers[2].down = true;
    for (int k = 0; k < 5000; ++k) {
        int after = chash_pick(u, "k" + std::to_string(k));
        EXPECT_NE(after, 2);
        if (before[size_t(k)] != 2) {
            EXPECT_EQ(after, before[size_t(k)]) << k;
        }
    }
}

TEST(HashConsistent, RetryPicksAnotherPeer) {
    auto u = ring_of(3);
    PickState st;
    std::vector<size_t> tried;
    for (int k = 0; k < 3; ++k) {
        int i = pick_hash_consistent(u, tried, kNow, "some-key", st);
        ASSERT_GE(i, 0);
        for (size_t t : tried) EXPECT_NE(size_t(i), t);
        tried.push_back(size_t(i));
    }
    EXPECT_EQ(pick_hash_consistent(u, tried, kNow, "some-key", st), -1);
}

// ---- least_conn

TEST(LeastConn, PicksLeastLoaded) {
    auto u = three();
    u.peers[0].conns = 5;
    u.peers[1].conns = 2;
    u.peers[2].conns = 7;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 1);
    EXPECT_EQ(pick_least_conn(u, {1}, kNow), 0);
    u.peers[1].down = true;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 0);
}

TEST(LeastConn, RespectsWeights) {
    auto u = make({{"a", 4}, {"b", 1}});
    u.peers[0].conns = 6;  // 6/4 < 2/1
    u.peers[1].conns = 2;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 0);
    u.peers[0].conns = 9;  // 9/4 > 2/1
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 1);
}

TEST(LeastConn, TiesUseSmoothWeightedRoundRobin) {
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}});
    std::string seq;
    for (int k = 0; k < 7; ++k) seq += u.peers[size_t(pick_least_conn(u, {}, kNow))].name;
    EXPECT_EQ(seq, "aabacaa");
}

TEST(LeastConn, SimulatedLoadFollowsWeights) {
    auto u = make({{"a", 2}, {"b", 1}});
    for (int k = 0; k < 30; ++k) u.peers[size_t(pick_least_conn(u, {}, kNow))].conns++;
    EXPECT_EQ(u.peers[0].conns, 20);
    EXPECT_EQ(u.peers[1].conns, 10);
}

TEST(LeastConn, BackupOnlyWhenPrimariesUnusable) {
    auto u = make({{"a"}, {"b"}, {"bk", 1, true}});
    u.peers[0].conns = 100;
    u.peers[1].conns = 100;
    EXPECT_NE(pick_least_conn(u, {}, kNow), 2);
    u.peers[0].down = true;
    u.peers[1].fails = 1;
    u.peers[1].checked_ms = kNow;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 2);
    EXPECT_EQ(pick_least_conn(u, {2}, kNow), -1);
}

TEST(LeastConn, MaxConnsRespected) {
    auto u = three();
    for (auto& p : u.peers) p.max_conns = 1;
    u.peers[0].conns = 1;
    u.peers[2].conns = 1;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), 1);
    u.peers[1].conns = 1;
    EXPECT_EQ(pick_least_conn(u, {}, kNow), -1);
}

// ---- random

TEST(Random, SpreadFollowsWeights) {
    auto u = make({{"a", 1}, {"b", 2}, {"c", 3}});
    std::map<int, int> count;
    const int n = 30000;
    for (int k = 0; k < n; ++k) count[pick_random(u, {}, kNow, false, false)]++;
    EXPECT_NEAR(count[0], n / 6, n / 30);
    EXPECT_NEAR(count[1], n / 3, n / 30);
    EXPECT_NEAR(count[2], n / 2, n / 30);
    EXPECT_EQ(count.count(-1), 0u);
}

TEST(Random, SkipsDownAndTried) {
    auto u = three();
    u.peers[1].down = true;
    for (int k = 0; k < 1000; ++k) {
        int i = pick_random(u, {0}, kNow, false, false);
        EXPECT_EQ(i, 2);
        EXPECT_EQ(pick_random(u, {0}, kNow, true, true), 2);
    }
    EXPECT_EQ(pick_random(u, {0, 2}, kNow, false, false), -1);
}

TEST(Random, TwoPrefersLessLoaded) {
    auto u = make({{"a"}, {"b"}});
    u.peers[0].conns = 10;
    u.peers[1].conns = 1;
    for (int k = 0; k < 1000; ++k) EXPECT_EQ(pick_random(u, {}, kNow, true, true), 1);
    auto v = three();
    v.peers[0].conns = 50;
    std::map<int, int> count;
    for (int k = 0; k < 9000; ++k) count[pick_random(v, {}, kNow, true, false)]++;
    EXPECT_EQ(count[0], 0);  // always paired with a less loaded one
    EXPECT_NEAR(count[1], 4500, 600);
    EXPECT_NEAR(count[2], 4500, 600);
}

TEST(Random, TwoWithLoadSimulationBalances) {
    auto u = three();
    for (int k = 0; k < 300; ++k) u.peers[size_t(pick_random(u, {}, kNow, true, true))].conns++;
    for (auto& p : u.peers) EXPECT_NEAR(p.conns, 100, 15);
}

}  // namespace
}  // namespace sy::upstream
