#include "upstream/slow_start.h"

namespace sy::upstream {

int ramp_weight(const conf::Peer& p, uint64_t now) {
    const int full = p.weight * kWeightScale;
    if (p.max_fails && p.fails >= p.max_fails) return 1;   // probation: the bottom of the ramp
    if (p.recovered_ms == 0) return full;
    const uint64_t elapsed = now > p.recovered_ms ? now - p.recovered_ms : 0;
    if (elapsed >= p.slow_start) {
        p.recovered_ms = 0;   // the ramp is over
        return full;
    }
    const int64_t w = int64_t(full) * int64_t(elapsed) / int64_t(p.slow_start);
    return int(std::max<int64_t>(w, 1));
}

}  // namespace sy::upstream
