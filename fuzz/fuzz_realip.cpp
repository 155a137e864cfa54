// libFuzzer target for realip's address parsing (src/http/realip.h): the
// input is one or more header values separated by '\n'.
//
// On any input: no crash or UB. parse_addr_port(): a success prints back
// (with its port) to text that parses to the same address. forwarded_addr():
// Declined leaves the address as it was, anything else gives an IPv4 or IPv6
// address; without recursion only the last element of the last value counts,
// so an element put in front of it changes nothing.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "http/realip.h"
#include "net/cidr.h"

namespace {

using sy::http::Forwarded;

std::vector<sy::net::Cidr> trusted() {
    std::vector<sy::net::Cidr> from;
    std::string err;
    for (const char* t : {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"}) {
        sy::net::Cidr c;
        if (!sy::net::Cidr::parse(t, c, err)) __builtin_trap();
        from.push_back(c);
    }
    return from;
}

sockaddr_storage peer() {
    sockaddr_storage ss{};
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ss;
}

bool same(const sockaddr_storage& a, const sockaddr_storage& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_parse(std::string_view text) {
    sockaddr_storage ss;
    if (!sy::http::parse_addr_port(text, ss)) return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) __builtin_trap();
    std::string addr;
    uint16_t port = 0;
    sy::net::addr_text(ss, addr, port);
    std::string again = port == 0 ? addr : ss.ss_family == AF_INET6 ? "[" + addr + "]:" + std::to_string(port)
                                                                     : addr + ":" + std::to_string(port);
    sockaddr_storage back;
    if (!sy::http::parse_addr_port(again, back) || !same(ss, back)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<sy::net::Cidr> from = trusted();
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> values;
    for (size_t at = 0;;) {
        size_t nl = in.find('\n', at);
        values.push_back(in.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at));
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    for (auto v : values) check_parse(v);

    for (bool recursive : {false, true}) {
        sockaddr_storage addr = peer();
        Forwarded rc = sy::http::forwarded_addr(addr, values, from, recursive);
        if (rc == Forwarded::Declined && !same(addr, peer())) __builtin_trap();
        if (rc != Forwarded::Declined && addr.ss_family != AF_INET && addr.ss_family != AF_INET6) __builtin_trap();
        if (recursive) continue;
        std::string_view last = values.back();
        if (last.empty() || last[0] == ' ' || last[0] == ',') continue;
        std::string prefixed = "192.0.2.1, " + std::string(last);
        sockaddr_storage addr2 = peer();
        Forwarded rc2 = sy::http::forwarded_addr(addr2, {prefixed}, from, false);
        if (rc2 != rc || !same(addr, addr2)) __builtin_trap();
    }
    return 0;
}
