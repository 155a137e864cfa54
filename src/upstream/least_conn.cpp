// nginx's least_conn: the usable, untried peer with the fewest connections
// relative to its weight; ties go to smooth weighted round robin among the
// tied peers (by effective weight, as round robin: nginx's effective_weight
// after failures, capped by the slow_start ramp). Backups only when no
// primary peer is usable. The weight compared is the configured one, or the
// slow_start ramp while a peer ramps up (so it gets fewer connections until
// the ramp is over).
//
// Connection counts change with every request and tunnel, also from other
// configurations' connections sharing the counter after a reload, without
// telling the balancer, so every pick reads every candidate's count: O(n) as
// in nginx. What is saved: when all primaries tie (every peer idle, or loads
// exactly proportional to the weights), nginx's second pass - smooth
// weighted round robin over all of them - is round robin's selection round,
// which the round-robin schedule answers in O(1) while every peer is at full
// weight (round_robin.h).
#include <algorithm>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"
#include "upstream/slow_start.h"

namespace sy::upstream {

namespace {
inline bool candidate(const conf::Peer& p, const std::vector<size_t>& tried, uint64_t now, size_t i, bool backup) {
    return p.backup == backup && (tried.empty() || std::find(tried.begin(), tried.end(), i) == tried.end()) &&
           peer_usable(p, now);
}

// conns_a / weight_a compared with conns_b / weight_b (configured or ramped weights)
int64_t cmp(int conns_a, int ew_a, int conns_b, int ew_b) { return int64_t(conns_a) * ew_b - int64_t(conns_b) * ew_a; }

int pick_set(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool backup) {
    int best = -1;
    int best_conns = 0, best_w = 0;
    size_t seen = 0, ties = 0;
    const conf::Peer* const peers = u.peers.data();
    const size_t n = u.peers.size();
    for (size_t i = 0; i < n; ++i) {
        const conf::Peer& p = peers[i];
        if (p.backup != backup) continue;
        ++seen;
        if (!candidate(p, tried, now, i, backup)) continue;
        const int w = ramped_weight(p, now);
        const int conns = p.conns;
        const int64_t c = best < 0 ? -1 : cmp(conns, w, best_conns, best_w);
        if (c < 0) {
            best = int(i);
            best_conns = conns;
            best_w = w;
            ties = 1;
        } else if (c == 0) {
            ++ties;
        }
    }
    if (best < 0 || ties == 1) return best;
    // Every primary is a candidate and they all tie: the second pass is
    // round robin's selection round over the primaries.
    if (!backup && ties == seen) return rr_primaries_round(u, tried, now);

    rr_sync(u);   // current weights are touched below
    int total = 0;
    size_t chosen = size_t(best);
    for (size_t i = size_t(best); i < n; ++i) {
        const conf::Peer& p = peers[i];
        if (!candidate(p, tried, now, i, backup)) continue;
        if (cmp(p.conns, ramped_weight(p, now), best_conns, best_w) != 0) continue;
        const int ew = effective_weight(p, now);
        p.current_weight += ew;
        total += ew;
        regain_weight(p);
        if (p.current_weight > peers[chosen].current_weight) chosen = i;
    }
    peers[chosen].current_weight -= total;
    return int(chosen);
}
}  // namespace

int pick_least_conn(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1) return pick_round_robin(u, tried, now);  // nginx's "single"
    int i = pick_set(u, tried, now, false);
    if (i < 0) i = pick_set(u, tried, now, true);
    if (i >= 0) peer_picked(u.peers[size_t(i)], now);
    return i;
}

}  // namespace sy::upstream
