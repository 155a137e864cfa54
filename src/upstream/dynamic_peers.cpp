#include "upstream/dynamic_peers.h"

#include <algorithm>

#include "core/clock.h"
#include "core/log.h"
#include "upstream/balancer.h"
#include "upstream/resolver.h"

namespace sy::upstream {

PeerChanges apply_addresses(const conf::Upstream& u, const conf::ResolveServer& r,
                            const std::vector<conf::SockAddr>& addrs, uint64_t now_ms, bool ramp) {
    PeerChanges out;
    std::vector<conf::Peer>& peers = u.peers;
    std::vector<bool> seen(addrs.size(), false);
    auto wanted = [&](const std::string& text) -> int {
        for (size_t j = 0; j < addrs.size(); ++j)
            if (!seen[j] && addrs[j].text == text) return int(j);
        return -1;
    };

    // The server's current peers: keep, bring back, or mark gone.
    for (auto& p : peers) {
        if (p.server != r.tmpl.server) continue;
        int j = wanted(p.addr.text);
        if (j >= 0) {
            seen[size_t(j)] = true;
            if (p.gone) {   // the address is back: a fresh peer in its old slot
                p.gone = false;
                p.fails = 0;
                p.checked_ms = 0;
                p.current_weight = 0;
                p.recovered_ms = ramp && p.slow_start ? now_ms : 0;
                out.added.push_back(p.addr.text);
            }
        } else if (!p.gone) {
            p.gone = true;
            out.removed.push_back(p.addr.text);
        }
    }

    // New addresses: into a gone slot nobody uses any more, else appended.
    for (size_t j = 0; j < addrs.size(); ++j) {
        if (seen[j]) continue;
        conf::Peer q = r.tmpl;
        q.addr = addrs[j];
        q.name = r.tmpl.name;
        q.gone = false;
        q.recovered_ms = ramp && q.slow_start ? now_ms : 0;
        finish_peer(u, q);
        auto slot = std::find_if(peers.begin(), peers.end(), [](const conf::Peer& p) { return p.gone && p.conns == 0; });
        if (slot != peers.end()) {
            *slot = q;
            ++out.reused;
        } else {
            peers.push_back(q);
        }
        out.added.push_back(addrs[j].text);
    }

    if (out.changed()) {
        index_peers(u);
        if (u.balance == conf::Balance::HashConsistent) build_ring(u);
        peers_changed(u);   // balancers with a cached schedule look at the peers again
    }
    return out;
}

struct DynamicPeers::Group {
    const conf::Upstream* u = nullptr;
    std::unique_ptr<Resolver> resolver;
};

struct DynamicPeers::Host {
    const conf::Upstream* u = nullptr;
    const conf::ResolveServer* r = nullptr;
    Group* g = nullptr;
    Timer timer;
    bool in_flight = false;
    bool answered = false;   // an answer (addresses or NXDOMAIN) came at least once
};

namespace {

// The addresses resolve server `r` of `u` had in the configuration being
// replaced, if that one had the same upstream and server.
std::vector<conf::SockAddr> previous_addresses(const conf::Upstream& u, const conf::ResolveServer& r,
                                               const conf::Config& prev) {
    std::vector<conf::SockAddr> out;
    if (!prev.http) return out;
    for (auto& o : prev.http->upstreams) {
        if (o->implicit || o->name != u.name) continue;
        for (auto& orv : o->resolve) {
            if (orv.host != r.host || orv.port != r.port) continue;
            for (auto& p : o->peers)
                if (p.server == orv.tmpl.server && !p.gone) out.push_back(p.addr);
            return out;
        }
    }
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) {
        if (!s.empty()) s += ", ";
        s += x;
    }
    return s;
}

}  // namespace

DynamicPeers::DynamicPeers(EventLoop& loop, std::shared_ptr<const conf::Config> cfg)
    : loop_(loop), cfg_(std::move(cfg)) {}

DynamicPeers::~DynamicPeers() {
    for (auto& h : hosts_) loop_.disarm(h->timer);
    groups_.clear();   // cancels lookups in flight without calling back
}

std::unique_ptr<DynamicPeers> DynamicPeers::create(EventLoop& loop, std::shared_ptr<const conf::Config> cfg,
                                                   const conf::Config* previous) {
    if (!cfg || !cfg->http) return nullptr;
    bool any = std::any_of(cfg->http->upstreams.begin(), cfg->http->upstreams.end(),
                           [](const auto& u) { return !u->resolve.empty(); });
    if (!any) return nullptr;

    std::unique_ptr<DynamicPeers> d(new DynamicPeers(loop, cfg));
    uint64_t now = clock::now_ms();
    for (auto& up : cfg->http->upstreams) {
        const conf::Upstream& u = *up;
        if (u.resolve.empty()) continue;
        if (previous) {
            for (auto& r : u.resolve) {
                auto addrs = previous_addresses(u, r, *previous);
                if (addrs.empty()) continue;
                apply_addresses(u, r, addrs, now, false);
                SY_LOG(Level::Debug, 0, "upstream \"{}\" server \"{}\": kept {} from the previous configuration", u.name,
                       r.tmpl.name, addrs.size() == 1 ? addrs[0].text : std::to_string(addrs.size()) + " addresses");
            }
        }
        std::string err = "no resolver defined";
        std::unique_ptr<Resolver> res;
        if (u.resolver) res = Resolver::create(loop, *u.resolver, u.resolver_timeout, err);
        if (!res) {
            SY_LOG(Level::Error, 0, "cannot resolve the servers of upstream \"{}\": {}", u.name, err);
            continue;
        }
        auto g = std::make_unique<Group>();
        g->u = &u;
        g->resolver = std::move(res);
        for (auto& r : u.resolve) {
            auto h = std::make_unique<Host>();
            h->u = &u;
            h->r = &r;
            h->g = g.get();
            h->timer.owner = d.get();
            h->timer.tag = int(d->hosts_.size());
            loop.arm(h->timer, 0);   // the first lookup, once the loop runs
            d->hosts_.push_back(std::move(h));
        }
        d->groups_.push_back(std::move(g));
    }
    return d;
}

void DynamicPeers::on_timer(int tag) {
    Host* h = hosts_[size_t(tag)].get();
    if (h->in_flight) return;
    h->in_flight = true;
    h->g->resolver->resolve(h->r->host, h->r->port, [this, h](const Resolved& res) { answered(*h, res); });
}

void DynamicPeers::answered(Host& h, const Resolved& res) {
    h.in_flight = false;
    const conf::Upstream& u = *h.u;
    const conf::ResolveServer& r = *h.r;
    const std::optional<conf::Msec>& valid = u.resolver->valid;
    uint64_t now = clock::now_ms();
    conf::Msec next = 0;
    PeerChanges ch;
    switch (res.status) {
    case Resolved::Status::Ok:
        ++stats_.ok;
        ch = apply_addresses(u, r, res.addrs, now, h.answered);
        next = (valid ? *valid : conf::Msec(res.ttl) * 1000) + 1000;
        h.answered = true;
        break;
    case Resolved::Status::NotFound:
        ++stats_.not_found;
        SY_LOG(Level::Error, 0, "{} could not be resolved ({})", r.host, res.error());
        ch = apply_addresses(u, r, {}, now, h.answered);
        next = valid ? *valid + 1000 : 5000;
        h.answered = true;
        break;
    case Resolved::Status::Failed:
        ++stats_.failed;
        SY_LOG(Level::Error, 0, "{} could not be resolved ({})", r.host, res.error());
        next = std::max<conf::Msec>(u.resolver_timeout, 1000);
        break;
    }
    if (ch.changed()) {
        std::string what;
        if (!ch.added.empty()) what = "added " + join(ch.added);
        if (!ch.removed.empty()) what += (what.empty() ? "gone " : "; gone ") + join(ch.removed);
        SY_LOG(Level::Notice, 0, "upstream \"{}\" server \"{}\": {}", u.name, r.tmpl.name, what);
    } else if (res.status == Resolved::Status::Ok) {
        std::vector<std::string> texts;
        for (auto& a : res.addrs) texts.push_back(a.text);
        SY_LOG(Level::Debug, 0, "name {} was resolved to {}, ttl {}", r.host, join(texts), res.ttl);
    }
    loop_.arm(h.timer, next);
}

}  // namespace sy::upstream
