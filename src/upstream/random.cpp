// nginx's random [two [least_conn]]: a weighted random peer (ranges of
// cumulative weight, binary search), or the less loaded (conns / weight) of
// two distinct random peers. 20 unusable draws fall back to round robin.
#include <algorithm>
#include <random>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"

namespace sy::upstream {

namespace {
std::mt19937& rng() {
    static std::mt19937 gen{std::random_device{}()};
    return gen;
}
}  // namespace

int pick_random(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool two, bool least_conn) {
    (void)least_conn;  // `two` always compares by least connections (nginx's only method)
    const uint64_t total = u.weight_sum.empty() ? 0 : u.weight_sum.back();
    if (u.primaries.size() < 2 || total == 0) return pick_round_robin(u, tried, now);

    auto peek = [&]() { return weight_walk(u, rng()() % total); };
    auto ok = [&](size_t i) {
        return std::find(tried.begin(), tried.end(), i) == tried.end() && peer_usable(u.peers[i], now);
    };

    int tries = 0;
    if (!two) {
        for (;;) {
            size_t i = peek();
            if (ok(i)) return int(i);
            if (++tries > 20) return pick_round_robin(u, tried, now);
        }
    }
    int prev = -1;
    for (;;) {
        size_t i = peek();
        if (int(i) != prev && ok(i)) {
            if (prev >= 0) {
                const conf::Peer& a = u.peers[i];
                const conf::Peer& b = u.peers[size_t(prev)];
                if (int64_t(a.conns) * b.weight > int64_t(b.conns) * a.weight) return prev;
                return int(i);
            }
            prev = int(i);
        }
        if (++tries > 20) return pick_round_robin(u, tried, now);
    }
}

}  // namespace sy::upstream
