// The PROXY protocol v1/v2 parser and writers (see proxy_protocol.h for why
// this is hand-written and how it differs from nginx).
//
// The parser is written for a socket that delivers the header in pieces: it
// reads as far as the bytes go and answers NeedMore only while what it has is
// still the start of a valid header, so garbage is refused at the first byte
// that rules it out. (nginx parses the first read() only: a header split
// over two TCP segments is "broken header" for v1, "header is too large" for
// v2.)
#include "net/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace sy::net {

namespace {

constexpr char kSig[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr size_t kSigLen = sizeof kSig - 1;  // 12
constexpr size_t kV2HeadLen = 16;            // signature, ver/cmd, fam/transport, length

enum : uint8_t { kCmdLocal = 0, kCmdProxy = 1 };
enum : uint8_t { kAfUnspec = 0, kAfInet = 1, kAfInet6 = 2, kAfUnix = 3 };
enum : uint8_t { kTransUnspec = 0, kTransStream = 1, kTransDgram = 2 };

constexpr size_t kInetBlock = 12;   // 4 + 4 + 2 + 2
constexpr size_t kInet6Block = 36;  // 16 + 16 + 2 + 2

uint8_t byte_at(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }
uint16_t be16(std::string_view s, size_t i) {
    return static_cast<uint16_t>(byte_at(s, i) << 8 | byte_at(s, i + 1));
}

void reset(ProxyHeader& h) {
    h.version = 0;
    h.local = false;
    h.src_addr.clear();
    h.dst_addr.clear();
    h.src_port = h.dst_port = 0;
    h.src = {};
    h.dst = {};
    h.tlvs.clear();
}

ProxyParse invalid(std::string& err, std::string_view why) {
    err.assign(why);
    return ProxyParse::Invalid;
}

// nginx: `broken header: "%*s"`. Debian's 1.22 writes the whole first read
// raw, CRLFs and binary bytes included (one log entry over several lines);
// later nginx stops at the first CR or LF. Here: up to the first CR or LF, at
// most kProxyV1Max bytes, non-printable bytes (and " \) as \xHH.
ProxyParse broken(std::string_view in, std::string& err) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string_view line = in.substr(0, std::min(in.size(), kProxyV1Max));
    line = line.substr(0, std::min(line.size(), line.find_first_of("\r\n")));
    err.assign("broken header: \"");
    for (char ch : line) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            err += ch;
        } else {
            err += "\\x";
            err += kHex[c >> 4];
            err += kHex[c & 15];
        }
    }
    err += '"';
    return ProxyParse::Invalid;
}

void set_sockaddr(sockaddr_storage& ss, int family, const void* addr, uint16_t port) {
    ss = {};
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        std::memcpy(&sin.sin_addr, addr, 4);
        std::memcpy(&ss, &sin, sizeof sin);
    } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        std::memcpy(&sin6.sin6_addr, addr, 16);
        std::memcpy(&ss, &sin6, sizeof sin6);
    }
}

char* put_uint(char* p, unsigned v, int base) { return std::to_chars(p, p + 8, v, base).ptr; }

// nginx's ngx_inet_ntop()/ngx_inet6_ntop() (src/core/ngx_inet.c), which is
// not glibc's inet_ntop: the longest run of two or more zero groups (the
// first of equal ones) becomes "::", and an address that starts with its
// zero run ends in dotted IPv4 when it is ::ffff:a.b.c.d, has six zero groups
// (::a.b.c.d), or has seven and a last group whose high byte is not 0 and low
// byte not 1: ::102 prints as "::0.0.1.2" (glibc: "::102"), ::1 as "::1".
void append_addr_text(std::string& out, int family, const uint8_t* p) {
    char buf[64];
    char* d = buf;
    if (family == AF_INET) {
        for (int i = 0; i < 4; ++i) {
            if (i) *d++ = '.';
            d = put_uint(d, p[i], 10);
        }
        out.append(buf, d);
        return;
    }
    size_t zero = SIZE_MAX, last = SIZE_MAX, max = 1, n = 0;
    for (size_t i = 0; i < 16; i += 2) {
        if (p[i] || p[i + 1]) {
            if (max < n) {
                zero = last;
                max = n;
            }
            n = 0;
            continue;
        }
        if (n++ == 0) last = i;
    }
    if (max < n) {
        zero = last;
        max = n;
    }
    n = 16;
    if (zero == 0) {
        if ((max == 5 && p[10] == 0xff && p[11] == 0xff) || max == 6 || (max == 7 && p[14] != 0 && p[15] != 1))
            n = 12;
        *d++ = ':';
    }
    for (size_t i = 0; i < n; i += 2) {
        if (i == zero) {
            *d++ = ':';
            i += (max - 1) * 2;
            continue;
        }
        d = put_uint(d, static_cast<unsigned>(p[i] * 256 + p[i + 1]), 16);
        if (i < 14) *d++ = ':';
    }
    if (n == 12) {
        for (size_t i = 12; i < 16; ++i) {
            if (i > 12) *d++ = '.';
            d = put_uint(d, p[i], 10);
        }
    }
    out.append(buf, d);
}

// ------------------------------------------------------------------ v1

enum class Step { Ok, NeedMore, Invalid };

// How `have` stands against the literal `want`: Invalid (differs), NeedMore
// (a proper prefix of it) or Ok (starts with it).
Step expect(std::string_view have, std::string_view want) {
    size_t n = std::min(have.size(), want.size());
    if (have.substr(0, n) != want.substr(0, n)) return Step::Invalid;
    return n < want.size() ? Step::NeedMore : Step::Ok;
}

// An address up to ' ': nginx takes [0-9a-fA-F:.]* and checks no more; here
// the characters must fit the family and the text must pass inet_pton.
Step read_addr(std::string_view w, size_t& p, int family, uint8_t* bin, std::string_view& text) {
    const size_t start = p;
    const size_t longest = family == AF_INET ? INET_ADDRSTRLEN - 1 : INET6_ADDRSTRLEN - 1;
    for (;; ++p) {
        if (p == w.size()) return Step::NeedMore;
        char c = w[p];
        if (c == ' ') break;
        bool ok = (c >= '0' && c <= '9') || c == '.' ||
                  (family == AF_INET6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok || p - start == longest) return Step::Invalid;
    }
    text = w.substr(start, p - start);
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(family, buf, bin) != 1) return Step::Invalid;
    ++p;
    return Step::Ok;
}

// A port up to `sep`: nginx's ngx_atoi() then 0..65535, so decimal digits
// only, at least one, leading zeros allowed.
Step read_port(std::string_view w, size_t& p, char sep, uint16_t& port) {
    const size_t start = p;
    uint32_t v = 0;
    for (;; ++p) {
        if (p == w.size()) return Step::NeedMore;
        char c = w[p];
        if (c == sep) break;
        if (c < '0' || c > '9') return Step::Invalid;
        v = v * 10 + static_cast<uint32_t>(c - '0');
        if (v > 65535) return Step::Invalid;
    }
    if (p == start) return Step::Invalid;
    ++p;
    port = static_cast<uint16_t>(v);
    return Step::Ok;
}

ProxyParse parse_v1(std::string_view in, ProxyHeader& out, size_t& consumed, std::string& err) {
    // The whole line, CRLF included, must fit in kProxyV1Max bytes: running
    // out of a full window means it does not.
    const std::string_view w = in.substr(0, std::min(in.size(), kProxyV1Max));
    auto step_fail = [&](Step s) {
        return s == Step::NeedMore && w.size() < kProxyV1Max ? ProxyParse::NeedMore : broken(in, err);
    };
    size_t p = 0;
    if (Step s = expect(w, "PROXY "); s != Step::Ok) return step_fail(s);
    p = 6;

    const std::string_view proto = w.substr(p);
    Step unknown = expect(proto, "UNKNOWN");
    if (unknown == Step::Ok) {
        // nginx: anything at all up to the first CRLF ("PROXY UNKNOWNxyz\r\n" too).
        size_t crlf = w.find("\r\n", p + 7);
        if (crlf == std::string_view::npos) return step_fail(Step::NeedMore);
        reset(out);
        out.version = 1;
        out.local = true;
        consumed = crlf + 2;
        return ProxyParse::Done;
    }
    Step tcp4 = expect(proto, "TCP4 "), tcp6 = expect(proto, "TCP6 ");
    if (tcp4 != Step::Ok && tcp6 != Step::Ok) {
        bool maybe = unknown == Step::NeedMore || tcp4 == Step::NeedMore || tcp6 == Step::NeedMore;
        return step_fail(maybe ? Step::NeedMore : Step::Invalid);
    }
    const int family = tcp4 == Step::Ok ? AF_INET : AF_INET6;
    p += 5;

    uint8_t src[16], dst[16];
    std::string_view src_text, dst_text;
    uint16_t src_port = 0, dst_port = 0;
    if (Step s = read_addr(w, p, family, src, src_text); s != Step::Ok) return step_fail(s);
    if (Step s = read_addr(w, p, family, dst, dst_text); s != Step::Ok) return step_fail(s);
    if (Step s = read_port(w, p, ' ', src_port); s != Step::Ok) return step_fail(s);
    if (Step s = read_port(w, p, '\r', dst_port); s != Step::Ok) return step_fail(s);
    if (p == w.size()) return step_fail(Step::NeedMore);
    if (w[p] != '\n') return broken(in, err);

    reset(out);
    out.version = 1;
    out.src_addr.assign(src_text);
    out.dst_addr.assign(dst_text);
    out.src_port = src_port;
    out.dst_port = dst_port;
    set_sockaddr(out.src, family, src, src_port);
    set_sockaddr(out.dst, family, dst, dst_port);
    consumed = p + 1;
    return ProxyParse::Done;
}

// ------------------------------------------------------------------ v2

ProxyParse parse_v2(std::string_view in, ProxyHeader& out, size_t& consumed, std::string& err) {
    const size_t n = in.size();
    if (n <= 12) return ProxyParse::NeedMore;
    const uint8_t ver_cmd = byte_at(in, 12);
    if (ver_cmd >> 4 != 2) return invalid(err, "unknown PROXY protocol version: " + std::to_string(ver_cmd >> 4));
    const uint8_t cmd = ver_cmd & 15;
    // nginx treats every command but PROXY as LOCAL; the spec says drop.
    if (cmd != kCmdLocal && cmd != kCmdProxy)
        return invalid(err, "unknown PROXY protocol v2 command: " + std::to_string(cmd));
    if (n <= 13) return ProxyParse::NeedMore;
    const uint8_t family = byte_at(in, 13) >> 4, transport = byte_at(in, 13) & 15;
    // LOCAL: the receiver "must discard the protocol block including the
    // family", so only PROXY's family and transport are checked.
    if (cmd == kCmdProxy && family > kAfUnix)
        return invalid(err, "unknown PROXY protocol v2 address family: " + std::to_string(family));
    if (cmd == kCmdProxy && transport > kTransDgram)
        return invalid(err, "unknown PROXY protocol v2 transport: " + std::to_string(transport));
    if (n < kV2HeadLen) return ProxyParse::NeedMore;

    const size_t total = kV2HeadLen + be16(in, 14);
    if (total > kProxyMax) return invalid(err, "header is too large");
    // nginx reads addresses for PROXY + STREAM + INET/INET6 only and skips
    // every other block whole (TLVs included): those are `local`.
    const bool addrs = cmd == kCmdProxy && transport == kTransStream && (family == kAfInet || family == kAfInet6);
    const size_t block = !addrs ? 0 : family == kAfInet ? kInetBlock : kInet6Block;
    if (total - kV2HeadLen < block) return invalid(err, "PROXY protocol v2 address block too short");

    // TLVs must tile the rest of the block exactly; check as far as the bytes
    // go (only TLV headers are needed to walk it).
    if (addrs) {
        for (size_t pos = kV2HeadLen + block; pos < total;) {
            if (total - pos < 3) return invalid(err, "broken PROXY protocol TLV");
            if (n < pos + 3) break;
            size_t len = be16(in, pos + 1);
            if (len > total - pos - 3) return invalid(err, "broken PROXY protocol TLV");
            pos += 3 + len;
        }
    }
    if (n < total) return ProxyParse::NeedMore;

    reset(out);
    out.version = 2;
    out.local = !addrs;
    if (addrs) {
        const int af = family == kAfInet ? AF_INET : AF_INET6;
        const size_t alen = af == AF_INET ? 4 : 16;
        const auto* a = reinterpret_cast<const uint8_t*>(in.data()) + kV2HeadLen;
        out.src_port = be16(in, kV2HeadLen + 2 * alen);
        out.dst_port = be16(in, kV2HeadLen + 2 * alen + 2);
        append_addr_text(out.src_addr, af, a);
        append_addr_text(out.dst_addr, af, a + alen);
        set_sockaddr(out.src, af, a, out.src_port);
        set_sockaddr(out.dst, af, a + alen, out.dst_port);
        for (size_t pos = kV2HeadLen + block; pos < total;) {
            size_t len = be16(in, pos + 1);
            out.tlvs.emplace_back(byte_at(in, pos), std::string(in.substr(pos + 3, len)));
            pos += 3 + len;
        }
    }
    consumed = total;
    return ProxyParse::Done;
}

// ------------------------------------------------------------------ writers

struct IpView {
    int family = AF_UNSPEC;  // AF_INET or AF_INET6, else unusable
    const uint8_t* addr = nullptr;
    uint16_t port = 0;
};

IpView ip_of(const sockaddr* sa) {
    IpView v;
    if (sa == nullptr) return v;
    if (sa->sa_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
        v = {AF_INET, reinterpret_cast<const uint8_t*>(&sin->sin_addr), ntohs(sin->sin_port)};
    } else if (sa->sa_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
        v = {AF_INET6, reinterpret_cast<const uint8_t*>(&sin6->sin6_addr), ntohs(sin6->sin6_port)};
    }
    return v;
}

void put16(std::string& s, uint16_t v) {
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xff);
}

void put_addr(std::string& s, const IpView& v, bool as6) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (as6 && v.family == AF_INET) s.append(reinterpret_cast<const char*>(kMapped), sizeof kMapped);
    s.append(reinterpret_cast<const char*>(v.addr), v.family == AF_INET ? 4 : 16);
}

}  // namespace

const char* to_string(ProxyParse r) {
    switch (r) {
    case ProxyParse::Done: return "Done";
    case ProxyParse::NeedMore: return "NeedMore";
    case ProxyParse::Invalid: return "Invalid";
    }
    return "?";
}

ProxyParse parse_proxy_header(std::string_view in, ProxyHeader& out, size_t& consumed, std::string& err) {
    consumed = 0;
    err.clear();
    if (in.empty()) return ProxyParse::NeedMore;
    const size_t sig = std::min(in.size(), kSigLen);
    if (std::memcmp(in.data(), kSig, sig) == 0) return parse_v2(in, out, consumed, err);
    return parse_v1(in, out, consumed, err);
}

std::string proxy_v1(const sockaddr* src, const sockaddr* dst) {
    const IpView s = ip_of(src), d = ip_of(dst);
    if (s.family == AF_UNSPEC || s.family != d.family) return "PROXY UNKNOWN\r\n";
    std::string out;
    out.reserve(kProxyV1Max);
    out += s.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ";
    append_addr_text(out, s.family, s.addr);
    out += ' ';
    append_addr_text(out, d.family, d.addr);
    out += ' ';
    out += std::to_string(s.port);
    out += ' ';
    out += std::to_string(d.port);
    out += "\r\n";
    return out;
}

std::string proxy_v2(const sockaddr* src, const sockaddr* dst) {
    const IpView s = ip_of(src), d = ip_of(dst);
    std::string out(kSig, kSigLen);
    if (s.family == AF_UNSPEC || d.family == AF_UNSPEC) {
        out += static_cast<char>(0x20 | kCmdLocal);
        out += static_cast<char>(kAfUnspec << 4 | kTransUnspec);
        put16(out, 0);
        return out;
    }
    const bool as6 = s.family == AF_INET6 || d.family == AF_INET6;
    out.reserve(kV2HeadLen + kInet6Block);
    out += static_cast<char>(0x20 | kCmdProxy);
    out += static_cast<char>((as6 ? kAfInet6 : kAfInet) << 4 | kTransStream);
    put16(out, static_cast<uint16_t>(as6 ? kInet6Block : kInetBlock));
    put_addr(out, s, as6);
    put_addr(out, d, as6);
    put16(out, s.port);
    put16(out, d.port);
    return out;
}

}  // namespace sy::net
