// Address blocks as nginx's set_real_ip_from (and allow/deny) take them:
// "192.0.2.0/24", "192.0.2.1", "2001:db8::/32", "unix:".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sy::net {

// A socket address as nginx prints $remote_addr / $remote_port: "192.0.2.1"
// or "2001:db8::1" and the port; "unix:" and 0 for a unix socket.
void addr_text(const sockaddr_storage& ss, std::string& addr, uint16_t& port);

struct Cidr {
    int family = 0;            // AF_INET, AF_INET6 or AF_UNIX ("unix:": every unix-socket peer)
    uint8_t addr[16] = {};
    uint8_t mask[16] = {};

    // False with `err` set ("invalid parameter \"...\"" / nginx's "low address bits of ... are meaningless" is a warning there: accepted here, the bits masked off).
    static bool parse(std::string_view text, Cidr& out, std::string& err);
    bool contains(const sockaddr* sa) const;
    // An address in text form ("192.0.2.7", "2001:db8::1").
    bool contains(std::string_view addr) const;
};

}  // namespace sy::net
