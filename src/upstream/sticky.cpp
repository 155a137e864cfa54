#include "upstream/sticky.h"

#include <ctime>

#include "upstream/balancer.h"

namespace sy::upstream {

int sticky_pick(const conf::Upstream& u, std::string_view cookie, const std::vector<size_t>& tried, uint64_t now) {
    if (cookie.size() != 32) return -1;
    for (size_t i = 0; i < u.peers.size(); ++i) {
        const conf::Peer& p = u.peers[i];
        if (p.sticky_id != cookie) continue;
        for (size_t t : tried)
            if (t == i) return -1;
        if (!peer_usable(p, now)) return -1;
        peer_picked(p, now);
        return int(i);
    }
    return -1;
}

std::string sticky_set_cookie(const conf::StickyCookie& st, const conf::Peer& p, int64_t wall_s) {
    std::string v = st.name + '=' + p.sticky_id;
    if (st.expires) {
        // nginx Plus: "max" is Thu, 31 Dec 2037 23:55:55 GMT (max-age 315360000)
        bool max = *st.expires == UINT64_MAX;
        int64_t age = max ? 315360000 : int64_t(*st.expires / 1000);
        time_t at = max ? time_t(2145916555) : time_t(wall_s + age);
        tm g{};
        gmtime_r(&at, &g);
        char buf[64];
        strftime(buf, sizeof buf, "%a, %d-%b-%y %H:%M:%S GMT", &g);
        v += "; expires=";
        v += buf;
        v += "; max-age=" + std::to_string(age);
    }
    if (!st.domain.empty()) v += "; domain=" + st.domain;
    if (!st.path.empty()) v += "; path=" + st.path;
    if (st.httponly) v += "; httponly";
    if (st.secure) v += "; secure";
    if (!st.samesite.empty()) v += "; samesite=" + st.samesite;
    return v;
}

}  // namespace sy::upstream
