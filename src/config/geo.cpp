#include "config/geo.h"

#include <arpa/inet.h>

#include <algorithm>

namespace sy::conf {

namespace {

unsigned prefix_bits(const net::Cidr& c) {
    unsigned n = 0;
    for (uint8_t m : c.mask) n += unsigned(__builtin_popcount(m));
    return n;
}

bool parse_ipv4(const std::string& s, uint32_t& out) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
    out = ntohl(a.s_addr);
    return true;
}

bool same_net(const net::Cidr& a, const net::Cidr& b) {
    return a.family == b.family && std::equal(a.addr, a.addr + 16, b.addr) && std::equal(a.mask, a.mask + 16, b.mask);
}

}  // namespace

// geo [$address] $variable { default V; NET V; delete NET; proxy NET;
// proxy_recursive; ranges; FROM-TO V; include FILE; }
bool h_geo(Ctx& c, const Directive& d) {
    const std::string& var = d.args.back().value;
    if (var.size() < 2 || var[0] != '$') { c.err = "invalid variable name \"" + var + "\""; return false; }
    std::string lname = var.substr(1);
    for (auto& ch : lname) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    MapConf& m = *c.http->maps[size_t(c.http->map_index.at(lname))];
    m = MapConf{};   // a later block redefines the variable, as for map
    m.var_name = var.substr(1);
    m.geo = std::make_unique<GeoConf>();
    GeoConf& g = *m.geo;
    if (d.args.size() == 2) {
        const std::string& src = d.args[0].value;
        if (src.size() < 2 || src[0] != '$') { c.err = "invalid variable name \"" + src + "\""; return false; }
        if (!compile_value(c, src, m.source)) return false;
        g.source_given = true;
    }
    for (auto& e : d.children) {
        c.err_where = e.where;
        if (e.has_block) { c.err = "unexpected \"{\""; return false; }
        if (e.name == "ranges" && e.args.empty()) {
            if (!g.nets.empty()) { c.err = "\"ranges\" must be the first parameter of the geo block"; return false; }
            g.use_ranges = true;
            continue;
        }
        if (e.name == "proxy_recursive" && e.args.empty()) { g.proxy_recursive = true; continue; }
        if (e.args.size() != 1) { c.err = "invalid number of the geo parameters"; return false; }
        const std::string& key = e.name;
        const std::string& value = e.args[0].value;
        std::string err;
        if (key == "proxy") {
            if (c.context == kStream) { c.err = "invalid parameter \"proxy\""; return false; }
            net::Cidr p;
            if (!net::Cidr::parse(value, p, err)) { c.err = err; return false; }
            g.proxies.push_back(p);
            continue;
        }
        if (key == "default") {
            g.default_value = value;
            continue;
        }
        if (key == "delete") {
            if (g.use_ranges) {
                // nginx: "delete" with ranges removes a range; rare: refused clearly
                c.err = "\"delete\" inside a geo block with \"ranges\" is not supported yet by switchyard";
                return false;
            }
            net::Cidr n;
            if (!net::Cidr::parse(value, n, err)) { c.err = err; return false; }
            auto it = std::find_if(g.nets.begin(), g.nets.end(), [&](auto& x) { return same_net(x.cidr, n); });
            if (it != g.nets.end()) g.nets.erase(it);
            continue;
        }
        if (g.use_ranges) {
            size_t dash = key.find('-');
            uint32_t from = 0, to = 0;
            if (dash == std::string::npos || !parse_ipv4(key.substr(0, dash), from) ||
                !parse_ipv4(key.substr(dash + 1), to) || from > to) {
                c.err = "invalid range \"" + key + "\"";
                return false;
            }
            g.ranges.push_back({from, to, value});
            continue;
        }
        net::Cidr n;
        if (!net::Cidr::parse(key, n, err) || n.family == AF_UNIX) {
            c.err = "invalid network \"" + key + "\"";
            return false;
        }
        unsigned bits = prefix_bits(n);
        if (bits == 0) {   // 0.0.0.0/0 and ::/0 are the default
            g.default_value = value;
            continue;
        }
        auto it = std::find_if(g.nets.begin(), g.nets.end(), [&](auto& x) { return same_net(x.cidr, n); });
        if (it != g.nets.end()) {
            it->value = value;   // nginx warns "duplicate network" and keeps the later value
            continue;
        }
        g.nets.push_back({n, bits, value});
    }
    c.err_where = {};
    // most specific first: the first net that holds an address is its answer
    std::stable_sort(g.nets.begin(), g.nets.end(), [](auto& a, auto& b) { return a.bits > b.bits; });
    return true;
}

}  // namespace sy::conf
