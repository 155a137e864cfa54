// PROXY protocol v1/v2 (src/net/proxy_protocol.h): what nginx accepts (and
// where we are stricter), NeedMore for every proper prefix of a valid header
// and Invalid at the first byte that rules one out, nginx's address text, and
// both writers round-tripped through the parser.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/proxy_protocol.h"

namespace sy::net {

inline void PrintTo(ProxyParse r, std::ostream* os) { *os << to_string(r); }

namespace {

using namespace std::string_literals;

struct Result {
    ProxyParse r = ProxyParse::Invalid;
    size_t consumed = 0;
    ProxyHeader h;
    std::string err;
};

Result parse(std::string_view in) {
    Result res;
    res.consumed = 12345;
    res.err = "stale";
    res.r = parse_proxy_header(in, res.h, res.consumed, res.err);
    if (res.r != ProxyParse::Done) {
        EXPECT_EQ(res.consumed, 0u);
    }
    if (res.r == ProxyParse::Invalid) {
        EXPECT_NE(res.err, "");
    } else {
        EXPECT_EQ(res.err, "");
    }
    return res;
}

std::string hex(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        auto b = static_cast<unsigned char>(c);
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

std::string sa_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string("in ") + buf + " " + std::to_string(ntohs(a->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        return std::string("in6 ") + buf + " " + std::to_string(ntohs(a->sin6_port)) + " flow " +
               std::to_string(a->sin6_flowinfo) + " scope " + std::to_string(a->sin6_scope_id);
    }
    return "family " + std::to_string(ss.ss_family);
}

// Everything in a header, as text: equal headers describe equally.
std::string describe(const ProxyHeader& h) {
    std::string s = "v";
    s += std::to_string(h.version);
    s += h.local ? " local" : "";
    s += " src '" + h.src_addr + "' " + std::to_string(h.src_port);
    s += " dst '" + h.dst_addr + "' " + std::to_string(h.dst_port);
    s += " [" + sa_text(h.src) + "] [" + sa_text(h.dst) + "] tlvs";
    for (auto& [t, v] : h.tlvs) {
        s += ' ';
        s += std::to_string(t);
        s += '=';
        s += hex(v);
    }
    return s;
}

sockaddr_storage sa(const char* ip, uint16_t port) {
    sockaddr_storage ss{};
    if (std::strchr(ip, ':') == nullptr) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        EXPECT_EQ(inet_pton(AF_INET, ip, &a->sin_addr), 1) << ip;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        EXPECT_EQ(inet_pton(AF_INET6, ip, &a->sin6_addr), 1) << ip;
    }
    return ss;
}
const sockaddr* sp(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

const std::string kSig = "\r\n\r\n\0\r\nQUIT\n"s;

std::string be16(size_t v) { return {static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)}; }

// A v2 header: signature, version/command byte, family/transport byte, the
// length of `block`, then `block`.
std::string v2(uint8_t ver_cmd, uint8_t fam, std::string_view block) {
    return kSig + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(block.size()) + std::string(block);
}
std::string v2_len(uint8_t ver_cmd, uint8_t fam, size_t len, std::string_view block) {
    return kSig + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(len) + std::string(block);
}

std::string bin_addr(int af, const char* ip) {
    unsigned char b[16];
    EXPECT_EQ(inet_pton(af, ip, b), 1) << ip;
    return std::string(reinterpret_cast<char*>(b), af == AF_INET ? 4 : 16);
}
std::string inet_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    return bin_addr(AF_INET, src) + bin_addr(AF_INET, dst) + be16(sport) + be16(dport);
}
std::string inet6_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    return bin_addr(AF_INET6, src) + bin_addr(AF_INET6, dst) + be16(sport) + be16(dport);
}
std::string tlv(uint8_t type, std::string_view value) {
    return std::string(1, static_cast<char>(type)) + be16(value.size()) + std::string(value);
}

const std::string kPayload = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

// Valid headers of every kind (each followed by kPayload in the tests).
const std::vector<std::string> kValid = {
    "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
    "PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 0 65535\r\n",
    "PROXY TCP6 ::ffff:192.0.2.1 ::1 00080 1\r\n",
    "PROXY UNKNOWN\r\n",
    "PROXY UNKNOWN 2001:db8::1 2001:db8::2 1 2\r\n",
    v2(0x21, 0x11, inet_block("192.0.2.1", "198.51.100.2", 56324, 443)),
    v2(0x21, 0x11,
       inet_block("10.0.0.1", "10.0.0.2", 1, 2) + tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, "") +
           tlv(0x20, "\x01\0\0\0\0"s + tlv(0x21, "TLSv1.3"))),
    v2(0x21, 0x21, inet6_block("2001:db8::1", "2001:db8::2", 65535, 0) + tlv(0xe0, std::string(300, 'x'))),
    v2(0x20, 0x00, ""),
    v2(0x20, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2) + "junk"),
    v2(0x21, 0x31, std::string(216, 'u')),
    v2(0x21, 0x00, ""),
    v2(0x21, 0x12, inet_block("192.0.2.1", "198.51.100.2", 53, 53)),
};

// ---------------------------------------------------------------- v1

TEST(ProxyProtocolV1, Tcp4) {
    const std::string hdr = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    Result r = parse(hdr + kPayload);
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, hdr.size());
    EXPECT_EQ(r.h.version, 1);
    EXPECT_FALSE(r.h.local);
    EXPECT_EQ(r.h.src_addr, "192.0.2.1");
    EXPECT_EQ(r.h.dst_addr, "198.51.100.2");
    EXPECT_EQ(r.h.src_port, 56324);
    EXPECT_EQ(r.h.dst_port, 443);
    EXPECT_EQ(sa_text(r.h.src), "in 192.0.2.1 56324");
    EXPECT_EQ(sa_text(r.h.dst), "in 198.51.100.2 443");
    EXPECT_TRUE(r.h.tlvs.empty());
}

TEST(ProxyProtocolV1, Tcp6KeepsTheTextAsSent) {
    // nginx's $proxy_protocol_addr is the text of the line, not re-printed.
    const std::string hdr = "PROXY TCP6 2001:DB8::1 2001:db8:0:0:0:0:0:2 0 65535\r\n";
    Result r = parse(hdr + "x");
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, hdr.size());
    EXPECT_EQ(r.h.src_addr, "2001:DB8::1");
    EXPECT_EQ(r.h.dst_addr, "2001:db8:0:0:0:0:0:2");
    EXPECT_EQ(r.h.src_port, 0);
    EXPECT_EQ(r.h.dst_port, 65535);
    EXPECT_EQ(sa_text(r.h.src), "in6 2001:db8::1 0 flow 0 scope 0");
    EXPECT_EQ(sa_text(r.h.dst), "in6 2001:db8::2 65535 flow 0 scope 0");
}

TEST(ProxyProtocolV1, Tcp6WithEmbeddedIpv4) {
    Result r = parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n");
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.h.src_addr, "::ffff:192.0.2.1");
    EXPECT_EQ(sa_text(r.h.src), "in6 ::ffff:192.0.2.1 1 flow 0 scope 0");
}

TEST(ProxyProtocolV1, Unknown) {
    for (std::string hdr : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 2001:db8::1 2001:db8::2 1 2\r\n",
                            // nginx: "UNKNOWN" then anything up to the first CRLF.
                            "PROXY UNKNOWNxyz\r\n", "PROXY UNKNOWN \x01\n\r\x7f\r\n"}) {
        Result r = parse(hdr + kPayload);
        ASSERT_EQ(r.r, ProxyParse::Done) << hdr;
        EXPECT_EQ(r.consumed, hdr.size()) << hdr;
        EXPECT_EQ(r.h.version, 1);
        EXPECT_TRUE(r.h.local);
        EXPECT_EQ(r.h.src_addr, "");
        EXPECT_EQ(r.h.src.ss_family, AF_UNSPEC);
    }
}

TEST(ProxyProtocolV1, LeadingZerosInPortsAsNginx) {
    Result r = parse("PROXY TCP4 192.0.2.1 192.0.2.2 00080 0000443\r\n");
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.h.src_port, 80);
    EXPECT_EQ(r.h.dst_port, 443);
}

TEST(ProxyProtocolV1, ProperPrefixesNeedMore) {
    for (std::string in : {"", "P", "PROX", "PROXY", "PROXY ", "PROXY T", "PROXY TCP", "PROXY TCP4", "PROXY TCP4 ",
                           "PROXY TCP4 1.2.3.4", "PROXY TCP4 1.2.3.4 ", "PROXY TCP4 1.2.3.4 5.6.7.8 1",
                           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "PROXY U",
                           "PROXY UNKNOWN", "PROXY UNKNOWN junk\r", "PROXY TCP6 2001:db8::",
                           "PROXY TCP6 2001:db8::1 ::ffff:1.2."}) {
        EXPECT_EQ(parse(in).r, ProxyParse::NeedMore) << '"' << in << '"';
    }
}

TEST(ProxyProtocolV1, NotProxyIsInvalidAtOnce) {
    Result r = parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "broken header: \"GET / HTTP/1.1\"");
    EXPECT_EQ(parse("G").r, ProxyParse::Invalid);
    EXPECT_EQ(parse("PROXX").r, ProxyParse::Invalid);
    // A TLS ClientHello: the bytes come out escaped.
    r = parse("\x16\x03\x01\x02\x00\x01\"\\x"s);
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "broken header: \"\\x16\\x03\\x01\\x02\\x00\\x01\\x22\\x5cx\"");
}

TEST(ProxyProtocolV1, LowercaseAndMisspelt) {
    for (std::string in : {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
                           "Proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY unknown\r\n", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                           "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                           "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"}) {
        Result r = parse(in);
        EXPECT_EQ(r.r, ProxyParse::Invalid) << in;
        EXPECT_EQ(r.err.rfind("broken header: \"", 0), 0u) << r.err;
    }
    EXPECT_EQ(parse("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n").err, "broken header: \"proxy TCP4 1.2.3.4 5.6.7.8 1 2\"");
}

TEST(ProxyProtocolV1, BadPorts) {
    for (std::string ports : {"65536 1", "1 65536", "99999 1", "1 4294967297", "-1 1", "+1 1", "1a 1", "1 1a", " 1",
                              "1  1", "0x50 1", "1 2 3", "1 ", "1\t2", "1 2 "}) {
        std::string in = "PROXY TCP4 1.2.3.4 5.6.7.8 " + ports + "\r\n";
        EXPECT_EQ(parse(in).r, ProxyParse::Invalid) << in;
    }
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n").r, ProxyParse::Done);
}

TEST(ProxyProtocolV1, BadAddresses) {
    for (std::string in : {
             "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
             "PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n",
             "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
             "PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n",
             "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",          // nginx accepts: it checks the characters only
             "PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
             "PROXY TCP4 1.2.3.a 5.6.7.8 1 2\r\n",
             "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
             "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
             "PROXY TCP6 2001:db8::g 2001:db8::1 1 2\r\n",
             "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
             "PROXY TCP6 [::1] ::1 1 2\r\n",
             "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
             "PROXY TCP4  1.2.3.4 1 2\r\n",              // empty source address: nginx accepts ""
             "PROXY TCP4 1.2.3.4  1 2\r\n",
             "PROXY TCP4 1111111111111111.2.3.4 5.6.7.8 1 2\r\n",
         }) {
        EXPECT_EQ(parse(in).r, ProxyParse::Invalid) << in;
    }
}

TEST(ProxyProtocolV1, MissingCrlf) {
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX").r, ProxyParse::Invalid);
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n").r, ProxyParse::Invalid);
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").r, ProxyParse::Invalid);
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n").r, ProxyParse::Invalid);
    // Still no CRLF within 107 bytes.
    std::string unknown = "PROXY UNKNOWN " + std::string(kProxyV1Max, 'x');
    EXPECT_EQ(parse(unknown.substr(0, 106)).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(unknown.substr(0, 107)).r, ProxyParse::Invalid);
    EXPECT_EQ(parse(unknown.substr(0, 108)).r, ProxyParse::Invalid);
    EXPECT_EQ(parse(unknown.substr(0, 105) + "\r\n").r, ProxyParse::Done);
    EXPECT_EQ(parse(unknown.substr(0, 106) + "\r\n").r, ProxyParse::Invalid);
    Result r = parse(unknown);
    EXPECT_EQ(r.err, "broken header: \"" + unknown.substr(0, kProxyV1Max) + "\"");
}

TEST(ProxyProtocolV1, AtMost107Bytes) {
    // 27 + 39 + 1 + 38 + 2 = 107 bytes (ports with leading zeros, which nginx allows).
    const std::string head = "PROXY TCP4 1.2.3.4 5.6.7.8 ";
    const std::string at_max = head + std::string(37, '0') + "80 " + std::string(35, '0') + "443\r\n";
    ASSERT_EQ(at_max.size(), kProxyV1Max);
    Result r = parse(at_max + kPayload);
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, kProxyV1Max);
    EXPECT_EQ(r.h.src_port, 80);
    EXPECT_EQ(r.h.dst_port, 443);
    const std::string over = head + std::string(38, '0') + "80 " + std::string(35, '0') + "443\r\n";
    ASSERT_EQ(over.size(), kProxyV1Max + 1);
    EXPECT_EQ(parse(over).r, ProxyParse::Invalid);
    EXPECT_EQ(parse(over.substr(0, 106)).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(over.substr(0, 107)).r, ProxyParse::Invalid);
    // 108 bytes of a line that would otherwise still be going.
    const std::string long_port = head + std::string(200, '0');
    EXPECT_EQ(parse(long_port.substr(0, 106)).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(long_port.substr(0, 108)).r, ProxyParse::Invalid);
}

// ---------------------------------------------------------------- v2

TEST(ProxyProtocolV2, Inet4WithTlvs) {
    const std::string ssl = "\x01\0\0\0\0"s + tlv(0x21, "TLSv1.3");
    const std::string hdr = v2(0x21, 0x11,
                               inet_block("192.0.2.1", "198.51.100.2", 56324, 443) + tlv(0x01, "h2") +
                                   tlv(0x02, "example.com") + tlv(0x04, "") + tlv(0x20, ssl));
    Result r = parse(hdr + kPayload);
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, hdr.size());
    EXPECT_EQ(r.h.version, 2);
    EXPECT_FALSE(r.h.local);
    EXPECT_EQ(r.h.src_addr, "192.0.2.1");
    EXPECT_EQ(r.h.dst_addr, "198.51.100.2");
    EXPECT_EQ(r.h.src_port, 56324);
    EXPECT_EQ(r.h.dst_port, 443);
    EXPECT_EQ(sa_text(r.h.src), "in 192.0.2.1 56324");
    EXPECT_EQ(sa_text(r.h.dst), "in 198.51.100.2 443");
    using Tlvs = std::vector<std::pair<uint8_t, std::string>>;
    EXPECT_EQ(r.h.tlvs, (Tlvs{{0x01, "h2"}, {0x02, "example.com"}, {0x04, ""}, {0x20, ssl}}));
}

TEST(ProxyProtocolV2, Inet6) {
    const std::string hdr = v2(0x21, 0x21, inet6_block("2001:db8::1", "2001:db8:0:0:1::2", 1, 65535));
    Result r = parse(hdr + kPayload);
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, 16u + 36u);
    EXPECT_FALSE(r.h.local);
    EXPECT_EQ(r.h.src_addr, "2001:db8::1");
    EXPECT_EQ(r.h.dst_addr, "2001:db8::1:0:0:2");
    EXPECT_EQ(sa_text(r.h.src), "in6 2001:db8::1 1 flow 0 scope 0");
    EXPECT_EQ(sa_text(r.h.dst), "in6 2001:db8::1:0:0:2 65535 flow 0 scope 0");
    EXPECT_TRUE(r.h.tlvs.empty());
}

TEST(ProxyProtocolV2, LocalAndIgnoredBlocksAreLocal) {
    struct Case { std::string hdr, why; };
    const Case cases[] = {
        {v2(0x20, 0x00, ""), "LOCAL"},
        {v2(0x20, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2) + tlv(1, "h2")), "LOCAL with a block"},
        {v2(0x20, 0xff, "xyz"), "LOCAL ignores the family byte"},
        {v2(0x20, 0x11, "x"), "LOCAL ignores the block's size"},
        {v2(0x21, 0x00, ""), "PROXY UNSPEC"},
        {v2(0x21, 0x31, std::string(216, 'u')), "PROXY UNIX"},
        {v2(0x21, 0x32, std::string(216, 'u')), "PROXY UNIX DGRAM"},
        {v2(0x21, 0x12, inet_block("192.0.2.1", "198.51.100.2", 1, 2)), "PROXY INET DGRAM (nginx: STREAM only)"},
        {v2(0x21, 0x10, inet_block("192.0.2.1", "198.51.100.2", 1, 2)), "PROXY INET UNSPEC transport"},
        {v2(0x21, 0x22, "\x01\x02"), "PROXY INET6 DGRAM, short block: ignored whole"},
    };
    for (const auto& c : cases) {
        Result r = parse(c.hdr + kPayload);
        ASSERT_EQ(r.r, ProxyParse::Done) << c.why << ": " << r.err;
        EXPECT_EQ(r.consumed, c.hdr.size()) << c.why;
        EXPECT_EQ(r.h.version, 2) << c.why;
        EXPECT_TRUE(r.h.local) << c.why;
        EXPECT_EQ(r.h.src_addr, "") << c.why;
        EXPECT_EQ(r.h.src.ss_family, AF_UNSPEC) << c.why;
        EXPECT_TRUE(r.h.tlvs.empty()) << c.why;
    }
}

TEST(ProxyProtocolV2, ProperPrefixesNeedMore) {
    const std::string hdr = v2(0x21, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2) + tlv(1, "h2"));
    for (size_t k = 0; k < hdr.size(); ++k) EXPECT_EQ(parse(hdr.substr(0, k)).r, ProxyParse::NeedMore) << k;
}

TEST(ProxyProtocolV2, BadSignature) {
    std::string hdr = v2(0x21, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2));
    for (size_t i = 0; i < 12; ++i) {
        std::string bad = hdr;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        Result r = parse(bad);
        EXPECT_EQ(r.r, ProxyParse::Invalid) << i;
        // nginx takes it for a v1 line: the bytes before the first CR or LF.
        EXPECT_EQ(r.err.rfind("broken header: \"", 0), 0u) << r.err;
        EXPECT_EQ(parse(bad.substr(0, i + 1)).r, ProxyParse::Invalid) << "at once, " << i;
    }
    EXPECT_EQ(parse("\r\n\r\n\0\r\nQUIX\n"s).err, "broken header: \"\"");
}

TEST(ProxyProtocolV2, BadVersion) {
    for (uint8_t vc : {0x01, 0x11, 0x31, 0xf1, 0x00}) {
        std::string hdr = v2(vc, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2));
        Result r = parse(hdr);
        EXPECT_EQ(r.r, ProxyParse::Invalid) << int(vc);
        EXPECT_EQ(r.err, "unknown PROXY protocol version: " + std::to_string(vc >> 4));
        EXPECT_EQ(parse(hdr.substr(0, 13)).r, ProxyParse::Invalid) << "at once, " << int(vc);
    }
}

TEST(ProxyProtocolV2, BadCommand) {
    // nginx skips such a header as if LOCAL; the spec says drop the connection.
    for (uint8_t vc : {0x22, 0x2f}) {
        std::string hdr = v2(vc, 0x11, inet_block("192.0.2.1", "198.51.100.2", 1, 2));
        Result r = parse(hdr);
        EXPECT_EQ(r.r, ProxyParse::Invalid);
        EXPECT_EQ(r.err, "unknown PROXY protocol v2 command: " + std::to_string(vc & 15));
        EXPECT_EQ(parse(hdr.substr(0, 13)).r, ProxyParse::Invalid);
    }
}

TEST(ProxyProtocolV2, BadFamilyOrTransport) {
    Result r = parse(v2(0x21, 0x41, inet_block("192.0.2.1", "198.51.100.2", 1, 2)));
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "unknown PROXY protocol v2 address family: 4");
    r = parse(v2(0x21, 0x13, inet_block("192.0.2.1", "198.51.100.2", 1, 2)));
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "unknown PROXY protocol v2 transport: 3");
    EXPECT_EQ(parse(kSig + "\x21\xf1").r, ProxyParse::Invalid);
}

TEST(ProxyProtocolV2, LengthLimit) {
    // Exactly kProxyMax bytes: one TLV fills what the addresses leave.
    const std::string block = inet_block("192.0.2.1", "198.51.100.2", 1, 2);
    const std::string fill = tlv(0xee, std::string(kProxyMax - 16 - block.size() - 3, 'f'));
    const std::string at_max = v2(0x21, 0x11, block + fill);
    ASSERT_EQ(at_max.size(), kProxyMax);
    Result r = parse(at_max + kPayload);
    ASSERT_EQ(r.r, ProxyParse::Done) << r.err;
    EXPECT_EQ(r.consumed, kProxyMax);
    ASSERT_EQ(r.h.tlvs.size(), 1u);
    EXPECT_EQ(r.h.tlvs[0].second.size(), kProxyMax - 16 - 12 - 3);

    // One byte more: refused as soon as the length field is in.
    const std::string over = v2_len(0x21, 0x11, kProxyMax - 16 + 1, block);
    r = parse(over);
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "header is too large");
    EXPECT_EQ(parse(over.substr(0, 16)).r, ProxyParse::Invalid);
    EXPECT_EQ(parse(v2_len(0x20, 0x00, 0xffff, "")).r, ProxyParse::Invalid);
}

TEST(ProxyProtocolV2, LengthOverrunNeedsMoreThenDone) {
    // A length field beyond the bytes received: the rest may still come.
    const std::string hdr = v2_len(0x21, 0x11, 12 + 5, inet_block("192.0.2.1", "198.51.100.2", 1, 2));
    EXPECT_EQ(parse(hdr).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(hdr + tlv(1, "h2").substr(0, 4)).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(hdr + tlv(1, "h2")).r, ProxyParse::Done);
    EXPECT_EQ(parse(hdr + tlv(1, "h2") + "x").consumed, hdr.size() + 5);
    // ...but a TLV that leaves a byte over can never tile the block.
    EXPECT_EQ(parse(hdr + tlv(1, "h")).r, ProxyParse::Invalid);
}

TEST(ProxyProtocolV2, AddressBlockTooShort) {
    for (std::string hdr : {v2(0x21, 0x11, std::string(11, '\0')), v2(0x21, 0x21, std::string(35, '\0')),
                            v2(0x21, 0x11, "")}) {
        Result r = parse(hdr);
        EXPECT_EQ(r.r, ProxyParse::Invalid);
        EXPECT_EQ(r.err, "PROXY protocol v2 address block too short");
        EXPECT_EQ(parse(hdr.substr(0, 16)).r, ProxyParse::Invalid) << "at once";
    }
}

TEST(ProxyProtocolV2, TlvOverrun) {
    const std::string block = inet_block("192.0.2.1", "198.51.100.2", 1, 2);
    // The second TLV says 10 bytes where the block has 4 left.
    const std::string tlvs = tlv(1, "h2") + "\x02\x00\x0a"s + "abcd";
    const std::string hdr = v2(0x21, 0x11, block + tlvs);
    Result r = parse(hdr);
    EXPECT_EQ(r.r, ProxyParse::Invalid);
    EXPECT_EQ(r.err, "broken PROXY protocol TLV");
    // Refused once the overrunning TLV's header is in, before its value.
    const size_t tlv_head_end = 16 + block.size() + 5 + 3;
    EXPECT_EQ(parse(hdr.substr(0, tlv_head_end - 1)).r, ProxyParse::NeedMore);
    EXPECT_EQ(parse(hdr.substr(0, tlv_head_end)).r, ProxyParse::Invalid);

    // A TLV header cut by the end of the block (1 or 2 bytes left over).
    for (std::string tail : {"\x01"s, "\x01\x00"s}) {
        r = parse(v2(0x21, 0x11, block + tlv(1, "h2") + tail));
        EXPECT_EQ(r.r, ProxyParse::Invalid);
        EXPECT_EQ(r.err, "broken PROXY protocol TLV");
    }
    // Same for IPv6.
    EXPECT_EQ(parse(v2(0x21, 0x21, inet6_block("::1", "::2", 1, 2) + "\x01\xff\xff")).r, ProxyParse::Invalid);
}

TEST(ProxyProtocolV2, AddressTextAsNginxPrintsIt) {
    // nginx's ngx_inet6_ntop(), which differs from glibc's inet_ntop on ::102.
    const std::pair<const char*, const char*> cases[] = {
        {"2001:db8::1", "2001:db8::1"},
        {"2001:DB8:0:0:0:0:0:ABCD", "2001:db8::abcd"},
        {"::1", "::1"},
        {"::", "::"},
        {"::2", "::2"},
        {"1::", "1::"},
        {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
        {"::192.0.2.1", "::192.0.2.1"},
        {"::102", "::0.0.1.2"},
        {"::ff01", "::ff01"},
        {"::ff02", "::0.0.255.2"},
        {"::1:0:0:0:0:0:0", "0:1::"},
        {"1:0:0:1:0:0:0:1", "1:0:0:1::1"},
        {"1:0:0:1:0:0:1:1", "1::1:0:0:1:1"},
        {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
        {"fe80::1:0:0:0", "fe80::1:0:0:0"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    };
    for (auto [in, want] : cases) {
        Result r = parse(v2(0x21, 0x21, inet6_block(in, "::1", 1, 2)));
        ASSERT_EQ(r.r, ProxyParse::Done) << in;
        EXPECT_EQ(r.h.src_addr, want) << in;
        // Whatever the text, it reads back as the same address.
        unsigned char back[16];
        ASSERT_EQ(inet_pton(AF_INET6, r.h.src_addr.c_str(), back), 1) << r.h.src_addr;
        EXPECT_EQ(std::string(reinterpret_cast<char*>(back), 16), bin_addr(AF_INET6, in)) << in;
    }
    Result r = parse(v2(0x21, 0x11, inet_block("0.0.0.0", "255.255.255.255", 0, 0)));
    EXPECT_EQ(r.h.src_addr, "0.0.0.0");
    EXPECT_EQ(r.h.dst_addr, "255.255.255.255");
}

// ---------------------------------------------------------------- both

TEST(ProxyProtocol, EverySplitPosition) {
    for (const std::string& hdr : kValid) {
        const std::string buf = hdr + kPayload;
        Result whole = parse(buf);
        ASSERT_EQ(whole.r, ProxyParse::Done) << hex(hdr) << ": " << whole.err;
        ASSERT_EQ(whole.consumed, hdr.size()) << hex(hdr);
        const std::string want = describe(whole.h);
        for (size_t k = 0; k <= buf.size(); ++k) {
            Result r = parse(std::string_view(buf).substr(0, k));
            if (k < hdr.size()) {
                ASSERT_EQ(r.r, ProxyParse::NeedMore) << hex(hdr) << " cut at " << k << ": " << r.err;
            } else {
                ASSERT_EQ(r.r, ProxyParse::Done) << hex(hdr) << " cut at " << k;
                EXPECT_EQ(r.consumed, hdr.size()) << hex(hdr) << " cut at " << k;
                EXPECT_EQ(describe(r.h), want) << hex(hdr) << " cut at " << k;
            }
        }
    }
}

TEST(ProxyProtocol, ReusedHeaderIsReset) {
    ProxyHeader h;
    size_t consumed = 0;
    std::string err;
    const std::string tlvs = v2(0x21, 0x21, inet6_block("2001:db8::1", "::2", 1, 2) + tlv(1, "h2"));
    ASSERT_EQ(parse_proxy_header(tlvs, h, consumed, err), ProxyParse::Done);
    ASSERT_EQ(parse_proxy_header("PROXY UNKNOWN\r\n", h, consumed, err), ProxyParse::Done);
    EXPECT_EQ(describe(h), describe(parse("PROXY UNKNOWN\r\n").h));
    ASSERT_EQ(parse_proxy_header(tlvs, h, consumed, err), ProxyParse::Done);
    ASSERT_EQ(parse_proxy_header("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", h, consumed, err), ProxyParse::Done);
    EXPECT_EQ(describe(h), describe(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n").h));
}

// Each input is broken at byte `bad` (0-based): every shorter prefix still
// needs more, and from that byte on it is refused, whatever follows.
TEST(ProxyProtocol, InvalidAtTheFirstImpossibleByte) {
    const std::string inet = inet_block("192.0.2.1", "198.51.100.2", 1, 2);
    struct Case { std::string in; size_t bad; };
    const Case cases[] = {
        {"GET / HTTP/1.1\r\n", 0},
        {"PROXy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 4},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n", 31},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", 30},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", 31},
        {"PROXY TCP4 1.2.3.4:80 5.6.7.8 1 2\r\n", 18},
        {"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", 19},          // inet_pton, at the space
        {"PROXY TCP6 ::1 ::2 65536 1\r\n", 23},
        {"PROXY TCP6 ::1 ::g 1 2\r\n", 17},
        {"PROXY TCPX", 9},
        {"PROXY X", 6},
        {v2(0x31, 0x11, inet), 12},
        {v2(0x23, 0x11, inet), 12},
        {v2(0x21, 0x51, inet), 13},
        {v2(0x21, 0x11, inet.substr(0, 8)), 15},
        {v2(0x21, 0x11, inet + "\x01\x00\x09"s + "abc"), 30},
        {v2(0x21, 0x11, inet + tlv(1, "abc") + "\x01\x00\x09"s + "abc"), 36},
        {v2(0x21, 0x11, inet + "\x01\x00"s), 15},                // block ends inside a TLV header
    };
    for (const auto& c : cases) {
        for (size_t k = 0; k <= c.bad; ++k)
            ASSERT_EQ(parse(c.in.substr(0, k)).r, ProxyParse::NeedMore) << hex(c.in) << " prefix " << k;
        for (size_t k = c.bad + 1; k <= c.in.size(); ++k)
            ASSERT_EQ(parse(c.in.substr(0, k)).r, ProxyParse::Invalid) << hex(c.in) << " prefix " << k;
        EXPECT_EQ(parse(c.in + kPayload).r, ProxyParse::Invalid) << hex(c.in);
    }
}

// ---------------------------------------------------------------- writers

TEST(ProxyProtocolWriter, V1) {
    auto a = sa("192.0.2.1", 56324), b = sa("198.51.100.2", 443);
    EXPECT_EQ(proxy_v1(sp(a), sp(b)), "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
    auto c = sa("2001:db8::1", 1), d = sa("2001:DB8:0:0:0:0:0:2", 0);
    EXPECT_EQ(proxy_v1(sp(c), sp(d)), "PROXY TCP6 2001:db8::1 2001:db8::2 1 0\r\n");
    auto e = sa("::ffff:192.0.2.1", 65535), f = sa("::ffff:10.0.0.1", 80);
    EXPECT_EQ(proxy_v1(sp(e), sp(f)), "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:10.0.0.1 65535 80\r\n");
    // Mixed families, other families, none: UNKNOWN.
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    EXPECT_EQ(proxy_v1(sp(a), sp(c)), "PROXY UNKNOWN\r\n");
    EXPECT_EQ(proxy_v1(reinterpret_cast<const sockaddr*>(&un), sp(b)), "PROXY UNKNOWN\r\n");
    EXPECT_EQ(proxy_v1(nullptr, sp(b)), "PROXY UNKNOWN\r\n");
    EXPECT_EQ(proxy_v1(sp(a), nullptr), "PROXY UNKNOWN\r\n");
    // The longest line there is still fits in nginx's 107 bytes.
    auto g = sa("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    EXPECT_EQ(proxy_v1(sp(g), sp(g)).size(), 104u);
}

TEST(ProxyProtocolWriter, V2) {
    auto a = sa("192.0.2.1", 56324), b = sa("198.51.100.2", 443);
    EXPECT_EQ(hex(proxy_v2(sp(a), sp(b))), hex(kSig) + "2111000c" + "c0000201" + "c6336402" + "dc04" + "01bb");
    auto c = sa("2001:db8::1", 1), d = sa("::1", 2);
    EXPECT_EQ(hex(proxy_v2(sp(c), sp(d))), hex(kSig) + "21210024" + "20010db8000000000000000000000001" +
                                               "00000000000000000000000000000001" + "0001" + "0002");
    // Mixed: IPv4 as ::ffff:a.b.c.d.
    EXPECT_EQ(hex(proxy_v2(sp(a), sp(d))), hex(kSig) + "21210024" + "00000000000000000000ffffc0000201" +
                                               "00000000000000000000000000000001" + "dc04" + "0002");
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::string local = hex(kSig) + "20000000";
    EXPECT_EQ(hex(proxy_v2(reinterpret_cast<const sockaddr*>(&un), sp(b))), local);
    EXPECT_EQ(hex(proxy_v2(sp(a), nullptr)), local);
    EXPECT_EQ(hex(proxy_v2(nullptr, nullptr)), local);
}

TEST(ProxyProtocolWriter, RoundTrip) {
    const std::pair<const char*, const char*> pairs[] = {
        {"192.0.2.1", "198.51.100.2"}, {"0.0.0.0", "255.255.255.255"},   {"2001:db8::1", "2001:db8::2"},
        {"::1", "::"},                 {"::ffff:192.0.2.1", "::102"},    {"fe80::1:0:0:0", "1:0:0:1:0:0:0:1"},
    };
    for (auto [s, d] : pairs) {
        for (uint16_t sport : {0, 1, 443, 65535}) {
            auto src = sa(s, sport), dst = sa(d, static_cast<uint16_t>(65535 - sport));
            const std::string v1 = proxy_v1(sp(src), sp(dst)), v2h = proxy_v2(sp(src), sp(dst));
            Result r1 = parse(v1 + kPayload), r2 = parse(v2h + kPayload);
            ASSERT_EQ(r1.r, ProxyParse::Done) << v1 << r1.err;
            ASSERT_EQ(r2.r, ProxyParse::Done) << hex(v2h) << r2.err;
            EXPECT_EQ(r1.consumed, v1.size());
            EXPECT_EQ(r2.consumed, v2h.size());
            for (const Result* r : {&r1, &r2}) {
                EXPECT_FALSE(r->h.local);
                EXPECT_EQ(sa_text(r->h.src), sa_text(src)) << s;
                EXPECT_EQ(sa_text(r->h.dst), sa_text(dst)) << d;
                EXPECT_EQ(r->h.src_port, sport);
            }
            // The v1 line carries nginx's text, which is what v2 prints.
            EXPECT_EQ(r1.h.src_addr, r2.h.src_addr);
            EXPECT_EQ(r1.h.dst_addr, r2.h.dst_addr);
            EXPECT_EQ(r1.h.version, 1);
            EXPECT_EQ(r2.h.version, 2);
        }
    }
    // Mixed families: v1 says UNKNOWN, v2 carries both as IPv6.
    auto src = sa("192.0.2.1", 1), dst = sa("2001:db8::2", 2);
    EXPECT_TRUE(parse(proxy_v1(sp(src), sp(dst))).h.local);
    Result r = parse(proxy_v2(sp(src), sp(dst)));
    ASSERT_EQ(r.r, ProxyParse::Done);
    EXPECT_EQ(r.h.src_addr, "::ffff:192.0.2.1");
    EXPECT_EQ(r.h.dst_addr, "2001:db8::2");
    EXPECT_EQ(sa_text(r.h.src), sa_text(sa("::ffff:192.0.2.1", 1)));
    // No addresses: LOCAL, which parses as local.
    r = parse(proxy_v2(nullptr, nullptr));
    ASSERT_EQ(r.r, ProxyParse::Done);
    EXPECT_TRUE(r.h.local);
    EXPECT_EQ(r.consumed, 16u);
}

}  // namespace
}  // namespace sy::net
