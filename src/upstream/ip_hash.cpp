// nginx's ip_hash: the first three bytes of an IPv4 client address (all 16 of
// an IPv6 one) hashed as hash = (hash * 113 + byte) % 6271 from 89, then a
// weight walk over the primary peers. An unusable choice re-hashes from the
// evolved value; after 20 such tries the request falls back to round robin.
#include <algorithm>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"

namespace sy::upstream {

int pick_ip_hash(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, std::string_view addr,
                 PickState& st) {
    if (!st.started) {
        st.started = true;
        st.hash = 89;
        st.tries = 0;
    }

    const uint64_t total = u.weight_sum.empty() ? 0 : u.weight_sum.back();
    if (st.tries > 20 || u.primaries.size() < 2 || total == 0) return pick_round_robin(u, tried, now);

    // nginx: IPv4 -> 3 bytes, IPv6 -> 16, anything else (unix socket) -> 3 zero bytes
    static const char kPseudo[3] = {0, 0, 0};
    std::string_view bytes;
    if (addr.size() == 4) bytes = addr.substr(0, 3);
    else if (addr.size() == 16) bytes = addr;
    else bytes = std::string_view(kPseudo, 3);

    uint32_t hash = st.hash;
    for (;;) {
        for (unsigned char b : bytes) hash = (hash * 113 + b) % 6271;
        size_t i = weight_walk(u, hash % total);
        if (std::find(tried.begin(), tried.end(), i) == tried.end() && peer_usable(u.peers[i], now)) {
            st.hash = hash;
            return int(i);
        }
        if (++st.tries > 20) return pick_round_robin(u, tried, now);
    }
}

}  // namespace sy::upstream
