#include <openssl/evp.h>

#include <algorithm>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"

namespace sy::upstream {

bool peer_usable(const conf::Peer& p, uint64_t now) {
    if (p.down || p.gone) return false;
    if (p.max_fails && p.fails >= p.max_fails && now - p.checked_ms <= uint64_t(p.fail_timeout)) return false;
    if (p.max_conns && p.conns >= p.max_conns) return false;
    return true;
}

// nginx Plus's `sticky cookie` value: the hex MD5 of the peer's address.
static std::string sticky_id_of(const std::string& addr) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(addr.data(), addr.size(), md, &n, EVP_md5(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

void finish_peer(const conf::Upstream& u, conf::Peer& p) {
    p.pool_key = u.name + '|' + p.addr.text;
    if (u.sticky.on) p.sticky_id = sticky_id_of(p.addr.text);
}

void finish_peers(conf::Upstream& u) {
    for (auto& p : u.peers) finish_peer(u, p);
    index_peers(u);
    if (u.balance == conf::Balance::HashConsistent) build_ring(u);
}

// ---- passive health accounting (balancer.h), slow_start -----------------------

uint64_t g_health_epoch = 1;

void peers_changed(const conf::Upstream&) { ++g_health_epoch; }

bool peer_failed(const conf::Peer& p, uint64_t now) {
    ++g_health_epoch;   // the peer's weight or usability changes: running schedules look again
    ++p.fails;
    p.accessed_ms = now;
    p.checked_ms = now;
    bool disabled = false;
    if (p.max_fails) {
        p.weight_lost = std::min(p.weight_lost + p.weight / p.max_fails, p.weight);   // effective_weight >= 0
        disabled = p.fails >= p.max_fails;
    }
    if (disabled) p.recovered_ms = 0;   // unavailable now; a new ramp starts when it comes back
    return disabled;
}

void peer_succeeded(const conf::Peer& p, uint64_t now) {
    // nginx: `if (peer->accessed < peer->checked) peer->fails = 0;` - the peer
    // was picked more than fail_timeout after its last failure
    if (p.fails && p.accessed_ms < p.checked_ms) {
        const bool was_unavailable = p.max_fails && p.fails >= p.max_fails;
        p.fails = 0;
        if (was_unavailable && p.slow_start) p.recovered_ms = now ? now : 1;
    }
}

}  // namespace sy::upstream
