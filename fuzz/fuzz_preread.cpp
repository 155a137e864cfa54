// libFuzzer target for the ClientHello reader behind `ssl_preread`
// (src/stream/preread.h).
//
// The input is the first bytes of a connection. It is fed whole, as every
// prefix in turn (as bytes arrive one at a time) and as growing prefixes cut
// at pseudo-random points; all three must agree, and once a prefix is decided
// (Done or NotTls) longer prefixes must leave the answer and the variables
// alone. When the input is a run of complete handshake records, their
// payload is also re-split into records of another size, which must not
// change the answer either: the parse state survives record boundaries.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "stream/preread.h"

namespace {

using sy::stream::ClientHelloInfo;
using sy::stream::Preread;
using sy::stream::PrereadResult;

bool same(const ClientHelloInfo& a, const ClientHelloInfo& b) {
    return a.server_name == b.server_name && a.alpn == b.alpn && a.protocol == b.protocol;
}

void check_info(const Preread& p, std::string_view in) {
    const ClientHelloInfo& i = p.info();
    // Names and protocols are copied from the input: never longer than it.
    if (i.server_name.size() > in.size() || i.alpn.size() > in.size()) __builtin_trap();
    if (p.result() == PrereadResult::NotTls) {
        if (!i.server_name.empty() || !i.alpn.empty() || !i.protocol.empty()) __builtin_trap();
        if (*p.error() == '\0' || p.variables_found()) __builtin_trap();
    } else if (*p.error() != '\0') {
        __builtin_trap();
    }
    if (p.result() == PrereadResult::NeedMore && (p.need() <= in.size() && !in.empty())) {
        // need() is beyond what was fed: otherwise feed() could have gone on.
        __builtin_trap();
    }
}

struct Run {
    PrereadResult result;
    ClientHelloInfo info;
};

Run whole(std::string_view in) {
    Preread p;
    PrereadResult r = p.feed(in);
    if (r != p.result()) __builtin_trap();
    check_info(p, in);
    return {r, p.info()};
}

Run every_prefix(std::string_view in) {
    Preread p;
    PrereadResult decided = PrereadResult::NeedMore;
    ClientHelloInfo at_decision;
    for (size_t i = 0; i <= in.size(); ++i) {
        PrereadResult r = p.feed(in.substr(0, i));
        check_info(p, in.substr(0, i));
        if (decided == PrereadResult::NeedMore) {
            if (r != PrereadResult::NeedMore) {
                decided = r;
                at_decision = p.info();
            }
        } else if (r != decided || !same(p.info(), at_decision)) {
            __builtin_trap();   // a decided answer changed with more bytes
        }
    }
    return {p.result(), p.info()};
}

Run random_cuts(std::string_view in, uint32_t seed) {
    Preread p;
    size_t at = 0;
    for (;;) {
        seed = seed * 1664525u + 1013904223u;
        at = std::min(in.size(), at + 1 + (seed >> 24) % 64);
        PrereadResult r = p.feed(in.substr(0, at));
        if (r != PrereadResult::NeedMore || at == in.size()) break;
    }
    // Once decided, the rest changes nothing.
    Run run{p.result(), p.info()};
    if (p.feed(in) != run.result || !same(p.info(), run.info)) __builtin_trap();
    return run;
}

// The payload of `in` if it is nothing but complete handshake records.
bool handshake_payload(std::string_view in, std::string& out) {
    size_t p = 0;
    while (p < in.size()) {
        if (in.size() - p < 5) return false;
        const auto* h = reinterpret_cast<const uint8_t*>(in.data() + p);
        if (h[0] != 0x16 || h[1] != 3) return false;
        size_t len = (size_t(h[3]) << 8) + h[4];
        if (in.size() - p - 5 < len) return false;
        out.append(in.data() + p + 5, len);
        p += 5 + len;
    }
    return !in.empty();
}

std::string rerecord(std::string_view payload, size_t chunk) {
    std::string out;
    for (size_t off = 0; off < payload.size(); off += chunk) {
        std::string_view piece = payload.substr(off, chunk);
        out += "\x16\x03\x03";
        out += char(piece.size() >> 8);
        out += char(piece.size() & 0xff);
        out += piece;
    }
    return out;
}

void expect_same(const Run& a, const Run& b) {
    if (a.result != b.result || !same(a.info, b.info)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size && i < 64; ++i) seed = (seed ^ data[i]) * 16777619u;

    const Run w = whole(in);
    expect_same(w, every_prefix(in));
    expect_same(w, random_cuts(in, seed));

    std::string payload;
    if (handshake_payload(in, payload) && !payload.empty()) {
        // Same answer with other record boundaries, when the records held
        // the whole answer (a hello still incomplete at the end of the
        // input is NeedMore either way).
        for (size_t chunk : {size_t(1), size_t(1 + seed % 300), size_t(16384)}) {
            std::string again = rerecord(payload, chunk);
            Run r = whole(again);
            expect_same(w, r);
            if (chunk != 1) expect_same(r, every_prefix(again));
        }
    }
    return 0;
}
