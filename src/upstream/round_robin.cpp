#include "upstream/round_robin.h"

#include "upstream/balancer.h"

#include <algorithm>

namespace sy::upstream {

namespace {
int pick(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool backup) {
    const conf::Peer* best = nullptr;
    int best_i = -1;
    int total = 0;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup != backup) continue;
        if (std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        if (!peer_usable(p, now)) continue;
        p.current_weight += p.weight;
        total += p.weight;
        if (!best || p.current_weight > best->current_weight) {
            best = &p;
            best_i = int(i);
        }
    }
    if (best) best->current_weight -= total;
    return best_i;
}
}  // namespace

int pick_round_robin(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1 && tried.empty()) {
        // nginx's "single" upstream (one server, no backup) is never marked failed
        const conf::Peer& p = u.peers[0];
        if (p.down || (p.max_conns && p.conns >= p.max_conns)) return -1;
        return 0;
    }
    int i = pick(u, tried, now, false);
    if (i < 0) i = pick(u, tried, now, true);
    if (i < 0 && tried.empty()) {
        // all failed: nginx marks them live again for a quick recovery
        for (auto& p : u.peers) p.fails = 0;
    }
    return i;
}

void report(const conf::Upstream& u, size_t i, bool ok, uint64_t now) {
    const conf::Peer& p = u.peers[i];
    if (ok) {
        if (p.fails && now - p.checked_ms > p.fail_timeout) p.fails = 0;
        return;
    }
    ++p.fails;
    p.checked_ms = now;
}

}  // namespace sy::upstream
