// ws_common.h - tiny, dependency-free helpers shared by the benchmark tools:
// SHA-1 (FIPS 180-4), base64, RFC 6455 frame header parsing/encoding,
// a fast PRNG, a log-linear latency histogram and small socket utilities.
//
// Header-only on purpose: each tool is built with a single g++ command and
// links nothing but libc.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// ---------------------------------------------------------------- SHA-1 ----

inline std::array<uint8_t, 20> sha1(const void* data, size_t len) {
    uint32_t h0 = 0x67452301u, h1 = 0xEFCDAB89u, h2 = 0x98BADCFEu, h3 = 0x10325476u,
             h4 = 0xC3D2E1F0u;
    auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
    auto block = [&](const uint8_t* p) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t(p[4 * i]) << 24) | (uint32_t(p[4 * i + 1]) << 16) |
                   (uint32_t(p[4 * i + 2]) << 8) | uint32_t(p[4 * i + 3]);
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h0, b = h1, c = h2, d = h3, e = h4;
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999u;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1u;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDCu;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h0 += a;
        h1 += b;
        h2 += c;
        h3 += d;
        h4 += e;
    };
    const auto* p = static_cast<const uint8_t*>(data);
    size_t full = len / 64;
    for (size_t i = 0; i < full; i++) block(p + 64 * i);
    uint8_t tail[128] = {};
    size_t rem = len - full * 64;
    if (rem) std::memcpy(tail, p + full * 64, rem);
    tail[rem] = 0x80;
    size_t tlen = (rem + 1 + 8 <= 64) ? 64 : 128;
    uint64_t bits = uint64_t(len) * 8;
    for (int i = 0; i < 8; i++) tail[tlen - 1 - i] = uint8_t(bits >> (8 * i));
    block(tail);
    if (tlen == 128) block(tail + 64);
    std::array<uint8_t, 20> out{};
    uint32_t hs[5] = {h0, h1, h2, h3, h4};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = uint8_t(hs[i] >> (24 - 8 * j));
    return out;
}

// --------------------------------------------------------------- base64 ----

inline std::string base64(const uint8_t* p, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((n + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = uint32_t(p[i]) << 16;
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += "==";
    } else if (n - i == 2) {
        uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// Sec-WebSocket-Accept for a given Sec-WebSocket-Key (RFC 6455 section 4.2.2).
inline std::string ws_accept(std::string_view key) {
    std::string s(key);
    s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    auto d = sha1(s.data(), s.size());
    return base64(d.data(), d.size());
}

// Known-answer tests; returns true when SHA-1/base64/accept are correct.
inline bool selftest() {
    auto hex = [](const std::array<uint8_t, 20>& d) {
        static const char* x = "0123456789abcdef";
        std::string s;
        for (uint8_t b : d) {
            s += x[b >> 4];
            s += x[b & 15];
        }
        return s;
    };
    bool ok = true;
    ok &= hex(sha1("abc", 3)) == "a9993e364706816aba3e25717850c26c9cd0d89d";
    ok &= hex(sha1("", 0)) == "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    const char* l = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ok &= hex(sha1(l, std::strlen(l))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1";
    std::string m(1000, 'a');
    ok &= hex(sha1(m.data(), m.size())) == "291e9a6c66994949b57ba5e650361e98fc36b1ba";
    ok &= base64(reinterpret_cast<const uint8_t*>("foobar"), 6) == "Zm9vYmFy";
    ok &= base64(reinterpret_cast<const uint8_t*>("fooba"), 5) == "Zm9vYmE=";
    ok &= base64(reinterpret_cast<const uint8_t*>("foob"), 4) == "Zm9vYg==";
    ok &= ws_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    return ok;
}

// ------------------------------------------------------------ framing ----

enum : uint8_t {
    OP_CONT = 0x0,
    OP_TEXT = 0x1,
    OP_BINARY = 0x2,
    OP_CLOSE = 0x8,
    OP_PING = 0x9,
    OP_PONG = 0xA,
};

struct FrameHdr {
    bool fin = false;
    uint8_t opcode = 0;
    bool masked = false;
    uint8_t mask[4] = {0, 0, 0, 0};
    uint64_t len = 0;
    size_t hdr_len = 0;
};

// Parses a frame header. Returns 1 when complete (h filled), 0 when more bytes
// are needed, -1 on a protocol error (reserved bits, bad opcode, oversized
// control frame, non-minimal 64-bit length with the top bit set).
inline int parse_frame_header(const uint8_t* p, size_t n, FrameHdr& h) {
    if (n < 2) return 0;
    uint8_t b0 = p[0], b1 = p[1];
    if (b0 & 0x70) return -1;  // RSV1-3: no extension negotiated
    h.fin = b0 & 0x80;
    h.opcode = b0 & 0x0F;
    switch (h.opcode) {
        case OP_CONT: case OP_TEXT: case OP_BINARY: case OP_CLOSE: case OP_PING: case OP_PONG:
            break;
        default:
            return -1;
    }
    h.masked = b1 & 0x80;
    uint64_t len = b1 & 0x7F;
    size_t off = 2;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t(p[2]) << 8) | p[3];
        off = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
        if (len >> 63) return -1;
        off = 10;
    }
    if (h.opcode >= OP_CLOSE && (len > 125 || !h.fin)) return -1;
    if (h.masked) {
        if (n < off + 4) return 0;
        std::memcpy(h.mask, p + off, 4);
        off += 4;
    }
    h.len = len;
    h.hdr_len = off;
    return 1;
}

// Writes a frame header into out (>= 14 bytes). Returns its length.
inline size_t write_frame_header(uint8_t* out, bool fin, uint8_t opcode, uint64_t len,
                                 const uint8_t* mask /* nullptr = unmasked */) {
    size_t off = 0;
    out[off++] = uint8_t((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[off++] = uint8_t(mbit | len);
    } else if (len <= 0xFFFF) {
        out[off++] = uint8_t(mbit | 126);
        out[off++] = uint8_t(len >> 8);
        out[off++] = uint8_t(len);
    } else {
        out[off++] = uint8_t(mbit | 127);
        for (int i = 7; i >= 0; i--) out[off++] = uint8_t(len >> (8 * i));
    }
    if (mask) {
        std::memcpy(out + off, mask, 4);
        off += 4;
    }
    return off;
}

// dst[i] = src[i] ^ mask[(i + phase) % 4]; dst may equal src.
inline void apply_mask(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t mask[4],
                       size_t phase = 0) {
    size_t i = 0;
    if (phase % 4 == 0 && n >= 8) {
        uint64_t m;
        uint8_t m8[8];
        for (int k = 0; k < 8; k++) m8[k] = mask[k % 4];
        std::memcpy(&m, m8, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            std::memcpy(&v, src + i, 8);
            v ^= m;
            std::memcpy(dst + i, &v, 8);
        }
    }
    for (; i < n; i++) dst[i] = src[i] ^ mask[(i + phase) & 3];
}

// ------------------------------------------------------------ helpers ----

inline uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct Rng {  // xorshift64*
    uint64_t s;
    Rng() {
        if (getrandom(&s, sizeof s, 0) != sizeof s) s = now_ns() ^ uint64_t(getpid()) << 32;
        if (!s) s = 0x9E3779B97F4A7C15ull;
    }
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
};

inline bool set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

inline void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Raises RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit.
inline rlim_t raise_nofile() {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

inline bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// Case-insensitive "does the comma-separated header value contain token".
inline bool has_token(std::string_view v, std::string_view tok) {
    size_t i = 0;
    while (i <= v.size()) {
        size_t j = v.find(',', i);
        if (j == std::string_view::npos) j = v.size();
        std::string_view t = v.substr(i, j - i);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (ieq(t, tok)) return true;
        i = j + 1;
    }
    return false;
}

inline std::string_view trim(std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r'))
        t.remove_suffix(1);
    return t;
}

// Iterates over "Name: value" header lines of a header block (the text between
// the first CRLF and the terminating CRLFCRLF). fn(name, value).
template <class Fn>
inline void for_each_header(std::string_view block, Fn&& fn) {
    size_t pos = block.find("\r\n");
    if (pos == std::string_view::npos) return;
    pos += 2;
    while (pos < block.size()) {
        size_t e = block.find("\r\n", pos);
        if (e == std::string_view::npos) e = block.size();
        std::string_view line = block.substr(pos, e - pos);
        size_t c = line.find(':');
        if (c != std::string_view::npos) fn(trim(line.substr(0, c)), trim(line.substr(c + 1)));
        pos = e + 2;
    }
}

// Parses "a-b" or "a,b,c" or "a" into ports.
inline bool parse_ports(const char* s, std::vector<uint16_t>& out) {
    std::string_view v(s);
    while (!v.empty()) {
        size_t c = v.find(',');
        std::string_view item = v.substr(0, c);
        size_t dash = item.find('-');
        auto num = [](std::string_view x, long& r) {
            if (x.empty() || x.size() > 5) return false;
            r = 0;
            for (char ch : x) {
                if (ch < '0' || ch > '9') return false;
                r = r * 10 + (ch - '0');
            }
            return r > 0 && r < 65536;
        };
        long a, b;
        if (dash == std::string_view::npos) {
            if (!num(item, a)) return false;
            b = a;
        } else if (!num(item.substr(0, dash), a) || !num(item.substr(dash + 1), b) || b < a ||
                   b - a > 64) {
            return false;
        }
        for (long p = a; p <= b; p++) out.push_back(uint16_t(p));
        if (c == std::string_view::npos) break;
        v.remove_prefix(c + 1);
    }
    return !out.empty();
}

// Listening socket on 127.0.0.1:port (SO_REUSEADDR, non-blocking).
inline int listen_loopback(uint16_t port, int backlog = 4096) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

// ------------------------------------------------------------ histogram ----
// Log-linear histogram of nanosecond values: exact below 128 ns, then 64
// sub-buckets per power of two (< 1.6% relative error), up to ~2^44 ns.
struct Histogram {
    static constexpr int kSub = 64;
    static constexpr int kBuckets = 128 + 40 * kSub;
    std::vector<uint64_t> b = std::vector<uint64_t>(kBuckets, 0);
    uint64_t count = 0, max = 0, min = UINT64_MAX;
    long double sum = 0;

    static int index(uint64_t v) {
        if (v < 128) return int(v);
        int msb = 63 - __builtin_clzll(v);
        int shift = msb - 6;
        uint64_t top = v >> shift;  // [64,127]
        int idx = 128 + (shift - 1) * kSub + int(top - 64);
        return idx < kBuckets ? idx : kBuckets - 1;
    }
    static uint64_t value(int idx) {  // bucket midpoint
        if (idx < 128) return uint64_t(idx);
        int shift = (idx - 128) / kSub + 1;
        uint64_t top = uint64_t((idx - 128) % kSub + 64);
        return (top << shift) + ((uint64_t(1) << shift) >> 1);
    }
    void add(uint64_t v) {
        b[size_t(index(v))]++;
        count++;
        sum += v;
        if (v > max) max = v;
        if (v < min) min = v;
    }
    uint64_t percentile(double p) const {
        if (!count) return 0;
        uint64_t want = uint64_t(p * double(count) + 0.999999);
        if (want < 1) want = 1;
        if (want > count) want = count;
        uint64_t acc = 0;
        for (int i = 0; i < kBuckets; i++) {
            acc += b[size_t(i)];
            if (acc >= want) {
                uint64_t v = value(i);
                return v > max ? max : v;
            }
        }
        return max;
    }
};

}  // namespace bench
