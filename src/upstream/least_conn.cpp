// nginx's least_conn: the usable, untried peer with the fewest connections
// relative to its weight; ties go to smooth weighted round robin among the
// tied peers. Backups only when no primary peer is usable.
#include <algorithm>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"

namespace sy::upstream {

namespace {
bool candidate(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, size_t i, bool backup) {
    const conf::Peer& p = u.peers[i];
    return p.backup == backup && std::find(tried.begin(), tried.end(), i) == tried.end() && peer_usable(p, now);
}

// conns_a / weight_a compared with conns_b / weight_b
int64_t cmp(const conf::Peer& a, const conf::Peer& b) {
    return int64_t(a.conns) * b.weight - int64_t(b.conns) * a.weight;
}

int pick_set(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool backup) {
    int best = -1;
    bool many = false;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        if (!candidate(u, tried, now, i, backup)) continue;
        if (best < 0 || cmp(u.peers[i], u.peers[size_t(best)]) < 0) {
            best = int(i);
            many = false;
        } else if (cmp(u.peers[i], u.peers[size_t(best)]) == 0) {
            many = true;
        }
    }
    if (best < 0) return -1;
    if (many) {
        int total = 0;
        for (size_t i = size_t(best); i < u.peers.size(); ++i) {
            if (!candidate(u, tried, now, i, backup)) continue;
            const conf::Peer& p = u.peers[i];
            if (cmp(p, u.peers[size_t(best)]) != 0) continue;
            p.current_weight += p.weight;
            total += p.weight;
            if (p.current_weight > u.peers[size_t(best)].current_weight) best = int(i);
        }
        u.peers[size_t(best)].current_weight -= total;
    }
    return best;
}
}  // namespace

int pick_least_conn(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1) return pick_round_robin(u, tried, now);  // nginx's "single"
    int i = pick_set(u, tried, now, false);
    if (i < 0) i = pick_set(u, tried, now, true);
    return i;
}

}  // namespace sy::upstream
