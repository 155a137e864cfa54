#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace sy::net {

void addr_text(const sockaddr_storage& ss, std::string& addr, uint16_t& port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
    } else {
        addr = "unix:";
        port = 0;
        return;
    }
    addr = buf;
}

bool Cidr::parse(std::string_view text, Cidr& out, std::string& err) {
    out = Cidr{};
    if (text == "unix:") {
        out.family = AF_UNIX;
        return true;
    }
    std::string_view a = text, bits;
    if (size_t slash = text.find('/'); slash != std::string_view::npos) {
        a = text.substr(0, slash);
        bits = text.substr(slash + 1);
    }
    std::string host(a);
    size_t len = 0;
    if (inet_pton(AF_INET, host.c_str(), out.addr) == 1) {
        out.family = AF_INET;
        len = 4;
    } else if (inet_pton(AF_INET6, host.c_str(), out.addr) == 1) {
        out.family = AF_INET6;
        len = 16;
    } else {
        err = "invalid parameter \"" + std::string(text) + "\"";
        return false;
    }
    unsigned n = unsigned(len * 8);
    if (!bits.empty() || text.find('/') != std::string_view::npos) {
        if (bits.empty() || bits.size() > 3) { err = "invalid parameter \"" + std::string(text) + "\""; return false; }
        n = 0;
        for (char c : bits) {
            if (c < '0' || c > '9') { err = "invalid parameter \"" + std::string(text) + "\""; return false; }
            n = n * 10 + unsigned(c - '0');
        }
        if (n > len * 8) { err = "invalid parameter \"" + std::string(text) + "\""; return false; }
    }
    for (size_t i = 0; i < len; ++i) {
        unsigned take = n >= 8 ? 8 : n;
        out.mask[i] = uint8_t(take ? 0xff << (8 - take) : 0);
        n -= take;
        out.addr[i] &= out.mask[i];
    }
    return true;
}

bool Cidr::contains(const sockaddr* sa) const {
    if (!sa) return false;
    if (family == AF_UNIX) return sa->sa_family == AF_UNIX;
    const uint8_t* p = nullptr;
    size_t len = 0;
    uint8_t mapped[4];
    if (sa->sa_family == AF_INET && family == AF_INET) {
        p = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
        len = 4;
    } else if (sa->sa_family == AF_INET6) {
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (family == AF_INET6) {
            p = reinterpret_cast<const uint8_t*>(a6);
            len = 16;
        } else if (IN6_IS_ADDR_V4MAPPED(a6)) {   // nginx compares a v4-mapped peer with IPv4 blocks
            std::memcpy(mapped, reinterpret_cast<const uint8_t*>(a6) + 12, 4);
            p = mapped;
            len = 4;
        }
    }
    if (!p) return false;
    for (size_t i = 0; i < len; ++i)
        if ((p[i] & mask[i]) != addr[i]) return false;
    return true;
}

bool Cidr::contains(std::string_view text) const {
    std::string s(text);
    sockaddr_storage ss{};
    if (inet_pton(AF_INET, s.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, s.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) ss.ss_family = AF_INET6;
    else if (text.rfind("unix:", 0) == 0) ss.ss_family = AF_UNIX;
    else return false;
    return contains(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace sy::net
