#include "upstream/round_robin.h"

#include <algorithm>
#include <memory>

#include "upstream/balancer.h"
#include "upstream/slow_start.h"

namespace sy::upstream {

// The schedule of one upstream (conf::Upstream::rr, see round_robin.h).
//
// A cycle starts from current weights s0 (peer i's weight w_i, K =
// kWeightScale, P = sum of the w_i). After c picks of the cycle peer i has
//     current_weight_i = s0_i + c * w_i * K - picks_i(c) * P * K
// where picks_i(c) counts i in the first c entries: that is how the state the
// cursor stands for is written back into the peers (stop). A cycle is
// recorded from the scan's own picks, so it is nginx's sequence by
// construction; it runs only once it ended where it began (each peer picked
// w_i times, the current weights back to s0), which is checked, not assumed.
struct RrState {
    enum class Mode : uint8_t { Scan, Recording, Running };
    Mode mode = Mode::Scan;
    const conf::Upstream* owner = nullptr;   // a copy of the Upstream makes a state of its own
    uint64_t epoch = 0;          // health_epoch() when every peer was last checked
    size_t period = 0;           // P: the cycle's length
    size_t cursor = 0;           // the next entry of seq
    std::vector<int> w;          // per peer: its weight when the cycle began, -1 for a backup
    std::vector<int> s0;         // per peer: current_weight at the start of the cycle
    std::vector<uint32_t> seq;   // the cycle (while recording: the picks so far)
};

namespace {

using Mode = RrState::Mode;

// ---- nginx's scan -----------------------------------------------------------------

struct Round {
    int best = -1;
    bool full = false;   // nothing tried, every peer of the set counted at full weight and left so
    size_t period = 0;   // the set's sum of weights (capped past kScheduleMaxPeriod)
};

// ngx_http_upstream_get_peer: one selection round of smooth weighted round
// robin over the usable, untried peers of one set (primaries or backups).
Round scan(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool backup) {
    Round r;
    r.full = tried.empty();
    const conf::Peer* best = nullptr;
    int total = 0;
    uint64_t wsum = 0;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup != backup) continue;
        wsum += uint64_t(std::max(p.weight, 0));
        if (!tried.empty() && std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        if (!peer_usable(p, now)) {
            r.full = false;
            continue;
        }
        if (r.full && !at_full_weight(p, now)) r.full = false;
        const int ew = effective_weight(p, now);
        p.current_weight += ew;
        total += ew;
        regain_weight(p);
        if (!best || p.current_weight > best->current_weight) {
            best = &p;
            r.best = int(i);
        }
    }
    if (best) best->current_weight -= total;
    r.period = size_t(std::min<uint64_t>(wsum, kScheduleMaxPeriod + 1));
    return r;
}

// ---- the schedule ---------------------------------------------------------------------

bool schedulable(const conf::Upstream& u) {
    return (u.balance == conf::Balance::RoundRobin || u.balance == conf::Balance::LeastConn) &&
           u.peers.size() >= kScheduleMinPeers;
}

RrState* owned_state(const conf::Upstream& u) { return u.rr && u.rr->owner == &u ? u.rr.get() : nullptr; }

RrState& state(const conf::Upstream& u) {
    if (!owned_state(u)) {
        u.rr = std::make_shared<RrState>();
        u.rr->owner = &u;
    }
    return *u.rr;
}

// Back to the scan. A running schedule first writes the current weights its
// cursor stands for into the peers (peers only grow, so the indices it knows
// are still its peers; one whose slot was reused with other weights keeps its own).
void stop(const conf::Upstream& u, RrState& s) {
    if (s.mode == Mode::Running) {
        std::vector<int64_t> picks(s.w.size(), 0);
        for (size_t c = 0; c < s.cursor; ++c) ++picks[s.seq[c]];
        const int64_t turn = int64_t(s.period) * kWeightScale;
        for (size_t i = 0; i < s.w.size() && i < u.peers.size(); ++i) {
            const conf::Peer& p = u.peers[i];
            if (s.w[i] < 0 || p.backup || p.weight != s.w[i]) continue;
            p.current_weight = int(s.s0[i] + int64_t(s.cursor) * s.w[i] * kWeightScale - picks[i] * turn);
        }
    }
    s.mode = Mode::Scan;
    s.seq.clear();
    s.cursor = 0;
}

// Every peer where the cycle has it: the same peers and weights, backups
// still backups, every primary at full weight.
bool steady(const conf::Upstream& u, const RrState& s, uint64_t now) {
    if (u.peers.size() != s.w.size()) return false;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup ? s.w[i] >= 0 : (p.weight != s.w[i] || !at_full_weight(p, now))) return false;
    }
    return true;
}

// One pick from the running schedule (nothing tried); -1 when it no longer
// applies (stopped: the caller scans).
int run(const conf::Upstream& u, RrState& s, uint64_t now) {
    if (s.epoch != health_epoch()) {
        if (!steady(u, s, now)) {
            stop(u, s);
            return -1;
        }
        s.epoch = health_epoch();
    }
    // Every peer comes up at least once per cycle, so checking the picked one
    // catches, within a cycle, a change the health epoch does not announce.
    const uint32_t i = s.seq[s.cursor];
    const conf::Peer& p = u.peers[i];
    if (p.backup || p.weight != s.w[i] || !at_full_weight(p, now)) {
        stop(u, s);
        return -1;
    }
    if (++s.cursor == s.period) s.cursor = 0;
    return int(i);
}

// After a full round that picked `best`: records it (a new recording starts
// from the state before that round); a complete cycle that ended where it
// began becomes the running schedule.
void record(const conf::Upstream& u, RrState& s, int best, size_t period) {
    const size_t n = u.peers.size();
    if (s.mode != Mode::Recording || s.period != period || s.w.size() != n) {
        s.mode = Mode::Recording;
        s.period = period;
        s.w.resize(n);
        s.s0.resize(n);
        for (size_t i = 0; i < n; ++i) {
            const conf::Peer& p = u.peers[i];
            s.w[i] = p.backup ? -1 : p.weight;
            s.s0[i] = p.current_weight - (p.backup ? 0 : p.weight * kWeightScale);
        }
        s.s0[size_t(best)] += int(period) * kWeightScale;
        s.seq.clear();
        s.seq.reserve(period);
    }
    s.seq.push_back(uint32_t(best));
    if (s.seq.size() < s.period) return;

    std::vector<uint32_t> picks(n, 0);
    for (uint32_t i : s.seq) ++picks[i];
    for (size_t i = 0; i < n; ++i) {
        const conf::Peer& p = u.peers[i];
        const bool back = s.w[i] < 0 ? p.backup
                                     : !p.backup && p.weight == s.w[i] && picks[i] == uint32_t(s.w[i]) &&
                                           p.current_weight == s.s0[i];
        if (!back) {   // not periodic from there (yet): the next full round starts a new recording
            s.mode = Mode::Scan;
            return;
        }
    }
    s.mode = Mode::Running;
    s.cursor = 0;
    s.epoch = health_epoch();
}

// One selection round over the primaries: from the schedule when it runs,
// else nginx's scan, recorded when it was a full round.
int primaries_round(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    RrState* s = schedulable(u) ? &state(u) : nullptr;
    if (s && s->mode == Mode::Running) {
        if (!tried.empty()) stop(u, *s);
        else if (int i = run(u, *s, now); i >= 0) return i;
    }
    const Round r = scan(u, tried, now, false);
    if (s) {
        if (r.best >= 0 && r.full && r.period <= kScheduleMaxPeriod) record(u, *s, r.best, r.period);
        else stop(u, *s);
    }
    return r.best;
}

}  // namespace

void rr_sync(const conf::Upstream& u) {
    if (RrState* s = owned_state(u)) stop(u, *s);
}

bool rr_schedule_running(const conf::Upstream& u) {
    const RrState* s = owned_state(u);
    return s && s->mode == Mode::Running;
}

int rr_primaries_round(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    return primaries_round(u, tried, now);
}

int pick_round_robin(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1 && tried.empty()) {
        // nginx's "single" upstream (one server, no backup) is never marked failed
        const conf::Peer& p = u.peers[0];
        if (p.down || (p.max_conns && p.conns >= p.max_conns)) return -1;
        return 0;
    }
    int i = primaries_round(u, tried, now);
    if (i < 0) i = scan(u, tried, now, true).best;
    if (i >= 0) peer_picked(u.peers[size_t(i)], now);
    return i;
}

void report(const conf::Upstream& u, size_t i, bool ok, uint64_t now) {
    if (ok) peer_succeeded(u.peers[i], now);
    else peer_failed(u.peers[i], now);
}

}  // namespace sy::upstream
