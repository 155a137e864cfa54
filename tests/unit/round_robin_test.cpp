// Smooth weighted round robin with passive health checks
// (src/upstream/round_robin.h), against nginx's default balancer.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_support.h"
#include "config/conf.h"
#include "upstream/round_robin.h"

namespace sy::upstream {
namespace {

using test::PeerSpec;

conf::Upstream make(const std::vector<PeerSpec>& specs) { return test::make_upstream(specs); }

std::string name(const conf::Upstream& u, int i) { return i < 0 ? "-" : u.peers[size_t(i)].name; }

// n first-try picks at time `now`, as names.
std::string picks(const conf::Upstream& u, int n, uint64_t now = 1000000) {
    std::string out;
    for (int k = 0; k < n; ++k) out += name(u, pick_round_robin(u, {}, now));
    return out;
}

TEST(RoundRobin, SmoothWeightedSequenceMatchesNginx) {
    // nginx's documented example: weights 5, 1, 1 give a a b a c a a.
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}});
    EXPECT_EQ(picks(u, 7), "aabacaa");
    EXPECT_EQ(picks(u, 7), "aabacaa");  // the cycle repeats
}

TEST(RoundRobin, CurrentWeightsReturnToZeroAfterACycle) {
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}});
    picks(u, 7);
    for (auto& p : u.peers) EXPECT_EQ(p.current_weight, 0) << p.name;
}

TEST(RoundRobin, EqualWeightsAlternate) {
    auto u = make({{"a"}, {"b"}, {"c"}});
    EXPECT_EQ(picks(u, 6), "abcabc");
}

TEST(RoundRobin, WeightsProportionsOverManyPicks) {
    auto u = make({{"a", 3}, {"b", 2}, {"c", 1}});
    std::map<std::string, int> n;
    for (int k = 0; k < 600; ++k) ++n[name(u, pick_round_robin(u, {}, 1000))];
    EXPECT_EQ(n["a"], 300);
    EXPECT_EQ(n["b"], 200);
    EXPECT_EQ(n["c"], 100);
}

TEST(RoundRobin, SkipsTriedPeers) {
    auto u = make({{"a"}, {"b"}, {"c"}});
    std::vector<size_t> tried{0};
    for (int k = 0; k < 6; ++k) EXPECT_NE(pick_round_robin(u, tried, 1000), 0);
    tried = {0, 2};
    for (int k = 0; k < 3; ++k) EXPECT_EQ(pick_round_robin(u, tried, 1000), 1);
    tried = {0, 1, 2};
    EXPECT_EQ(pick_round_robin(u, tried, 1000), -1);
}

TEST(RoundRobin, DownPeerNeverPicked) {
    auto u = make({{"a"}, {"b", 1, false, true}, {"c"}});
    EXPECT_EQ(picks(u, 6), "acacac");
}

TEST(RoundRobin, MaxFailsMarksPeerUnavailableForFailTimeout) {
    auto u = make({{"a"}, {"b"}});
    const uint64_t t0 = 100000;
    report(u, 0, false, t0);  // max_fails=1: one failure is enough
    EXPECT_EQ(picks(u, 4, t0 + 1), "bbbb");
    EXPECT_EQ(picks(u, 2, t0 + 10000), "bb");  // still within fail_timeout (<=)
    // after fail_timeout the peer is tried again
    std::string after = picks(u, 4, t0 + 10001);
    EXPECT_NE(after.find('a'), std::string::npos) << after;
}

TEST(RoundRobin, MaxFailsCountsFailures) {
    auto u = make({{"a", 1, false, false, 3}, {"b"}});
    const uint64_t t0 = 100000;
    report(u, 0, false, t0);
    report(u, 0, false, t0 + 1);
    EXPECT_NE(picks(u, 4, t0 + 2).find('a'), std::string::npos);  // 2 < 3: still live
    report(u, 0, false, t0 + 3);
    EXPECT_EQ(picks(u, 4, t0 + 4), "bbbb");
}

TEST(RoundRobin, MaxFailsZeroNeverMarksDown) {
    auto u = make({{"a", 1, false, false, 0}, {"b"}});
    for (int k = 0; k < 10; ++k) report(u, 0, false, 1000);
    EXPECT_EQ(picks(u, 4, 1001), "abab");
}

TEST(RoundRobin, RecoveryResetsFailures) {
    auto u = make({{"a", 1, false, false, 2, 5000}, {"b"}});
    const uint64_t t0 = 100000;
    report(u, 0, false, t0);
    report(u, 0, false, t0);
    EXPECT_EQ(picks(u, 2, t0 + 100), "bb");
    // fail_timeout passed: a is picked again and succeeds
    const uint64_t t1 = t0 + 5001;
    std::vector<size_t> tried{1};
    ASSERT_EQ(pick_round_robin(u, tried, t1), 0);
    report(u, 0, true, t1);
    EXPECT_EQ(u.peers[0].fails, 0);
    // a single new failure does not mark it down again (max_fails=2)
    report(u, 0, false, t1 + 1);
    EXPECT_NE(picks(u, 4, t1 + 2).find('a'), std::string::npos);
}

TEST(RoundRobin, SuccessWithinFailTimeoutKeepsFailCount) {
    auto u = make({{"a", 1, false, false, 2, 5000}, {"b"}});
    report(u, 0, false, 1000);
    report(u, 0, true, 1500);
    EXPECT_EQ(u.peers[0].fails, 1);
    report(u, 0, false, 2000);
    EXPECT_EQ(picks(u, 2, 2001), "bb");
}

TEST(RoundRobin, BackupOnlyWhenPrimariesUnavailable) {
    auto u = make({{"a"}, {"b"}, {"c", 1, true}});
    EXPECT_EQ(picks(u, 6), "ababab");
    report(u, 0, false, 1000);
    EXPECT_EQ(picks(u, 3, 1001), "bbb");
    report(u, 1, false, 1000);
    EXPECT_EQ(picks(u, 3, 1001), "ccc");
    // primaries come back after fail_timeout
    EXPECT_EQ(picks(u, 2, 1000 + 10001), "ab");
}

TEST(RoundRobin, RetryGoesToBackupAfterPrimariesTried) {
    auto u = make({{"a"}, {"b"}, {"c", 1, true}});
    EXPECT_EQ(pick_round_robin(u, {0, 1}, 1000), 2);
    EXPECT_EQ(pick_round_robin(u, {0, 1, 2}, 1000), -1);
}

TEST(RoundRobin, BackupsAreWeightedToo) {
    auto u = make({{"a", 1, false, true}, {"b", 2, true}, {"c", 1, true}});
    EXPECT_EQ(picks(u, 4), "bcbb");
}

TEST(RoundRobin, AllDownGivesNoPeer) {
    auto u = make({{"a", 1, false, true}, {"b", 1, false, true}});
    EXPECT_EQ(pick_round_robin(u, {}, 1000), -1);
}

TEST(RoundRobin, LoneServerNeverMarkedDown) {
    auto u = make({{"solo"}});
    for (int k = 0; k < 5; ++k) report(u, 0, false, 1000);
    EXPECT_EQ(pick_round_robin(u, {}, 1001), 0);
    EXPECT_EQ(pick_round_robin(u, {}, 1002), 0);
}

TEST(RoundRobin, LoneServerDownIsNotPicked) {
    auto u = make({{"solo", 1, false, true}});
    EXPECT_EQ(pick_round_robin(u, {}, 1000), -1);
}

TEST(RoundRobin, LoneServerAlreadyTried) {
    auto u = make({{"solo"}});
    EXPECT_EQ(pick_round_robin(u, {0}, 1000), -1);
}

TEST(RoundRobin, MaxConnsLimitsAPeer) {
    auto u = make({{"a", 1, false, false, 1, 10000, 1}, {"b"}});
    u.peers[0].conns = 1;
    EXPECT_EQ(picks(u, 3), "bbb");
    u.peers[0].conns = 0;
    EXPECT_NE(picks(u, 3).find('a'), std::string::npos);
}

// nginx conformance (a bug found by this test, now fixed): nginx sets peers->single only when there is exactly one primary and
// no backup servers; with a backup, the lone primary is marked down after
// max_fails like any peer and first tries go to the backup. switchyard
// always returns the lone primary for a first try (tried empty), so after
// `report(fail)` requests keep going to the failed primary. Seen end to end
// with `upstream u { server <dead>; server <live> backup; }`: nginx 1.22.1
// logs $upstream_addr "<dead>, <live>" then "<live>", "<live>"; switchyard
// logs "<dead>, <live>" for every request.
TEST(RoundRobin, LonePrimaryWithBackupCanBeMarkedDown) {
    auto u = make({{"a"}, {"bk", 1, true}});
    report(u, 0, false, 1000);
    EXPECT_EQ(name(u, pick_round_robin(u, {}, 1001)), "bk");
}

// nginx conformance (a bug found by this test, now fixed): nginx's single-peer path honours max_conns ("goto failed" when
// peer->conns >= peer->max_conns); switchyard returns the lone server anyway.
TEST(RoundRobin, LoneServerRespectsMaxConns) {
    auto u = make({{"solo", 1, false, false, 1, 10000, 1}});
    u.peers[0].conns = 1;
    EXPECT_EQ(pick_round_robin(u, {}, 1000), -1);
}

}  // namespace
}  // namespace sy::upstream
