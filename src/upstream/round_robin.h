// Smooth weighted round robin with passive health (max_fails/fail_timeout,
// effective weights) and slow_start, nginx's default balancer. Pure
// functions over an Upstream's peers, plus the upstream's schedule (below).
#pragma once

#include <cstdint>
#include <vector>

#include "config/conf.h"

namespace sy::upstream {

// Index of the next peer, skipping `tried` ones, or -1 when no peer is live
// (nginx 1.22: no "quick recovery" - with every peer failed, requests get
// none until a fail_timeout runs out).
//
// nginx's algorithm scans every peer per pick (O(n)). While every primary
// peer is usable at full weight, the sequence is periodic: after sum(weights)
// picks every peer was picked `weight` times and the current weights are back
// where they started. So for an upstream of `round_robin` or `least_conn`
// with at least kScheduleMinPeers peers, the picks of one such cycle are
// recorded as the scan makes them, and once the cycle is verified to end
// where it began, later picks read it with a cursor (O(1)) - the very
// sequence nginx gives. The schedule is kept in u.rr. Anything that would
// make the scan differ (a retry with tried peers; a peer unusable, failed, at
// reduced effective weight, ramping up or with max_conns; weights or peers
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

// Round robin's selection round over the usable, untried primaries of `u`
// (least_conn's second pass when every primary ties): from the schedule when
// it runs, else the scan (which records a cycle when every primary is at
// full weight). -1 when no primary is usable.
int rr_primaries_round(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms);

// Whether a schedule is running for `u` now (tests).
bool rr_schedule_running(const conf::Upstream& u);

// Bumped at every failure (peer_failed) and peers_changed: a running schedule
// checks all its peers again at its next pick.
extern uint64_t g_health_epoch;
inline uint64_t health_epoch() { return g_health_epoch; }

}  // namespace sy::upstream
