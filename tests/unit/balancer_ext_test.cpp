// slow_start, bounded-load consistent hashing (`load_factor`), the passive
// health accounting (peer_failed/peer_succeeded/peer_picked, effective
// weights) and round robin's precomputed schedule (src/upstream/round_robin.h),
// which must give nginx 1.22's smooth weighted round robin exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"
#include "config/conf.h"
#include "upstream/balancer.h"
#include "upstream/round_robin.h"
#include "upstream/slow_start.h"

namespace sy::upstream {
namespace {

using test::PeerSpec;

conf::Upstream make(const std::vector<PeerSpec>& specs) { return test::make_upstream(specs); }

// Picks at time `now` until `n` were made; how many went to each peer.
std::map<int, int> count_picks(const conf::Upstream& u, int n, uint64_t now) {
    std::map<int, int> c;
    for (int k = 0; k < n; ++k) c[pick_round_robin(u, {}, now)]++;
    return c;
}

// ---- passive health accounting -------------------------------------------------

TEST(PeerHealth, FailedCountsAndMarksUnavailableAtMaxFails) {
    auto u = make({{"a", 1, false, false, 2, 5000}, {"b"}});
    const conf::Peer& a = u.peers[0];
    uint64_t e0 = health_epoch();
    EXPECT_FALSE(peer_failed(a, 1000));   // 1 of 2: nothing to log
    EXPECT_EQ(a.fails, 1);
    EXPECT_EQ(a.accessed_ms, 1000u);
    EXPECT_EQ(a.checked_ms, 1000u);
    EXPECT_GT(health_epoch(), e0);   // every failure is announced to running schedules
    EXPECT_TRUE(peer_usable(a, 1001));
    EXPECT_TRUE(peer_failed(a, 2000));    // "upstream server temporarily disabled"
    EXPECT_EQ(a.fails, 2);
    EXPECT_FALSE(peer_usable(a, 2001));
    EXPECT_FALSE(peer_usable(a, 7000));   // fail_timeout is inclusive, as nginx's
    EXPECT_TRUE(peer_usable(a, 7001));
    EXPECT_TRUE(peer_failed(a, 7001));    // nginx logs it at every failure at max_fails
}

TEST(PeerHealth, FailureTakesWeightOverMaxFails) {
    // nginx: effective_weight -= weight / max_fails, not below 0
    auto u = make({{"a", 7, false, false, 3}, {"b", 2, false, false, 0}, {"c", 1, false, false, 2}});
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(u.peers[0].weight_lost, 2);   // 7 / 3
    peer_failed(u.peers[0], 1000);
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(u.peers[0].weight_lost, 6);
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(u.peers[0].weight_lost, 7);   // effective weight 0
    EXPECT_FALSE(peer_failed(u.peers[1], 1000));   // max_fails=0: no weight taken, never disabled
    EXPECT_EQ(u.peers[1].weight_lost, 0);
    peer_failed(u.peers[2], 1000);
    EXPECT_EQ(u.peers[2].weight_lost, 0);   // 1 / 2
    EXPECT_EQ(effective_weight(u.peers[0], 1000), 0);
    regain_weight(u.peers[0]);
    EXPECT_EQ(effective_weight(u.peers[0], 1000), kWeightScale);
}

TEST(PeerHealth, EffectiveWeightComesBackOneUnitPerRound) {
    // a: weight 3, max_fails 1 -> effective weight 0 after a failure; after
    // fail_timeout its first round adds 0, the next 1, then 2, then 3 (nginx)
    auto u = make({{"a", 3, false, false, 1, 1000}, {"b", 3}, {"c", 3}});
    peer_failed(u.peers[0], 1000);
    std::vector<int> lost;
    for (int k = 0; k < 4; ++k) {
        lost.push_back(u.peers[0].weight_lost);
        pick_round_robin(u, {}, 2001 + uint64_t(k) * 1001);   // a new fail_timeout each time: a stays usable
    }
    EXPECT_EQ(lost, (std::vector<int>{3, 2, 1, 0}));
    EXPECT_EQ(u.peers[0].weight_lost, 0);
}

TEST(PeerHealth, SuccessResetsFailsOnlyAfterAPickPastFailTimeout) {
    // nginx: `if (peer->accessed < peer->checked) peer->fails = 0;`, where a
    // pick moves checked to now only when fail_timeout has passed since it
    auto u = make({{"a", 1, false, false, 3, 5000, 0}});
    const conf::Peer& a = u.peers[0];
    peer_failed(a, 1000);
    peer_picked(a, 6000);      // 5000 ms later: not more than fail_timeout
    peer_succeeded(a, 9000);   // a success long after does not matter: the pick did
    EXPECT_EQ(a.fails, 1);
    EXPECT_EQ(a.checked_ms, 1000u);
    peer_picked(a, 6001);
    EXPECT_EQ(a.checked_ms, 6001u);
    peer_succeeded(a, 6002);
    EXPECT_EQ(a.fails, 0);
    EXPECT_EQ(a.recovered_ms, 0u);   // no slow_start: no ramp
    // a failure after the pick, before its success: not reset
    peer_failed(a, 20000);
    peer_picked(a, 30000);
    peer_failed(a, 30001);
    peer_succeeded(a, 30002);
    EXPECT_EQ(a.fails, 2);
}

TEST(PeerHealth, ReportIsTheSame) {
    auto u = make({{"a", 1, false, false, 1, 5000}, {"b"}});
    u.peers[0].slow_start = 10000;
    report(u, 0, false, 1000);
    EXPECT_EQ(u.peers[0].fails, 1);
    EXPECT_EQ(pick_round_robin(u, {1}, 7000), 0);   // past fail_timeout: a is tried again
    report(u, 0, true, 7000);
    EXPECT_EQ(u.peers[0].fails, 0);
    EXPECT_EQ(u.peers[0].recovered_ms, 7000u);
}

TEST(PeerHealth, AFailedPeerTakesOneTryPerFailTimeout) {
    // after fail_timeout a failed peer is usable again, but picking it moves
    // `checked` to now: the next try waits for another fail_timeout unless
    // that one succeeded (nginx has no other probe)
    auto u = make({{"a", 1, false, false, 1, 10000}, {"b"}, {"c"}});
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(count_picks(u, 30, 11000)[0], 0);
    EXPECT_EQ(count_picks(u, 30, 11001)[0], 1);
    EXPECT_EQ(count_picks(u, 30, 21001)[0], 0);
    EXPECT_EQ(count_picks(u, 30, 21002)[0], 1);
    peer_succeeded(u.peers[0], 21003);
    EXPECT_EQ(u.peers[0].fails, 0);
    EXPECT_EQ(count_picks(u, 30, 21004)[0], 10);
}

TEST(PeerHealth, NoQuickRecoveryWhenEveryPeerFailed) {
    // nginx >= 1.11.5: with every peer failed the pick fails until a
    // fail_timeout runs out; the failure counts stay
    auto u = make({{"a"}, {"b"}, {"c"}, {"d"}});
    for (size_t i = 0; i < 4; ++i) peer_failed(u.peers[i], 1000);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(pick_round_robin(u, {}, 2000), -1);
    for (auto& p : u.peers) EXPECT_EQ(p.fails, 1);
    EXPECT_GE(pick_round_robin(u, {}, 11001), 0);
    u.balance = conf::Balance::LeastConn;
    for (size_t i = 0; i < 4; ++i) peer_failed(u.peers[i], 20000);
    EXPECT_EQ(pick_least_conn(u, {}, 20001), -1);
    for (auto& p : u.peers) EXPECT_GE(p.fails, 1);
}

// ---- slow_start ------------------------------------------------------------------

// Two equal peers; `a` has slow_start=10s, failed at t0 (max_fails=1,
// fail_timeout=10s), is tried again at t1 and succeeds.
struct Recovered {
    conf::Upstream u = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    static constexpr uint64_t t0 = 100000, t1 = t0 + 10001;
    Recovered() {
        u.peers[0].slow_start = 10000;
        u.peers[1].slow_start = 10000;
        peer_failed(u.peers[0], t0);
        EXPECT_EQ(pick_round_robin(u, {1}, t1), 0);
        peer_succeeded(u.peers[0], t1);
    }
};

TEST(SlowStart, RecoveryStartsTheRamp) {
    Recovered r;
    EXPECT_EQ(r.u.peers[0].fails, 0);
    EXPECT_EQ(r.u.peers[0].recovered_ms, Recovered::t1);
    EXPECT_EQ(r.u.peers[1].recovered_ms, 0u);
}

TEST(SlowStart, EffectiveWeightRampsLinearly) {
    Recovered r;
    const conf::Peer& a = r.u.peers[0];
    const int full = kWeightScale;
    EXPECT_EQ(effective_weight(a, Recovered::t1), 1);   // never 0
    EXPECT_EQ(effective_weight(a, Recovered::t1 + 2500), full / 4);
    EXPECT_EQ(effective_weight(a, Recovered::t1 + 5000), full / 2);
    EXPECT_EQ(effective_weight(a, Recovered::t1 + 9999), full * 9999 / 10000);
    EXPECT_NE(a.recovered_ms, 0u);
    EXPECT_EQ(effective_weight(a, Recovered::t1 + 10000), full);
    EXPECT_EQ(a.recovered_ms, 0u);   // the ramp is over
    EXPECT_EQ(effective_weight(a, Recovered::t1 + 1), full);
    // a heavier peer ramps to its own weight
    conf::Peer p;
    p.weight = 5;
    p.slow_start = 1000;
    p.recovered_ms = 50;
    EXPECT_EQ(effective_weight(p, 50 + 200), 5 * kWeightScale / 5);
}

TEST(SlowStart, TheRampCapsNginxsEffectiveWeight) {
    // weight 4, max_fails 2: a failure takes 2 of nginx's effective weight;
    // the weight used is the lower of that and the ramp
    auto u = make({{"a", 4, false, false, 2, 10000}, {"b"}});
    conf::Peer& a = u.peers[0];
    a.slow_start = 10000;
    a.recovered_ms = 1000;
    peer_failed(a, 1000);   // 1 of 2: still usable, the ramp goes on
    EXPECT_EQ(effective_weight(a, 1000 + 2500), 4 * kWeightScale / 4);   // ramp 1/4 < nginx's 2/4
    EXPECT_EQ(effective_weight(a, 1000 + 7500), 2 * kWeightScale);       // nginx's 2 < ramp 3
    EXPECT_EQ(ramped_weight(a, 1000 + 7500), 3 * kWeightScale);
}

TEST(SlowStart, RoundRobinGivesARecoveredPeerFewerPicksFirst) {
    Recovered r;
    const uint64_t t1 = Recovered::t1;
    // 1 s into 10 s: about 1/10 of b's weight
    auto c1 = count_picks(r.u, 1000, t1 + 1000);
    EXPECT_GT(c1[0], 40);
    EXPECT_LT(c1[0], 130);
    // half way: about 1/3 of the picks
    auto c5 = count_picks(r.u, 900, t1 + 5000);
    EXPECT_NEAR(c5[0], 300, 20);
    // over: even
    auto c10 = count_picks(r.u, 1000, t1 + 10000);
    EXPECT_EQ(c10[0], 500);
    EXPECT_EQ(c10[1], 500);
    EXPECT_EQ(r.u.peers[0].recovered_ms, 0u);
}

TEST(SlowStart, ARampingPeerIsStillPicked) {
    Recovered r;
    auto c = count_picks(r.u, 200, Recovered::t1);   // at the very start: weight 1/64 of b's
    EXPECT_GE(c[0], 2);
    EXPECT_LE(c[0], 5);
}

TEST(SlowStart, ProbationIsOneTryAndTheRampStartsAtItsSuccess) {
    auto u = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    u.peers[0].slow_start = 10000;
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(count_picks(u, 10, 1000 + 10000)[0], 0);   // unavailable
    // available again: one try (at the bottom of the ramp, so it comes
    // after a few dozen picks of b), then unavailable until it succeeds or
    // another fail_timeout passed
    std::vector<int> seq;
    for (int k = 0; k < 200; ++k) seq.push_back(pick_round_robin(u, {}, 1000 + 10001));
    EXPECT_EQ(std::count(seq.begin(), seq.end(), 0), 1);
    EXPECT_GT(std::find(seq.begin(), seq.end(), 0) - seq.begin(), 10);
    peer_succeeded(u.peers[0], 1000 + 10002);
    EXPECT_EQ(u.peers[0].recovered_ms, 1000u + 10002);
    // the same without slow_start: nginx's effective weight alone, back in
    // one round for weight 1, and no ramp after the success
    auto v = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    peer_failed(v.peers[0], 1000);
    seq.clear();
    for (int k = 0; k < 10; ++k) seq.push_back(pick_round_robin(v, {}, 1000 + 10001));
    EXPECT_EQ(seq, (std::vector<int>{1, 0, 1, 1, 1, 1, 1, 1, 1, 1}));
    peer_succeeded(v.peers[0], 1000 + 10002);
    EXPECT_EQ(v.peers[0].recovered_ms, 0u);
    EXPECT_EQ(count_picks(v, 10, 1000 + 10003)[0], 5);
}

TEST(SlowStart, OnlyAPeerThatWasUnavailableRamps) {
    auto u = make({{"a", 1, false, false, 3, 10000}, {"b"}});
    u.peers[0].slow_start = 10000;
    peer_failed(u.peers[0], 1000);   // 1 of 3: still available
    peer_picked(u.peers[0], 20000);
    peer_succeeded(u.peers[0], 20000);
    EXPECT_EQ(u.peers[0].fails, 0);
    EXPECT_EQ(u.peers[0].recovered_ms, 0u);
}

TEST(SlowStart, FailingAgainStopsTheRamp) {
    Recovered r;
    peer_failed(r.u.peers[0], Recovered::t1 + 3000);
    EXPECT_EQ(r.u.peers[0].recovered_ms, 0u);
    EXPECT_FALSE(peer_usable(r.u.peers[0], Recovered::t1 + 3001));
    // tried again after fail_timeout and a success: a new ramp from there
    peer_picked(r.u.peers[0], Recovered::t1 + 3000 + 10001);
    peer_succeeded(r.u.peers[0], Recovered::t1 + 3000 + 10001);
    EXPECT_EQ(r.u.peers[0].recovered_ms, Recovered::t1 + 3000 + 10001);
}

TEST(SlowStart, PeerAddedAtRunTimeRamps) {
    // the resolver's contract: a peer that appears while running gets recovered_ms = now
    auto u = make({{"a"}, {"b"}, {"c"}, {"d"}});
    for (auto& p : u.peers) p.slow_start = 20000;
    const uint64_t now = 500000;
    u.peers[3].recovered_ms = now;
    auto c = count_picks(u, 4000, now + 2000);   // 10% into the ramp
    EXPECT_LT(c[3], 4000 / 4 / 5);
    auto c2 = count_picks(u, 4000, now + 20000);
    EXPECT_EQ(c2[3], 1000);
    EXPECT_EQ(u.peers[3].recovered_ms, 0u);
}

TEST(SlowStart, LeastConnWeighsByTheRamp) {
    Recovered r;
    r.u.balance = conf::Balance::LeastConn;
    // connections held: the ramping peer gets about its effective share
    for (int k = 0; k < 140; ++k) r.u.peers[size_t(pick_least_conn(r.u, {}, Recovered::t1 + 1000))].conns++;
    const int a = r.u.peers[0].conns, b = r.u.peers[1].conns;
    EXPECT_GE(a, 10);
    EXPECT_LE(a, 16);   // 6/64 of b's weight: 140 * 6 / 70 = 12
    EXPECT_EQ(a + b, 140);
    // after the ramp: equal again for new connections
    for (auto& p : r.u.peers) p.conns = 0;
    for (int k = 0; k < 100; ++k) r.u.peers[size_t(pick_least_conn(r.u, {}, Recovered::t1 + 10000))].conns++;
    EXPECT_EQ(r.u.peers[0].conns, 50);
    EXPECT_EQ(r.u.peers[0].recovered_ms, 0u);
}

TEST(SlowStart, LeastConnIdleTieUsesTheRampToo) {
    Recovered r;
    r.u.balance = conf::Balance::LeastConn;
    // nothing held: every pick ties at 0 connections, round robin by effective weight
    std::map<int, int> c;
    for (int k = 0; k < 650; ++k) c[pick_least_conn(r.u, {}, Recovered::t1 + 1000)]++;
    EXPECT_GE(c[0], 50);
    EXPECT_LE(c[0], 65);
}

// ---- bounded-load consistent hashing ---------------------------------------------

conf::Upstream ring_of(int n, double load_factor) {
    std::vector<PeerSpec> specs;
    for (int i = 0; i < n; ++i) specs.push_back({"10.0.0." + std::to_string(i + 1) + ":80"});
    auto u = make(specs);
    u.balance = conf::Balance::HashConsistent;
    u.load_factor = load_factor;
    build_ring(u);
    return u;
}

int chash(const conf::Upstream& u, const std::string& key, std::vector<size_t> tried = {}) {
    PickState st;
    return pick_hash_consistent(u, tried, 1000000, key, st);
}

int64_t bound_of(const conf::Upstream& u, double f, int total) {
    int live = 0;
    for (auto& p : u.peers) live += !p.down;
    return int64_t(std::ceil(f * total / live - 1e-9));
}

// Keys whose unbounded peer is `peer`.
std::vector<std::string> keys_of(const conf::Upstream& u, int peer, size_t n) {
    std::vector<std::string> out;
    for (int k = 0; out.size() < n; ++k) {
        std::string key = "user-" + std::to_string(k);
        if (chash(u, key) == peer) out.push_back(key);
    }
    return out;
}

// The first peer clockwise from key's point, skipping `skip` (independent walk).
int next_on_ring(const conf::Upstream& u, const std::string& key, const std::vector<int>& skip) {
    uint32_t h = crc32(key);
    size_t i = 0;
    while (i < u.ring.size() && u.ring[i].first < h) ++i;
    for (size_t k = 0; k < u.ring.size(); ++k) {
        int p = int(u.ring[(i + k) % u.ring.size()].second);
        if (std::find(skip.begin(), skip.end(), p) == skip.end()) return p;
    }
    return -1;
}

TEST(BoundedLoad, ZeroFactorIgnoresConnections) {
    auto u = ring_of(5, 0);
    auto v = ring_of(5, 0);
    for (int k = 0; k < 2000; ++k) {
        std::string key = "k" + std::to_string(k % 300);
        int a = chash(u, key);
        u.peers[size_t(a)].conns++;   // held: makes no difference without a bound
        EXPECT_EQ(a, chash(v, key)) << key;
    }
}

TEST(BoundedLoad, NoPeerExceedsTheBound) {
    const double f = 1.25;
    auto u = ring_of(4, f);
    // mostly keys of peer 0, some of the others
    auto hot = keys_of(u, 0, 300);
    std::vector<std::string> seq;
    for (size_t k = 0; k < hot.size(); ++k) {
        seq.push_back(hot[k]);
        if (k % 4 == 0) seq.push_back("other-" + std::to_string(k));
    }
    int total = 0;
    std::map<int, int> got;
    for (auto& key : seq) {
        int i = chash(u, key);
        ASSERT_GE(i, 0);
        u.peers[size_t(i)].conns++;   // connections held
        ++total;
        got[i]++;
        for (auto& p : u.peers) ASSERT_LE(p.conns, bound_of(u, f, total)) << "after " << total;
    }
    EXPECT_EQ(got.size(), 4u);   // the overflow went round the ring
    EXPECT_LE(u.peers[0].conns, bound_of(u, f, total));
    EXPECT_GE(u.peers[0].conns, bound_of(u, f, total) - 1);   // and peer 0 is full, not avoided
}

TEST(BoundedLoad, KeysUnderTheBoundMapAsWithout) {
    auto u = ring_of(4, 1.25);
    auto plain = ring_of(4, 0);
    // fill peer 0 to its bound: conns 0,... total 10 -> bound ceil(1.25 * 11 / 4) = 4
    u.peers[0].conns = 4;
    u.peers[1].conns = 2;
    u.peers[2].conns = 2;
    u.peers[3].conns = 2;
    int moved = 0, kept = 0;
    for (int k = 0; k < 2000; ++k) {
        std::string key = "obj" + std::to_string(k);
        int unbounded = chash(plain, key);
        int bounded = chash(u, key);
        if (unbounded != 0) {
            EXPECT_EQ(bounded, unbounded) << key;   // peers 1..3 have room (2 + 1 <= 4)
            ++kept;
        } else {
            // the overflow: the next peer clockwise
            EXPECT_EQ(bounded, next_on_ring(u, key, {0})) << key;
            ++moved;
        }
    }
    EXPECT_GT(moved, 200);
    EXPECT_GT(kept, 1000);
}

TEST(BoundedLoad, BoundCountsOnlyLivePeersAndSkipsTried) {
    auto u = ring_of(4, 1.0);
    u.peers[3].down = true;
    // total 6 over 3 live peers -> bound ceil(1.0 * 7 / 3) = 3
    u.peers[0].conns = 3;
    u.peers[1].conns = 2;
    u.peers[2].conns = 1;
    for (int k = 0; k < 500; ++k) {
        int i = chash(u, "x" + std::to_string(k));
        EXPECT_TRUE(i == 1 || i == 2) << i;
    }
    // a retry: tried peers are skipped, the bound still applies
    for (int k = 0; k < 200; ++k) {
        std::string key = "y" + std::to_string(k);
        PickState st;
        std::vector<size_t> tried;
        int a = pick_hash_consistent(u, tried, 1000000, key, st);
        ASSERT_TRUE(a == 1 || a == 2);
        tried.push_back(size_t(a));
        int b = pick_hash_consistent(u, tried, 1000000, key, st);
        EXPECT_EQ(b, a == 1 ? 2 : 1);
    }
}

TEST(BoundedLoad, EveryUsablePeerAtTheBoundFallsBackToThePlainWalk) {
    auto u = ring_of(3, 1.0);
    auto plain = ring_of(3, 0);
    // peer 2 tried, peers 0 and 1 full: nothing under the bound is left
    u.peers[0].conns = 5;
    u.peers[1].conns = 5;
    for (int k = 0; k < 100; ++k) {
        std::string key = "z" + std::to_string(k);
        int i = chash(u, key, {2});
        EXPECT_EQ(i, chash(plain, key, {2})) << key;
    }
}

TEST(BoundedLoad, HeavierPeersGetAProportionalBound) {
    // weights 2, 1, 1: bound_i = ceil(F * (total + 1) * w_i / 4)
    auto u = make({{"10.0.0.1:80", 2}, {"10.0.0.2:80", 1}, {"10.0.0.3:80", 1}});
    u.balance = conf::Balance::HashConsistent;
    u.load_factor = 1.0;
    build_ring(u);
    for (int k = 0; k < 400; ++k) {
        int i = chash(u, "w" + std::to_string(k));
        u.peers[size_t(i)].conns++;
    }
    EXPECT_NEAR(u.peers[0].conns, 200, 2);
    EXPECT_NEAR(u.peers[1].conns, 100, 2);
    EXPECT_NEAR(u.peers[2].conns, 100, 2);
}

// ---- the round-robin schedule against nginx's scan ------------------------------

// nginx 1.22's round robin written out plainly over the peers' fields (its
// effective_weight is weight - weight_lost, its times are in ms here): the
// reference the balancers and the accounting must match pick for pick. The
// one addition is slow_start (nginx Plus): a round adds no more than the ramp.
bool nginx_usable(const conf::Peer& p, uint64_t now) {
    if (p.down || p.gone) return false;
    if (p.max_fails && p.fails >= p.max_fails && now - p.checked_ms <= p.fail_timeout) return false;
    return !(p.max_conns && p.conns >= p.max_conns);
}

int nginx_ew(const conf::Peer& p, uint64_t now) {
    const int ew = (p.weight - p.weight_lost) * kWeightScale;
    return p.slow_start ? std::min(ew, ramped_weight(p, now)) : ew;
}

bool was_tried(const std::vector<size_t>& tried, size_t i) { return std::find(tried.begin(), tried.end(), i) != tried.end(); }

// ngx_http_upstream_get_round_robin_peer and ngx_http_upstream_get_peer
int nginx_rr(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1 && tried.empty()) {   // peers->single
        const conf::Peer& p = u.peers[0];
        return p.down || (p.max_conns && p.conns >= p.max_conns) ? -1 : 0;
    }
    for (bool backup : {false, true}) {
        const conf::Peer* best = nullptr;
        int best_i = -1, total = 0;
        for (size_t i = 0; i < u.peers.size(); ++i) {
            const conf::Peer& p = u.peers[i];
            if (p.backup != backup || was_tried(tried, i) || !nginx_usable(p, now)) continue;
            const int ew = nginx_ew(p, now);
            p.current_weight += ew;
            total += ew;
            if (p.weight_lost > 0) --p.weight_lost;   // effective_weight++
            if (!best || p.current_weight > best->current_weight) {
                best = &p;
                best_i = int(i);
            }
        }
        if (best) {
            best->current_weight -= total;
            if (now - best->checked_ms > best->fail_timeout) best->checked_ms = now;
            return best_i;
        }
    }
    return -1;   // no "quick recovery" since nginx 1.11.5
}

// ngx_http_upstream_free_round_robin_peer (and slow_start's ramp starting at
// the success that ends a failure)
void nginx_free(const conf::Peer& p, bool failed, uint64_t now) {
    if (failed) {
        p.fails++;
        p.accessed_ms = p.checked_ms = now;
        if (p.max_fails) {
            p.weight_lost += p.weight / p.max_fails;
            if (p.fails >= p.max_fails) p.recovered_ms = 0;
        }
        if (p.weight_lost > p.weight) p.weight_lost = p.weight;   // effective_weight < 0 -> 0
    } else if (p.accessed_ms < p.checked_ms) {
        if (p.slow_start && p.max_fails && p.fails >= p.max_fails) p.recovered_ms = now;
        p.fails = 0;
    }
}

// The same outcome of a try, told to switchyard's accounting and to nginx's.
void outcome(const conf::Upstream& fast, const conf::Upstream& ref, size_t i, bool failed, uint64_t now) {
    if (failed) {
        EXPECT_EQ(peer_failed(fast.peers[i], now), ref.peers[i].max_fails && ref.peers[i].fails + 1 >= ref.peers[i].max_fails);
    } else {
        peer_succeeded(fast.peers[i], now);
    }
    nginx_free(ref.peers[i], failed, now);
}

// Everything but the current weights (which a running schedule keeps in itself).
void expect_same_accounting(const conf::Upstream& fast, const conf::Upstream& ref, const std::string& where) {
    for (size_t i = 0; i < ref.peers.size(); ++i) {
        const conf::Peer &a = fast.peers[i], &b = ref.peers[i];
        ASSERT_EQ(a.fails, b.fails) << where << " peer " << i;
        ASSERT_EQ(a.weight_lost, b.weight_lost) << where << " peer " << i;
        ASSERT_EQ(a.accessed_ms, b.accessed_ms) << where << " peer " << i;
        ASSERT_EQ(a.checked_ms, b.checked_ms) << where << " peer " << i;
        ASSERT_EQ(a.recovered_ms, b.recovered_ms) << where << " peer " << i;
    }
}

void expect_same_weights(const conf::Upstream& fast, const conf::Upstream& ref, const std::string& where) {
    for (size_t i = 0; i < ref.peers.size(); ++i)
        ASSERT_EQ(fast.peers[i].current_weight, ref.peers[i].current_weight) << where << " peer " << i;
}

std::vector<PeerSpec> random_specs(std::mt19937& rng, size_t n, int max_weight, bool backups) {
    std::vector<PeerSpec> specs;
    for (size_t i = 0; i < n; ++i) {
        PeerSpec s{"p" + std::to_string(i), int(rng() % unsigned(max_weight)) + 1};
        s.backup = backups && i + 2 >= n && i >= 4;   // the last two (of enough)
        specs.push_back(s);
    }
    return specs;
}

TEST(RoundRobinSchedule, SameSequenceAsTheScanForRandomWeights) {
    std::mt19937 rng(20261121);
    int running = 0;
    for (int round = 0; round < 60; ++round) {
        const size_t n = 4 + rng() % 60;
        auto specs = random_specs(rng, n, round % 3 == 0 ? 1 : 12, round % 5 == 0);
        auto fast = make(specs), ref = make(specs);
        size_t period = 0;
        for (auto& s : specs) period += s.backup ? 0 : size_t(s.weight);
        for (size_t k = 0; k < 3 * period + 7; ++k) {
            const uint64_t now = 1000000 + k * 5000;
            ASSERT_EQ(pick_round_robin(fast, {}, now), nginx_rr(ref, {}, now)) << "round " << round << " pick " << k;
        }
        if (rr_schedule_running(fast)) ++running;
        expect_same_accounting(fast, ref, "round " + std::to_string(round));
        // and the weights it stands for are nginx's
        rr_sync(fast);
        expect_same_weights(fast, ref, "round " + std::to_string(round));
    }
    EXPECT_EQ(running, 60);   // every round ran from the schedule in the end
}

TEST(RoundRobinSchedule, KnownNginxSequenceWithFourPeers) {
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}, {"d", 2}});
    std::string seq;
    for (int k = 0; k < 27; ++k) seq += u.peers[size_t(pick_round_robin(u, {}, 1000))].name;
    EXPECT_TRUE(rr_schedule_running(u));
    // by hand, current weights (a b c d) after each step, total 9:
    // a(-4 1 1 2) d(1 2 2 -5) a(-3 3 3 -3) b(2 -5 4 -1) a(-2 -4 5 1)
    // c(3 -3 -3 3) a(-1 -2 -2 5) d(4 -1 -1 -2) a(0 0 0 0): 9 picks per cycle
    EXPECT_EQ(seq.substr(0, 9), "adabacada");
    EXPECT_EQ(seq.substr(9, 9), "adabacada");
    EXPECT_EQ(seq.substr(18, 9), "adabacada");
}

// Failures (reducing effective weights, marking peers unavailable),
// probation tries and recoveries after fail_timeout, retries with tried
// peers, slow_start ramps, backups, max_conns: pick for pick the same as
// nginx's scan, the same accounting, and the same current weights whenever
// the schedule is not running.
TEST(RoundRobinSchedule, SameSequenceThroughDisturbances) {
    std::mt19937 rng(777);
    long from_schedule = 0, picks = 0;
    for (int round = 0; round < 25; ++round) {
        const size_t n = 4 + rng() % 30;
        auto specs = random_specs(rng, n, round % 2 ? 6 : 1, round % 4 == 0);
        for (auto& s : specs) {
            s.fail_timeout = 300;
            s.max_fails = int(rng() % 4);   // 0 (never disabled) to 3
        }
        auto fast = make(specs), ref = make(specs);
        if (round % 3 == 0)
            for (size_t i = 0; i < n; ++i) fast.peers[i].slow_start = ref.peers[i].slow_start = 500;
        uint64_t now = 1000000;
        int limited = -1, limited_for = 0;
        for (int k = 0; k < 6000; ++k) {
            const std::string where = "round " + std::to_string(round) + " pick " + std::to_string(k);
            now += rng() % 3;
            const unsigned ev = rng() % 1000;
            if (ev < 1) {   // a try of some peer ends (failed or not) while others are picked
                outcome(fast, ref, rng() % n, rng() % 2, now);
            } else if (ev < 2 && limited < 0) {   // max_conns for a while
                limited = int(rng() % n);
                limited_for = 50;
                fast.peers[size_t(limited)].max_conns = ref.peers[size_t(limited)].max_conns = 1;
            }
            if (limited >= 0 && --limited_for == 0) {
                fast.peers[size_t(limited)].max_conns = ref.peers[size_t(limited)].max_conns = 0;
                limited = -1;
            }
            std::vector<size_t> tried;
            if (rng() % 300 == 0) tried.push_back(rng() % n);   // a retry
            const int a = pick_round_robin(fast, tried, now);
            const int b = nginx_rr(ref, tried, now);
            ASSERT_EQ(a, b) << where;
            ++picks;
            if (rr_schedule_running(fast)) ++from_schedule;
            else expect_same_weights(fast, ref, where);
            if (a >= 0) outcome(fast, ref, size_t(a), rng() % 400 == 0, now);   // this try's end
            expect_same_accounting(fast, ref, where);
            if (HasFatalFailure()) return;
        }
    }
    EXPECT_GT(from_schedule, picks / 4);   // the schedule did run between the disturbances
}

TEST(RoundRobinSchedule, StopsAtAFailureMidCycleAndGoesOnAsNginx) {
    auto specs = std::vector<PeerSpec>{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}, {"e", 4, false, false, 2}};
    auto fast = make(specs), ref = make(specs);
    for (int k = 0; k < 11 * 2 + 5; ++k) ASSERT_EQ(pick_round_robin(fast, {}, 1000), nginx_rr(ref, {}, 1000));
    ASSERT_TRUE(rr_schedule_running(fast));
    outcome(fast, ref, 4, true, 1000);   // e: 1 of max_fails=2, effective weight 4 - 2
    EXPECT_EQ(fast.peers[4].weight_lost, 2);
    for (int k = 0; k < 40; ++k) {
        const int i = pick_round_robin(fast, {}, 1001);
        ASSERT_EQ(i, nginx_rr(ref, {}, 1001)) << k;
        outcome(fast, ref, size_t(i), false, 1001);
    }
    expect_same_accounting(fast, ref, "after");
    EXPECT_EQ(fast.peers[4].weight_lost, 0);   // regained one unit per round
    // e at full weight again: the schedule is recorded again
    for (int k = 0; k < 80; ++k) ASSERT_EQ(pick_round_robin(fast, {}, 20000), nginx_rr(ref, {}, 20000)) << k;
    EXPECT_TRUE(rr_schedule_running(fast));
    // e disabled (max_fails reached): the schedule stops, e is not picked
    outcome(fast, ref, 4, true, 20000);
    outcome(fast, ref, 4, true, 20000);
    for (int k = 0; k < 40; ++k) {
        const int i = pick_round_robin(fast, {}, 20001);
        ASSERT_EQ(i, nginx_rr(ref, {}, 20001)) << k;
        ASSERT_NE(i, 4);
    }
    EXPECT_FALSE(rr_schedule_running(fast));
    expect_same_weights(fast, ref, "disabled");
}

TEST(RoundRobinSchedule, PeerGoneWithoutNoticeIsCaughtAtItsTurn) {
    auto specs = std::vector<PeerSpec>{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}};
    auto u = make(specs);
    for (int k = 0; k < 10; ++k) pick_round_robin(u, {}, 1000);
    ASSERT_TRUE(rr_schedule_running(u));
    u.peers[2].gone = true;   // the resolver dropped it
    for (int k = 0; k < 20; ++k) EXPECT_NE(pick_round_robin(u, {}, 1000), 2);
    peers_changed(u);
    u.peers[3].gone = true;
    for (int k = 0; k < 20; ++k) {
        int i = pick_round_robin(u, {}, 1000);
        EXPECT_NE(i, 2);
        EXPECT_NE(i, 3);
    }
}

TEST(RoundRobinSchedule, EveryUpstreamKeepsItsOwn) {
    // many upstreams picked in turn: each schedule lives in its Upstream
    std::mt19937 rng(99);
    std::vector<std::unique_ptr<conf::Upstream>> fast, ref;
    for (int k = 0; k < 150; ++k) {
        auto specs = random_specs(rng, 4 + rng() % 8, 5, false);
        fast.push_back(std::make_unique<conf::Upstream>(make(specs)));
        ref.push_back(std::make_unique<conf::Upstream>(make(specs)));
    }
    for (int pass = 0; pass < 3; ++pass)
        for (size_t k = 0; k < fast.size(); ++k)
            for (int j = 0; j < 80; ++j)
                ASSERT_EQ(pick_round_robin(*fast[k], {}, 1000), nginx_rr(*ref[k], {}, 1000)) << k << " " << j;
    for (auto& u : fast) EXPECT_TRUE(rr_schedule_running(*u));
}

TEST(RoundRobinSchedule, ACopiedUpstreamGetsAScheduleOfItsOwn) {
    auto specs = std::vector<PeerSpec>{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}};
    auto u = make(specs), ref = make(specs);
    for (int k = 0; k < 23; ++k) ASSERT_EQ(pick_round_robin(u, {}, 1000), nginx_rr(ref, {}, 1000));
    ASSERT_TRUE(rr_schedule_running(u));
    rr_sync(u);   // the copy starts from the weights the cursor stands for
    conf::Upstream copy = u, copy_ref = ref;
    for (int k = 0; k < 40; ++k) {
        ASSERT_EQ(pick_round_robin(copy, {}, 1000), nginx_rr(copy_ref, {}, 1000)) << k;
        ASSERT_EQ(pick_round_robin(u, {}, 1000), nginx_rr(ref, {}, 1000)) << k;
    }
    EXPECT_TRUE(rr_schedule_running(u));
    EXPECT_TRUE(rr_schedule_running(copy));
    EXPECT_NE(u.rr, copy.rr);
}

TEST(RoundRobinSchedule, SmallUpstreamsAndOtherMethodsScan) {
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}});
    for (int k = 0; k < 21; ++k) pick_round_robin(u, {}, 1000);
    EXPECT_FALSE(rr_schedule_running(u));   // fewer than kScheduleMinPeers
    auto h = make({{"a"}, {"b"}, {"c"}, {"d"}, {"e"}});
    h.balance = conf::Balance::Hash;   // round robin as a hash method's fallback
    for (int k = 0; k < 20; ++k) pick_round_robin(h, {}, 1000);
    EXPECT_FALSE(rr_schedule_running(h));
    EXPECT_EQ(h.rr, nullptr);
}

// nginx 1.22's ngx_http_upstream_get_least_conn_peer, plainly. With every
// peer idle all tie: the second pass is a full round-robin step, answered by
// the schedule; with some peers loaded, the tie is among fewer and nginx's
// pass runs on the current weights the schedule wrote back.
int nginx_lc(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1) return nginx_rr(u, tried, now);
    for (bool backup : {false, true}) {
        const conf::Peer* best = nullptr;
        size_t p = 0;
        bool many = false;
        for (size_t i = 0; i < u.peers.size(); ++i) {
            const conf::Peer& q = u.peers[i];
            if (q.backup != backup || was_tried(tried, i) || !nginx_usable(q, now)) continue;
            const int64_t c = best ? int64_t(q.conns) * best->weight - int64_t(best->conns) * q.weight : -1;
            if (c < 0) {
                best = &q;
                p = i;
                many = false;
            } else if (c == 0) {
                many = true;
            }
        }
        if (!best) continue;
        int total = 0;
        if (many) {
            for (size_t i = p; i < u.peers.size(); ++i) {
                const conf::Peer& q = u.peers[i];
                if (q.backup != backup || was_tried(tried, i) || q.down) continue;
                if (int64_t(q.conns) * best->weight != int64_t(best->conns) * q.weight) continue;
                if (!nginx_usable(q, now)) continue;
                const int ew = nginx_ew(q, now);
                q.current_weight += ew;
                total += ew;
                if (q.weight_lost > 0) --q.weight_lost;
                if (q.current_weight > best->current_weight) {
                    best = &q;
                    p = i;
                }
            }
        }
        best->current_weight -= total;
        if (now - best->checked_ms > best->fail_timeout) best->checked_ms = now;
        return int(p);
    }
    return -1;
}

TEST(RoundRobinSchedule, LeastConnMatchesNginxIdleAndLoaded) {
    std::mt19937 rng(4242);
    for (int round = 0; round < 20; ++round) {
        const size_t n = 4 + rng() % 40;
        auto specs = random_specs(rng, n, round % 2 ? 4 : 1, round % 5 == 0);
        for (auto& s : specs) {
            s.fail_timeout = 200;
            s.max_fails = int(rng() % 3);
        }
        auto fast = make(specs), ref = make(specs);
        fast.balance = ref.balance = conf::Balance::LeastConn;
        std::vector<std::pair<size_t, int>> held;   // (peer, picks left)
        uint64_t now = 1000000;
        for (int k = 0; k < 3000; ++k) {
            const std::string where = "round " + std::to_string(round) + " pick " + std::to_string(k);
            now += rng() % 2;
            const bool load = (k / 500) % 2 == 1;   // idle and loaded phases
            std::vector<size_t> tried;
            if (rng() % 200 == 0) tried.push_back(rng() % n);
            int a = pick_least_conn(fast, tried, now), b = nginx_lc(ref, tried, now);
            ASSERT_EQ(a, b) << where;
            if (a < 0) continue;
            outcome(fast, ref, size_t(a), rng() % 300 == 0, now);
            expect_same_accounting(fast, ref, where);
            if (!rr_schedule_running(fast)) expect_same_weights(fast, ref, where);
            if (HasFatalFailure()) return;
            if (load) {
                fast.peers[size_t(a)].conns++;
                ref.peers[size_t(b)].conns++;
                held.push_back({size_t(a), int(rng() % 20)});
            }
            for (auto it = held.begin(); it != held.end();) {
                if (it->second-- > 0) {
                    ++it;
                    continue;
                }
                fast.peers[it->first].conns--;
                ref.peers[it->first].conns--;
                it = held.erase(it);
            }
        }
    }
}

}  // namespace
}  // namespace sy::upstream
