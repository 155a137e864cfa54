// Smooth weighted round robin with passive health (max_fails/fail_timeout),
// nginx's default balancer. Pure functions over an Upstream's peers.
#pragma once

#include <cstdint>
#include <vector>

#include "config/conf.h"

namespace sy::upstream {

// Index of the next peer, skipping `tried` ones, or -1 when no peer is live.
int pick_round_robin(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms);
// Records the outcome of a connection attempt to peer `i`.
void report(const conf::Upstream& u, size_t i, bool ok, uint64_t now_ms);

}  // namespace sy::upstream
