#include "upstream/balancer.h"

namespace sy::upstream {

bool peer_usable(const conf::Peer& p, uint64_t now) {
    if (p.down) return false;
    if (p.max_fails && p.fails >= p.max_fails && now - p.checked_ms <= uint64_t(p.fail_timeout)) return false;
    if (p.max_conns && p.conns >= p.max_conns) return false;
    return true;
}

}  // namespace sy::upstream
