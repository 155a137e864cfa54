// nginx's `hash KEY` (Cache::Memcached compatible) and `hash KEY consistent`
// (Cache::Memcached::Fast compatible ketama ring, 160 points per weight).
#include <algorithm>
#include <cmath>
#include <string>

#include "upstream/balancer.h"
#include "upstream/round_robin.h"
#include "upstream/slow_start.h"

namespace sy::upstream {

namespace {
bool was_tried(const std::vector<size_t>& tried, size_t i) { return std::find(tried.begin(), tried.end(), i) != tried.end(); }

// nginx's ngx_http_upstream_find_chash_point: first point >= hash (may be size()).
size_t find_point(const std::vector<std::pair<uint32_t, uint32_t>>& ring, uint32_t hash) {
    auto it = std::lower_bound(ring.begin(), ring.end(), hash,
                               [](const std::pair<uint32_t, uint32_t>& p, uint32_t h) { return p.first < h; });
    return size_t(it - ring.begin());
}
}  // namespace

int pick_hash(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, std::string_view key,
              PickState& st) {
    if (!st.started) {
        st.started = true;
        st.hash = 0;
        st.rehash = 0;
        st.tries = 0;
    }
    const uint64_t total = u.weight_sum.empty() ? 0 : u.weight_sum.back();
    if (st.tries > 20 || u.primaries.size() < 2 || key.empty() || total == 0) return pick_round_robin(u, tried, now);

    for (;;) {
        // ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH, REHASH omitted the first time
        uint32_t crc = 0xffffffffu;
        if (st.rehash > 0) crc = crc32_update(crc, std::to_string(st.rehash));
        crc = crc32_update(crc, key) ^ 0xffffffffu;
        st.hash += (crc >> 16) & 0x7fff;
        st.rehash++;

        size_t i = weight_walk(u, st.hash % total);
        if (!was_tried(tried, i) && peer_usable(u.peers[i], now)) return int(i);
        if (++st.tries > 20) return pick_round_robin(u, tried, now);
    }
}

void build_ring(const conf::Upstream& u) {
    u.ring.clear();
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.backup || p.gone) continue;   // gone: DNS no longer has it (`resolve`)
        std::string_view server = p.name;
        std::string_view host = server, port;
        bool is_unix = server.size() >= 5 && std::equal(server.begin(), server.begin() + 5, "unix:", [](char a, char b) {
                           return (a >= 'A' && a <= 'Z' ? char(a | 0x20) : a) == b;
                       });
        if (is_unix) {
            host = server.substr(5);
        } else {
            // port: the digits after the last ':' (none when a non-digit comes first)
            for (size_t j = 0; j < server.size(); ++j) {
                char c = server[server.size() - j - 1];
                if (c == ':') {
                    host = server.substr(0, server.size() - j - 1);
                    port = server.substr(server.size() - j);
                    break;
                }
                if (c < '0' || c > '9') break;
            }
        }
        uint32_t base = crc32_update(0xffffffffu, host);
        base = crc32_update(base, std::string_view("\0", 1));
        base = crc32_update(base, port);

        uint32_t prev = 0;
        int npoints = std::max(p.weight, 0) * 160;
        for (int j = 0; j < npoints; ++j) {
            char b[4] = {char(prev & 0xff), char((prev >> 8) & 0xff), char((prev >> 16) & 0xff),
                         char((prev >> 24) & 0xff)};
            uint32_t h = crc32_update(base, std::string_view(b, 4)) ^ 0xffffffffu;
            u.ring.emplace_back(h, uint32_t(i));
            prev = h;
        }
    }
    std::stable_sort(u.ring.begin(), u.ring.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    // nginx keeps one point per hash value
    auto last = std::unique(u.ring.begin(), u.ring.end(), [](const auto& a, const auto& b) { return a.first == b.first; });
    u.ring.erase(last, u.ring.end());
}

namespace {
// `hash ... consistent load_factor=F` (switchyard's extension, bounded-load
// consistent hashing: Mirrokni, Thorup, Zadimoghaddam 2018; HAProxy's
// hash-balance-factor). A peer takes the request only if, with it, its
// connections stay within F times its share of all connections:
//     conns + 1 <= ceil(F * (total + 1) * weight / live_weight)
// over the live primaries (not down, not gone, not failed); with equal weights
// that is ceil(F * (total + 1) / live_peers). With F >= 1 the live peer with
// the fewest connections per weight is always under its bound, so the walk
// clockwise finds a peer unless the ones under it are tried or at max_conns.
// load_factor 0: no bound, nginx's walk exactly.
struct LoadBound {
    bool on = false;
    uint64_t total = 0;        // connections of the live primaries, + 1 for this request
    uint64_t live_weight = 0;
    uint64_t permille = 0;     // F * 1000

    bool admits(const conf::Peer& p) const {
        using u128 = unsigned __int128;
        const u128 den = u128(1000) * live_weight;
        const u128 cap = (u128(permille) * total * uint64_t(std::max(p.weight, 0)) + den - 1) / den;
        return u128(uint64_t(std::max(int(p.conns), 0)) + 1) <= cap;
    }
};

// Points a bounded walk passes over before it gives up the bound. A peer is
// at its bound only with more than F times its share, so the peers at their
// bound hold less than 1/F of the weight (F = 1.25: 80%, and of the ring);
// 64 such points in a row is then a chance below 1e-6, and the walk's cost
// stays bounded when F is close to 1.
constexpr int kBoundedWalk = 64;

LoadBound load_bound(const conf::Upstream& u, uint64_t now) {
    LoadBound b;
    if (u.load_factor <= 0) return b;
    for (const conf::Peer& p : u.peers) {
        if (p.backup || p.down || p.gone) continue;
        if (p.max_fails && p.fails >= p.max_fails && now - p.checked_ms <= p.fail_timeout) continue;
        b.total += uint64_t(std::max(int(p.conns), 0));
        b.live_weight += uint64_t(std::max(p.weight, 0));
    }
    b.on = b.live_weight > 0;
    b.total += 1;
    b.permille = uint64_t(std::llround(u.load_factor * 1000));
    return b;
}
}  // namespace

int pick_hash_consistent(const conf::Upstream& u, const std::vector<size_t>& tried, uint64_t now, std::string_view key,
                         PickState& st) {
    if (!st.started) {
        st.started = true;
        st.tries = 0;
        st.point = u.ring.empty() ? 0 : uint32_t(find_point(u.ring, crc32(key)));
    }
    // hash methods refuse `backup`: the primaries are all peers (gone ones aside)
    if (st.tries > 20 || u.primaries.size() < 2 || key.empty() || u.ring.empty()) return pick_round_robin(u, tried, now);

    LoadBound bound = load_bound(u, now);
    const uint32_t first_point = st.point;
    const int first_tries = st.tries;
    int passed = 0;   // points passed over only because their peers were at the bound
    for (;;) {
        // the point names a server; among the peers of that server (several
        // when a name resolves to several addresses) smooth weighted round robin
        const auto& group = u.name_groups[u.name_group[u.ring[st.point % u.ring.size()].second]];
        const conf::Peer* best = nullptr;
        int best_i = -1;
        int total = 0;
        bool at_bound = false;
        for (uint32_t i : group) {
            const conf::Peer& p = u.peers[i];
            if (p.backup || was_tried(tried, i) || !peer_usable(p, now)) continue;
            if (bound.on && !bound.admits(p)) {
                at_bound = true;
                continue;
            }
            const int ew = effective_weight(p, now);
            p.current_weight += ew;
            total += ew;
            regain_weight(p);
            if (!best || p.current_weight > best->current_weight) {
                best = &p;
                best_i = int(i);
            }
        }
        if (best) {
            best->current_weight -= total;
            return best_i;
        }
        st.point++;
        if (at_bound) {
            // the overflow goes on clockwise; not one of nginx's 20 tries
            if (++passed < kBoundedWalk) continue;
        } else if (++st.tries <= 20) {
            continue;
        } else if (!bound.on) {
            return pick_round_robin(u, tried, now);
        }
        // The bounded walk found no peer (almost every peer at its bound, or
        // the usable ones tried): walk again as without the bound.
        bound.on = false;
        st.point = first_point;
        st.tries = first_tries;
    }
}

}  // namespace sy::upstream
