// Per-upstream indexes the hash-based balancers read on every pick, so that a
// pick costs O(log n) instead of a scan of every peer (see conf::Upstream).
#include <algorithm>
#include <unordered_map>

#include "upstream/balancer.h"

namespace sy::upstream {

void index_peers(const conf::Upstream& u) {
    u.primaries.clear();
    u.weight_sum.clear();
    uint64_t sum = 0;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        if (u.peers[i].backup || u.peers[i].gone) continue;   // a gone peer is as if removed
        sum += uint64_t(std::max(u.peers[i].weight, 0));
        u.primaries.push_back(uint32_t(i));
        u.weight_sum.push_back(sum);
    }
    u.name_group.assign(u.peers.size(), 0);
    u.name_groups.clear();
    std::unordered_map<std::string_view, uint32_t> groups;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        auto [it, fresh] = groups.emplace(u.peers[i].name, uint32_t(u.name_groups.size()));
        if (fresh) u.name_groups.emplace_back();
        u.name_group[i] = it->second;
        u.name_groups[it->second].push_back(uint32_t(i));
    }
}

size_t weight_walk(const conf::Upstream& u, uint64_t w) {
    // nginx walks the primaries subtracting weights until w < weight: the
    // first running sum above w
    auto it = std::upper_bound(u.weight_sum.begin(), u.weight_sum.end(), w);
    return u.primaries[size_t(it - u.weight_sum.begin())];
}

}  // namespace sy::upstream
