// The weights the weighing balancers (round robin, least_conn, the
// consistent-hash ring's round robin among a server's addresses) work with:
// nginx's effective weight after failures, and slow_start's ramp.
//
// slow_start (nginx Plus): a peer that comes back after max_fails/fail_timeout
// marked it unavailable, or that the resolver adds while running, does not
// get its whole share at once: its weight ramps up linearly from (almost)
// zero to the configured weight over `slow_start`. Round robin and least_conn
// use it; the other methods refuse the parameter at load, as nginx Plus does.
//
// The balancers work in units of 1/kWeightScale of a configured weight, so
// that even a weight-1 peer can carry a fraction of its weight while it
// ramps. Scaling every weight alike changes nothing else: smooth weighted
// round robin and least_conn's comparisons give the same picks for weights w
// and w*kWeightScale.
#pragma once

#include <algorithm>
#include <cstdint>

#include "config/conf.h"

namespace sy::upstream {

inline constexpr int kWeightScale = 64;

// The slow_start ramp of peer `p` at `now_ms`, in 1/kWeightScale units:
//  - weight * kWeightScale when no ramp is running;
//  - while it ramps (recovered_ms set), weight * kWeightScale * elapsed /
//    slow_start, at least 1 so it is still picked now and then; when the ramp
//    is over, recovered_ms goes back to 0 (hence the mutable write);
//  - 1 while it is on probation: marked failed (fails >= max_fails), its
//    fail_timeout over, no success yet (the ramp starts at that success).
int ramp_weight(const conf::Peer& p, uint64_t now_ms);   // the slow_start case
inline int ramped_weight(const conf::Peer& p, uint64_t now_ms) {
    return p.slow_start == 0 ? p.weight * kWeightScale : ramp_weight(p, now_ms);
}

// What a smooth weighted round-robin selection round adds to the peer's
// current weight: nginx's effective_weight (the configured weight less what
// failures took, weight/max_fails each, regained one unit per selection
// round), in 1/kWeightScale units, and no more than the slow_start ramp.
inline int effective_weight(const conf::Peer& p, uint64_t now_ms) {
    const int ew = (p.weight - p.weight_lost) * kWeightScale;
    return p.slow_start == 0 ? ew : std::min(ew, ramp_weight(p, now_ms));
}

// A selection round counted the peer: nginx's
// `if (peer->effective_weight < peer->weight) peer->effective_weight++;`.
inline void regain_weight(const conf::Peer& p) {
    if (p.weight_lost > 0) --p.weight_lost;
}

// Whether a selection round would count `p` at its full configured weight and
// leave it so, as round robin's schedule needs every primary (round_robin.h):
// usable (not down or gone), not at max_fails (on probation a pick would make
// it unusable again), no reduced effective weight or slow_start ramp, and no
// max_conns (whose counts change without telling the balancer).
inline bool at_full_weight(const conf::Peer& p, uint64_t now_ms) {
    return !p.down && !p.gone && !p.max_conns && !(p.max_fails && p.fails >= p.max_fails) &&
           effective_weight(p, now_ms) == p.weight * kWeightScale;
}

}  // namespace sy::upstream
