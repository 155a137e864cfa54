// libFuzzer target for the PROXY protocol parser and writers
// (src/net/proxy_protocol.h).
//
// On any input: no crash or UB; Done means 0 < consumed <= size and the
// first `consumed` bytes alone parse the same, while every shorter prefix
// tried needs more; NeedMore stays NeedMore for shorter prefixes; Invalid
// stays Invalid whatever follows. Then addresses taken from the input go
// through both writers and back through the parser unchanged.
#include <arpa/inet.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "net/proxy_protocol.h"

namespace {

using sy::net::ProxyHeader;
using sy::net::ProxyParse;

bool same(const ProxyHeader& a, const ProxyHeader& b) {
    return a.version == b.version && a.local == b.local && a.src_addr == b.src_addr && a.dst_addr == b.dst_addr &&
           a.src_port == b.src_port && a.dst_port == b.dst_port && std::memcmp(&a.src, &b.src, sizeof a.src) == 0 &&
           std::memcmp(&a.dst, &b.dst, sizeof a.dst) == 0 && a.tlvs == b.tlvs;
}

ProxyParse parse(std::string_view in, ProxyHeader& h, size_t& consumed, std::string& err) {
    ProxyParse r = sy::net::parse_proxy_header(in, h, consumed, err);
    if (r != ProxyParse::Done && consumed != 0) __builtin_trap();
    if ((r == ProxyParse::Invalid) == err.empty()) __builtin_trap();
    return r;
}

ProxyParse parse(std::string_view in) {
    ProxyHeader h;
    size_t consumed = 0;
    std::string err;
    return parse(in, h, consumed, err);
}

void check_parse(std::string_view in) {
    ProxyHeader h;
    size_t consumed = 0;
    std::string err;
    ProxyParse r = parse(in, h, consumed, err);
    // A prefix length chosen by the input, for the checks below.
    const size_t some = in.empty() ? 0 : static_cast<uint8_t>(in.back()) * 31u % in.size();
    switch (r) {
    case ProxyParse::Done: {
        if (consumed == 0 || consumed > in.size() || consumed > sy::net::kProxyMax) __builtin_trap();
        if (h.version == 1 && consumed > sy::net::kProxyV1Max) __builtin_trap();
        if (h.version != 1 && h.version != 2) __builtin_trap();
        if (h.local != (h.src.ss_family == AF_UNSPEC) || h.src.ss_family != h.dst.ss_family) __builtin_trap();
        if (!h.local && (h.src_addr.empty() || h.dst_addr.empty())) __builtin_trap();
        if (h.version == 1 && !h.tlvs.empty()) __builtin_trap();
        ProxyHeader again;
        size_t consumed2 = 0;
        std::string err2;
        if (parse(in.substr(0, consumed), again, consumed2, err2) != ProxyParse::Done) __builtin_trap();
        if (consumed2 != consumed || !same(h, again)) __builtin_trap();
        if (parse(in.substr(0, consumed - 1)) != ProxyParse::NeedMore) __builtin_trap();
        if (parse(in.substr(0, some % consumed)) != ProxyParse::NeedMore) __builtin_trap();
        break;
    }
    case ProxyParse::NeedMore:
        if (in.size() >= sy::net::kProxyMax) __builtin_trap();
        if (parse(in.substr(0, some)) != ProxyParse::NeedMore) __builtin_trap();
        break;
    case ProxyParse::Invalid: {
        std::string more(in);
        more += "\r\n";
        if (parse(more) != ProxyParse::Invalid) __builtin_trap();
        more.append(64, '\0');
        if (parse(more) != ProxyParse::Invalid) __builtin_trap();
        break;
    }
    }
}

// The address and port of an AF_INET/AF_INET6 sockaddr, as 16 bytes (IPv4
// as ::ffff:a.b.c.d) and a host-order port.
void ip_of(const sockaddr_storage& ss, uint8_t out[16], uint16_t& port) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        std::memcpy(out, kMapped, 12);
        std::memcpy(out + 12, &a->sin_addr, 4);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        std::memcpy(out, &a->sin6_addr, 16);
        port = ntohs(a->sin6_port);
    } else {
        __builtin_trap();
    }
}

// The text must read back (inet_pton) as the address.
void check_text(const std::string& text, const sockaddr_storage& ss) {
    uint8_t bin[16];
    if (ss.ss_family == AF_INET) {
        if (inet_pton(AF_INET, text.c_str(), bin) != 1) __builtin_trap();
        if (std::memcmp(bin, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, 4) != 0) __builtin_trap();
    } else {
        if (inet_pton(AF_INET6, text.c_str(), bin) != 1) __builtin_trap();
        if (std::memcmp(bin, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16) != 0) __builtin_trap();
    }
}

void make_addr(sockaddr_storage& ss, bool v6, const uint8_t* addr, const uint8_t* port) {
    ss = {};
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        std::memcpy(&a->sin6_addr, addr, 16);
        std::memcpy(&a->sin6_port, port, 2);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        std::memcpy(&a->sin_addr, addr, 4);
        std::memcpy(&a->sin_port, port, 2);
    }
}

void check_writers(const uint8_t* data, size_t size) {
    if (size < 1 + 16 + 16 + 2 + 2) return;
    const unsigned mode = data[0] % 4;  // v4/v4, v6/v6, v4/v6, unix/v4
    const bool src6 = mode == 1, dst6 = mode == 1 || mode == 2;
    sockaddr_storage src, dst;
    make_addr(src, src6, data + 1, data + 33);
    make_addr(dst, dst6, data + 17, data + 35);
    if (mode == 3) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::memcpy(&src, &un, sizeof un);
    }
    const auto* s = reinterpret_cast<const sockaddr*>(&src);
    const auto* d = reinterpret_cast<const sockaddr*>(&dst);
    const std::string v1 = sy::net::proxy_v1(s, d), v2 = sy::net::proxy_v2(s, d);

    ProxyHeader h1, h2;
    size_t c1 = 0, c2 = 0;
    std::string e1, e2;
    if (parse(v1, h1, c1, e1) != ProxyParse::Done || c1 != v1.size() || h1.version != 1) __builtin_trap();
    if (parse(v2, h2, c2, e2) != ProxyParse::Done || c2 != v2.size() || h2.version != 2) __builtin_trap();
    if (mode == 3) {
        if (!h1.local || !h2.local || v2.size() != 16) __builtin_trap();
        return;
    }
    // v1 only carries one family on both sides.
    if (h1.local != (mode == 2)) __builtin_trap();
    if (h2.local) __builtin_trap();
    const ProxyHeader* hs[] = {&h1, &h2};
    for (const ProxyHeader* h : hs) {
        if (h->local) continue;
        uint8_t want[16], got[16];
        uint16_t want_port = 0, got_port = 0;
        ip_of(src, want, want_port);
        ip_of(h->src, got, got_port);
        if (std::memcmp(want, got, 16) != 0 || want_port != got_port || h->src_port != got_port) __builtin_trap();
        ip_of(dst, want, want_port);
        ip_of(h->dst, got, got_port);
        if (std::memcmp(want, got, 16) != 0 || want_port != got_port || h->dst_port != got_port) __builtin_trap();
        check_text(h->src_addr, h->src);
        check_text(h->dst_addr, h->dst);
    }
    // Same addresses, same text (the v1 line is written with nginx's text).
    if (!h1.local && (h1.src_addr != h2.src_addr || h1.dst_addr != h2.dst_addr)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    check_parse(std::string_view(reinterpret_cast<const char*>(data), size));
    check_writers(data, size);
    return 0;
}
