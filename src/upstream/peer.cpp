#include <openssl/evp.h>

#include "upstream/balancer.h"

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
    if (u.balance == conf::Balance::HashConsistent) build_ring(u);
}

// ---- passive health accounting (balancer.h), slow_start -----------------------

namespace {
uint64_t g_health_epoch = 1;
}  // namespace

uint64_t health_epoch() { return g_health_epoch; }

void peers_changed(const conf::Upstream&) { ++g_health_epoch; }

void peer_failed(const conf::Peer& p, uint64_t now) {
    ++p.fails;
    p.checked_ms = now;
    if (p.max_fails && p.fails >= p.max_fails) {
        p.recovered_ms = 0;   // unavailable now; a new ramp starts when it comes back
        ++g_health_epoch;     // schedules that count on this peer must look again
    }
}

void peer_succeeded(const conf::Peer& p, uint64_t now) {
    // nginx: `if (peer->accessed < peer->checked) peer->fails = 0;` - the peer
    // was picked again after fail_timeout since its last failure
    if (p.fails && now - p.checked_ms > p.fail_timeout) {
        const bool was_unavailable = p.max_fails && p.fails >= p.max_fails;
        p.fails = 0;
        if (was_unavailable && p.slow_start) p.recovered_ms = now ? now : 1;
    }
}

}  // namespace sy::upstream
