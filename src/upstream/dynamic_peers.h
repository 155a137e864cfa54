// `server NAME resolve`: peers that follow DNS while running (nginx 1.27.3).
//
// For every `resolve` server of every upstream of one configuration, a
// background re-resolver looks the name up at start and again when the
// answer expires, and applies the addresses to the upstream's peers:
//
//  - an address still answered keeps its peer (same index, balancer state kept);
//  - a vanished address's peer is marked `gone` (unusable) but stays in the
//    vector, so indices held by requests and tunnels in flight stay valid; a
//    gone slot with no connection left is reused for the next new address;
//  - a new address becomes a peer: a copy of the server line's template with
//    the address (and the server line's port), finish_peer() applied;
//  - `hash ... consistent` gets its ring rebuilt when anything changed.
//
// Timing and failures as nginx's ngx_http_upstream_zone_module: the next
// lookup comes TTL + 1 s after an answer (`valid=` replaces the TTL; TTL 0:
// 1 s later). NXDOMAIN, or no address of the asked families, means the name
// has no address: its peers go (nginx does the same), and it is asked again
// after `valid=` + 1 s (5 s without `valid=`). Any other failure (timeout,
// SERVFAIL, REFUSED) keeps the last known addresses and retries after
// resolver_timeout (at least 1 s).
//
// Worker thread only: everything runs from the EventLoop, like the requests
// that read the peers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/conf.h"
#include "core/event_loop.h"

namespace sy::upstream {

class Resolver;
struct Resolved;

// What applying one answer did to an upstream's peers (addresses as text).
struct PeerChanges {
    std::vector<std::string> added;     // appended, or written into a reused gone slot
    std::vector<std::string> removed;   // marked gone
    int reused = 0;                     // of `added`, how many took a gone slot
    bool changed() const { return !added.empty() || !removed.empty(); }
};

// Applies the complete address list of resolve server `r` (ports already set)
// to u.peers as described above. `now_ms`/`ramp`: a peer added with ramp set
// starts its slow_start from now (not for the first answer after start).
PeerChanges apply_addresses(const conf::Upstream& u, const conf::ResolveServer& r,
                            const std::vector<conf::SockAddr>& addrs, uint64_t now_ms, bool ramp);

// The re-resolvers of one configuration.
//
// Ownership: the Worker owns the DynamicPeers of its current generation and
// destroys it when another generation is activated or the worker stops; it
// holds a shared_ptr to the configuration whose peers it changes, so no
// callback can reach a freed Upstream, and destroying it cancels every lookup
// in flight (c-ares's ARES_EDESTRUCTION callbacks touch nothing else). The
// old generation's upstreams keep the peers they last had for the
// connections that still use them.
class DynamicPeers : public TimerHandler {
public:
    // Null when no upstream of `cfg` has a `resolve` server. `previous` (the
    // configuration being replaced, if any) seeds each resolve server with the
    // addresses it had there (same upstream name, host and port), so a reload
    // does not leave the new generation without peers until DNS answers.
    // Lookups start from the loop's timers, not here: nothing is sent and no
    // socket is opened until the loop runs (after the daemon fork).
    static std::unique_ptr<DynamicPeers> create(EventLoop& loop, std::shared_ptr<const conf::Config> cfg,
                                                const conf::Config* previous);
    ~DynamicPeers() override;
    DynamicPeers(const DynamicPeers&) = delete;
    DynamicPeers& operator=(const DynamicPeers&) = delete;

    void on_timer(int tag) override;

    // For tests: answers handled so far, by outcome.
    struct Stats {
        uint64_t ok = 0, not_found = 0, failed = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Host;
    struct Group;
    DynamicPeers(EventLoop& loop, std::shared_ptr<const conf::Config> cfg);
    void answered(Host& h, const Resolved& res);

    EventLoop& loop_;
    std::shared_ptr<const conf::Config> cfg_;
    std::vector<std::unique_ptr<Group>> groups_;   // one c-ares channel per upstream
    std::vector<std::unique_ptr<Host>> hosts_;     // one per resolve server; Timer tag = index
    Stats stats_;
};

}  // namespace sy::upstream
