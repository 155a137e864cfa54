// `sticky cookie`: a client that carries the cookie naming a live peer goes
// back to that peer; any other client is balanced as usual and gets the
// cookie for the peer it landed on (nginx Plus's semantics, including the
// cookie value: the hex MD5 of the peer's address).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/conf.h"

namespace sy::upstream {

// The peer the cookie value names, if it is usable and not tried yet; else -1.
int sticky_pick(const conf::Upstream& u, std::string_view cookie, const std::vector<size_t>& tried, uint64_t now_ms);

// The Set-Cookie value for peer `p`: "NAME=ID; expires=...; max-age=...; domain=...; path=...; ...".
// `wall_s` is the current wall-clock time (seconds since the epoch).
std::string sticky_set_cookie(const conf::StickyCookie& st, const conf::Peer& p, int64_t wall_s);

}  // namespace sy::upstream
