#include "upstream/balancer.h"

#include "upstream/round_robin.h"

namespace sy::upstream {

namespace {
int pick_method(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, std::string_view key,
                PickState& st) {
    switch (u.balance) {
    case conf::Balance::RoundRobin: return pick_round_robin(u, tried, now);
    case conf::Balance::IpHash: return pick_ip_hash(u, tried, now, key, st);
    case conf::Balance::Hash: return pick_hash(u, tried, now, key, st);
    case conf::Balance::HashConsistent: return pick_hash_consistent(u, tried, now, key, st);
    case conf::Balance::LeastConn: return pick_least_conn(u, tried, now);
    case conf::Balance::Random: return pick_random(u, tried, now, false, false);
    case conf::Balance::RandomTwo: return pick_random(u, tried, now, true, false);
    case conf::Balance::RandomTwoLeastConn: return pick_random(u, tried, now, true, true);
    }
    return -1;
}
}  // namespace

int pick(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, std::string_view key, PickState& st) {
    const int i = pick_method(u, tried, now, key, st);
    if (i >= 0) peer_picked(u.peers[size_t(i)], now);
    return i;
}

}  // namespace sy::upstream
