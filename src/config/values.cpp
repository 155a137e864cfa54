// Value parsers shared by directive handlers: times, sizes, addresses.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <cctype>
#include <cstring>

#include "config/loader.h"

namespace sy::conf {

bool parse_msec(std::string_view s, Msec& out) {
    // nginx's ngx_parse_time: "1h 30m", "500ms", "60" (seconds), "2s".
    if (s.empty()) return false;
    uint64_t total = 0;
    size_t i = 0;
    bool any = false;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        if (i == s.size()) break;
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
        uint64_t v = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            v = v * 10 + uint64_t(s[i] - '0');
            if (v > (1ull << 40)) return false;
            ++i;
        }
        uint64_t mul = 1000;
        if (i < s.size() && s[i] != ' ') {
            std::string_view u = s.substr(i);
            size_t ulen = 1;
            if (u.substr(0, 2) == "ms") { mul = 1; ulen = 2; }
            else switch (u[0]) {
                case 's': mul = 1000; break;
                case 'm': mul = 60000; break;
                case 'h': mul = 3600000; break;
                case 'd': mul = 86400000; break;
                case 'w': mul = 7ull * 86400000; break;
                case 'M': mul = 30ull * 86400000; break;
                case 'y': mul = 365ull * 86400000; break;
                default: return false;
            }
            i += ulen;  // the next group may follow directly: "1m30s"
        }
        total += v * mul;
        any = true;
    }
    if (!any) return false;
    out = total;
    return true;
}

bool parse_size(std::string_view s, size_t& out) {
    if (s.empty()) return false;
    size_t mul = 1;
    char last = s.back();
    if (last == 'k' || last == 'K') mul = 1024;
    else if (last == 'm' || last == 'M') mul = 1024 * 1024;
    else if (last == 'g' || last == 'G') mul = size_t(1024) * 1024 * 1024;
    if (mul != 1) s.remove_suffix(1);
    if (s.empty()) return false;
    size_t v = 0;
    for (char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        v = v * 10 + size_t(c - '0');
        if (v > (size_t(1) << 50)) return false;
    }
    out = v * mul;
    return true;
}

static std::string format_addr(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    if (ss.ss_family == AF_UNIX) return "unix:" + std::string(reinterpret_cast<const sockaddr_un*>(&ss)->sun_path);
    return "?";
}

bool SockAddr::is_wildcard() const {
    if (ss.ss_family == AF_INET) return reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr == INADDR_ANY;
    if (ss.ss_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr);
    return false;
}

uint16_t SockAddr::port() const {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

std::string SockAddr::host_text() const {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
        return buf;
    }
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
        return buf;
    }
    return text;
}

// "host:port", "port", "*:port", "[::1]:port", "unix:/path". Hostnames resolve
// to every address they have (each becomes one entry), like nginx.
bool parse_addr(std::string_view s, int default_port, std::vector<SockAddr>& out, std::string& err, bool resolve) {
    out.clear();
    if (s.substr(0, 5) == "unix:") {
        SockAddr a;
        auto* un = reinterpret_cast<sockaddr_un*>(&a.ss);
        std::string_view path = s.substr(5);
        if (path.empty() || path.size() >= sizeof un->sun_path) { err = "invalid unix socket path"; return false; }
        un->sun_family = AF_UNIX;
        std::memcpy(un->sun_path, path.data(), path.size());
        a.len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        a.text = std::string(s);
        out.push_back(a);
        return true;
    }
    std::string host;
    std::string_view port_s;
    if (!s.empty() && s[0] == '[') {
        size_t close = s.find(']');
        if (close == std::string_view::npos) { err = "invalid host"; return false; }
        host = std::string(s.substr(1, close - 1));
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') { err = "invalid host"; return false; }
            port_s = rest.substr(1);
        }
    } else {
        size_t colon = s.rfind(':');
        bool all_digits = !s.empty();
        for (char c : s) all_digits &= bool(std::isdigit(static_cast<unsigned char>(c)));
        if (all_digits) { port_s = s; host = "*"; }
        else if (colon != std::string_view::npos) { host = std::string(s.substr(0, colon)); port_s = s.substr(colon + 1); }
        else host = std::string(s);
    }
    int port = default_port;
    if (!port_s.empty() || (s.size() && s.back() == ':')) {
        port = 0;
        if (port_s.empty()) { err = "invalid port"; return false; }
        for (char c : port_s) {
            if (!std::isdigit(static_cast<unsigned char>(c))) { err = "invalid port"; return false; }
            port = port * 10 + (c - '0');
            if (port > 65535) { err = "invalid port"; return false; }
        }
        if (port == 0) { err = "invalid port"; return false; }
    }
    if (port < 0) { err = "no port"; return false; }
    if (host.empty()) { err = "no host"; return false; }
    if (host == "*") host = "0.0.0.0";
    SockAddr a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(uint16_t(port));
        a.len = sizeof(sockaddr_in);
        a.text = format_addr(a.ss);
        out.push_back(a);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(uint16_t(port));
        a.len = sizeof(sockaddr_in6);
        a.text = format_addr(a.ss);
        out.push_back(a);
        return true;
    }
    if (!resolve) { err = "host not found"; return false; }
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) { err = "host not found"; return false; }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        SockAddr r;
        std::memcpy(&r.ss, ai->ai_addr, ai->ai_addrlen);
        r.len = ai->ai_addrlen;
        if (r.ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&r.ss)->sin_port = htons(uint16_t(port));
        else if (r.ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&r.ss)->sin6_port = htons(uint16_t(port));
        else continue;
        r.text = format_addr(r.ss);
        bool dup = false;
        for (auto& o : out) dup |= o.text == r.text;
        if (!dup) out.push_back(r);
    }
    freeaddrinfo(res);
    if (out.empty()) { err = "host not found"; return false; }
    return true;
}

}  // namespace sy::conf
