// nginx's random [two [least_conn]]: a weighted random peer (ranges of
// cumulative weight, binary search), or the less loaded (conns / weight) of
// two distinct random peers. 20 unusable draws fall back to round robin
// (or to the one usable peer found).
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
    // The second draw skips the first peer's weight range, so the pair is
    // always two distinct peers (a redraw of the same peer would count
    // against the 20 tries and could fall back to round robin)
    int prev = -1;
    uint64_t prev_lo = 0, prev_w = 0;
    for (;;) {
        uint64_t r;
        if (prev < 0) {
            r = rng()() % total;
        } else {
            r = rng()() % (total - prev_w);
            if (r >= prev_lo) r += prev_w;
        }
        auto it = std::upper_bound(u.weight_sum.begin(), u.weight_sum.end(), r);
        const size_t pos = size_t(it - u.weight_sum.begin());
        const size_t i = u.primaries[pos];
        if (ok(i)) {
            if (prev >= 0) {
                const conf::Peer& a = u.peers[i];
                const conf::Peer& b = u.peers[size_t(prev)];
                if (int64_t(a.conns) * b.weight > int64_t(b.conns) * a.weight) return prev;
                return int(i);
            }
            prev = int(i);
            prev_lo = pos ? u.weight_sum[pos - 1] : 0;
            prev_w = u.weight_sum[pos] - prev_lo;
            if (prev_w >= total) return prev;
        }
        if (++tries > 20) return prev >= 0 ? prev : pick_round_robin(u, tried, now);
    }
}

}  // namespace sy::upstream
