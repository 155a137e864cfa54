// slow_start (nginx Plus): a peer that comes back after max_fails/fail_timeout
// marked it unavailable, or that the resolver adds while running, does not
// get its whole share at once: its weight ramps up linearly from (almost)
// zero to the configured weight over `slow_start`. Round robin and least_conn
// use it; the other methods refuse the parameter at load, as nginx Plus does.
//
// The weighing balancers work in units of 1/kWeightScale of a configured
// weight, so that even a weight-1 peer can carry a fraction of its weight
// while it ramps. Scaling every weight alike changes nothing else: smooth
// weighted round robin and least_conn's comparisons give the same picks for
// weights w and w*kWeightScale.
#pragma once

#include <cstdint>

#include "config/conf.h"

namespace sy::upstream {

inline constexpr int kWeightScale = 64;

// The weight peer `p` carries at `now_ms`, in 1/kWeightScale units:
//  - weight * kWeightScale without slow_start, or when no ramp is running;
//  - while it ramps (recovered_ms set), weight * kWeightScale * elapsed /
//    slow_start, at least 1 so it is still picked now and then; when the ramp
//    is over, recovered_ms goes back to 0 (hence the mutable write);
//  - 1 while it is on probation: marked failed (fails >= max_fails), its
//    fail_timeout over, no success yet (the ramp starts at that success).
int ramp_weight(const conf::Peer& p, uint64_t now_ms);   // the slow_start case
inline int effective_weight(const conf::Peer& p, uint64_t now_ms) {
    return p.slow_start == 0 ? p.weight * kWeightScale : ramp_weight(p, now_ms);
}

}  // namespace sy::upstream
