// Peer selection for an upstream group: one entry point dispatching to the
// balancing method configured in the upstream block. Each method lives in
// its own file and is a pure function of the peers' state, so it is tested
// without sockets. Algorithms follow nginx's so the same client or key maps
// to the same peer as under nginx.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "config/conf.h"

namespace sy::upstream {

// Per-request iteration state: hash-based methods continue from where the
// previous try stopped when a peer is unusable or failed (nginx's
// iphp->hash / hp->rehash), across retries of one request.
struct PickState {
    uint32_t hash = 0;
    uint32_t rehash = 0;
    uint32_t point = 0;     // consistent hash: current ring position
    int tries = 0;          // picks made for this request
    bool started = false;
};

// `key`: for ip_hash the client address bytes (4 for IPv4, 16 for IPv6;
// empty for unix sockets), for hash the evaluated key; unused otherwise.
// Returns the peer index or -1 when no peer is live.
int pick(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms, std::string_view key, PickState& st);

// The individual methods (round robin is in round_robin.h).
int pick_ip_hash(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms, std::string_view addr,
                 PickState& st);
int pick_hash(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms, std::string_view key,
              PickState& st);
// With u.load_factor F > 0 (bounded load, switchyard's extension) a peer whose
// conns + 1 would exceed ceil(F * (total conns + 1) * weight / live weight)
// is passed over and the walk goes on clockwise; F = 0 is nginx's ring.
int pick_hash_consistent(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms, std::string_view key,
                         PickState& st);
int pick_least_conn(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms);
int pick_random(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now_ms, bool two, bool least_conn);

// Builds u.ring for `hash ... consistent` (nginx: 160 points per weight unit,
// CRC32 of "host\0port" chained with the previous point); gone peers have no
// points. Called at load, and by the resolver when the peers change (the ring
// is mutable, like the peers).
void build_ring(const conf::Upstream& u);

// zlib/nginx CRC32 (ngx_crc32_long).
uint32_t crc32(std::string_view data);
uint32_t crc32_update(uint32_t crc, std::string_view data);   // on a running (uninverted) value

// Whether peer i may take a request now (down, gone from DNS, max_fails/fail_timeout, max_conns).
bool peer_usable(const conf::Peer& p, uint64_t now_ms);

// Passive health accounting, as nginx 1.22's ngx_http_upstream_free_round_robin_peer
// (switchyard keeps the times in ms: accessed_ms, checked_ms):
//  - peer_failed: a try of this peer failed (connect error or timeout, an
//    invalid response head, a proxy_next_upstream status other than 403/404):
//    fails++, accessed = checked = now, and with max_fails the effective
//    weight drops by weight/max_fails (not below 0); at max_fails the peer is
//    unavailable for fail_timeout (a slow_start ramp in progress stops there).
//    Returns true when nginx logs "upstream server temporarily disabled"
//    (max_fails set and fails >= max_fails, at every such failure): the
//    caller logs it at warn with its context.
//  - peer_succeeded: a try of this peer did not fail. If the peer was picked
//    more than fail_timeout after its last failure (accessed < checked),
//    fails goes back to 0; if it had reached max_fails (it was unavailable,
//    then on probation) and has slow_start, its ramp starts now
//    (recovered_ms = now).
// report() (round_robin.h) is the same with an ok flag.
bool peer_failed(const conf::Peer& p, uint64_t now_ms);
void peer_succeeded(const conf::Peer& p, uint64_t now_ms);
// What every nginx balancer does to the peer it picks:
// `if (now - checked > fail_timeout) checked = now;` (so a peer on probation
// takes one try per fail_timeout, and a later success resets its fails).
// pick(), sticky_pick() and the round-robin and least_conn picks call it.
inline void peer_picked(const conf::Peer& p, uint64_t now_ms) {
    if (now_ms - p.checked_ms > p.fail_timeout) p.checked_ms = now_ms;
}

// slow_start contract for code that adds peers at run time (the resolver):
// a peer that appears while running (new address, or an address back after
// it was gone) gets recovered_ms = now when it has slow_start, so it ramps up
// like a recovered peer; peers present at start (and the first answer after
// start) get 0, full weight at once. recovered_ms goes back to 0 by itself
// when the ramp is over. After changing u.peers (adding, marking gone,
// reusing a slot), call peers_changed(u) so balancers that cache a schedule
// of the peers look at them again before the next pick.
void peers_changed(const conf::Upstream& u);

// Derived per-peer fields (keep-alive pool key, sticky cookie value) for one
// peer / every peer, and the consistent-hash ring. At load, and by the
// resolver when it adds a peer.
void finish_peer(const conf::Upstream& u, conf::Peer& p);
void finish_peers(conf::Upstream& u);

// Rebuilds u.primaries / weight_sum / name_groups from u.peers (finish_peers
// does; so must anything that changes the peers at run time).
void index_peers(const conf::Upstream& u);
// The primary a weight walk over `w` (< total weight) lands on, as nginx's
// linear walk would, by binary search.
size_t weight_walk(const conf::Upstream& u, uint64_t w);

// A reload: every peer of `to` with the same upstream name and address as one
// of `from` shares its live connection count.
void inherit_counters(const conf::Config& from, const conf::Config& to);

}  // namespace sy::upstream
