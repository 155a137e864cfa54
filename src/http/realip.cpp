#include "http/realip.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "net/proxy_reader.h"

namespace sy::http {

namespace {

bool parse_addr(std::string_view text, sockaddr_storage& out) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return false;
    std::string s(text);
    std::memset(&out, 0, sizeof out);
    auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
    if (inet_pton(AF_INET, s.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return true;
    }
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET6, s.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

bool is_sep(char c) { return c == ' ' || c == ','; }

// One header value, nginx's ngx_http_get_forwarded_addr_internal() unrolled:
// its recursion goes one element further left while the last one taken is
// trusted.
Forwarded forwarded_one(sockaddr_storage& addr, std::string_view xff, const std::vector<net::Cidr>& from,
                        bool recursive) {
    bool found = false;
    for (;;) {
        if (!net::trusted(from, reinterpret_cast<const sockaddr*>(&addr)) || xff.empty())
            return found ? Forwarded::Done : Forwarded::Declined;
        size_t p = xff.size() - 1, len = xff.size();
        for (; p > 0 && is_sep(xff[p]); --p) --len;   // trailing separators (never the first byte)
        for (; p > 0; --p)
            if (is_sep(xff[p])) { ++p; break; }
        sockaddr_storage ss;
        if (!parse_addr_port(xff.substr(p, len - p), ss)) return found ? Forwarded::Done : Forwarded::Declined;
        addr = ss;
        found = true;
        if (!recursive || p == 0) return Forwarded::Ok;
        xff = xff.substr(0, p - 1);
    }
}

}  // namespace

bool parse_addr_port(std::string_view text, sockaddr_storage& out) {
    if (parse_addr(text, out)) return true;
    size_t colon;
    std::string_view host;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        host = text.substr(1, close - 1);
        colon = close + 1;
    } else {
        colon = text.find(':');
        if (colon == std::string_view::npos) return false;
        host = text.substr(0, colon);
    }
    std::string_view digits = text.substr(colon + 1);
    if (digits.empty()) return false;
    unsigned port = 0;
    for (char c : digits) {   // as ngx_atoi: leading zeros are fine
        if (c < '0' || c > '9') return false;
        port = port * 10 + unsigned(c - '0');
        if (port > 65535) return false;
    }
    if (port < 1 || port > 65535 || !parse_addr(host, out)) return false;
    if (out.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&out)->sin_port = htons(uint16_t(port));
    else reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = htons(uint16_t(port));
    return true;
}

// Several headers of the same name: the last first (RFC 9110 5.3: they are
// one list), on to earlier ones only with `recursive` and only while the
// address taken so far is trusted.
Forwarded forwarded_addr(sockaddr_storage& addr, const std::vector<std::string_view>& values,
                         const std::vector<net::Cidr>& from, bool recursive) {
    Forwarded rc = Forwarded::Declined;
    bool found = false;
    for (size_t i = values.size(); i-- > 0;) {
        rc = forwarded_one(addr, values[i], from, recursive);
        if (!recursive) break;
        if (rc == Forwarded::Declined && found) return Forwarded::Done;
        if (rc != Forwarded::Ok) break;
        found = true;
    }
    return rc;
}

}  // namespace sy::http
