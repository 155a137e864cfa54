#include "upstream/round_robin.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "upstream/balancer.h"
#include "upstream/slow_start.h"

namespace sy::upstream {

namespace {

// ---- nginx's scan -------------------------------------------------------------------

// What a scan of the primaries saw, for the schedule: whether this pick was a
// step over all of them at full weight with nothing tried (a "full step").
struct ScanInfo {
    bool full = false;
    size_t primaries = 0;
    size_t period = 0;   // sum of the primaries' weights
};

// ngx_http_upstream_get_peer: smooth weighted round robin over the usable,
// untried peers of one set (primaries or backups), by effective weight.
int scan(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool backup, ScanInfo* info) {
    const conf::Peer* best = nullptr;
    int best_i = -1;
    int total = 0;
    size_t seen = 0, used = 0;
    uint64_t wsum = 0;
    bool plain = true;   // no max_conns, no ramp
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup != backup) continue;
        ++seen;
        wsum += uint64_t(std::max(p.weight, 0));
        if (p.max_conns) plain = false;
        if (!tried.empty() && std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        if (!peer_usable(p, now)) continue;
        const int ew = effective_weight(p, now);
        if (ew != p.weight * kWeightScale) plain = false;
        ++used;
        p.current_weight += ew;
        total += ew;
        if (!best || p.current_weight > best->current_weight) {
            best = &p;
            best_i = int(i);
        }
    }
    if (best) best->current_weight -= total;
    if (info) {
        info->full = plain && used == seen && tried.empty();
        info->primaries = seen;
        info->period = size_t(std::min<uint64_t>(wsum, kScheduleMaxPeriod + 1));
    }
    return best_i;
}

// ---- the precomputed schedule (see round_robin.h) -------------------------------------
//
// A cycle starts from current weights s0 (peer i's weight w_i, K =
// kWeightScale, P = sum of w_i). After c full steps peer i has
//     current_weight_i = s0_i + c * w_i * K - picks_i(c) * P * K
// where picks_i(c) counts i in the first c entries of the cycle: that is how
// the cursor's state is written back into the peers (materialize). A cycle
// is recorded from the scan's own picks, so it is nginx's sequence by
// construction; it is used only once it ended where it began (each peer
// picked w_i times, current weights back to s0), which is checked, not
// assumed.
//
// The schedules live in a table keyed by the upstream's address (worker-local,
// like the peers' balancer state). An entry belongs to an upstream only while
// it shares the connection counter of the upstream's first peer and the
// peers' vector is unchanged. The entry keeps that counter alive, so a later
// upstream at the same address is not mistaken for the one it was made for -
// except one that inherited the counter through reloads (same upstream name
// and first address, conf::ConnCount): that one just goes on with the old
// one's phase, and the weights and health of every peer the schedule picks
// are checked at each pick, so a changed peer stops it at its first turn.

struct Schedule {
    // Parked: a running schedule pushed out of the table's memory budget keeps
    // only the current weights it stood for (in s0, cursor 0), written back
    // into the peers at the upstream's next pick.
    enum class Mode : uint8_t { Idle, Recording, Running, Parked };
    Mode mode = Mode::Idle;
    conf::ConnCount id;          // shares peers[0].conns of the upstream it was made for
    const conf::Peer* data = nullptr;
    size_t n = 0;
    uint64_t epoch = 0;          // health_epoch() when every peer was last checked
    size_t period = 0;
    size_t cursor = 0;
    std::vector<int> w;          // per peer: weight, -1 for a backup
    std::vector<int> s0;         // per peer: current_weight at the start of the cycle
    std::vector<uint32_t> seq;   // the cycle (while recording: the picks so far)
    uint64_t used = 0;           // g_tick when last looked up (eviction)

    size_t bytes() const { return sizeof(*this) + (w.capacity() + s0.capacity() + seq.capacity()) * 4; }
};

using Table = std::unordered_map<const conf::Upstream*, std::unique_ptr<Schedule>>;

Table& table() {
    static Table t;
    return t;
}
const conf::Upstream* g_last_u = nullptr;   // one-entry memo in front of the table
Schedule* g_last_s = nullptr;
uint64_t g_tick = 0;

Schedule* find(const conf::Upstream& u) {
    if (g_last_u != &u) {
        Table& t = table();
        auto it = t.find(&u);
        g_last_u = &u;
        g_last_s = it == t.end() ? nullptr : it->second.get();
    }
    if (g_last_s) g_last_s->used = ++g_tick;
    return g_last_s;
}

void park(Schedule& s);

// Entries of upstreams that went away with an old configuration are never
// looked up again (and cannot be told from idle live ones). When the table
// holds too many active entries, the least recently used half of them gives
// way: a running schedule is parked (its cycle freed, the current weights it
// stands for kept, so a live upstream goes on exactly), anything else is
// dropped. Parked entries go, least recently used first, only when the
// table's bytes exceed their budget; that costs an upstream still alive
// nginx's exact phase, nothing else.
size_t g_table_entries = 4096;
constexpr size_t kTableBytes = size_t(16) << 20;

void evict() {
    Table& t = table();
    size_t bytes = 0;
    std::vector<uint64_t> active;
    for (auto& [k, e] : t) {
        bytes += e->bytes();
        if (e->mode != Schedule::Mode::Parked) active.push_back(e->used);
    }
    if (active.size() >= g_table_entries) {
        std::nth_element(active.begin(), active.begin() + active.size() / 2, active.end());
        const uint64_t median = active[active.size() / 2];
        for (auto it = t.begin(); it != t.end();) {
            Schedule& e = *it->second;
            if (e.mode == Schedule::Mode::Parked || e.used > median) {
                ++it;
            } else if (e.mode == Schedule::Mode::Running) {
                park(e);
                ++it;
            } else {
                it = t.erase(it);
            }
        }
        bytes = 0;
        for (auto& [k, e] : t) bytes += e->bytes();
    }
    if (bytes >= kTableBytes) {
        std::vector<std::pair<uint64_t, const conf::Upstream*>> parked;
        for (auto& [k, e] : t)
            if (e->mode == Schedule::Mode::Parked) parked.emplace_back(e->used, k);
        std::sort(parked.begin(), parked.end());
        for (auto& [used, k] : parked) {
            if (bytes < kTableBytes / 2) break;
            auto it = t.find(k);
            bytes -= it->second->bytes();
            t.erase(it);
        }
    }
    g_last_u = nullptr;
    g_last_s = nullptr;
}

Schedule& make(const conf::Upstream& u) {
    evict();
    std::unique_ptr<Schedule>& e = table()[&u];
    if (!e) e = std::make_unique<Schedule>();
    g_last_u = &u;
    g_last_s = e.get();
    e->used = ++g_tick;
    return *e;
}

bool same_upstream(const Schedule& s, const conf::Upstream& u) {
    return s.n != 0 && !u.peers.empty() && s.id.shares(u.peers[0].conns);
}

bool owns(const Schedule& s, const conf::Upstream& u) {
    return s.data == u.peers.data() && s.n == u.peers.size() && same_upstream(s, u);
}

// The current weights the cursor stands for go into s0; the cycle is freed.
void park(Schedule& s) {
    std::vector<uint32_t> picks(s.n, 0);
    for (size_t c = 0; c < s.cursor; ++c) ++picks[s.seq[c]];
    const int64_t turn = int64_t(s.period) * kWeightScale;
    for (size_t i = 0; i < s.n; ++i)
        if (s.w[i] >= 0) s.s0[i] = int(s.s0[i] + int64_t(s.cursor) * s.w[i] * kWeightScale - int64_t(picks[i]) * turn);
    s.cursor = 0;
    s.seq = {};
    s.mode = Schedule::Mode::Parked;
}

// Writes the state the cursor stands for into the peers' current weights.
void materialize(const conf::Upstream& u, const Schedule& s) {
    const size_t n = std::min(s.n, u.peers.size());
    std::vector<uint32_t> picks(s.n, 0);
    for (size_t c = 0; c < s.cursor; ++c) ++picks[s.seq[c]];
    const int64_t turn = int64_t(s.period) * kWeightScale;
    for (size_t i = 0; i < n; ++i) {
        const conf::Peer& p = u.peers[i];
        if (s.w[i] < 0 || p.backup || p.weight != s.w[i]) continue;
        p.current_weight = int(s.s0[i] + int64_t(s.cursor) * s.w[i] * kWeightScale - int64_t(picks[i]) * turn);
    }
}

// Back to the scan: a running schedule's state goes into the peers first when
// the entry is this upstream's (if the peers' vector changed under it - the
// resolver appended - the indices it knows are still the same peers).
void stop(const conf::Upstream& u, Schedule& s) {
    if ((s.mode == Schedule::Mode::Running || s.mode == Schedule::Mode::Parked) && same_upstream(s, u))
        materialize(u, s);
    s.mode = Schedule::Mode::Idle;
    s.seq.clear();
    s.cursor = 0;
}

// Every peer as the schedule needs it: primaries usable at full weight with the
// weights recorded, no max_conns, backups where they were.
bool steady(const conf::Upstream& u, const Schedule& s, uint64_t now) {
    for (size_t i = 0; i < s.n; ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup) {
            if (s.w[i] >= 0) return false;
            continue;
        }
        if (s.w[i] != p.weight || p.max_conns || !peer_usable(p, now) || effective_weight(p, now) != p.weight * kWeightScale)
            return false;
    }
    return true;
}

// One pick from the running schedule of `u` (which owns it, nothing tried);
// -1 when the schedule no longer applies (stopped; the caller scans).
int run(const conf::Upstream& u, Schedule& s, uint64_t now) {
    if (s.epoch != health_epoch()) {
        if (!steady(u, s, now)) {
            stop(u, s);
            return -1;
        }
        s.epoch = health_epoch();
    }
    const uint32_t i = s.seq[s.cursor];
    const conf::Peer& p = u.peers[i];
    if (p.weight != s.w[i] || p.backup || p.max_conns || !peer_usable(p, now) ||
        (p.slow_start && effective_weight(p, now) != p.weight * kWeightScale)) {
        stop(u, s);
        return -1;
    }
    // Every peer comes up once per cycle at least, so checking the picked one
    // catches any change the health epoch does not announce (a peer gone from
    // DNS, a reused slot) within one cycle.
    if (++s.cursor == s.period) s.cursor = 0;
    return int(i);
}

// Starts recording a cycle of `u` whose first step just picked `best`: s0 is
// the state before that step (the step undone).
void start(const conf::Upstream& u, Schedule& s, int best, size_t period) {
    s.mode = Schedule::Mode::Recording;
    s.id.share_with(u.peers[0].conns);
    s.data = u.peers.data();
    s.n = u.peers.size();
    s.period = period;
    s.cursor = 0;
    s.w.resize(s.n);
    s.s0.resize(s.n);
    for (size_t i = 0; i < s.n; ++i) {
        const conf::Peer& p = u.peers[i];
        s.w[i] = p.backup ? -1 : p.weight;
        s.s0[i] = p.current_weight;
        if (!p.backup) s.s0[i] -= p.weight * kWeightScale;
    }
    s.s0[size_t(best)] += int(period) * kWeightScale;
    s.seq.clear();
    s.seq.reserve(period);
    s.seq.push_back(uint32_t(best));
}

// After a full step that picked `best`: records it; a complete cycle that ended
// where it began becomes the running schedule.
void record(const conf::Upstream& u, int best, size_t period) {
    Schedule* sp = find(u);
    Schedule& s = sp ? *sp : make(u);
    if (s.mode != Schedule::Mode::Recording || !owns(s, u) || s.period != period) {
        start(u, s, best, period);
    } else {
        s.seq.push_back(uint32_t(best));
    }
    if (s.seq.size() < s.period) return;
    // A whole cycle: back at s0, with every peer picked `weight` times?
    std::vector<uint32_t> picks(s.n, 0);
    for (uint32_t i : s.seq) ++picks[i];
    bool closed = true;
    for (size_t i = 0; i < s.n && closed; ++i) {
        const conf::Peer& p = u.peers[i];
        if (s.w[i] < 0) continue;
        closed = p.weight == s.w[i] && picks[i] == uint32_t(s.w[i]) && p.current_weight == s.s0[i];
    }
    if (closed) {
        s.mode = Schedule::Mode::Running;
        s.cursor = 0;
        s.epoch = health_epoch();
        return;
    }
    // not periodic from there (yet): the next cycle starts from here
    for (size_t i = 0; i < s.n; ++i) s.s0[i] = u.peers[i].current_weight;
    s.seq.clear();
}

bool schedulable(const conf::Upstream& u) {
    return (u.balance == conf::Balance::RoundRobin || u.balance == conf::Balance::LeastConn) &&
           u.peers.size() >= kScheduleMinPeers;
}

// A scan of the primaries with the schedule's bookkeeping: a full step is
// recorded, anything else interrupts a recording.
int scan_primaries(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, bool sched) {
    if (!sched) return scan(u, tried, now, false, nullptr);
    ScanInfo info;
    const int i = scan(u, tried, now, false, &info);
    if (i >= 0 && info.full && info.primaries >= kScheduleMinPeers && info.period <= kScheduleMaxPeriod) {
        record(u, i, info.period);
    } else if (Schedule* s = find(u)) {
        stop(u, *s);
    }
    return i;
}

}  // namespace

void rr_sync(const conf::Upstream& u) {
    if (Schedule* s = find(u); s && s->mode != Schedule::Mode::Idle) stop(u, *s);
}

void rr_table_limit(size_t entries) { g_table_entries = std::max<size_t>(entries, 2); }

bool rr_schedule_running(const conf::Upstream& u) {
    Schedule* s = find(u);
    return s && s->mode == Schedule::Mode::Running && owns(*s, u);
}

int rr_full_step(const conf::Upstream& u, uint64_t now) {
    const bool sched = schedulable(u);
    if (sched) {
        if (Schedule* s = find(u); s && s->mode != Schedule::Mode::Idle) {
            if (s->mode == Schedule::Mode::Running && owns(*s, u)) {
                if (int i = run(u, *s, now); i >= 0) return i;
            } else if (s->mode != Schedule::Mode::Recording) {
                stop(u, *s);
            }
        }
    }
    return scan_primaries(u, {}, now, sched);
}

int pick_round_robin(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now) {
    if (u.peers.size() == 1 && tried.empty()) {
        // nginx's "single" upstream (one server, no backup) is never marked failed
        const conf::Peer& p = u.peers[0];
        if (p.down || (p.max_conns && p.conns >= p.max_conns)) return -1;
        return 0;
    }
    const bool sched = schedulable(u);
    if (sched) {
        if (Schedule* s = find(u); s && s->mode != Schedule::Mode::Idle) {
            if (s->mode == Schedule::Mode::Running && owns(*s, u) && tried.empty()) {
                if (int i = run(u, *s, now); i >= 0) return i;
            } else if (s->mode != Schedule::Mode::Recording) {
                stop(u, *s);
            }
        }
    }
    int i = scan_primaries(u, tried, now, sched);
    if (i < 0) i = scan(u, tried, now, true, nullptr);
    if (i < 0 && tried.empty()) {
        // all failed: nginx marks them live again for a quick recovery
        for (auto& p : u.peers) p.fails = 0;
    }
    return i;
}

void report(const conf::Upstream& u, size_t i, bool ok, uint64_t now) {
    if (ok) peer_succeeded(u.peers[i], now);
    else peer_failed(u.peers[i], now);
}

}  // namespace sy::upstream
