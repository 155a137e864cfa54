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
    std::vector<size_t> idx;
    std::vector<uint64_t> range;  // weight of the peers before this one
    uint64_t total = 0;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        if (u.peers[i].backup) continue;
        idx.push_back(i);
        range.push_back(total);
        total += uint64_t(std::max(u.peers[i].weight, 0));
    }
    if (idx.size() < 2 || total == 0) return pick_round_robin(u, tried, now);

    auto peek = [&]() {
        uint64_t x = rng()() % total;
        size_t i = 0, j = idx.size();
        while (j - i > 1) {
            size_t k = (i + j) / 2;
            if (x < range[k]) j = k;
            else i = k;
        }
        return idx[i];
    };
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
