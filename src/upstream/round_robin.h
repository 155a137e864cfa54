// Smooth weighted round robin with passive health (max_fails/fail_timeout)
// and slow_start, nginx's default balancer. Pure functions over an
// Upstream's peers (plus a per-upstream cache of the pick sequence, below).
#pragma once

#include <cstdint>
#include <vector>

#include "config/conf.h"

namespace sy::upstream {

// Index of the next peer, skipping `tried` ones, or -1 when no peer is live.
//
// nginx's algorithm scans every peer per pick (O(n)). While every primary
// peer is usable at full weight, the sequence is periodic: after sum(weights)
// picks every peer was picked `weight` times and the current weights are back
// where they started. So for an upstream of `round_robin` with at least
// kScheduleMinPeers primaries, the picks of one such cycle are recorded as the
// scan makes them, and once a whole cycle is verified to end where it began,
// later picks read the recorded cycle with a cursor (O(1)) - the very sequence
// nginx gives. Anything that would make the scan differ (a retry with tried
// peers, a peer unusable, failed, at max_conns or ramping up, weights or peers
// changed) first writes the current weights the cursor stands for back into
// the peers and goes back to the scan; recording starts again when all is
// steady. While the schedule runs, the peers' current_weight fields are not
// kept up to date: code that reads or writes them must call rr_sync() first.
int pick_round_robin(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms);

// Records the outcome of a try of peer `i`: peer_failed() or peer_succeeded() (balancer.h).
void report(const conf::Upstream& u, size_t i, bool ok, uint64_t now_ms);

inline constexpr size_t kScheduleMinPeers = 4;          // fewer: the scan is as cheap as the bookkeeping
inline constexpr size_t kScheduleMaxPeriod = 1u << 16;  // larger sum of weights: scan (memory)

// ---- internal, shared by the balancers -------------------------------------------

// Writes the current weights of a running schedule of `u` back into its peers
// and stops it (a no-op when none runs).
void rr_sync(const conf::Upstream& u);

// One step of smooth weighted round robin over all primary peers of `u`, for
// a caller that knows every primary is usable, untried and at full weight
// (least_conn when all its peers tie): the schedule when it runs, else the
// scan (which records a cycle). Returns -1 only when there is no primary.
int rr_full_step(const conf::Upstream& u, uint64_t now_ms);

// Whether a schedule is running for `u` now (tests).
bool rr_schedule_running(const conf::Upstream& u);
// How many upstreams' schedules are kept before the least recently used give
// way (default 4096; tests).
void rr_table_limit(size_t entries);

// Bumped whenever a peer may have become unusable (peer_failed reaching
// max_fails, peers_changed): running schedules check all their peers again.
uint64_t health_epoch();

}  // namespace sy::upstream
