// slow_start, bounded-load consistent hashing (`load_factor`), the passive
// health accounting (peer_failed/peer_succeeded) and round robin's
// precomputed schedule (src/upstream/round_robin.h), which must give nginx's
// smooth weighted round robin sequence exactly.
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
    peer_failed(a, 1000);
    EXPECT_EQ(a.fails, 1);
    EXPECT_EQ(a.checked_ms, 1000u);
    EXPECT_EQ(health_epoch(), e0);   // still usable: nothing to announce
    EXPECT_TRUE(peer_usable(a, 1001));
    peer_failed(a, 2000);
    EXPECT_EQ(a.fails, 2);
    EXPECT_GT(health_epoch(), e0);
    EXPECT_FALSE(peer_usable(a, 2001));
    EXPECT_FALSE(peer_usable(a, 7000));   // fail_timeout is inclusive, as nginx's
    EXPECT_TRUE(peer_usable(a, 7001));
}

TEST(PeerHealth, SuccessResetsOnlyAfterFailTimeout) {
    auto u = make({{"a", 1, false, false, 1, 5000, 0}});
    const conf::Peer& a = u.peers[0];
    peer_failed(a, 1000);
    peer_succeeded(a, 6000);   // 5000 ms later: not more than fail_timeout
    EXPECT_EQ(a.fails, 1);
    peer_succeeded(a, 6001);
    EXPECT_EQ(a.fails, 0);
    EXPECT_EQ(a.recovered_ms, 0u);   // no slow_start: no ramp
}

TEST(PeerHealth, ReportIsTheSame) {
    auto u = make({{"a", 1, false, false, 1, 5000}, {"b"}});
    u.peers[0].slow_start = 10000;
    report(u, 0, false, 1000);
    EXPECT_EQ(u.peers[0].fails, 1);
    report(u, 0, true, 7000);
    EXPECT_EQ(u.peers[0].fails, 0);
    EXPECT_EQ(u.peers[0].recovered_ms, 7000u);
}

// ---- slow_start ------------------------------------------------------------------

// Two equal peers; `a` has slow_start=10s, failed at t0 (max_fails=1,
// fail_timeout=10s) and succeeds again at t1.
struct Recovered {
    conf::Upstream u = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    static constexpr uint64_t t0 = 100000, t1 = t0 + 10001;
    Recovered() {
        u.peers[0].slow_start = 10000;
        u.peers[1].slow_start = 10000;
        peer_failed(u.peers[0], t0);
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

TEST(SlowStart, ProbationBeforeTheFirstSuccessIsTheBottomOfTheRamp) {
    auto u = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    u.peers[0].slow_start = 10000;
    peer_failed(u.peers[0], 1000);
    EXPECT_EQ(count_picks(u, 10, 1000 + 10000)[0], 0);   // unavailable
    auto c = count_picks(u, 650, 1000 + 10001);           // available again, on probation
    EXPECT_GE(c[0], 5);
    EXPECT_LE(c[0], 15);
    // without slow_start a peer on probation has its full weight (nginx)
    auto v = make({{"a", 1, false, false, 1, 10000}, {"b", 1, false, false, 1, 10000}});
    peer_failed(v.peers[0], 1000);
    EXPECT_EQ(count_picks(v, 10, 1000 + 10001)[0], 5);
}

TEST(SlowStart, OnlyAPeerThatWasUnavailableRamps) {
    auto u = make({{"a", 1, false, false, 3, 10000}, {"b"}});
    u.peers[0].slow_start = 10000;
    peer_failed(u.peers[0], 1000);   // 1 of 3: still available
    peer_succeeded(u.peers[0], 20000);
    EXPECT_EQ(u.peers[0].fails, 0);
    EXPECT_EQ(u.peers[0].recovered_ms, 0u);
}

TEST(SlowStart, FailingAgainStopsTheRamp) {
    Recovered r;
    peer_failed(r.u.peers[0], Recovered::t1 + 3000);
    EXPECT_EQ(r.u.peers[0].recovered_ms, 0u);
    EXPECT_FALSE(peer_usable(r.u.peers[0], Recovered::t1 + 3001));
    // back after fail_timeout and a success: a new ramp from there
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

// nginx's ngx_http_upstream_get_round_robin_peer, written out plainly: the
// reference the schedule must match pick for pick.
int nginx_rr(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1 && tried.empty()) {
        const conf::Peer& p = u.peers[0];
        return p.down || (p.max_conns && p.conns >= p.max_conns) ? -1 : 0;
    }
    for (bool backup : {false, true}) {
        const conf::Peer* best = nullptr;
        int best_i = -1, total = 0;
        for (size_t i = 0; i < u.peers.size(); ++i) {
            const conf::Peer& p = u.peers[i];
            if (p.backup != backup || std::find(tried.begin(), tried.end(), i) != tried.end() || !peer_usable(p, now))
                continue;
            const int w = effective_weight(p, now);
            p.current_weight += w;
            total += w;
            if (!best || p.current_weight > best->current_weight) {
                best = &p;
                best_i = int(i);
            }
        }
        if (best) {
            best->current_weight -= total;
            return best_i;
        }
    }
    if (tried.empty())
        for (auto& p : u.peers) p.fails = 0;
    return -1;
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
            const uint64_t now = 1000000 + k;
            ASSERT_EQ(pick_round_robin(fast, {}, now), nginx_rr(ref, {}, now)) << "round " << round << " pick " << k;
        }
        if (rr_schedule_running(fast)) ++running;
        // and the weights it stands for are nginx's
        rr_sync(fast);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(fast.peers[i].current_weight, ref.peers[i].current_weight) << i;
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

// Failures, recoveries after fail_timeout, retries with tried peers, slow_start
// ramps, backups, max_conns: pick for pick the same as the plain scan, and the
// same current weights whenever the schedule has to stop.
TEST(RoundRobinSchedule, SameSequenceThroughDisturbances) {
    std::mt19937 rng(777);
    int from_schedule = 0;
    for (int round = 0; round < 25; ++round) {
        const size_t n = 4 + rng() % 30;
        auto specs = random_specs(rng, n, round % 2 ? 6 : 1, round % 4 == 0);
        for (auto& s : specs) s.fail_timeout = 300;
        auto fast = make(specs), ref = make(specs);
        if (round % 3 == 0)
            for (size_t i = 0; i < n; ++i) fast.peers[i].slow_start = ref.peers[i].slow_start = 500;
        uint64_t now = 1000000;
        int limited = -1, limited_for = 0;
        for (int k = 0; k < 6000; ++k) {
            now += rng() % 3;
            const unsigned ev = rng() % 1000;
            const size_t j = rng() % n;
            if (ev < 1) {   // a failure
                peer_failed(fast.peers[j], now);
                peer_failed(ref.peers[j], now);
            } else if (ev < 3) {   // a success (after fail_timeout: recovery)
                peer_succeeded(fast.peers[j], now);
                peer_succeeded(ref.peers[j], now);
            } else if (ev < 4 && limited < 0) {   // max_conns for a while
                limited = int(j);
                limited_for = 50;
                fast.peers[j].max_conns = ref.peers[j].max_conns = 1;
            }
            if (limited >= 0 && --limited_for == 0) {
                fast.peers[size_t(limited)].max_conns = ref.peers[size_t(limited)].max_conns = 0;
                limited = -1;
            }
            std::vector<size_t> tried;
            if (rng() % 300 == 0) tried.push_back(rng() % n);   // a retry
            const int a = pick_round_robin(fast, tried, now);
            const int b = nginx_rr(ref, tried, now);
            ASSERT_EQ(a, b) << "round " << round << " pick " << k;
            if (rr_schedule_running(fast)) {
                ++from_schedule;
            } else {
                for (size_t i = 0; i < n; ++i)
                    ASSERT_EQ(fast.peers[i].current_weight, ref.peers[i].current_weight) << "round " << round << " pick " << k;
            }
            for (size_t i = 0; i < n; ++i) ASSERT_EQ(fast.peers[i].fails, ref.peers[i].fails);
        }
    }
    EXPECT_GT(from_schedule, 25 * 6000 / 4);   // the schedule did run between the disturbances
}

TEST(RoundRobinSchedule, StopsAtAFailureMidCycleAndGoesOnAsNginx) {
    auto specs = std::vector<PeerSpec>{{"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}, {"e", 4}};
    auto fast = make(specs), ref = make(specs);
    for (int k = 0; k < 11 * 2 + 5; ++k) ASSERT_EQ(pick_round_robin(fast, {}, 1000), nginx_rr(ref, {}, 1000));
    ASSERT_TRUE(rr_schedule_running(fast));
    peer_failed(fast.peers[4], 1000);   // e: max_fails=1 -> unavailable
    peer_failed(ref.peers[4], 1000);
    for (int k = 0; k < 40; ++k) ASSERT_EQ(pick_round_robin(fast, {}, 1001), nginx_rr(ref, {}, 1001)) << k;
    EXPECT_FALSE(rr_schedule_running(fast));
    // back after fail_timeout: the schedule is recorded again
    for (int k = 0; k < 60; ++k) ASSERT_EQ(pick_round_robin(fast, {}, 20000), nginx_rr(ref, {}, 20000)) << k;
    EXPECT_TRUE(rr_schedule_running(fast));
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

TEST(RoundRobinSchedule, ManyUpstreamsEvictAndStayExact) {
    // more upstreams than the schedule table keeps: the least recently used
    // are parked (or dropped when not running) and record their cycle again,
    // picks stay nginx's
    rr_table_limit(64);
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
    EXPECT_TRUE(rr_schedule_running(*fast.back()));
    rr_table_limit(4096);
}

TEST(RoundRobinSchedule, SmallUpstreamsAndOtherMethodsScan) {
    auto u = make({{"a", 5}, {"b", 1}, {"c", 1}});
    for (int k = 0; k < 21; ++k) pick_round_robin(u, {}, 1000);
    EXPECT_FALSE(rr_schedule_running(u));   // fewer than kScheduleMinPeers
    auto h = make({{"a"}, {"b"}, {"c"}, {"d"}, {"e"}});
    h.balance = conf::Balance::Hash;   // round robin as a hash method's fallback
    for (int k = 0; k < 20; ++k) pick_round_robin(h, {}, 1000);
    EXPECT_FALSE(rr_schedule_running(h));
}

// least_conn with every peer idle ties all of them: its second pass is a full
// round-robin step, answered by the schedule; with some peers loaded, the tie
// is among fewer and nginx's pass runs on the current weights the schedule
// wrote back.
int nginx_lc(const conf::Upstream& u, uint64_t now) {
    const conf::Peer* best = nullptr;
    size_t p = 0;
    bool many = false;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& q = u.peers[i];
        if (q.backup || !peer_usable(q, now)) continue;
        const int64_t c = best ? int64_t(q.conns) * best->weight - int64_t(best->conns) * q.weight : -1;
        if (c < 0) {
            best = &q;
            p = i;
            many = false;
        } else if (c == 0) {
            many = true;
        }
    }
    if (!best) return -1;
    if (many) {
        int total = 0;
        const conf::Peer* tie = best;
        for (size_t i = p; i < u.peers.size(); ++i) {
            const conf::Peer& q = u.peers[i];
            if (q.backup || !peer_usable(q, now)) continue;
            if (int64_t(q.conns) * tie->weight != int64_t(tie->conns) * q.weight) continue;
            q.current_weight += q.weight * kWeightScale;
            total += q.weight * kWeightScale;
            if (q.current_weight > best->current_weight) {
                best = &q;
                p = i;
            }
        }
        best->current_weight -= total;
    }
    return int(p);
}

TEST(RoundRobinSchedule, LeastConnMatchesNginxIdleAndLoaded) {
    std::mt19937 rng(4242);
    for (int round = 0; round < 20; ++round) {
        const size_t n = 4 + rng() % 40;
        auto specs = random_specs(rng, n, round % 2 ? 4 : 1, false);
        auto fast = make(specs), ref = make(specs);
        fast.balance = ref.balance = conf::Balance::LeastConn;
        std::vector<std::pair<size_t, int>> held;   // (peer, picks left)
        for (int k = 0; k < 3000; ++k) {
            const bool load = (k / 500) % 2 == 1;   // idle and loaded phases
            int a = pick_least_conn(fast, {}, 1000), b = nginx_lc(ref, 1000);
            ASSERT_EQ(a, b) << "round " << round << " pick " << k;
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
