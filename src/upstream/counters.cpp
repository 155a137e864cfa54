// Carrying live peer counts across a reload (see conf::ConnCount).
#include <unordered_map>

#include "upstream/balancer.h"

namespace sy::upstream {

void inherit_counters(const conf::Config& from, const conf::Config& to) {
    if (!from.http || !to.http) return;
    std::unordered_map<std::string_view, const conf::Peer*> old;
    for (auto& u : from.http->upstreams)
        for (auto& p : u->peers) old.emplace(p.pool_key, &p);
    for (auto& u : to.http->upstreams)
        for (auto& p : u->peers) {
            auto it = old.find(p.pool_key);
            if (it != old.end()) p.conns.share_with(it->second->conns);
        }
}

}  // namespace sy::upstream
